"""Run the test suite: the fast tier always, then the real tier when its servers answer.

Under CI=true the real tier is required: if PostgreSQL or Redis do not answer, that is a
failure, never a skip. Extra arguments go to pytest.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def run_tier(tier: str, pytest_args: list[str]) -> int:
    print(f"\n=== {tier} tier ===", flush=True)
    env = {**os.environ, "TRESTLE_TEST_TIER": tier}
    workers = os.environ.get("TEST_WORKERS", "2")
    command = [sys.executable, "-m", "pytest", "-n", workers, "--dist", "loadfile", *pytest_args]
    return subprocess.call(command, cwd=ROOT, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tier", choices=["fast", "real", "all"], default="all")
    args, pytest_args = parser.parse_known_args()
    in_ci = os.environ.get("CI", "").lower() == "true"
    real_up = answers("127.0.0.1", 5432) and answers("127.0.0.1", 6379)

    tiers = ["fast", "real"] if args.tier == "all" else [args.tier]
    if args.tier == "all" and not real_up:
        if in_ci:
            print("CI requires the real tier, but PostgreSQL or Redis is not answering.")
            return 1
        print("PostgreSQL or Redis is not answering on 127.0.0.1; running the fast tier only.")
        tiers = ["fast"]
    status = 0
    for tier in tiers:
        status = run_tier(tier, pytest_args) or status
    return status


if __name__ == "__main__":
    sys.exit(main())
