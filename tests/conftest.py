"""Fixtures: app → database → client, the two tiers, and the real peers the tests talk to.

Fast tier (TRESTLE_TEST_TIER=fast): a SQLite file, jobs run in-process.
Real tier (TRESTLE_TEST_TIER=real): PostgreSQL and Redis, with real RQ worker processes.
Each pytest-xdist worker gets its own database and Redis db number.

Most tests run inside one outer transaction that is rolled back at the end, even when the
code under test commits. Tests marked ``committed`` commit for real (worker processes, a
browser and concurrent connections must see the rows); their tables are emptied afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal import create_app
from portal.config import load_config
from portal.core.db import db

ROOT = Path(__file__).resolve().parents[1]
TIER = os.environ.get("TRESTLE_TEST_TIER", "fast")
IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"


def require_peer(available: bool, reason: str) -> None:
    """Skip on a laptop when a real peer is missing; fail under CI, which must never skip."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"CI requires this peer: {reason}")
    pytest.skip(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("real") and TIER != "real":
            item.add_marker(
                pytest.mark.skip(reason="tier split: a real-tier test (run with the real tier)")
            )


TIER_SPLIT = "tier split:"
_unexpected_skips: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Under CI=true only the tier split may skip a test: any other skip is a failure."""
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if TIER_SPLIT not in reason:
            _unexpected_skips.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _unexpected_skips:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        write = reporter.write_line if reporter else print
        write("CI allows no skip but the tier split; these were skipped:")
        for line in _unexpected_skips:
            write(f"  {line}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def xdist_index(worker_id: str) -> int:
    return int(worker_id[2:]) if worker_id.startswith("gw") else 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


# --------------------------------------------------------------------------- peers


class SmtpSink:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        self.port = free_port()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                from email import message_from_bytes
                from email.policy import default

                sink.messages.append(message_from_bytes(envelope.content, policy=default))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages if address in m["To"]]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp(smtp_server: SmtpSink) -> SmtpSink:
    smtp_server.messages.clear()
    return smtp_server


# --------------------------------------------------------------------------- databases


def _postgres_available() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect():
            pass
        engine.dispose()
        return True
    except sa.exc.OperationalError:
        return False


@pytest.fixture(scope="session")
def database_url(worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if TIER != "real":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'trestle-test.db'}"
    require_peer(_postgres_available(), f"PostgreSQL at {PG_ADMIN_URL}")
    name = f"trestle_test_{worker_id}"
    admin = sa.create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def redis_url(worker_id: str) -> str | None:
    if TIER != "real":
        return None
    import redis

    url = f"{REDIS_BASE_URL}/{1 + xdist_index(worker_id)}"
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError:
        require_peer(False, f"Redis at {REDIS_BASE_URL}")
    return url


@pytest.fixture(scope="session")
def test_env(
    database_url: str,
    redis_url: str | None,
    smtp_server: SmtpSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """The environment the test app and any worker process it starts share."""
    env = {
        "PORTAL_ENV": "test",
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": database_url,
        "STORAGE_DIR": str(tmp_path_factory.mktemp("storage")),
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_server.port),
        "MAIL_TIMEOUT": "5",
        "PORTAL_BASE_URL": "http://localhost",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def build_app(env: dict[str, str], instance_path: str, **overrides: Any) -> Flask:
    settings = load_config(env, instance_path)
    settings.update(overrides)
    if env.get("REDIS_URL") is None:
        settings["REDIS_URL"] = None
    return create_app(settings)


@pytest.fixture(scope="session")
def app(test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    application = build_app(test_env, str(tmp_path_factory.mktemp("instance")))
    with application.app_context():
        from alembic import command as alembic_command

        from portal.core.cli import alembic_config

        alembic_command.upgrade(alembic_config(), "head")
        if application.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
            # A migrated copy to restore after tests that commit for real.
            db.engine.dispose()
            path = application.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
            shutil.copyfile(path, path + ".template")
        db.session.remove()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def database(app: Flask, request: pytest.FixtureRequest) -> Iterator[None]:
    """Run the test in a transaction that is rolled back, or (``committed``) clean up after."""
    committed = request.node.get_closest_marker("committed") is not None
    ctx = app.app_context()
    ctx.push()
    try:
        if committed:
            _flush_redis(app)
            yield
            _empty_database(app)
            _flush_redis(app)
            return
        connection = db.engine.connect()
        outer = connection.begin()
        factory_kw = db.session.session_factory.kw
        saved = dict(factory_kw)
        factory_kw.update(bind=connection, join_transaction_mode="create_savepoint")
        db.session.remove()
        try:
            yield
        finally:
            db.session.remove()
            factory_kw.clear()
            factory_kw.update(saved)
            outer.rollback()
            connection.close()
    finally:
        db.session.remove()
        ctx.pop()


def _flush_redis(app: Flask) -> None:
    """Drop queued jobs, whose message ids would otherwise point at reused ids."""
    relay = app.extensions["trestle.outbox"]
    if not relay.in_process:
        relay.connection().flushdb()


def _empty_database(app: Flask) -> None:
    db.session.remove()
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        # Restore the migrated copy through SQLite's backup API, which takes the database's
        # locks, rather than by copying the file: a file swapped (or its -wal/-shm deleted)
        # under a connection still open in this process fails the next test with "disk I/O
        # error", since SQLite shares one lock and shared-memory state per file and process.
        db.engine.dispose()
        path = uri.removeprefix("sqlite:///")
        with (
            closing(sqlite3.connect(path + ".template")) as source,
            closing(sqlite3.connect(path, timeout=30)) as target,
        ):
            source.backup(target)
        return
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with db.engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


# --------------------------------------------------------------------------- clients


class PortalClient(FlaskClient):
    """A test client that knows the CSRF token and can speak as htmx.

    Each request runs in its own app context (own ``g``, own database session), as in
    production, even though the test itself holds an app context open.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        with self.application.app_context():
            return super().open(*args, **kwargs)

    def csrf_token(self, path: str = "/login") -> str:
        page = self.get(path).get_data(as_text=True)
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
            r"X-CSRFToken&#34;: &#34;([^&]+)&#34;", page
        )
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def htmx(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"HX-Request": "true", **kwargs.pop("headers", {})}
        return self.open(path, method=method, headers=headers, **kwargs)

    def submit(self, path: str, data: dict[str, Any], *, htmx: bool = False, **kwargs: Any) -> Any:
        """POST a form with a valid CSRF token, as a browser (or htmx) would."""
        token = self.csrf_token(kwargs.pop("token_from", "/login"))
        headers = {"X-CSRFToken": token, **kwargs.pop("headers", {})}
        if htmx:
            headers["HX-Request"] = "true"
        return self.post(path, data={"csrf_token": token, **data}, headers=headers, **kwargs)


@pytest.fixture
def client(app: Flask, database: None) -> FlaskClient:
    app.test_client_class = PortalClient
    return app.test_client()


@pytest.fixture
def runner(app: Flask, database: None) -> Any:
    return app.test_cli_runner()


# --------------------------------------------------------------------------- worker processes


def subprocess_env(test_env: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "TRESTLE_TEST"))}
    env.update(test_env)
    env.update(extra)
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(scope="session")
def rq_worker(test_env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A real RQ worker process on this xdist worker's Redis db and database."""
    require_peer("REDIS_URL" in test_env, "Redis for RQ workers")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "worker"],
        cwd=ROOT,
        env=subprocess_env(test_env),
    )
    yield process
    process.terminate()
    process.wait(timeout=30)


# --------------------------------------------------------------------------- browser


CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """The system Chromium, driven by Playwright (never a downloaded browser)."""
    require_peer(Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(app: Flask, database: None) -> Iterator[str]:
    """Serve the test app on a loopback port; use with the ``committed`` mark."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    # Requests still running when the test ends finish before the database is emptied
    # (server_close joins non-daemon request threads).
    server.daemon_threads = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    """A fresh browser context and page; console errors and CSP violations fail the test."""
    context = browser.new_context(base_url=live_server)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.problems = problems
    yield tab
    context.close()
    assert problems == [], f"the browser reported errors: {problems}"
