"""The embedded default under concurrency: a real server (`flask serve`, as `make run` starts
it) on a SQLite file answers 50 concurrent requests — pages, htmx fragments, static files,
code submissions and sign-ins — without a single 500."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import requests

from tests.conftest import ROOT, TEST_SECRET_KEY, TIER, free_port, subprocess_env

pytestmark = pytest.mark.skipif(
    TIER != "fast", reason="tier split: the SQLite default is the fast tier's"
)

PEOPLE = [
    "ops@trestle.example.com",
    "admin@summit.example.com",
    "disburser@summit.example.com",
    "admin@ironline.example.com",
    "admin@harbor.example.com",
]
PASSWORD = "trestle-demo-password"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def sqlite_server(tmp_path):
    """`flask serve` on a fresh SQLite file with the demo, jobs in-process, as `make run`."""
    port = free_port()
    env = subprocess_env(
        {},
        PORTAL_ENV="development",
        SECRET_KEY=TEST_SECRET_KEY,
        DATABASE_URL=f"sqlite:///{tmp_path / 'trestle.db'}",
        STORAGE_DIR=str(tmp_path / "storage"),
        PORTAL_BASE_URL=f"http://127.0.0.1:{port}",
    )
    env.pop("REDIS_URL", None)
    env.pop("MAIL_SERVER", None)
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    for command in (["db", "upgrade"], ["demo", "seed"]):
        subprocess.run([*flask, *command], cwd=ROOT, env=env, check=True, capture_output=True)
    secrets = {email: pyotp.random_base32(32) for email in PEOPLE}
    _set_secrets(env, secrets)
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [*flask, "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{base}/healthz", timeout=2)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                pytest.fail("the server did not start")
            time.sleep(0.2)
    yield base, secrets, tmp_path / "trestle.db", tmp_path / "server.log"
    server.terminate()
    server.wait(timeout=20)
    log.close()


def _set_secrets(env: dict[str, str], secrets: dict[str, str]) -> None:
    """Give the demo users authenticators (encrypted with the server's own key)."""
    script = (
        "import json, sys, sqlalchemy as sa\n"
        "from portal import create_app\n"
        "from portal.accounts.models import User\n"
        "from portal.core import tenancy\n"
        "from portal.core.db import db, utcnow\n"
        "app = create_app()\n"
        "with app.app_context(), tenancy.unscoped():\n"
        "    for email, secret in json.loads(sys.argv[1]).items():\n"
        "        user = db.session.scalar(sa.select(User).where(User.email == email))\n"
        "        user.totp_secret, user.totp_enrolled_at = secret, utcnow()\n"
        "    db.session.commit()\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, json.dumps(secrets)], cwd=ROOT, env=env, check=True
    )


def _token(session: requests.Session, url: str) -> str:
    return CSRF.search(session.get(url, timeout=30).text).group(1)


def sign_in(base: str, email: str, secret: str) -> tuple[requests.Session, int]:
    """Sign in with the code of the current time step; return the browser and that step."""
    browser = requests.Session()
    token = _token(browser, f"{base}/login")
    browser.post(f"{base}/login", data={"csrf_token": token, "email": email, "password": PASSWORD})
    token = _token(browser, f"{base}/login/code")
    step = int(time.time()) // 30
    code = pyotp.TOTP(secret).at(step * 30)
    done = browser.post(f"{base}/login/code", data={"csrf_token": token, "code": code})
    assert done.url.endswith("/dashboard"), f"{email} signed in"
    return browser, step


def test_fifty_concurrent_requests_on_the_sqlite_default_get_no_500(sqlite_server) -> None:
    base, secrets, database, log = sqlite_server
    signed_in = {email: sign_in(base, email, secrets[email]) for email in PEOPLE}
    browsers = {email: browser for email, (browser, _) in signed_in.items()}
    tokens = {email: _token(b, f"{base}/verify") for email, b in browsers.items()}
    # A minute and more has passed for every session: each request wants to note activity.
    with sqlite3.connect(database) as connection:
        stale = (datetime.now(UTC) - timedelta(minutes=5)).replace(tzinfo=None)
        connection.execute("UPDATE user_session SET last_seen_at = ?", (stale.isoformat(" "),))

    def page(email: str, path: str, **headers: str):
        return lambda: browsers[email].get(base + path, headers=headers, timeout=60)

    def code(email: str, value: str):
        return lambda: browsers[email].post(
            f"{base}/verify",
            data={"csrf_token": tokens[email], "code": value},
            allow_redirects=False,
            timeout=60,
        )

    def first_sign_in(email: str):
        def go():
            fresh = requests.Session()
            token = _token(fresh, f"{base}/login")
            return fresh.post(
                f"{base}/login",
                data={"csrf_token": token, "email": email, "password": PASSWORD},
                allow_redirects=False,
                timeout=60,
            )

        return go

    calls = []
    for email in PEOPLE:
        # The next time step after the sign-in's: accepted (±1 step) and not a replay.
        good = pyotp.TOTP(secrets[email]).at((signed_in[email][1] + 1) * 30)
        calls += [
            page(email, "/dashboard"),
            page(email, "/company/members"),
            page(email, "/static/css/portal.css"),
            page(email, "/static/vendor/htmx-2.0.11.min.js"),
            page(email, "/company/history?area=roles", **{"HX-Request": "true"}),
            code(email, good),
            code(email, good),  # the same code twice at once: one wins, one is refused
            code(email, "000000"),
            first_sign_in(email),
        ]
    calls += [page("ops@trestle.example.com", "/operator?q=s", **{"HX-Request": "true"})] * 5
    assert len(calls) == 50

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda call: call(), calls))
    statuses = [r.status_code for r in responses]
    failures = [(r.request.method, r.url, r.status_code) for r in responses if r.status_code >= 500]
    assert failures == [], f"{failures}\n{log.read_text()[-3000:]}"
    assert statuses.count(303) >= len(PEOPLE), "the good codes were accepted"

    with sqlite3.connect(database) as connection:
        seen = [row[0] for row in connection.execute("SELECT last_seen_at FROM user_session")]
    assert all(value > stale.isoformat(" ") for value in seen[: len(PEOPLE)]), (
        "last-seen times were written and committed"
    )
