"""The portal shell: home, health check and the error pages every feature shares."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.core import htmx, ratelimit
from portal.core.db import db
from portal.core.errors import DomainError
from portal.core.outbox import queue_health

log = logging.getLogger(__name__)
blueprint = Blueprint("core", __name__)

ERROR_TITLES = {
    400: "Something in that request was not right",
    403: "You do not have access to this",
    404: "We could not find that page",
    405: "That action is not available here",
    409: "That cannot be done right now",
    413: "That file is too large",
    429: "Too many attempts",
    500: "Something went wrong on our side",
}
# Advice keyed by status, or by (status, side) where whom to ask depends on the user's side:
# the kind of the company they are working in (core knows no feature, so the kind's value).
ERROR_ADVICE: dict[int | tuple[int, str], str] = {
    400: "Go back, check what you entered and try again.",
    403: "If you think you should have access, ask the person who manages your company's "
    "Trestle users.",
    (403, "payor"): "If you think you should have access, ask one of your company's Payments "
    "Admins for the role you need.",
    (403, "payee"): "If you think you should have access, ask your company's Payee Payments Admin.",
    (403, "operator"): "This belongs to a payor or payee's own people. To act for a payor, "
    "use the operator console.",
    404: "Check the address, or go back to your dashboard.",
    405: "Go back and use the buttons on the page.",
    409: "Nothing was changed. Reload the page to see the current state.",
    413: "Upload a smaller file.",
    429: "Wait a few minutes before trying again.",
    500: "Nothing was changed. Try again in a moment; if it keeps happening, contact support.",
}


@blueprint.get("/")
def show_home() -> Response | str:
    """Show the portal's front page, or the dashboard to a signed-in user."""
    if current_user.is_authenticated:
        return redirect(url_for("home.show_dashboard"))
    return render_template("core/home.html")


@blueprint.get("/healthz")
def show_health() -> tuple[Response, int]:
    """Report whether the database and the job queue answer, as JSON."""
    checks: dict[str, dict[str, object]] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = {"ok": True, "backend": db.engine.dialect.name}
        checks["queue"] = queue_health(current_app)
    except sa.exc.SQLAlchemyError as exc:
        checks["database"] = {"ok": False, "error": exc.__class__.__name__}
        checks["queue"] = {"ok": False, "error": "database unavailable"}
    ok = all(check["ok"] for check in checks.values())
    return jsonify(status="ok" if ok else "degraded", checks=checks), 200 if ok else 503


def render_error(status: int, message: str | None = None) -> Response:
    """Render an error as a full page, or as an alert fragment for an htmx swap."""
    company = g.get("company")
    side = company.kind.value if company is not None else None
    context = {
        "status": status,
        "title": ERROR_TITLES.get(status, "Something went wrong"),
        "message": message or ERROR_ADVICE.get((status, side)) or ERROR_ADVICE.get(status, ""),
    }
    if htmx.is_fragment_request():
        response = make_response(render_template("errors/_error.html", **context), status)
        response.headers["HX-Retarget"] = "#htmx-alert"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return make_response(render_template("errors/page.html", **context), status)


def register_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> Response:
        return render_error(400, "This form has expired. Reload the page and try again.")

    # Every failed request changes nothing, except the failures it counted (see ratelimit).
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> Response:
        ratelimit.keep_recorded()
        return render_error(error.status_code, error.message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        if error.code is None or error.code < 400:
            return error.get_response()
        ratelimit.keep_recorded()
        response = render_error(error.code)
        if error.code == 405 and (allowed := error.get_response().headers.get("Allow")):
            response.headers["Allow"] = allowed
        return response

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return http_error(error)
        log.exception("unhandled error", exc_info=error)
        ratelimit.keep_recorded()
        return render_error(InternalServerError.code)
