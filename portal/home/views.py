"""Home pages (work queues per role), the navigation every page shows, and the component
catalogue that development serves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, abort, current_app, g, render_template, request, url_for
from flask_login import current_user

from portal.accounts.guards import login_required
from portal.companies import queries as company_queries
from portal.companies.models import Feature
from portal.core import htmx
from portal.core.status import ActivationStatus, Status
from portal.core.tables import Column, TablePage, TableState, paginate_rows
from portal.home import navigation
from portal.home.queries import home_for
from portal.onboarding import queries as onboarding_queries
from portal.operations.queries import ChecklistItem, ChecklistStep

blueprint = Blueprint("home", __name__)


@dataclass(frozen=True)
class MenuLink:
    label: str
    url: str
    current: bool


@blueprint.app_context_processor
def layout_helpers() -> dict:
    """What base.html needs on every page: the navigation and the company menu."""

    def primary_nav() -> list[navigation.NavItem]:
        membership = g.get("membership")
        if not current_user.is_authenticated:
            return []
        features = company_queries.features_in(membership.company) if membership else {}
        return navigation.primary_navigation(membership, features)

    def company_menu() -> list[MenuLink]:
        return [
            MenuLink(item.label, url_for(item.endpoint), item.is_current(request.endpoint))
            for item in navigation.company_menu(g.get("membership"))
        ]

    def feature_on(name: str) -> bool:
        membership = g.get("membership")
        return bool(membership) and company_queries.features_in(membership.company)[Feature(name)]

    return {
        "primary_nav": primary_nav,
        "company_menu": company_menu,
        "feature_on": feature_on,
    }


@blueprint.get("/dashboard")
@login_required
def show_dashboard():
    """The signed-in home page: what needs this person now, role by role."""
    return render_template(
        "home/dashboard.html",
        membership=g.membership,
        home=home_for(g.membership),
        waiting_to_join=[] if g.membership else onboarding_queries.companies_asked(current_user.id),
    )


@blueprint.get("/_components")
@login_required
def show_components():
    """Every shared component with every status badge, for whoever adds a page."""
    if current_app.config["PORTAL_ENV"] == "production":
        abort(404)
    return htmx.add_vary(
        htmx.render(
            "home/components.html",
            "home/_components_table.html",
            statuses=all_statuses(),
            table=sample_table(request.args),
            sample_steps=SAMPLE_STEPS,
            now_sample=date(2026, 3, 4),
        )
    )


SAMPLE_STEPS = [
    ChecklistStep(
        1,
        "A sample step",
        [
            ChecklistItem("done", "Something already done", True, "Done on March 4."),
            ChecklistItem("to_do", "Something still to do", False, "Nobody has done it yet."),
            ChecklistItem("later", "Something of a later release", False, "", available=False),
        ],
    )
]
SAMPLE_COLUMNS = (
    Column("payee", "Payee", sortable=True),
    Column("amount", "Amount", sortable=True, numeric=True),
    Column("status", "Status"),
)
SAMPLE_ROWS = [
    {"payee": f"Sample Subcontractor {n:02d}", "amount": n * 123_45, "status": status}
    for n, status in zip(
        range(1, 31), [ActivationStatus.ON, ActivationStatus.OFF] * 15, strict=True
    )
]


def sample_table(args) -> TablePage:
    """A table over fixed sample rows, with the same URL state as every real list."""
    state = TableState.from_args(
        args, columns=SAMPLE_COLUMNS, default_sort="payee", filters=("q",), per_page=10
    )
    text = state.filter("q").lower()
    rows = sorted(
        (row for row in SAMPLE_ROWS if text in row["payee"].lower()),
        key=lambda row: row[state.sort or "payee"],
        reverse=state.direction == "desc",
    )
    return paginate_rows(rows, state)


def all_statuses() -> list[type[Status]]:
    """Every status enum of every feature (the models must be imported, as the app does)."""
    found: list[type[Status]] = []
    pending = list(Status.__subclasses__())
    while pending:
        cls = pending.pop(0)
        if cls.__module__.startswith("portal."):
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: (cls.__module__, cls.__name__))
