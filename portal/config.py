"""Build the portal's configuration from the environment and refuse unsafe production settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - the known default that production refuses
# How long a remember-me sign-in lasts (its session row and its cookie alike).
REMEMBER_LIFETIME = timedelta(days=30)
MIN_SECRET_KEY_LENGTH = 32
ENVIRONMENTS = ("development", "test", "production")


class ConfigError(RuntimeError):
    """The environment does not describe a configuration the portal may start with."""


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def normalize_database_url(url: str) -> str:
    """Return a SQLAlchemy URL, mapping the common postgres:// forms to the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _local_base_url(environ: Mapping[str, str]) -> str:
    """Where `make run` / `flask serve` listen, so email links and the SSO redirect URI follow
    ``PORT`` when no public address is configured."""
    port = (environ.get("PORT") or "5000").strip()
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"PORT must be a TCP port number, not {port!r}.")
    return f"http://127.0.0.1:{int(port)}"


def load_config(environ: Mapping[str, str], instance_path: str) -> dict[str, Any]:
    """Read settings from ``environ``; raise ConfigError when production settings are unsafe."""
    env = environ.get("PORTAL_ENV", "development").strip().lower()
    if env not in ENVIRONMENTS:
        raise ConfigError(f"PORTAL_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}.")
    production = env == "production"
    instance = Path(instance_path)

    database_url = environ.get("DATABASE_URL") or f"sqlite:///{instance / 'trestle.db'}"
    storage_dir = environ.get("STORAGE_DIR") or str(instance / "storage")
    encryption_keys = [
        k.strip() for k in environ.get("ENCRYPTION_KEYS", "").split(",") if k.strip()
    ]

    config: dict[str, Any] = {
        "PORTAL_ENV": env,
        "TESTING": env == "test",
        "DEBUG": _flag(environ.get("FLASK_DEBUG")),
        "SECRET_KEY": environ.get("SECRET_KEY") or DEFAULT_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": normalize_database_url(database_url),
        "REDIS_URL": environ.get("REDIS_URL") or None,
        "ENCRYPTION_KEYS": encryption_keys,
        "STORAGE_DIR": storage_dir,
        "MAX_CONTENT_LENGTH": int(environ.get("MAX_REQUEST_BYTES", 25 * 1024 * 1024)),
        "MAIL_SERVER": environ.get("MAIL_SERVER") or None,
        "MAIL_PORT": int(environ.get("MAIL_PORT", "25")),
        "MAIL_USERNAME": environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": environ.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _flag(environ.get("MAIL_USE_TLS")),
        "MAIL_USE_SSL": _flag(environ.get("MAIL_USE_SSL")),
        "MAIL_TIMEOUT": float(environ.get("MAIL_TIMEOUT", "10")),
        "MAIL_DEFAULT_SENDER": environ.get(
            "MAIL_DEFAULT_SENDER", "Trestle <no-reply@trestle.local>"
        ),
        "PORTAL_BASE_URL": environ.get("PORTAL_BASE_URL") or _local_base_url(environ),
        # Sessions: signed cookies, hardened; Secure only where TLS is guaranteed.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        # The remember-me cookie never outlives the session row it names.
        "REMEMBER_COOKIE_DURATION": REMEMBER_LIFETIME,
        # Payments users (anyone holding a role) are signed out after this long idle.
        "SESSION_IDLE_MINUTES": int(environ.get("SESSION_IDLE_MINUTES", "30")),
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        "JOB_QUEUES": ("payments", "notifications", "default"),
        # Load balancers in front of the web processes, whose X-Forwarded-For/-Proto to trust.
        "TRUSTED_PROXY_HOPS": int(environ.get("TRUSTED_PROXY_HOPS", "0")),
        "BANK_GATEWAY": environ.get("BANK_GATEWAY", "sandbox"),
        "STEP_UP_MAX_AGE_SECONDS": int(environ.get("STEP_UP_MAX_AGE_SECONDS", "300")),
        "OUTBOX_STALE_SECONDS": int(environ.get("OUTBOX_STALE_SECONDS", "900")),
    }
    if production:
        check_production(config)
    return config


def check_production(config: Mapping[str, Any]) -> None:
    """Raise ConfigError naming every setting that makes a production start unsafe."""
    problems = []
    key = config.get("SECRET_KEY") or ""
    if key == DEFAULT_SECRET_KEY:
        problems.append("SECRET_KEY is the development default; set a random value.")
    elif len(key) < MIN_SECRET_KEY_LENGTH:
        problems.append(f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters.")
    if config.get("DEBUG"):
        problems.append("FLASK_DEBUG is on; the debugger must never run in production.")
    if not config.get("ENCRYPTION_KEYS"):
        problems.append(
            "ENCRYPTION_KEYS is not set; give one or more Fernet keys, newest first "
            "(generate one with `flask --app wsgi crypto generate-key`)."
        )
    if not str(config.get("PORTAL_BASE_URL", "")).startswith("https://"):
        problems.append("PORTAL_BASE_URL must be the portal's public https:// address.")
    if not config.get("MAIL_SERVER"):
        # Without it emails are written to the log, and they carry sign-in links.
        problems.append("MAIL_SERVER is not set; production emails must go to an SMTP server.")
    if problems:
        raise ConfigError("Refusing to start in production: " + " ".join(problems))


def config_from_os(instance_path: str) -> dict[str, Any]:
    """Read the configuration from the process environment."""
    return load_config(os.environ, instance_path)
