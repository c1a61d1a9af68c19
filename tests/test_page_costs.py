"""What a page costs does not grow with the company's own data, and reading never writes.

Every signed-in page is fetched by the people who see it (a payor's Payments Admin, a payee's
admin, an operator) with their company small, then with it grown past a page of every list:
the SQL statements and the decryptions must be the same. Every GET route, signed in or not,
must write nothing but the record of a read (an audit event) and its session's touch.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.accounts import services as accounts
from portal.companies import services as company_services
from portal.companies.models import CompanyKind, Feature, Role
from portal.core import audit, crypto, tenancy
from portal.core.db import db
from portal.invoicing import services as invoicing
from portal.invoicing.models import BillingType, CommitmentKind
from portal.invoicing.policies import billing_date
from portal.onboarding import services as onboarding
from portal.onboarding.models import OnboardingStatus
from portal.operations import services as operations
from portal.operations.models import ContactKind, TrainingTopic
from portal.payment_settings import queries as settings_queries
from tests.factories import (
    add_entity_with_controller,
    add_funding_account,
    add_project,
    make_company,
    make_user,
    sign_in,
    step_up,
)

pytestmark = pytest.mark.usefixtures("database")

# More than a page of every list (tables show 25 rows).
GROWN = 30
# Routing numbers with valid check digits, for distinct funding accounts.
ROUTING_NUMBERS = ("021000021", "011000015", "026009593", "121000358", "031000503")

# GETs that write by design: the OpenID Connect redirects are GETs by protocol; the first
# keeps the single-use state server-side, the second completes a sign-in.
WRITING_GETS = {"sso.start", "sso.callback"}
# Not pages: files whose size is their content.
NOT_PAGES = {"static", "core.show_health", "home.show_components"}
DOWNLOADS = re.compile(r"download")


@dataclass
class Actor:
    name: str
    client: object
    ids: dict[str, int]


@dataclass
class World:
    payor: object
    payee: object
    admin: object
    payee_admin: object
    # The first of each billing object, whose pages are measured at both sizes.
    billed: dict[str, int] = field(default_factory=dict)


def build_world(app: Flask, *, rows: int = 1) -> World:
    with tenancy.unscoped():
        payor = operations.create_payor("Grown Payor", "grown-payor", actor_user_id=None)
        company_services.set_feature(payor, Feature.PAY, True, actor_user_id=None)
        company_services.set_feature(payor, Feature.INVOICE_MANAGEMENT, True, actor_user_id=None)
        payee = make_company(CompanyKind.PAYEE)
    db.session.commit()
    admin, admin_phone = make_user(payor, (Role.PAYMENTS_ADMIN, Role.INVOICE_ADMINISTRATOR))
    payee_admin, payee_phone = make_user(payee, (Role.PAYEE_ADMIN,))
    world = World(payor, payee, (admin, admin_phone), (payee_admin, payee_phone))
    if rows:
        grow(world, rows)
    return world


def grow(world: World, n: int) -> None:
    """Add ``n`` of every kind of row the signed-in companies own."""
    payor, payee = world.payor, world.payee
    admin = world.admin[0]
    with tenancy.unscoped():
        existing = len(settings_queries.funding_accounts(payor.id))
        for k in range(existing, existing + n):
            entity, _ = add_entity_with_controller(payor, f"Entity {k} LLC", actor_user_id=admin.id)
            add_funding_account(
                entity,
                f"Account {k}",
                ROUTING_NUMBERS[k % len(ROUTING_NUMBERS)],
                f"{9000000 + k}",
                actor_user_id=admin.id,
            )
            project = add_project(payor, f"T-{k:04d}", name=f"Tower {k}", actor_user_id=admin.id)
            billed = bill_a_commitment(world, project, k)
            world.billed = world.billed or billed
            project = operations.project_of(payor)
            operations.add_contact(
                project,
                ContactKind.KEY_CONTACT,
                f"Banker {k}",
                f"banker{k}@bank.example.com",
                None,
                actor_user_id=None,
            )
            operations.record_training(
                project,
                TrainingTopic.PAYMENTS_OVERVIEW,
                date(2026, 1, 1),
                f"Trainee {k}",
                None,
                actor_user_id=None,
            )
            operations.designate_admins(
                payor,
                form_file=io.BytesIO(b"%PDF-1.4\n%%EOF\n"),
                filename=f"designation-{k}.pdf",
                user_ids=[admin.id],
                actor_user_id=admin.id,
            )
            onboarding.invite_payees(
                payor,
                [onboarding.Invitee(f"Sub {k}", f"sub{k}@subs.example.com")],
                actor_user_id=admin.id,
            )
            # The operator's signed-in world is every payor: one more, with a member.
            other = operations.create_payor(f"Other Payor {k}", f"other-{k}", actor_user_id=None)
            other_admin = accounts.create_user(f"admin{k}@other.example.com", f"Admin {k}", None)
            company_services.grant_role(
                company_services.add_member(other, other_admin, actor_user_id=None),
                Role.PAYMENTS_ADMIN,
                actor_user_id=None,
            )
            for company, role in ((payor, Role.DISBURSER), (payee, Role.PAYEE_ADMIN)):
                user = accounts.create_user(
                    f"member{k}-{company.id}@example.com", f"Member {k}", None
                )
                membership = company_services.add_member(company, user, actor_user_id=None)
                company_services.grant_role(membership, role, actor_user_id=None)
                audit.record(
                    "companies:member:noted",
                    actor_user_id=admin.id,
                    company_id=company.id,
                    object_type="membership",
                    object_id=membership.id,
                    after={"k": k},
                )
    db.session.commit()


def bill_a_commitment(world: World, project, k: int) -> dict[str, int]:
    """A commitment to the payee on ``project``, billed once (submitted, under review)."""
    admin, payee_admin = world.admin[0], world.payee_admin[0]
    relationship = world.relationship if hasattr(world, "relationship") else None
    if relationship is None:
        relationship = onboarding.add_to_directory(
            world.payor,
            onboarding.Invitee("Grown Payee", "grown@payee.example.com"),
            actor_user_id=admin.id,
        )
        relationship.payee_id = world.payee.id
        relationship.status = OnboardingStatus.APPROVED
        world.relationship = relationship
    commitment = invoicing.create_commitment(
        project,
        relationship=relationship,
        kind=CommitmentKind.SUBCONTRACT,
        number=f"SC-{k}",
        title=f"Steel {k}",
        contract_sum="1,000",
        default_retainage="10",
        actor_user_id=admin.id,
    )
    invoicing.save_schedule(
        commitment, [invoicing.LineInput("", "Steel", "1,000", "")], actor_user_id=admin.id
    )
    invoicing.approve_commitment(commitment, actor_user_id=admin.id)
    invoicing.set_contacts(commitment, [payee_admin.id], actor_user_id=admin.id)
    today = billing_date()
    period = invoicing.create_billing_period(
        project, starts_on=today, ends_on=today, due_on=today, actor_user_id=admin.id
    )
    invoice = invoicing.start_invoice(
        commitment,
        period,
        billing_type=BillingType.PROGRESS,
        actor_user_id=payee_admin.id,
        on_behalf=False,
    )
    invoicing.save_invoice(
        invoice,
        [invoicing.LineBill(invoice.lines[0].sov_line_id, "100", "")],
        "",
        actor_user_id=payee_admin.id,
    )
    invoicing.submit_invoice(invoice, actor_user_id=payee_admin.id, on_behalf=False)
    return {
        "project_id": project.id,
        "commitment_id": commitment.id,
        "invoice_id": invoice.id,
        "period_id": period.id,
    }


def actors(app: Flask, world: World, client_class: type) -> list[Actor]:
    def new_client():
        return client_class(app, app.response_class, use_cookies=True)

    signed_in = []
    for name, (user, phone), ids in (
        ("payor admin", world.admin, dict(world.billed)),
        ("payee admin", world.payee_admin, dict(world.billed)),
    ):
        client = new_client()
        sign_in(client, user, phone)
        step_up(client, phone)
        signed_in.append(Actor(name, client, ids))
    operator, phone = make_user(make_company(CompanyKind.OPERATOR), (Role.OPERATOR,))
    client = new_client()
    sign_in(client, operator, phone)
    step_up(client, phone)
    signed_in.append(Actor("operator", client, {"company_id": world.payor.id}))
    return signed_in


@dataclass
class Cost:
    statements: int = 0
    writes: int = 0
    decrypts: int = 0
    written: tuple[str, ...] = ()


@contextmanager
def counting(monkeypatch) -> Iterator[Cost]:
    cost = Cost()
    written: list[str] = []

    def on_execute(conn, cursor, statement: str, *args) -> None:
        cost.statements += 1
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in {"INSERT", "UPDATE", "DELETE"} and not _allowed_write(statement):
            written.append(statement.split("\n", 1)[0][:120])

    decrypt = crypto.decrypt

    def counted_decrypt(token: str) -> str:
        cost.decrypts += 1
        return decrypt(token)

    monkeypatch.setattr(crypto, "decrypt", counted_decrypt)
    sa.event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        yield cost
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", on_execute)
        monkeypatch.setattr(crypto, "decrypt", decrypt)
        cost.written = tuple(written)
        cost.writes = len(written)


def _allowed_write(statement: str) -> bool:
    """A recorded read, and the session's once-a-minute touch."""
    return (
        statement.lstrip()
        .upper()
        .startswith(("INSERT INTO AUDIT_EVENT", "UPDATE USER_SESSION SET LAST_SEEN_AT"))
        or "pg_advisory_xact_lock" in statement
    )


def pages(app: Flask, actor: Actor) -> Iterator[tuple[str, str]]:
    """Every GET page this actor can fill the arguments of."""
    adapter = app.url_map.bind("localhost")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or rule.endpoint in NOT_PAGES | WRITING_GETS:
            continue
        if DOWNLOADS.search(rule.endpoint) or rule.rule.endswith(".csv"):
            continue
        if not set(rule.arguments) <= set(actor.ids):
            continue
        yield rule.endpoint, adapter.build(rule.endpoint, {a: actor.ids[a] for a in rule.arguments})


def measure(app: Flask, signed_in: list[Actor], monkeypatch) -> dict[tuple[str, str], Cost]:
    costs = {}
    for actor in signed_in:
        for endpoint, path in pages(app, actor):
            actor.client.get(path)  # warm: the first load of a page may fill caches
            db.session.expire_all()
            with counting(monkeypatch) as cost:
                response = actor.client.get(path)
            if response.status_code in (302, 303, 403, 404):
                continue  # not this actor's page
            assert response.status_code == 200, f"{actor.name} GET {path}: {response.status_code}"
            costs[(actor.name, endpoint)] = cost
    return costs


def test_no_page_grows_with_the_signed_in_companys_data(app: Flask, client, monkeypatch) -> None:
    world = build_world(app)
    signed_in = actors(app, world, type(client))
    small = measure(app, signed_in, monkeypatch)
    assert len(small) >= 15, f"the sweep covers the signed-in pages: {sorted(small)}"
    billing_pages = {
        ("payor admin", "readiness.list_invoices"),
        ("payor admin", "invoicing.show_project"),
        ("payor admin", "invoicing.show_commitment"),
        ("payor admin", "invoicing.show_invoice"),
        ("payor admin", "invoicing.list_billing_periods"),
        ("payor admin", "readiness.show_readiness"),
        ("payee admin", "invoicing.list_billing"),
        ("payee admin", "invoicing.show_billed_commitment"),
        ("payee admin", "invoicing.show_invoice"),
    }
    assert billing_pages <= set(small), sorted(billing_pages - set(small))
    grow(world, GROWN)
    grown = measure(app, signed_in, monkeypatch)
    assert set(grown) == set(small)
    report = {
        key: (
            small[key].statements,
            grown[key].statements,
            small[key].decrypts,
            grown[key].decrypts,
        )
        for key in small
        if (small[key].statements, small[key].decrypts)
        != (grown[key].statements, grown[key].decrypts)
    }
    assert not report, "statements and decrypts (small → grown) that grow:\n" + "\n".join(
        f"  {actor} {endpoint}: statements {a} → {b}, decrypts {c} → {d}"
        for (actor, endpoint), (a, b, c, d) in sorted(report.items())
    )


def test_reading_a_page_writes_nothing(app: Flask, client, monkeypatch) -> None:
    """Of a payor just made (nothing saved yet but what comes with it): no page makes the
    rows it shows, such as default payment controls."""
    world = build_world(app, rows=0)
    signed_in = actors(app, world, type(client))
    anonymous = Actor("anonymous", client, {})
    writes = {}
    for actor in [*signed_in, anonymous]:
        adapter = app.url_map.bind("localhost")
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods or rule.endpoint in WRITING_GETS | {"static"}:
                continue
            if not set(rule.arguments) <= set(actor.ids):
                continue
            path = adapter.build(rule.endpoint, {a: actor.ids[a] for a in rule.arguments})
            with counting(monkeypatch) as cost:
                actor.client.get(path).close()
            if cost.writes:
                writes[(actor.name, path)] = cost.written
    assert not writes, "GET requests that wrote:\n" + "\n".join(
        f"  {actor} {path}: {statements}" for (actor, path), statements in sorted(writes.items())
    )
