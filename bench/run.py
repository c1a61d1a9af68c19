"""Benchmark harness: serve the portal as deployed and report numbers (never pass/fail).

For every signed-in page of a payor's Payments Admin, a payee's Payee Payments Admin and an
operator it reports the SQL statements at two data sizes (the demo, then the signed-in
companies and many other payors grown), and, on the grown data, requests/s, p50 and p95
latency at 1 and at 16 concurrent clients, the response's size, and its req/s as a share of
a baseline measured in the same run (a trivial template after ``SELECT 1``, served by the
same app and the same gunicorn). It also reports each gunicorn worker's peak RSS, prints a
table and writes bench/results/latest.json.

    .venv/bin/python bench/run.py [--requests 200] [--concurrency 1,16] [--max-seconds 30]
        [--payors 200] [--projects 500] [--members 50] [--funding-accounts 20]
        [--audit-events 5000] [--invoices 20000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import pyotp
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "latest.json"
BENCH_DATABASE = "trestle_bench"
BASELINE_PATH = "/_bench/baseline"  # served by bench/wsgi_bench.py only
PAYOR_SLUG, PAYEE_SLUG = "summit-builders", "ironline-steel"
SIGN_INS = {
    "payor admin": "admin@summit.example.com",
    "payee admin": "admin@ironline.example.com",
    "operator": "ops@trestle.example.com",
}
# The address a load balancer would name as the client (a documentation address).
CLIENT_IP = "192.0.2.10"
WARM_UP_REQUESTS = 8  # per page, so every worker has compiled its templates
BATCH = 500  # rows per commit while growing
INVITATIONS = 10  # pending invitations to each signed-in company


@dataclass(frozen=True)
class Page:
    signed_in_as: str
    name: str
    # may name {payor_id}, {entity_id}, {project_id}, {invoice_id}, {commitment_id},
    # {member_id}, {payee_member_id}
    path: str


PAGES = (
    Page("payor admin", "dashboard", "/dashboard"),
    Page("payor admin", "team", "/company/members"),
    Page("payor admin", "member", "/company/members/{member_id}"),
    Page("payor admin", "payment settings", "/settings/payments"),
    Page("payor admin", "business entity", "/settings/payments/entities/{entity_id}"),
    Page("payor admin", "funding accounts", "/settings/payments/funding-accounts"),
    Page("payor admin", "payment controls", "/settings/payments/controls"),
    Page("payor admin", "projects", "/projects"),
    Page("payor admin", "project", "/projects/{project_id}"),
    Page("payor admin", "change history", "/company/history"),
    Page("payor admin", "invoices", "/invoices"),
    Page("payor admin", "invoices, filtered", "/invoices?status=approved&readiness=ready&page=3"),
    Page("payor admin", "invoice", "/invoices/{invoice_id}"),
    Page("payor admin", "commitment", "/commitments/{commitment_id}"),
    Page("payor admin", "account", "/account"),
    Page("payor admin", "company profile", "/company/profile"),
    Page("payor admin", "implementation", "/company/implementation"),
    Page("payor admin", "contacts", "/company/implementation/contacts"),
    Page("payor admin", "trainings", "/company/implementation/trainings"),
    Page("payee admin", "dashboard", "/dashboard"),
    Page("payee admin", "team", "/company/members"),
    Page("payee admin", "member", "/company/members/{payee_member_id}"),
    Page("payee admin", "change history", "/company/history"),
    Page("payee admin", "billing", "/billing"),
    Page("payee admin", "invoice", "/invoices/{invoice_id}"),
    Page("operator", "home", "/dashboard"),
    Page("operator", "payors", "/operator"),
    Page("operator", "payor users", "/operator/users"),
    Page("operator", "payor", "/operator/payors/{payor_id}"),
    Page("operator", "implementation", "/operator/payors/{payor_id}/implementation"),
    Page("operator", "contacts", "/operator/payors/{payor_id}/implementation/contacts"),
    Page("operator", "trainings", "/operator/payors/{payor_id}/implementation/trainings"),
    Page("operator", "payor history", "/operator/payors/{payor_id}/history"),
)


@dataclass(frozen=True)
class Sizes:
    """How far to grow: the signed-in payor and payee, and how many other payors."""

    payors: int
    projects: int
    members: int
    funding_accounts: int
    audit_events: int
    invoices: int


# --------------------------------------------------------------------------- environment


def production_environment(database_url: str, storage_dir: str) -> dict[str, str]:
    """The environment of the README's deployment (PORTAL_ENV=production), with the settings
    production insists on made up for this run."""
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "PORTAL_ENV": "production",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        # Required to be https; it only goes into email links and the SSO redirect URI.
        "PORTAL_BASE_URL": "https://trestle-bench.invalid",
        # Required in production. Nothing the bench does sends email; if something did,
        # port 9 (discard) on loopback refuses it at once instead of reaching anyone.
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": "9",
        # As deployed behind a TLS-terminating load balancer. The bench plays that balancer
        # (X-Forwarded-Proto: https, X-Forwarded-For), so cookies stay Secure and CSRF checks
        # the referrer exactly as in production, over plain http on loopback.
        "TRUSTED_PROXY_HOPS": "1",
        "STORAGE_DIR": storage_dir,
    }
    # No page the bench reads sends a job; without Redis nothing of the bench lands in the
    # Redis databases the test tiers use.
    env.pop("REDIS_URL", None)
    env.pop("FLASK_DEBUG", None)
    return env


def prepare_database(admin_url: str) -> str:
    """Create an empty bench database (dropping the last run's); return its URL."""
    engine = sa.create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{BENCH_DATABASE}"')
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + BENCH_DATABASE


def flask(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{result.stderr}")


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    # Other work may be in the tree: say so, since the numbers are of the tree, not the commit.
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": bool(git("status", "-s"))}


# --------------------------------------------------------------------------- signing in


class Authenticators:
    """The bench users' TOTP secrets, set directly (the bench is not testing enrollment).

    The portal accepts the previous, current or next 30 s step and only a step after the last
    one it accepted, so a second sign-in within a step takes the next step's code and a third
    waits for a fresh step.
    """

    def __init__(self, app) -> None:
        from portal.accounts.models import User
        from portal.core.db import db, utcnow

        self.secrets: dict[str, str] = {}
        self.last_step: dict[str, int] = {}
        with app.app_context():
            for email in SIGN_INS.values():
                user = db.session.scalar(sa.select(User).where(User.email == email))
                user.totp_secret = self.secrets[email] = pyotp.random_base32(32)
                user.totp_enrolled_at = utcnow()
            db.session.commit()

    def next_code(self, email: str) -> str:
        totp = pyotp.TOTP(self.secrets[email])
        while True:
            current = totp.timecode(datetime.now(UTC))
            step = max(current, self.last_step.get(email, -1) + 1)
            if step <= current + 1:
                self.last_step[email] = step
                return totp.generate_otp(step)
            time.sleep(totp.interval - time.time() % totp.interval + 0.2)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class Browser(Protocol):
    def get(self, path: str) -> Answer: ...

    def post(self, path: str, form: dict[str, str]) -> Answer: ...


class InProcessBrowser:
    """Flask's test client on https, for counting the statements a page runs."""

    base = "https://localhost"

    def __init__(self, app) -> None:
        self.client = app.test_client()

    def get(self, path: str) -> Answer:
        response = self.client.get(path, base_url=self.base)
        return Answer(response.status_code, response.get_data())

    def post(self, path: str, form: dict[str, str]) -> Answer:
        response = self.client.post(
            path, data=form, base_url=self.base, headers={"Referer": self.base + path}
        )
        return Answer(response.status_code, response.get_data())


def http_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes, list[str]]:
    """One request on its own connection (gunicorn's sync workers close every connection)."""
    return http_request(port, "GET", path, None, headers)


def http_request(
    port: int, method: str, path: str, body: str | None, headers: dict[str, str]
) -> tuple[int, bytes, list[str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), response.headers.get_all("Set-Cookie") or []
    finally:
        connection.close()


class HttpBrowser:
    """A browser behind the deployment's TLS-terminating load balancer, on plain http.

    It keeps cookies itself: a standard cookie jar would never send a Secure cookie over
    http, and production marks every cookie Secure.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def headers(self) -> dict[str, str]:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": CLIENT_IP}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        return headers

    def _send(self, method: str, path: str, body: str | None, extra: dict[str, str]) -> Answer:
        status, content, set_cookies = http_request(
            self.port, method, path, body, {**self.headers(), **extra}
        )
        for header in set_cookies:
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return Answer(status, content)

    def get(self, path: str) -> Answer:
        return self._send("GET", path, None, {})

    def post(self, path: str, form: dict[str, str]) -> Answer:
        return self._send(
            "POST",
            path,
            urlencode(form),
            {
                "Content-Type": "application/x-www-form-urlencoded",
                # What a browser on the public https address would send.
                "Referer": f"https://127.0.0.1:{self.port}{path}",
            },
        )


CSRF_FIELD = re.compile(rb'name="csrf_token" type="hidden" value="([^"]+)"')


def form_token(answer: Answer, path: str) -> str:
    found = CSRF_FIELD.search(answer.body)
    if found is None:
        raise SystemExit(f"{path} answered {answer.status} without a sign-in form.")
    return found.group(1).decode()


def sign_in(browser: Browser, email: str, authenticators: Authenticators) -> None:
    """Sign in with password and TOTP, once (a failure would count toward the throttles)."""
    from portal.demo.seed import DEMO_PASSWORD

    token = form_token(browser.get("/login"), "/login")
    browser.post("/login", {"csrf_token": token, "email": email, "password": DEMO_PASSWORD})
    # Signing in starts a new session: take the token of the code page.
    token = form_token(browser.get("/login/code"), "/login/code")
    browser.post("/login/code", {"csrf_token": token, "code": authenticators.next_code(email)})
    home = browser.get("/dashboard")  # also settles the session's CSRF token in its cookie
    if home.status != 200:
        raise SystemExit(f"Signing in as {email} failed: /dashboard answered {home.status}.")


# --------------------------------------------------------------------------- growing


def grow(app, sizes: Sizes) -> None:
    """Grow the signed-in payor and payee, and add many other payors, through the services."""
    from portal.accounts.models import User
    from portal.companies.queries import company_by_slug
    from portal.core import tenancy
    from portal.core.db import db

    with app.app_context(), tenancy.unscoped():
        operator = db.session.scalar(sa.select(User).where(User.email == SIGN_INS["operator"]))
        others = grow_other_payors(sizes.payors, operator.id)
        grow_payor(company_by_slug(PAYOR_SLUG), sizes, others)
        grow_payee(company_by_slug(PAYEE_SLUG), sizes, others)
        grow_invoices(company_by_slug(PAYOR_SLUG), company_by_slug(PAYEE_SLUG), sizes.invoices)
        db.session.commit()
    # Fresh planner statistics, as autovacuum would have them on a database this size.
    with (
        app.app_context(),
        db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection,
    ):
        connection.exec_driver_sql("ANALYZE")


def grow_other_payors(count: int, operator_id: int) -> list:
    """Payors the signed-in users do not belong to, each with 5 people and 5 projects; return
    their people (who may be invited to the signed-in companies)."""
    from portal.accounts import services as accounts
    from portal.companies import services as companies
    from portal.companies.models import Role
    from portal.core.db import db
    from portal.invoicing import services as invoicing
    from portal.operations import services as operations

    people = []
    for n in range(count):
        company = operations.create_payor(
            f"Bench Payor {n:04d}", f"bench-{n:04d}", actor_user_id=operator_id
        )
        for k in range(5):
            user = accounts.create_user(f"u{k}@bench{n:04d}.example.com", f"User {k}", None)
            member = companies.add_member(company, user, actor_user_id=operator_id)
            companies.grant_role(member, Role.VIEWER, actor_user_id=operator_id)
            people.append(user)
            city, region, postal = ADDRESSES[k % len(ADDRESSES)]
            invoicing.create_project(
                company,
                name=f"Tower {k}",
                number=f"B-{k}",
                address_line1="1 Main St",
                city=city,
                region=region,
                postal_code=postal,
                actor_user_id=operator_id,
            )
        if n % 25 == 24:
            db.session.commit()
    db.session.commit()
    return people


ADDRESSES = (
    ("Austin", "TX", "78701"),
    ("San Francisco", "CA", "94105"),
    ("Denver", "CO", "80202"),
    ("Seattle", "WA", "98101"),
    ("Phoenix", "AZ", "85004"),
)
PROJECT_KINDS = ("Tower", "Medical Center", "Lofts", "Distribution Center", "School", "Bridge")
FIRST_NAMES = ("Alex", "Blair", "Casey", "Drew", "Emery", "Finley", "Gray", "Harper", "Jordan")
LAST_NAMES = ("Nguyen", "Okafor", "Patel", "Quinn", "Rivera", "Schmidt", "Tanaka", "Walsh")
# Valid ABA routing numbers (check digit passes); account numbers only need to differ.
ROUTING_NUMBERS = ("021000021", "011000015", "026009593", "121000358", "031000503")


def person_name(n: int) -> str:
    return f"{FIRST_NAMES[n % len(FIRST_NAMES)]} {LAST_NAMES[n // len(FIRST_NAMES) % 8]} {n}"


def rows_of(model, company_id: int) -> list:
    """A company's rows of one kind, oldest first (read directly: the portal's own queries
    may paginate or filter)."""
    from portal.core.db import db

    return list(
        db.session.scalars(
            sa.select(model).where(model.company_id == company_id).order_by(model.id)
        ).unique()
    )


def admin_of(company) -> int:
    from portal.companies.models import Membership, MembershipRole, Role
    from portal.core.db import db

    return db.session.scalar(
        sa.select(Membership.user_id)
        .join(MembershipRole, MembershipRole.membership_id == Membership.id)
        .where(
            Membership.company_id == company.id,
            MembershipRole.role.in_((Role.PAYMENTS_ADMIN, Role.PAYEE_ADMIN)),
        )
        .order_by(Membership.id)
        .limit(1)
    )


def grow_members(company, target: int, roles: Callable[[int], Any], admin_id: int) -> None:
    """Add people (no password yet, as when an admin adds them) until ``target`` members."""
    from portal.accounts import services as accounts
    from portal.companies import services as companies
    from portal.companies.models import Membership
    from portal.core.db import db

    domain = company.slug.split("-")[0]
    for n in range(len(rows_of(Membership, company.id)), target):
        user = accounts.create_user(f"member{n:03d}@{domain}.example.com", person_name(n), None)
        member = companies.add_member(company, user, actor_user_id=admin_id)
        if (role := roles(n)) is not None:
            companies.grant_role(member, role, actor_user_id=admin_id)
    db.session.commit()


def invite(company, people: list, admin_id: int) -> None:
    from portal.companies import services as companies

    for user in people[:INVITATIONS]:
        companies.invite_member(company, user, actor_user_id=admin_id)


def grow_payor(company, sizes: Sizes, others: list) -> None:
    """Projects, members with every payor role, entities and funding accounts, invitations,
    and audit events up to the sizes asked for."""
    from portal.companies.models import Membership, Role
    from portal.core.db import db
    from portal.invoicing import services as invoicing
    from portal.invoicing.models import Project
    from portal.payment_settings import services as payment_settings
    from portal.payment_settings.models import AccountType, BusinessEntity, FundingAccount

    admin_id = admin_of(company)
    have = len(rows_of(Project, company.id))
    for n in range(have, sizes.projects):
        city, region, postal = ADDRESSES[n % len(ADDRESSES)]
        invoicing.create_project(
            company,
            name=f"{city} {PROJECT_KINDS[n % len(PROJECT_KINDS)]} {n}",
            number=f"SB-{3000 + n}",
            address_line1=f"{100 + n} Market St",
            city=city,
            region=region,
            postal_code=postal,
            actor_user_id=admin_id,
        )
        if n % BATCH == BATCH - 1:
            db.session.commit()
    db.session.commit()

    roles = (
        Role.DISBURSER,
        Role.CONTRIBUTOR,
        Role.INVOICE_ADMINISTRATOR,
        Role.VIEWER,
        Role.BENEFICIARY_APPROVER,
    )
    grow_members(company, sizes.members, lambda n: roles[n % len(roles)], admin_id)

    entities = rows_of(BusinessEntity, company.id)
    if len(entities) < 2:
        entities.append(
            payment_settings.save_entity(
                company,
                payment_settings.EntityInput(
                    "Summit Builders Northwest, LLC",
                    None,
                    "1201 3rd Ave",
                    None,
                    "Seattle",
                    "WA",
                    "98101",
                    "WA",
                    "98-7654321",
                ),
                actor_user_id=admin_id,
            )
        )
    for n in range(len(rows_of(FundingAccount, company.id)), sizes.funding_accounts):
        payment_settings.add_funding_account(
            company,
            payment_settings.FundingAccountInput(
                entity_id=entities[n % len(entities)].id,
                nickname=f"Operating {n + 1:02d}",
                routing_number=ROUTING_NUMBERS[n % len(ROUTING_NUMBERS)],
                account_number=str(4_000_123_400 + n),
                account_number_confirm=str(4_000_123_400 + n),
                account_type=AccountType.CHECKING if n % 3 else AccountType.SAVINGS,
                bank_id=None,
                next_check_number=None,
                make_default=False,
            ),
            actor_user_id=admin_id,
        )
    invite(company, others, admin_id)
    db.session.commit()

    projects = rows_of(Project, company.id)
    members = rows_of(Membership, company.id)
    accounts = rows_of(FundingAccount, company.id)

    def event(n: int) -> tuple[str, dict[str, Any]]:
        if n % 4 == 0:
            project, on = projects[n % len(projects)], bool(n % 8)
            return "invoicing:project:pay_changed", {
                "object_type": "project",
                "object_id": project.id,
                "before": {"pay_enabled": not on},
                "after": {"pay_enabled": on},
            }
        if n % 4 == 3:
            old, new = accounts[n % len(accounts)], accounts[(n + 1) % len(accounts)]
            return "payment_settings:funding_account:default_changed", {
                "object_type": "funding_account",
                "object_id": new.id,
                "before": {"default": old.nickname},
                "after": {"default": new.nickname},
            }
        return role_change(members[n % len(members)], Role.VIEWER, granted=n % 4 == 1)

    top_up_audit_events(company.id, sizes.audit_events, event, admin_id)


INVOICES_PER_COMMITMENT = 100  # one a month, for as many billing periods


def grow_invoices(payor, payee, target: int) -> None:
    """Invoices of the payee to the payor up to ``target``: commitments on a project of their
    own, billed once a month for a hundred months (approved, the latest under review). The
    commitments and periods go through the services; the invoices and their lines are
    written in bulk, with the same G702 figures the services would keep."""
    from datetime import date

    from portal.core.db import db, utcnow
    from portal.invoicing import services as invoicing
    from portal.invoicing.models import (
        BillingType,
        CommitmentKind,
        Invoice,
        InvoiceLine,
        InvoiceStatus,
        PaymentStatus,
    )
    from portal.onboarding.models import PayeeRelationship

    have = db.session.scalar(
        sa.select(sa.func.count()).select_from(Invoice).where(Invoice.company_id == payor.id)
    )
    commitments = (target - have) // INVOICES_PER_COMMITMENT
    if commitments <= 0:
        return
    admin_id = admin_of(payor)
    relationship = db.session.scalar(
        sa.select(PayeeRelationship).where(
            PayeeRelationship.payor_id == payor.id, PayeeRelationship.payee_id == payee.id
        )
    )
    project = invoicing.create_project(
        payor,
        name="Bench Plaza",
        number=f"SB-BENCH-{have}",
        address_line1="1 Bench Way",
        city="Oakland",
        region="CA",
        postal_code="94607",
        actor_user_id=admin_id,
    )
    periods = []
    for start in range(0, INVOICES_PER_COMMITMENT, invoicing.MAX_MONTHS_AT_ONCE):
        months = min(invoicing.MAX_MONTHS_AT_ONCE, INVOICES_PER_COMMITMENT - start)
        first = date(2010 + start // 12, start % 12 + 1, 1)
        periods += invoicing.create_monthly_periods(
            project, first_month=first, months=months, due_day=28, actor_user_id=admin_id
        )
    db.session.commit()
    step, retainage = 100_000, 1000  # $1,000.00 billed a month, 10% retained
    now = utcnow()
    for k in range(commitments):
        commitment = invoicing.create_commitment(
            project,
            relationship=relationship,
            kind=CommitmentKind.SUBCONTRACT,
            number=f"B-{k:04d}",
            title=f"Bench scope {k}",
            contract_sum=str(step * INVOICES_PER_COMMITMENT // 100),
            default_retainage="10",
            actor_user_id=admin_id,
        )
        invoicing.save_schedule(
            commitment,
            [invoicing.LineInput("01", "Scope", str(step * INVOICES_PER_COMMITMENT // 100), "")],
            actor_user_id=admin_id,
        )
        invoicing.approve_commitment(commitment, actor_user_id=admin_id)
        line = commitment.lines[0]
        rows = []
        for n, period in enumerate(periods, start=1):
            done, held = step * n, step * n * retainage // 10_000
            previous = (step * (n - 1)) - (step * (n - 1) * retainage // 10_000)
            latest = n == len(periods)
            rows.append(
                {
                    "company_id": payor.id,
                    "payee_company_id": payee.id,
                    "project_id": project.id,
                    "commitment_id": commitment.id,
                    "billing_period_id": period.id,
                    "number": n,
                    "billing_type": BillingType.PROGRESS,
                    "status": InvoiceStatus.UNDER_REVIEW
                    if latest
                    else (
                        InvoiceStatus.APPROVED_AS_NOTED if n % 7 == 0 else InvoiceStatus.APPROVED
                    ),
                    "payment_status": PaymentStatus.UNPAID,
                    "round": 1,
                    "payee_note": "",
                    "original_contract_sum_cents": step * INVOICES_PER_COMMITMENT,
                    "net_change_cents": 0,
                    "completed_stored_cents": done,
                    "retainage_completed_cents": held,
                    "retainage_stored_cents": 0,
                    "previous_certificates_cents": previous,
                    "current_due_cents": done - held - previous,
                    "created_at": now,
                    "on_behalf": False,
                    "submitted_at": now,
                    "decided_at": None if latest else now,
                    "approved_by_user_id": None if latest else admin_id,
                }
            )
        ids = db.session.scalars(sa.insert(Invoice).returning(Invoice.id), rows).all()
        db.session.execute(
            sa.insert(InvoiceLine),
            [
                {
                    "invoice_id": invoice_id,
                    "sov_line_id": line.id,
                    "item": 1,
                    "description": line.description,
                    "scheduled_value_cents": line.scheduled_value_cents,
                    "previous_completed_cents": step * n,
                    "this_period_cents": step,
                    "stored_cents": 0,
                    "retainage_bps": retainage,
                }
                for n, invoice_id in enumerate(ids)
            ],
        )
        db.session.commit()


def grow_payee(company, sizes: Sizes, others: list) -> None:
    """Members (a few of them admins), invitations and audit events: the rows a payee owns
    today."""
    from portal.companies.models import Membership, Role
    from portal.core.db import db

    admin_id = admin_of(company)
    grow_members(
        company, sizes.members, lambda n: Role.PAYEE_ADMIN if n % 10 == 0 else None, admin_id
    )
    invite(company, others, admin_id)
    db.session.commit()
    members = rows_of(Membership, company.id)

    def event(n: int) -> tuple[str, dict[str, Any]]:
        member = members[n % len(members)]
        if n % 3 == 0:
            return "accounts:mfa:reset", {"object_type": "user", "object_id": member.user_id}
        return role_change(member, Role.PAYEE_ADMIN, granted=n % 3 == 1)

    top_up_audit_events(company.id, sizes.audit_events, event, admin_id)


def role_change(member, role, *, granted: bool) -> tuple[str, dict[str, Any]]:
    """The audit event of ``role`` granted to (or removed from) ``member``."""
    values = {"user_id": member.user_id, "role": role.value}
    return "companies:role:granted" if granted else "companies:role:removed", {
        "object_type": "membership",
        "object_id": member.id,
        "before": None if granted else values,
        "after": values if granted else None,
    }


def top_up_audit_events(
    company_id: int,
    target: int,
    event: Callable[[int], tuple[str, dict[str, Any]]],
    actor_user_id: int,
) -> None:
    """Record events until the company has ``target``; they are chained at each commit."""
    from portal.core import audit
    from portal.core.db import db
    from portal.core.models import AuditEvent

    have = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.company_id == company_id)
    )
    for n in range(have, target):
        action, fields = event(n)
        audit.record(action, actor_user_id=actor_user_id, company_id=company_id, **fields)
        if n % BATCH == BATCH - 1:
            db.session.commit()
    db.session.commit()


def measured_sizes(app) -> dict[str, Any]:
    """What the database holds: the signed-in companies' rows and the totals."""
    from portal.accounts.models import User
    from portal.companies.models import Company, CompanyKind, Membership, MembershipInvitation
    from portal.companies.queries import company_by_slug
    from portal.core import tenancy
    from portal.core.db import db
    from portal.core.models import AuditEvent
    from portal.invoicing.models import Invoice, Project
    from portal.payment_settings.models import BusinessEntity, FundingAccount

    def count(model, *where) -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

    def owned(company) -> dict[str, int]:
        return {
            name: count(model, model.company_id == company.id)
            for name, model in (
                ("members", Membership),
                ("projects", Project),
                ("invoices", Invoice),
                ("business_entities", BusinessEntity),
                ("funding_accounts", FundingAccount),
                ("pending_invitations", MembershipInvitation),
                ("audit_events", AuditEvent),
            )
        }

    with app.app_context(), tenancy.unscoped():
        return {
            "payor " + PAYOR_SLUG: owned(company_by_slug(PAYOR_SLUG)),
            "payee " + PAYEE_SLUG: owned(company_by_slug(PAYEE_SLUG)),
            "total": {
                "payors": count(Company, Company.kind == CompanyKind.PAYOR),
                "companies": count(Company),
                "users": count(User),
                "projects": count(Project),
                "audit_events": count(AuditEvent),
            },
        }


# --------------------------------------------------------------------------- statements


def count_statements(app, browser: InProcessBrowser, path: str) -> int | str:
    """Statements one GET runs (the fewer of two, so a once-a-minute session write does not
    count); the status instead when the page does not answer 200."""
    from portal.core.db import db

    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def note(connection, cursor, statement, *_: Any) -> None:
        statements.append(statement)

    counts = []
    for _ in range(2):
        statements.clear()
        sa.event.listen(engine, "before_cursor_execute", note)
        try:
            answer = browser.get(path)
        finally:
            sa.event.remove(engine, "before_cursor_execute", note)
        if answer.status != 200:
            return f"HTTP {answer.status}"
        counts.append(len(statements))
    return min(counts)


def page_ids(app) -> dict[str, int]:
    """The ids the record pages name: the demo payor, its first entity, project and admin's
    membership, and the payee admin's membership (the same before and after growing)."""
    from portal.accounts.models import User
    from portal.companies.models import Membership
    from portal.companies.queries import company_by_slug
    from portal.core import tenancy
    from portal.core.db import db
    from portal.invoicing.models import Commitment, Invoice, Project
    from portal.payment_settings.models import BusinessEntity

    def membership_of(email: str, slug: str) -> int:
        return db.session.scalar(
            sa.select(Membership.id)
            .join(User, User.id == Membership.user_id)
            .where(User.email == email, Membership.company_id == company_by_slug(slug).id)
        )

    with app.app_context(), tenancy.unscoped():
        payor_id = company_by_slug(PAYOR_SLUG).id
        first = {
            name: db.session.scalar(
                sa.select(sa.func.min(model.id)).where(model.company_id == payor_id)
            )
            for name, model in (
                ("entity_id", BusinessEntity),
                ("project_id", Project),
                ("invoice_id", Invoice),
                ("commitment_id", Commitment),
            )
        }
        ids = {
            "payor_id": payor_id,
            **first,
            "member_id": membership_of(SIGN_INS["payor admin"], PAYOR_SLUG),
            "payee_member_id": membership_of(SIGN_INS["payee admin"], PAYEE_SLUG),
        }
    missing = sorted(name for name, value in ids.items() if value is None)
    if missing:
        raise SystemExit(f"The demo has no row for {', '.join(missing)}; the bench needs one.")
    return ids


def statement_counts(app, browsers: dict[str, InProcessBrowser], ids: dict[str, int]) -> dict:
    # Signed out, as the baseline is measured: one query and a template.
    counts = {"baseline": count_statements(app, InProcessBrowser(app), BASELINE_PATH)}
    for page in PAGES:
        path = page.path.format(**ids)
        counts[page] = count_statements(app, browsers[page.signed_in_as], path)
    return counts


# --------------------------------------------------------------------------- serving


def gunicorn_command(port: int) -> list[str]:
    """The README's web command, bound to loopback and serving the bench module."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"`gunicorn ([^`]*) wsgi:app`", readme)
    if found is None:
        raise SystemExit("README.md no longer shows `gunicorn ... wsgi:app`; update the bench.")
    arguments = found.group(1).split()
    bind = arguments.index("--bind")
    arguments[bind + 1] = f"127.0.0.1:{port}"
    return [sys.executable, "-m", "gunicorn", *arguments, "bench.wsgi_bench:app"]


def option(command: list[str], *names: str, default: str) -> str:
    """The value a gunicorn option has in ``command`` (given as ``--name value``)."""
    for name in names:
        if name in command:
            return command[command.index(name) + 1]
    return default


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def workers_of(master_pid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and proc_status(int(entry.name)).get("PPid") == str(master_pid):
            pids.append(int(entry.name))
    return sorted(pids)


def proc_status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def peak_rss_mib(pids: list[int]) -> list[float]:
    """VmHWM of each worker: the most resident memory it has held."""
    return [round(int(proc_status(pid)["VmHWM"].split()[0]) / 1024, 1) for pid in pids]


def wait_until_serving(server: subprocess.Popen, port: int, workers: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            status, _, _ = http_get(port, "/healthz", {})
        except OSError:
            status = None
        if status == 200 and len(workers_of(server.pid)) == workers:
            return
        time.sleep(0.2)
    raise SystemExit("gunicorn did not start serving within 60 s")


# --------------------------------------------------------------------------- measuring


def measure(port: int, path: str, headers: dict[str, str], clients: int, args) -> dict:
    """Up to ``args.requests`` GETs from ``clients`` concurrent clients, stopping early after
    ``args.max_seconds`` (a slow page would otherwise take the whole run): req/s, latency
    percentiles and the statuses seen."""
    deadline = time.monotonic() + args.max_seconds

    def one(_: int) -> tuple[str, float] | None:
        if time.monotonic() > deadline:
            return None
        started = time.perf_counter()
        try:
            status = str(http_get(port, path, headers)[0])
        except (OSError, http.client.HTTPException) as error:  # e.g. a worker timed out
            status = type(error).__name__
        return status, time.perf_counter() - started

    with ThreadPoolExecutor(clients) as pool:
        started = time.perf_counter()
        results = [r for r in pool.map(one, range(args.requests)) if r is not None]
        elapsed = time.perf_counter() - started
    latencies = sorted(seconds for _, seconds in results)
    return {
        "requests": len(results),
        "rps": round(len(results) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(latencies[math.ceil(len(latencies) * 0.95) - 1] * 1000, 1),
        "statuses": dict(Counter(status for status, _ in results)),
    }


def measure_page(port: int, path: str, headers: dict[str, str], args) -> dict:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: http_get(port, path, headers), range(WARM_UP_REQUESTS)))
    status, body, _ = http_get(port, path, headers)
    return {
        "path": path,
        "status": status,
        "bytes": len(body),
        "clients": {str(c): measure(port, path, headers, c, args) for c in args.clients},
    }


def serve_and_measure(
    env: dict[str, str], authenticators: Authenticators, ids: dict[str, int], args
) -> tuple[dict, list[dict], dict]:
    """Start gunicorn as deployed, measure the baseline and every page, then stop it."""
    port = free_port()
    command = gunicorn_command(port)
    workers = int(option(command, "--workers", "-w", default="1"))
    with tempfile.NamedTemporaryFile(prefix="trestle-bench-gunicorn-", suffix=".log") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_serving(server, port, workers)
            print(f"measuring on gunicorn ({workers} workers)…", flush=True)
            baseline = measure_page(port, BASELINE_PATH, HttpBrowser(port).headers(), args)
            pages = []
            for who, email in SIGN_INS.items():
                # Signed in just before its pages: the session never sits idle past its limit.
                browser = HttpBrowser(port)
                sign_in(browser, email, authenticators)
                for page in (p for p in PAGES if p.signed_in_as == who):
                    print(f"  {who} {page.name}", flush=True)
                    path = page.path.format(**ids)
                    result = measure_page(port, path, browser.headers(), args)
                    pages.append({"signed_in_as": who, "name": page.name, **result, "page": page})
            rss = peak_rss_mib(workers_of(server.pid))
        except BaseException:
            print(Path(log.name).read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            server.terminate()
            server.wait(timeout=30)
    return (
        baseline,
        pages,
        {
            "command": " ".join(["gunicorn", *command[3:]]),
            "workers": workers,
            "worker_class": option(command, "--worker-class", "-k", default="sync"),
            "peak_rss_mib_per_worker": rss,
        },
    )


# --------------------------------------------------------------------------- reporting


def figure(value: float, decimals: int = 0) -> str:
    """A number with as many decimals as it needs to show two significant digits."""
    for places in range(decimals, 4):
        if value == 0 or abs(value) >= 10 ** (1 - places):
            return f"{value:.{places}f}"
    return f"{value:.4f}"


def print_table(report: dict) -> None:
    clients = report["clients"]
    rows = [("", "baseline", report["baseline"])] + [
        (p["signed_in_as"], p["name"], p) for p in report["pages"]
    ]
    head = f"{'':<12}{'page':<18}{'SQL demo→grown':>15}{'KiB':>7}"
    sub = f"{'':<52}"
    for c in clients:
        head += f"  {'│ ' + str(c) + (' client' if c == 1 else ' clients'):<31}"
        sub += f"  │ {'req/s':>6}{'p50 ms':>8}{'p95 ms':>8}{'ratio':>7}"
    print(head)
    print(sub)
    for who, name, row in rows:
        small, large = row["statements"]["demo"], row["statements"]["grown"]
        line = f"{who:<12}{name:<18}{small!s:>7} →{large!s:>5}{row['bytes'] / 1024:>8.1f}"
        for c in clients:
            r = row["clients"][str(c)]
            line += f"  │ {figure(r['rps']):>6}{r['p50_ms']:>8.1f}{r['p95_ms']:>8.1f}"
            line += f"{figure(r['ratio_to_baseline'], 2):>7}"
        problems = [
            f"{s} ({n})"
            for c in clients
            for s, n in row["clients"][str(c)]["statuses"].items()
            if s != "200"
        ]
        problems += [
            f"{level['requests']} requests at {c} in {report['max_seconds']:.0f} s"
            for c, level in ((c, row["clients"][str(c)]) for c in clients)
            if level["requests"] < report["requests"]
        ]
        if small != large:
            problems.insert(0, "SQL grows with data")
        print(line + ("   <- " + ", ".join(problems) if problems else ""))
    server = report["server"]
    print(
        f"\n{server['command']}\n{server['workers']} {server['worker_class']} workers on "
        f"{server['cpu_count']} CPUs; peak RSS per worker (MiB): "
        + ", ".join(f"{m:.1f}" for m in server["peak_rss_mib_per_worker"])
    )
    print(
        f"up to {report['requests']} requests per page and client level (at most "
        f"{report['max_seconds']:.0f} s each); results in {RESULTS.relative_to(ROOT)}"
    )


# --------------------------------------------------------------------------- main


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="per page, per client level")
    parser.add_argument(
        "--concurrency",
        default="1,16",
        help="comma-separated concurrent client levels (default 1,16)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=30,
        help="per page and client level: stop a slow page early (default 30)",
    )
    parser.add_argument("--payors", type=int, default=200, help="other payors to add")
    parser.add_argument("--projects", type=int, default=500, help="of the signed-in payor")
    parser.add_argument("--members", type=int, default=50, help="of the signed-in payor and payee")
    parser.add_argument("--funding-accounts", type=int, default=20, help="to add to the payor")
    parser.add_argument(
        "--audit-events", type=int, default=5000, help="of the signed-in payor and payee"
    )
    parser.add_argument(
        "--invoices", type=int, default=20_000, help="of the payee to the signed-in payor"
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    args.clients = [int(c) for c in args.concurrency.split(",")]
    return args


def main() -> None:
    args = parse_arguments()
    sizes = Sizes(
        args.payors,
        args.projects,
        args.members,
        args.funding_accounts,
        args.audit_events,
        args.invoices,
    )
    begun = time.perf_counter()
    storage = tempfile.mkdtemp(prefix="trestle-bench-")
    env = production_environment(prepare_database(args.postgres), storage)
    print("migrating and seeding the demo…", flush=True)
    flask(env, "db", "upgrade")
    flask(env, "demo", "seed")
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("FLASK_DEBUG", None)
    # The same module gunicorn serves, so the baseline route is counted in-process too.
    from bench.wsgi_bench import app

    authenticators = Authenticators(app)
    ids = page_ids(app)
    browsers = {who: InProcessBrowser(app) for who in SIGN_INS}
    for who, browser in browsers.items():
        sign_in(browser, SIGN_INS[who], authenticators)
    small = statement_counts(app, browsers, ids)
    demo_sizes = measured_sizes(app)

    print("growing the data…", flush=True)
    started = time.perf_counter()
    grow(app, sizes)
    grown_in = time.perf_counter() - started
    large = statement_counts(app, browsers, ids)
    grown_sizes = measured_sizes(app)
    with app.app_context():
        from portal.core.db import db

        db.engine.dispose()  # the bench process holds no connections while it measures

    baseline, pages, server = serve_and_measure(env, authenticators, ids, args)

    baseline["statements"] = {"demo": small["baseline"], "grown": large["baseline"]}
    for row in [baseline, *pages]:
        for c in args.clients:
            level = row["clients"][str(c)]
            level["ratio_to_baseline"] = round(level["rps"] / baseline["clients"][str(c)]["rps"], 3)
    for row in pages:
        page = row.pop("page")
        row["statements"] = {"demo": small[page], "grown": large[page]}
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **git_commit(),
        "requests": args.requests,
        "max_seconds": args.max_seconds,
        "clients": args.clients,
        "sizes": {"demo": demo_sizes, "grown": grown_sizes, "grown_in_seconds": round(grown_in)},
        "server": {
            **server,
            "portal_env": env["PORTAL_ENV"],
            "cpu_count": os.cpu_count(),
        },
        "baseline": baseline,
        "pages": pages,
        "seconds": round(time.perf_counter() - begun),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print_table(report)


if __name__ == "__main__":
    main()
