"""The migrations build the schema the models describe, on the tier's real database."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from portal.core.cli import alembic_config
from portal.core.db import db


def test_models_and_migrations_agree(app: Flask, database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == [], (
        f"models and migrations disagree; run `flask db revision`: {differences}"
    )


@pytest.mark.committed
def test_downgrade_to_empty_and_upgrade_again(app: Flask, database) -> None:
    config = alembic_config()
    db.session.remove()
    command.downgrade(config, "base")
    with db.engine.connect() as connection:
        tables = set(db.inspect(connection).get_table_names()) - {"alembic_version"}
    assert tables == set()
    command.upgrade(config, "head")
    with db.engine.connect() as connection:
        tables = set(db.inspect(connection).get_table_names())
    assert set(db.metadata.tables) <= tables
