"""Benchmark harness: serve with gunicorn on PostgreSQL and report numbers (never pass/fail).

Reports:
- requests/s and p50/p95 latency of key pages (public and signed in) next to a baseline
  endpoint (/healthz) measured in the same run;
- SQL statements per page at two data sizes (the demo, then with many more payors, people
  and projects): the count must not grow with the data;
- bytes of an htmx fragment versus the full page.
It grows with the product (DESIGN §13: tens of thousands of invoices, the disbursement
pipeline with real workers).

    .venv/bin/python bench/run.py [--requests 300] [--concurrency 8] [--payors 200]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyotp
import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PUBLIC_PAGES = {"baseline /healthz": "/healthz", "login page": "/login"}
ADMIN_PAGES = {
    "dashboard": "/dashboard",
    "team": "/company/members",
    "payment settings": "/settings/payments",
    "projects": "/projects",
    "change history": "/company/history",
}
OPERATOR_PAGES = {
    "operator payors": "/operator",
    "operator payor page": "/operator/payors/{summit}",
}
ADMIN_EMAIL = "admin@summit.example.com"
OPERATOR_EMAIL = "ops@trestle.example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_database(admin_url: str) -> str:
    engine = sa.create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.exec_driver_sql('DROP DATABASE IF EXISTS "trestle_bench" WITH (FORCE)')
        connection.exec_driver_sql('CREATE DATABASE "trestle_bench"')
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/trestle_bench"


def flask(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def give_authenticators(app) -> dict[str, str]:
    """Enroll the bench's users directly (the bench is not testing enrollment)."""
    from portal.accounts.models import User
    from portal.core.db import db

    secrets = {}
    with app.app_context():
        for email in (ADMIN_EMAIL, OPERATOR_EMAIL):
            user = db.session.scalar(sa.select(User).where(User.email == email))
            user.totp_secret = secrets[email] = pyotp.random_base32(32)
        db.session.commit()
    return secrets


def grow(app, payors: int) -> None:
    """Add many payors, each with people and projects, to show per-page work stays flat."""
    from portal.accounts import services as accounts
    from portal.companies import services as companies
    from portal.companies.models import Role
    from portal.core import tenancy
    from portal.core.db import db
    from portal.invoicing import services as invoicing
    from portal.operations import services as operations

    with app.app_context(), tenancy.unscoped():
        for n in range(payors):
            company = operations.create_payor(
                f"Bench Payor {n:04d}", f"bench-{n:04d}", actor_user_id=None
            )
            for k in range(5):
                user = accounts.create_user(f"u{k}@bench{n:04d}.example.com", f"User {k}", None)
                member = companies.add_member(company, user, actor_user_id=None)
                companies.grant_role(member, Role.VIEWER, actor_user_id=None)
            for k in range(5):
                invoicing.create_project(
                    company,
                    name=f"Tower {k}",
                    number=f"B-{k}",
                    address_line1="1 Main St",
                    city="Austin",
                    region="TX",
                    postal_code="78701",
                    actor_user_id=None,
                )
            if n % 50 == 49:
                db.session.commit()
        db.session.commit()


def signed_in_client(app, email: str, secret: str):
    from portal.demo.seed import DEMO_PASSWORD

    client = app.test_client()
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"',
        client.get("/login").get_data(as_text=True),
    ).group(1)
    client.post("/login", data={"csrf_token": token, "email": email, "password": DEMO_PASSWORD})
    # Signing in starts a new session: take the token of the code page.
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"',
        client.get("/login/code").get_data(as_text=True),
    ).group(1)
    client.post("/login/code", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
    return client


def count_statements(app, client, path: str) -> int:
    from portal.core.db import db

    statements: list[int] = []

    def count(*_: object) -> None:
        statements.append(1)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def statement_counts(app, admin, operator, summit_id: int) -> dict[str, int]:
    counts = {name: count_statements(app, admin, path) for name, path in ADMIN_PAGES.items()}
    for name, path in OPERATOR_PAGES.items():
        counts[name] = count_statements(app, operator, path.format(summit=summit_id))
    return counts


def measure(get: Callable[[], requests.Response], total: int, concurrency: int) -> dict[str, float]:
    def one(_: int) -> float:
        start = time.perf_counter()
        get().raise_for_status()
        return time.perf_counter() - start

    one(0)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(pool.map(one, range(total)))
    elapsed = time.perf_counter() - started
    return {
        "rps": total / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000,
    }


def http_session(base: str, email: str, secret: str) -> requests.Session:
    from portal.demo.seed import DEMO_PASSWORD

    session = requests.Session()
    page = session.get(base + "/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    session.post(
        base + "/login",
        data={"csrf_token": token, "email": email, "password": DEMO_PASSWORD},
        timeout=10,
    )
    time.sleep(max(0.0, 30 - time.time() % 30) + 0.5)  # a fresh step: the last one was used
    page = session.get(base + "/login/code", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    session.post(
        base + "/login/code",
        data={"csrf_token": token, "code": pyotp.TOTP(secret).now()},
        timeout=10,
    )
    return session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--payors", type=int, default=200)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    database_url = prepare_database(args.postgres)
    env = {**os.environ, "DATABASE_URL": database_url, "PORTAL_ENV": "development"}
    env.pop("REDIS_URL", None)
    flask(env, "db", "upgrade")
    flask(env, "demo", "seed")
    os.environ.update({"DATABASE_URL": database_url, "PORTAL_ENV": "development"})
    os.environ.pop("REDIS_URL", None)
    from portal import create_app
    from portal.companies.queries import company_by_slug
    from portal.core import tenancy

    app = create_app()
    secrets = give_authenticators(app)
    with app.app_context(), tenancy.unscoped():
        summit_id = company_by_slug("summit-builders").id

    admin_client = signed_in_client(app, ADMIN_EMAIL, secrets[ADMIN_EMAIL])
    operator_client = signed_in_client(app, OPERATOR_EMAIL, secrets[OPERATOR_EMAIL])
    small = statement_counts(app, admin_client, operator_client, summit_id)
    started = time.perf_counter()
    grow(app, args.payors)
    grown_in = time.perf_counter() - started
    large = statement_counts(app, admin_client, operator_client, summit_id)
    print(
        f"SQL statements per page (demo → demo + {args.payors} payors, "
        f"{args.payors * 5} people, {args.payors * 5} projects; seeded in {grown_in:.0f} s)"
    )
    for name in small:
        flag = "" if small[name] == large[name] else "   <- grows with data"
        print(f"  {name:<22}{small[name]:>5} →{large[name]:>5}{flag}")

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--threads",
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base + "/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        print(f"\n{'page':<24}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}")
        anonymous = requests.Session()
        for name, path in PUBLIC_PAGES.items():
            r = measure(
                lambda p=path: anonymous.get(base + p, timeout=30), args.requests, args.concurrency
            )
            print(f"{name:<24}{r['rps']:>8.0f}{r['p50']:>9.1f}{r['p95']:>9.1f}")
        admin = http_session(base, ADMIN_EMAIL, secrets[ADMIN_EMAIL])
        for name, path in ADMIN_PAGES.items():
            r = measure(
                lambda p=path: admin.get(base + p, timeout=30), args.requests, args.concurrency
            )
            print(f"{name:<24}{r['rps']:>8.0f}{r['p50']:>9.1f}{r['p95']:>9.1f}")
        full = len(admin.get(base + "/company/history", timeout=10).content)
        fragment = len(
            admin.get(base + "/company/history", headers={"HX-Request": "true"}, timeout=10).content
        )
        print(
            f"\nchange history: full page {full} bytes, htmx fragment {fragment} bytes "
            f"({fragment / full:.0%})"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
