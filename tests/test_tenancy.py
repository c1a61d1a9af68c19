"""Nobody sees what isn't theirs: every route, every method, another company's ids → 404."""

import hashlib
import io
from dataclasses import dataclass
from datetime import date

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.accounts import services as accounts
from portal.banking.models import AccountType
from portal.companies import services as company_services
from portal.companies.models import Company, CompanyKind, Feature, Membership, Role
from portal.compliance import services as compliance
from portal.compliance.models import DocumentType, RequiredAt
from portal.core import tenancy
from portal.core.db import db
from portal.invoicing import imports
from portal.invoicing import services as invoicing
from portal.invoicing.models import BillingType, Commitment, CommitmentKind, Invoice
from portal.invoicing.policies import billing_date
from portal.onboarding import services as onboarding
from portal.onboarding.models import PayeeJoinRequest, PayeeRelationship
from portal.onboarding.terms import PAY_AGREEMENT_VERSION, digest
from portal.operations import services as operations
from portal.payees import services as payees
from portal.payees.models import DocumentKind, PayeeBankAccount
from portal.readiness import services as readiness
from portal.readiness.models import HoldKind, HoldReason
from portal.waivers import services as waivers
from tests.factories import (
    Authenticator,
    add_entity_with_controller,
    add_funding_account,
    add_project,
    make_company,
    make_user,
    membership_of,
    sign_in,
    step_up,
)

pytestmark = pytest.mark.usefixtures("database")


@dataclass
class World:
    """Company A's signed-in users, and company B's objects they must never reach; and each
    user's own objects of the same kinds, which the same routes must serve."""

    foreign_ids: dict[str, list[object]]
    own_ids: dict[int, dict[str, object]]  # by user id


def payor_objects(payor, user) -> dict[str, object]:
    """One of each object a payor's routes take an id of, made by one of its users."""
    entity, person = add_entity_with_controller(payor, f"{payor.name} LLC", actor_user_id=user.id)
    account = add_funding_account(
        entity, "Operating", "021000021", f"12345{payor.id:04d}", actor_user_id=user.id
    )
    project = add_project(payor, f"T-{payor.id}", actor_user_id=user.id)
    designation = operations.designate_admins(
        payor,
        form_file=io.BytesIO(b"%PDF-1.4\n%%EOF\n"),
        filename="designation.pdf",
        user_ids=[user.id],
        actor_user_id=user.id,
    )
    (invited,) = onboarding.invite_payees(
        payor, [onboarding.Invitee("Sub", f"sub{payor.id}@example.com")], actor_user_id=user.id
    )
    commitment, order = commitment_with_change_order(project, invited.invitation, user)
    period = invoicing.create_billing_period(
        project,
        starts_on=date(2026, 11, 1),
        ends_on=date(2026, 11, 30),
        due_on=date(2026, 11, 25),
        actor_user_id=user.id,
    )
    run = imports.start_import(
        payor.id,
        io.BytesIO(imports.template_csv().encode()),
        "commitments.csv",
        actor_user_id=user.id,
    )
    return {
        "run_id": run.id,
        "period_id": period.id,
        "commitment_id": commitment.id,
        "change_order_id": order.id,
        "invitation_id": invited.invitation.id,
        "relationship_id": invited.invitation.relationship_id,
        "entity_id": entity.id,
        "person_id": person.id,
        "account_id": account.id,
        "project_id": project.id,
        "doc_id": designation.id,
    }


def commitment_with_change_order(project, invitation, user):
    """An approved commitment on ``project`` to the invited payee, with a draft change order."""
    relationship = db.session.get(PayeeRelationship, invitation.relationship_id)
    commitment = invoicing.create_commitment(
        project,
        relationship=relationship,
        kind=CommitmentKind.SUBCONTRACT,
        number="SC-1",
        title="Steel",
        contract_sum="1,000",
        default_retainage="10",
        actor_user_id=user.id,
    )
    invoicing.save_schedule(
        commitment, [invoicing.LineInput("", "Steel", "1,000", "")], actor_user_id=user.id
    )
    invoicing.approve_commitment(commitment, actor_user_id=user.id)
    order = invoicing.create_change_order(
        commitment,
        number="CO-1",
        title="More steel",
        rows=[invoicing.ChangeInput(None, "", "Deck", "100", "")],
        actor_user_id=user.id,
    )
    return commitment, order


def invoice_with_attachment(commitment_id: int, payee, biller) -> tuple[int, int]:
    """The payee (now on Trestle) bills the commitment: ``biller`` is its invoice contact;
    the payor entered its first invoice on its behalf, with a delivery ticket attached."""
    commitment = db.session.get(Commitment, commitment_id)
    commitment.payee_company_id = payee.id
    invoicing.set_contacts(commitment, [biller.id], actor_user_id=None)
    today = billing_date()
    period = invoicing.create_billing_period(
        commitment.project,
        starts_on=today,
        ends_on=today,
        due_on=today,
        actor_user_id=None,
    )
    invoice = invoicing.start_invoice(
        commitment,
        period,
        billing_type=BillingType.PROGRESS,
        actor_user_id=None,
        on_behalf=True,
    )
    attached = invoicing.attach_to_invoice(
        invoice, io.BytesIO(LETTER), "ticket.pdf", actor_user_id=None
    )
    return invoice.id, attached.id


def payee_objects(payee, user) -> dict[str, object]:
    """One of each object a payee's routes take an id of."""
    account = payees.add_bank_account(
        payee,
        payees.BankAccountInput(
            payee.name, AccountType.CHECKING, "021000021", f"55{payee.id:06d}", f"55{payee.id:06d}"
        ),
        actor_user_id=user.id,
    )
    return {"account_id": account.id}


# A bank letter as the document upload takes it (the smallest whole PDF storage accepts).
LETTER = b"%PDF-1.4\n%%EOF\n"


def bank_document(account_id: int, user) -> int:
    """A bank letter the payee sent to verify its account (operators review it)."""
    document = payees.submit_document(
        db.session.get(PayeeBankAccount, account_id),
        DocumentKind.BANK_LETTER,
        io.BytesIO(LETTER),
        "letter.pdf",
        actor_user_id=user.id,
    )
    return document.id


def join_request(payee, invitation_id: int) -> int:
    """Someone invited by a payor asks to join ``payee``."""
    user = accounts.create_user(f"joiner{invitation_id}@example.com", "Joiner", None)
    request = PayeeJoinRequest(company_id=payee.id, user_id=user.id, invitation_id=invitation_id)
    db.session.add(request)
    db.session.flush()
    return request.id


def build_world() -> tuple[list[tuple[object, Authenticator]], World]:
    payor_a = make_company(CompanyKind.PAYOR)
    payee_a = make_company(CompanyKind.PAYEE)
    actors = [
        make_user(payor_a, (Role.PAYMENTS_ADMIN, Role.INVOICE_ADMINISTRATOR)),
        make_user(payee_a, (Role.PAYEE_ADMIN,)),
        make_user(payor_a, (Role.BENEFICIARY_APPROVER,)),
    ]
    teammates = [make_user(payor_a)[0], make_user(payee_a)[0], make_user(payor_a)[0]]
    payor_b = make_company(CompanyKind.PAYOR)
    payee_b = make_company(CompanyKind.PAYEE)
    b_payor_user, _ = make_user(payor_b, (Role.DISBURSER,))
    b_payee_user, _ = make_user(payee_b)
    with tenancy.unscoped():
        for company in (payor_a, payor_b):  # features on for both: a 404 must come from scoping
            company_services.set_feature(company, Feature.PAY, True, actor_user_id=None)
            company_services.set_feature(
                company, Feature.INVOICE_MANAGEMENT, True, actor_user_id=None
            )
            company_services.set_feature(company, Feature.LIEN_WAIVERS, True, actor_user_id=None)
        foreign = payor_objects(payor_b, b_payor_user)
        own = payor_objects(payor_a, actors[0][0])
        foreign_payee = payee_objects(payee_b, b_payee_user)
        own_payee = payee_objects(payee_a, actors[1][0])
        foreign_payee["document_id"] = bank_document(foreign_payee["account_id"], b_payee_user)
        # Each payor's invitation was accepted by its payee: both sides reach the relationship.
        for relationship_id, payee in (
            (foreign["relationship_id"], payee_b),
            (own["relationship_id"], payee_a),
        ):
            db.session.get(PayeeRelationship, relationship_id).payee_id = payee.id
        for objects, payee, biller in (
            (foreign, payee_b, b_payee_user),
            (own, payee_a, actors[1][0]),
        ):
            objects["invoice_id"], objects["attachment_id"] = invoice_with_attachment(
                objects["commitment_id"], payee, biller
            )
            objects["hold_id"] = readiness.apply_hold(
                db.session.get(Commitment, objects["commitment_id"]).company_id,
                kind=HoldKind.INVOICE,
                payee_company_id=payee.id,
                invoice=db.session.get(Invoice, objects["invoice_id"]),
                reason=HoldReason.OTHER,
                description="Held in the sweep",
                visible_to_payee=True,
                attachment=(io.BytesIO(LETTER), "letter.pdf"),
                actor_user_id=None,
            ).id
            objects["waiver_id"] = waivers.generate_for(
                db.session.get(Invoice, objects["invoice_id"]), actor_user_id=None
            ).id
            commitment = db.session.get(Commitment, objects["commitment_id"])
            objects["template_id"] = compliance.add_template(
                db.session.get(Company, commitment.company_id),
                document_type=DocumentType.INSURANCE_CERTIFICATE,
                applies_to=None,
                required_at=RequiredAt.FIRST_INVOICE,
                actor_user_id=None,
            ).id
            objects["compliance_document_id"] = compliance.add_document(
                commitment,
                invoice=None,
                document_type=DocumentType.INSURANCE_CERTIFICATE,
                effective_on=date(2026, 1, 1),
                expires_on=date(2027, 1, 1),
                upload=(io.BytesIO(LETTER), "coi.pdf"),
                payor_side=False,
                actor_user_id=biller.id,
            ).id
        foreign_payee["request_id"] = join_request(payee_b, foreign["invitation_id"])
        own_payee["request_id"] = join_request(payee_a, own["invitation_id"])
        # The digest of the Pay agreement as its page would show it to payee A.
        own_payee["digest"] = digest(
            onboarding.pay_agreement_terms(
                db.session.get(PayeeRelationship, own["relationship_id"])
            )
        )
    db.session.commit()
    world = World(
        foreign_ids={
            "membership_id": [
                membership_of(b_payor_user, payor_b).id,
                membership_of(b_payee_user, payee_b).id,
            ],
            "user_id": [b_payee_user.id],
            "company_id": [payor_b.id],
            "role": ["disburser"],
            "feature": ["pay"],
            "action": ["contacts", "close", "default", "deactivate"],
            **{name: [value] for name, value in foreign.items()},
            "account_id": [foreign["account_id"], foreign_payee["account_id"]],
            "request_id": [foreign_payee["request_id"]],
            "document_id": [foreign_payee["document_id"]],
        },
        own_ids={
            user.id: {
                **(own if company.kind is CompanyKind.PAYOR else {**own, **own_payee}),
                "membership_id": membership_of(teammate, company).id,
                "user_id": teammate.id,
                "company_id": company.id,
                "role": "disburser" if company.kind is CompanyKind.PAYOR else "payee_admin",
                "feature": "pay",
                "action": "default",
                "contacts": str(actors[1][0].id),
            }
            for (user, _), teammate, company in zip(
                actors, teammates, (payor_a, payee_a, payor_a), strict=True
            )
        },
    )
    return actors, world


# What a Pay agreement acceptance needs, so that the own-id pass can do the work.
AGREEMENT_FORM = {
    "name": "Sweep",
    "title": "Owner",
    "agree": "y",
    "version": PAY_AGREEMENT_VERSION,
    "reason": "Not one of ours",
}
# What a bank account document upload needs: its kind, and its file (sent with each form
# as a fresh stream every request).
DOCUMENT_FORM = {"kind": DocumentKind.BANK_LETTER.value}
UPLOADS = {"document": (LETTER, "letter.pdf"), "doc-file": (LETTER, "coi.pdf")}

# Routes whose path arguments are not ids of company-owned objects.
# (a signed lien waiver's public id opens its verification page to whoever holds it: by design)
NOT_TENANT_ARGUMENTS = {"filename", "token", "public_id"}


# A signed-in browser notes its activity (at most once a minute): that is not a change.
VOLATILE_COLUMNS = {("user_session", "last_seen_at")}


def snapshot() -> dict[str, str]:
    """A hash of every row of every table: a changed foreign row changes it, not only a
    row added or deleted."""
    digests = {}
    with tenancy.unscoped():
        for table in db.metadata.sorted_tables:
            columns = [c for c in table.columns if (table.name, c.name) not in VOLATILE_COLUMNS]
            rows = db.session.execute(
                sa.select(*columns).order_by(*table.primary_key.columns)
            ).all()
            digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


def test_every_route_with_another_companys_ids_answers_404(app: Flask, client) -> None:
    actors, world = build_world()
    rules = [r for r in app.url_map.iter_rules() if set(r.arguments) - NOT_TENANT_ARGUMENTS]
    assert rules, "the sweep must cover something"
    for argument in {a for r in rules for a in r.arguments} - NOT_TENANT_ARGUMENTS:
        assert argument in world.foreign_ids, (
            f"route argument {argument!r} has no foreign object in the sweep; add one"
        )
    answered_404: set[str] = set()
    for user, phone in actors:
        session_client = type(client)(app, app.response_class, use_cookies=True)
        sign_in(session_client, user, phone)
        step_up(session_client, phone)
        token = session_client.csrf_token("/dashboard")
        form = {
            "csrf_token": token,
            "role": "viewer",
            "code": "000000",
            **AGREEMENT_FORM,
            **DOCUMENT_FORM,
        }
        before = snapshot()
        refused_by_scope: list[tuple[object, str]] = []  # the user holds the role here
        own = world.own_ids[user.id]
        for rule in rules:
            for values in _combinations(rule.arguments, world):
                if any(
                    name.endswith("_id") and own.get(name) == value
                    for name, value in values.items()
                ):
                    # Ids of two tables can be equal: another company's funding account 4
                    # is no foreign id where the user's own bank account is 4.
                    continue
                path = app.url_map.bind("localhost").build(rule.endpoint, values)
                for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                    response = send(session_client, path, method, form)
                    assert response.status_code in (403, 404), (
                        f"{method} {path} as {user.email}: {response.status_code}"
                    )
                    if response.status_code == 404:
                        answered_404.add(rule.endpoint)
                        if (rule, method) not in refused_by_scope:
                            refused_by_scope.append((rule, method))
        db.session.expire_all()
        assert snapshot() == before, "a refused request changed the database"
        # The same routes with the user's own ids reach the work: the 404s above came from
        # scoping, not from a route that answers 404 to everyone.
        served = 0
        for rule, method in refused_by_scope:
            path = app.url_map.bind("localhost").build(
                rule.endpoint, {a: own[a] for a in rule.arguments}
            )
            response = send(
                session_client,
                path,
                method,
                {
                    **form,
                    "role": own["role"],
                    "digest": own.get("digest", ""),
                    # Saving a commitment's invoice contacts keeps the payee's biller.
                    "contacts": own["contacts"],
                },
            )
            # A policy may still refuse (403: payor MFA resets are the operator's), never
            # "not found"; and most of them do the work.
            assert response.status_code != 404 and response.status_code < 500, (
                f"{method} {path} with {user.email}'s own ids: {response.status_code}"
            )
            # Served, or refused by a policy that found the object (a payee's contact may
            # not decide its own invoice): either way the 404 above was the scope's.
            served += response.status_code < 400 or response.status_code == 403
            response.close()  # a served download holds its file open until closed
        assert served >= len(refused_by_scope) - 1, "the user's own ids are served"
    # Every id route answers 404 to an actor who holds its role (operator-only routes
    # are the operator's, across tenants by design: see the next test, and the bank
    # account reviews' own tests).
    tenant_routes = {r.endpoint for r in rules if not r.endpoint.startswith("operations.")}
    assert tenant_routes <= answered_404


def test_the_operator_console_answers_404_for_payee_ids(app: Flask, client) -> None:
    """Operators work across payors by design, but never reach a payee through the console."""
    operator, phone = make_user(make_company(CompanyKind.OPERATOR), (Role.OPERATOR,))
    payee = make_company(CompanyKind.PAYEE)
    payee_user, _ = make_user(payee, (Role.PAYEE_ADMIN,))
    payee_ids = {
        "company_id": [payee.id],
        "user_id": [payee_user.id],
        "membership_id": [membership_of(payee_user, payee).id],
        "doc_id": [1],
        "feature": ["pay"],
    }
    sign_in(client, operator, phone)
    step_up(client, phone)
    token = client.csrf_token("/dashboard")
    rules = [
        r
        for r in app.url_map.iter_rules()
        if r.endpoint.startswith("operations.") and r.arguments and r.arguments <= set(payee_ids)
    ]
    assert len(rules) > 10, "the sweep covers the console's routes"
    before = snapshot()
    for rule in rules:
        values = {a: payee_ids[a][0] for a in rule.arguments}
        path = app.url_map.bind("localhost").build(rule.endpoint, values)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(
                path, method=method, headers={"X-CSRFToken": token}, data={"csrf_token": token}
            )
            assert response.status_code == 404, f"{method} {path}: {response.status_code}"
    db.session.expire_all()
    assert snapshot() == before


def test_operators_cannot_reset_payee_users_through_the_console(client) -> None:
    operator, phone = make_user(make_company(CompanyKind.OPERATOR), (Role.OPERATOR,))
    payee_user, _ = make_user(make_company(CompanyKind.PAYEE))
    sign_in(client, operator, phone)
    step_up(client, phone)
    response = client.submit(
        f"/operator/users/{payee_user.id}/reset-mfa", {}, token_from="/operator/users"
    )
    assert response.status_code == 404


def test_queries_are_scoped_by_one_mechanism() -> None:
    company_a, company_b = make_company(), make_company()
    make_user(company_a)
    make_user(company_b)
    with tenancy.scoped(company_a.id):
        assert {m.company_id for m in db.session.scalars(sa.select(Membership)).unique()} == {
            company_a.id
        }
    with tenancy.scoped(None):
        assert db.session.scalars(sa.select(Membership)).unique().all() == []


def send(client, path: str, method: str, form: dict[str, str]):
    files = {}
    if method != "GET":
        files = {name: (io.BytesIO(content), name_) for name, (content, name_) in UPLOADS.items()}
    return client.open(
        path, method=method, headers={"X-CSRFToken": form["csrf_token"]}, data={**form, **files}
    )


def _combinations(arguments: set[str], world: World) -> list[dict[str, object]]:
    combos: list[dict[str, object]] = [{}]
    for argument in sorted(arguments):
        combos = [{**c, argument: v} for c in combos for v in world.foreign_ids[argument]]
    return combos
