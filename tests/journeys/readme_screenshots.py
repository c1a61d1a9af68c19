"""Take the README's screenshots from a fresh demo, in the system Chromium.

    make screenshots     # writes static/screenshots/*.png

The demo is built in a scratch SQLite database (migrations, then the demo seed), served on a
loopback port, and signed in to as the demo operator and the demo Payments Admin.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "static" / "screenshots"
SHOTS = {
    "ops@trestle.example.com": [
        ("operator-home.png", "/dashboard"),
        ("operator-payor.png", "/operator/payors/{summit}"),
    ],
    "admin@summit.example.com": [("payor-implementation.png", "/company/implementation")],
}


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="trestle-shots-"))
    os.environ.update(
        PORTAL_ENV="development",
        DATABASE_URL=f"sqlite:///{scratch / 'demo.db'}",
        STORAGE_DIR=str(scratch / "storage"),
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))

    import pyotp
    import sqlalchemy as sa
    from alembic import command as alembic_command
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from portal import create_app
    from portal.accounts.models import User
    from portal.companies.queries import company_by_slug
    from portal.core import tenancy
    from portal.core.cli import alembic_config
    from portal.core.db import db, utcnow
    from portal.demo.seed import DEMO_PASSWORD, seed_demo
    from tests.conftest import CHROMIUM, CHROMIUM_ARGS

    app = create_app()
    secrets = {}
    with app.app_context():
        alembic_command.upgrade(alembic_config(), "head")
        seed_demo()
        with tenancy.unscoped():
            for email in SHOTS:
                user = db.session.scalar(sa.select(User).where(User.email == email))
                user.totp_secret = secrets[email] = pyotp.random_base32(32)
                user.totp_enrolled_at = utcnow()
            summit = company_by_slug("summit-builders").id
        db.session.commit()

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        for email, shots in SHOTS.items():
            context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto("/login")
            page.get_by_label("Email").fill(email)
            page.get_by_label("Password").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/login/code")
            code = pyotp.TOTP(secrets[email]).now()
            page.get_by_label("6-digit code from your authenticator app").fill(code)
            page.get_by_role("button", name="Verify").click()
            page.wait_for_url("**/dashboard")
            for name, path in shots:
                page.goto(path.format(summit=summit))
                page.screenshot(path=str(OUT / name))
                print(f"wrote {(OUT / name).relative_to(ROOT)}")
            context.close()
        browser.close()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
