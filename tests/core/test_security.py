"""Security headers on every kind of response, CSRF, and the error pages."""

import pytest

from portal.core.security import CONTENT_SECURITY_POLICY


def assert_secure(response) -> None:
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert csp == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "HX-Request" in headers["Vary"]


def test_headers_on_a_page(client) -> None:
    response = client.get("/login")
    assert_secure(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # only in production
    assert len(response.headers["X-Request-ID"]) >= 8


def test_headers_on_a_fragment(client) -> None:
    response = client.htmx("GET", "/login")
    assert "<html" not in response.get_data(as_text=True)
    assert_secure(response)


@pytest.mark.parametrize("htmx", [False, True])
def test_headers_on_an_error(client, htmx: bool) -> None:
    response = client.htmx("GET", "/no/such/page") if htmx else client.get("/no/such/page")
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "We could not find that page" in body
    assert ("<html" in body) is not htmx
    if htmx:
        assert response.headers["HX-Retarget"] == "#htmx-alert"
    assert_secure(response)


def test_session_cookie_is_hardened(client) -> None:
    response = client.get("/login")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_post_without_csrf_token_is_refused(client) -> None:
    response = client.post("/login", data={"email": "a@example.com", "password": "x"})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert_secure(response)


def test_unhandled_errors_show_no_stack_trace(test_env, tmp_path) -> None:
    from tests.conftest import build_app

    app = build_app(test_env, str(tmp_path))

    @app.get("/__boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/__boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "secret internals" not in body and "Traceback" not in body
    assert "Something went wrong on our side" in body
    assert_secure(response)


def test_request_id_from_a_proxy_is_kept_only_when_well_formed(client) -> None:
    assert (
        client.get("/login", headers={"X-Request-ID": "abc12345-lb"}).headers["X-Request-ID"]
        == "abc12345-lb"
    )
    assert (
        client.get("/login", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"]
        != "<script>"
    )


def test_hsts_in_production(test_env, tmp_path) -> None:
    from tests.conftest import build_app

    app = build_app(
        {
            **test_env,
            "PORTAL_ENV": "production",
            "ENCRYPTION_KEYS": "x" * 43 + "=",
            "PORTAL_BASE_URL": "https://pay.example.com",
        },
        str(tmp_path),
    )
    response = app.test_client().get("/static/css/portal.css")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    response.close()


@pytest.mark.parametrize("status", [400, 403, 404, 409, 413, 429, 500])
@pytest.mark.parametrize("htmx", [False, True])
def test_every_error_page_exists_as_page_and_fragment(app, status: int, htmx: bool) -> None:
    from portal.core.views import ERROR_TITLES, render_error

    headers = {"HX-Request": "true"} if htmx else {}
    with app.test_request_context("/somewhere", headers=headers):
        response = render_error(status)
    body = response.get_data(as_text=True)
    assert response.status_code == status
    assert ERROR_TITLES[status] in body
    assert ("<html" in body) is not htmx
    assert (response.headers.get("HX-Retarget") == "#htmx-alert") is htmx


@pytest.mark.parametrize(("hops", "expected"), [(0, "127.0.0.1"), (1, "198.51.100.7")])
def test_client_ip_comes_from_trusted_proxies_only(test_env, tmp_path, hops, expected) -> None:
    from flask import request

    from tests.conftest import build_app

    app = build_app({**test_env, "TRUSTED_PROXY_HOPS": str(hops)}, str(tmp_path))

    @app.get("/__ip")
    def show_ip() -> str:
        return f"{request.remote_addr} {request.scheme}"

    response = app.test_client().get(
        "/__ip", headers={"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
    )
    assert response.get_data(as_text=True) == f"{expected} {'https' if hops else 'http'}"


def test_a_revalidated_static_file_is_closed(client, recwarn) -> None:
    """Browsers revalidate the favicon; the 304 must not leave its file open."""
    import gc

    response = client.get(
        "/static/favicon.svg", headers={"If-Modified-Since": "Wed, 01 Jan 2099 00:00:00 GMT"}
    )
    assert response.status_code == 304
    del response
    gc.collect()
    assert not [w for w in recwarn if issubclass(w.category, ResourceWarning)]
