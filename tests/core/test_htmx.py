"""The page-versus-fragment contract, htmx redirects and invalid-form fragments."""

import pytest
from flask import Flask

from portal.core import htmx


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, False),
        ({"HX-Request": "true"}, True),
        ({"HX-Request": "true", "HX-Boosted": "true"}, False),
        ({"HX-Request": "true", "HX-History-Restore-Request": "true"}, False),
        ({"HX-Request": "false"}, False),
    ],
)
def test_fragment_only_for_a_genuine_swap(client, headers: dict[str, str], fragment: bool) -> None:
    response = client.get("/login", headers=headers)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert ("<html" not in body) is fragment
    assert 'id="login-form"' in body
    assert "HX-Request" in response.headers["Vary"]


def test_invalid_form_fragment_comes_back_with_200(client) -> None:
    response = client.submit("/login", {"email": "not-an-email", "password": ""}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert "Enter a valid email address." in body
    assert "Enter your password." in body
    assert 'aria-invalid="true"' in body


def test_invalid_full_form_post_renders_the_page(client) -> None:
    response = client.submit("/login", {"email": "", "password": ""})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in body and "Enter your email address." in body


def test_redirect_is_a_header_for_htmx_and_303_otherwise(app: Flask) -> None:
    with app.test_request_context("/x", headers={"HX-Request": "true"}):
        response = htmx.redirect_to("/somewhere")
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == "/somewhere"
        assert "Location" not in response.headers
    with app.test_request_context("/x"):
        response = htmx.redirect_to("/somewhere")
        assert response.status_code == 303
        assert response.headers["Location"] == "/somewhere"


def test_trigger_merges_events(app: Flask) -> None:
    with app.test_request_context("/x"):
        response = app.make_response("ok")
        htmx.trigger(response, "saved")
        htmx.trigger(response, "toast", {"message": "Saved"})
        assert response.headers["HX-Trigger"] == '{"saved": true, "toast": {"message": "Saved"}}'


def test_pages_carry_the_csrf_header_and_the_htmx_config(client) -> None:
    body = client.get("/login").get_data(as_text=True)
    assert "hx-headers=" in body and "X-CSRFToken" in body
    assert 'name="htmx-config"' in body
    assert "&#34;allowEval&#34;:false" in body
    assert "/static/vendor/htmx-2.0.11.min.js" in body


def test_htmx_is_served_by_the_portal(client) -> None:
    response = client.get("/static/vendor/htmx-2.0.11.min.js")
    assert response.status_code == 200
    assert b"htmx" in response.data[:2000]
    response.close()
