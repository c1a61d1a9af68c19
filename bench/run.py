"""Benchmark harness: serve with gunicorn on PostgreSQL and report numbers (never pass/fail).

Reports, per page: requests/s and p50/p95 latency next to a baseline endpoint measured in the
same run, SQL statements per page, and bytes of the htmx fragment versus the full page.
It grows with the product (DESIGN §13: a large seeded payor, the disbursement pipeline).

    .venv/bin/python bench/run.py [--requests 500] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAGES = {"baseline /healthz": "/healthz", "login page": "/login"}
FRAGMENTS = {"login form": "/login"}


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


def measure(base: str, path: str, total: int, concurrency: int) -> dict[str, float]:
    session = requests.Session()

    def one(_: int) -> float:
        start = time.perf_counter()
        response = session.get(base + path, timeout=30)
        response.raise_for_status()
        return time.perf_counter() - start

    one(0)  # warm up
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(pool.map(one, range(total)))
    elapsed = time.perf_counter() - started
    return {
        "rps": total / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
    }


def queries_per_page(env: dict[str, str]) -> dict[str, int]:
    """Count SQL statements per page in-process (the count must not grow with data size)."""
    os.environ.update(env)
    from portal import create_app
    from portal.core.db import db

    app = create_app()
    counts: dict[str, int] = {}
    with app.app_context():
        engine = db.engine
        for name, path in PAGES.items():
            statements: list[str] = []

            def count(*args: object, sink: list[str] = statements) -> None:
                sink.append("q")

            sa.event.listen(engine, "before_cursor_execute", count)
            app.test_client().get(path)
            sa.event.remove(engine, "before_cursor_execute", count)
            counts[name] = len(statements)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    database_url = prepare_database(args.postgres)
    env = {**os.environ, "DATABASE_URL": database_url, "PORTAL_ENV": "development"}
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
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
            except requests.ConnectionError:
                time.sleep(0.1)
        print(f"{'page':<22}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}")
        for name, path in PAGES.items():
            result = measure(base, path, args.requests, args.concurrency)
            print(
                f"{name:<22}{result['rps']:>10.0f}{result['p50_ms']:>10.1f}{result['p95_ms']:>10.1f}"
            )
        print()
        for name, path in FRAGMENTS.items():
            full = len(requests.get(base + path, timeout=10).content)
            fragment = len(
                requests.get(base + path, headers={"HX-Request": "true"}, timeout=10).content
            )
            print(
                f"{name}: full page {full} bytes, htmx fragment {fragment} bytes "
                f"({fragment / full:.0%})"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    print()
    for name, count in queries_per_page(env).items():
        print(f"SQL statements for {name}: {count}")


if __name__ == "__main__":
    main()
