"""The database handle, the declarative base and column types every model shares."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so Alembic can alter and drop them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored as UTC and always returned timezone-aware, on SQLite too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum_class: type[enum.Enum], length: int = 40) -> sa.Enum:
    """Store an enum by its value as a short string (portable, readable in SQL)."""
    return sa.Enum(
        enum_class,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    registry = sa.orm.registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


class PortalSession(FlaskSession):
    """Flask-SQLAlchemy's session, except that an explicit session bind wins.

    Production never sets one; the test suite binds every session to one connection
    inside an outer transaction so each test rolls back.
    """

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kw: Any) -> Any:
        if bind is None and self.bind is not None:
            return self.bind
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kw)


db = SQLAlchemy(model_class=Base, session_options={"class_": PortalSession})


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


def update_if(instance: Any, *still: sa.ColumnElement[bool], **values: Any) -> bool:
    """Compare-and-set: update ``instance``'s row to ``values`` only while it still meets
    ``still``. True (and the instance reloaded) when it did; False when a concurrent change
    came first (the instance is expired, so it reloads as it now is)."""
    model = type(instance)
    (key,) = sa.inspect(model).primary_key
    updated = db.session.execute(
        sa.update(model)
        .where(key == getattr(instance, key.key), *still)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if updated != 1:
        db.session.expire(instance)
        return False
    db.session.refresh(instance)
    return True


def commit_keeping_loaded() -> None:
    """Commit without expiring what the session has loaded.

    For a commit in the middle of a request's reads (the session touch): a plain commit
    expires every loaded object, and each reloads later under whatever tenancy scope is
    current then, which may hide rows that were visible when they were loaded."""
    session = db.session()
    previous = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = previous


def engine_options(database_uri: str) -> dict[str, Any]:
    """Engine settings per backend: SQLite waits for the writer lock instead of failing."""
    if database_uri.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Turn on foreign keys and WAL for SQLite so it behaves like the production database."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so
    # SAVEPOINT and transactional DDL work (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# SQLite cannot upgrade a read transaction to a write once another writer has committed: it
# fails at once with "database is locked", whatever the busy timeout. Transactions that will
# write therefore take the write lock when they begin (BEGIN IMMEDIATE) and queue for it.
_writes_expected: ContextVar[bool] = ContextVar("writes_expected", default=False)


@contextmanager
def expecting_writes() -> Iterator[None]:
    """Transactions begun inside take SQLite's write lock up front (no effect elsewhere)."""
    token = _writes_expected.set(True)
    try:
        yield
    finally:
        _writes_expected.reset(token)


def expect_writes() -> Any:
    """Like ``expecting_writes`` for a whole request; pass the result to ``stop_expecting``."""
    return _writes_expected.set(True)


def stop_expecting(token: Any) -> None:
    _writes_expected.reset(token)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def expect_writes_on_unsafe_requests(app: Any) -> None:
    """A POST (or other unsafe request) writes: its transactions take the write lock first."""
    from flask import g, request

    def start() -> None:
        if request.method not in SAFE_METHODS:
            g.writes_token = expect_writes()

    def end(exc: BaseException | None) -> None:
        token = g.pop("writes_token", None)
        if token is not None:
            stop_expecting(token)

    app.before_request(start)
    app.teardown_request(end)


@sa.event.listens_for(sa.engine.Engine, "begin")
def _sqlite_begin(connection: sa.Connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _writes_expected.get() else "BEGIN")
