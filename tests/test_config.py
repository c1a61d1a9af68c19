import pytest
from cryptography.fernet import Fernet

from portal import create_app
from portal.config import DEFAULT_SECRET_KEY, ConfigError, load_config, normalize_database_url

GOOD_KEY = Fernet.generate_key().decode()
STRONG_SECRET = "s" * 48


def production(**env: str) -> dict[str, str]:
    return {
        "PORTAL_ENV": "production",
        "SECRET_KEY": STRONG_SECRET,
        "ENCRYPTION_KEYS": GOOD_KEY,
        "PORTAL_BASE_URL": "https://pay.example.com",
        "MAIL_SERVER": "smtp.example.com",
        **env,
    }


def test_a_safe_production_configuration_loads(tmp_path) -> None:
    config = load_config(production(), str(tmp_path))
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["PREFERRED_URL_SCHEME"] == "https"


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"SECRET_KEY": ""}, "development default"),
        ({"SECRET_KEY": DEFAULT_SECRET_KEY}, "development default"),
        ({"SECRET_KEY": "short-but-not-default"}, "shorter than 32"),
        ({"FLASK_DEBUG": "1"}, "FLASK_DEBUG is on"),
        ({"ENCRYPTION_KEYS": ""}, "ENCRYPTION_KEYS is not set"),
        ({"PORTAL_BASE_URL": "http://pay.example.com"}, "PORTAL_BASE_URL must be"),
        ({"MAIL_SERVER": ""}, "MAIL_SERVER is not set"),
    ],
)
def test_production_refuses_unsafe_settings_and_says_why(tmp_path, env, reason) -> None:
    with pytest.raises(ConfigError, match=reason):
        load_config(production(**env), str(tmp_path))


def test_create_app_refuses_too(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(ConfigError, match="Refusing to start in production"):
        create_app()


def test_development_defaults_need_no_setup(tmp_path) -> None:
    config = load_config({}, str(tmp_path))
    assert config["PORTAL_ENV"] == "development"
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/trestle.db"
    assert config["REDIS_URL"] is None
    assert config["SESSION_COOKIE_SECURE"] is False


def test_unknown_environment_is_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match="PORTAL_ENV"):
        load_config({"PORTAL_ENV": "staging"}, str(tmp_path))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_urls_use_psycopg3(url, expected) -> None:
    assert normalize_database_url(url) == expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:5000"),
        ({"PORT": "8000"}, "http://127.0.0.1:8000"),
        ({"PORT": "8000", "PORTAL_BASE_URL": "https://pay.example.com"}, "https://pay.example.com"),
        ({"PORT": "", "PORTAL_BASE_URL": ""}, "http://127.0.0.1:5000"),
    ],
)
def test_links_follow_the_port_the_portal_serves_on(tmp_path, env, expected) -> None:
    assert load_config(env, str(tmp_path))["PORTAL_BASE_URL"] == expected


@pytest.mark.parametrize("port", ["http", "0", "70000"])
def test_a_port_that_is_not_a_port_is_refused(tmp_path, port) -> None:
    with pytest.raises(ConfigError, match="PORT must be a TCP port number"):
        load_config({"PORT": port}, str(tmp_path))


def test_email_links_use_the_configured_port(tmp_path) -> None:
    from portal.core.urls import external_url

    settings = load_config({"PORT": "8000", "PORTAL_ENV": "test"}, str(tmp_path))
    settings["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    app = create_app(settings)
    with app.test_request_context("/"):
        assert external_url("accounts.login") == "http://127.0.0.1:8000/login"
