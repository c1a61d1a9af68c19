"""The application factory: build a configured portal in named steps."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import config as portal_config
from portal.core import crypto, security
from portal.core.db import db, engine_options, expect_writes_on_unsafe_requests
from portal.core.outbox import OutboxRelay
from portal.core.text import possessive

csrf = CSRFProtect()
htmx_extension = Htmx()


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Create the portal. ``overrides`` replace settings read from the environment (tests)."""
    app = Flask(
        __name__,
        template_folder="../templates",
        static_folder="../static",
        instance_relative_config=True,
    )
    settings = portal_config.config_from_os(app.instance_path)
    settings.update(overrides or {})
    if settings["PORTAL_ENV"] == "production":
        portal_config.check_production(settings)
    app.config.update(settings)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    configure_logging(app)
    if app.config["TRUSTED_PROXY_HOPS"]:
        hops = app.config["TRUSTED_PROXY_HOPS"]
        # Client IPs (rate limits, audit) and https (secure cookies, CSRF referrer checks)
        # come from the trusted proxies' headers, and only theirs.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def configure_logging(app: Flask) -> None:
    if not app.debug and not app.testing:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def register_extensions(app: Flask) -> None:
    # First: its hooks refuse hostile requests before anything (CSRF included) reads them.
    security.init_app(app)
    db.init_app(app)
    expect_writes_on_unsafe_requests(app)
    csrf.init_app(app)
    htmx_extension.init_app(app)
    crypto.init_app(app)
    from portal.accounts import guards
    from portal.sso.services import StateStore, oauth

    guards.init_app(app)
    oauth.init_app(app, cache=StateStore())
    app.extensions["trestle.outbox"] = OutboxRelay(
        app=app,
        redis_url=app.config["REDIS_URL"],
        stale_after=timedelta(seconds=app.config["OUTBOX_STALE_SECONDS"]),
    )
    # Models must be imported so metadata is complete for migrations and create_all.
    import portal.models  # noqa: F401


def register_blueprints(app: Flask) -> None:
    from portal.core.urls import IdConverter

    app.url_map.converters["int"] = IdConverter
    from portal.accounts.views import blueprint as accounts
    from portal.companies.views import blueprint as companies
    from portal.compliance.views import blueprint as compliance
    from portal.core.views import blueprint as core
    from portal.home.views import blueprint as home
    from portal.invoicing.views import blueprint as invoicing
    from portal.onboarding.views import blueprint as onboarding
    from portal.operations.views import blueprint as operations
    from portal.payees.views import blueprint as payees
    from portal.payment_settings.views import blueprint as payment_settings
    from portal.readiness.views import blueprint as readiness
    from portal.sso.views import blueprint as sso
    from portal.waivers.views import blueprint as waivers

    for blueprint in (
        core,
        home,
        accounts,
        sso,
        companies,
        operations,
        payment_settings,
        invoicing,
        onboarding,
        payees,
        readiness,
        compliance,
        waivers,
    ):
        app.register_blueprint(blueprint)
    # The simulated bank's own pages (its statements): never in production.
    if app.config["BANK_GATEWAY"] == "sandbox" and app.config["PORTAL_ENV"] != "production":
        from portal.banking.sandbox_views import blueprint as sandbox_bank

        app.register_blueprint(sandbox_bank)


def register_errorhandlers(app: Flask) -> None:
    from portal.core.views import register_error_pages

    register_error_pages(app)


def register_template_helpers(app: Flask) -> None:
    from portal.core import formats, htmx
    from portal.core.money import cents_for_input, format_bps, format_cents
    from portal.core.status import ActivationStatus, Tone

    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.filters["money"] = format_cents
    app.jinja_env.filters["percent"] = format_bps
    app.jinja_env.filters["money_input"] = cents_for_input
    app.jinja_env.filters["date"] = formats.format_date
    app.jinja_env.filters["datetime"] = formats.format_datetime
    app.jinja_env.filters["masked"] = formats.mask
    app.jinja_env.filters["possessive"] = possessive
    app.jinja_env.globals["activation"] = ActivationStatus.of
    app.jinja_env.globals["tone_shape"] = lambda tone: Tone(tone).shape
    htmx.init_app(app)
    app.jinja_env.globals["htmx_script"] = htmx.HTMX_SCRIPT
    app.jinja_env.globals["htmx_config"] = htmx.config_json


def register_commands(app: Flask) -> None:
    from portal.core.cli import audit_cli, crypto_cli, db_cli, jobs_cli, serve
    from portal.demo.cli import demo_cli
    from portal.sso.cli import sso_cli

    for command in (db_cli, audit_cli, crypto_cli, jobs_cli, serve, demo_cli, sso_cli):
        app.cli.add_command(command)
