"""Alembic environment: the portal's engine and metadata, batch mode on SQLite."""

from __future__ import annotations

from alembic import context
from flask import has_app_context

from portal.core.db import db


def run_migrations() -> None:
    if has_app_context():
        _run()
        return
    from portal import create_app

    with create_app().app_context():
        _run()


def _run() -> None:
    import portal.models  # noqa: F401 - complete the metadata

    connection_override = context.config.attributes.get("connection")
    if connection_override is not None:
        _configure_and_run(connection_override)
        return
    with db.engine.connect() as connection:
        _configure_and_run(connection)
        connection.commit()


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Write the portal's column types as the plain SQL types they store."""
    from portal.core.crypto import EncryptedString
    from portal.core.db import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, EncryptedString):
        return "sa.Text()"
    return False


def _configure_and_run(connection) -> None:
    context.configure(
        render_item=render_item,
        connection=connection,
        target_metadata=db.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run against a database.")
run_migrations()
