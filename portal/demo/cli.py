"""`flask --app wsgi demo seed`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.core.db import db

demo_cli = AppGroup("demo", help="Demo data.")


@demo_cli.command("seed")
def seed() -> None:
    """Create the demo data (safe to run again) and print one LOGIN line per demo user."""
    from portal.demo.seed import seed_demo  # the web process registers commands, never seeds

    logins = seed_demo()
    db.session.commit()
    for login in logins:
        click.echo(login.line())
    if not logins:
        click.echo("demo data is up to date (no demo accounts exist yet)")
