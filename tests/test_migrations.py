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


@pytest.mark.committed
def test_payees_reviewed_before_the_pay_agreement_wait_for_it(app: Flask, database) -> None:
    """0016: a payee approved or in review before the Pay agreement existed goes back to
    onboarding (its approval is kept, so accepting the agreement makes it ready again)."""
    import sqlalchemy as sa

    config = alembic_config()
    db.session.remove()
    command.downgrade(config, "0015_fraud_controls")
    with db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO company (slug, name, kind, created_at) "
                "VALUES ('old-payor', 'Old Payor', 'payor', CURRENT_TIMESTAMP)"
            )
        )
        payor_id = connection.execute(sa.text("SELECT id FROM company")).scalar_one()
        for name, status in (("A", "approved"), ("B", "needs_review"), ("C", "invite_not_sent")):
            connection.execute(
                sa.text(
                    "INSERT INTO payee_relationship (payor_id, directory_name, contact_email, "
                    "status, created_at) VALUES (:payor, :name, 'a@x.example', :status, "
                    "CURRENT_TIMESTAMP)"
                ),
                {"payor": payor_id, "name": name, "status": status},
            )
    command.upgrade(config, "head")
    with db.engine.connect() as connection:
        statuses = dict(
            connection.execute(
                sa.text("SELECT directory_name, status FROM payee_relationship")
            ).all()
        )
    assert statuses == {
        "A": "no_bank_information",
        "B": "no_bank_information",
        "C": "invite_not_sent",
    }
