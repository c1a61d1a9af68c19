"""Seed the demo data idempotently and say how to sign in."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from portal.accounts import services as accounts
from portal.accounts.models import User
from portal.banking import services as banking
from portal.banking.models import AccountType, SandboxBankEntry
from portal.banking.queries import deposit_account_of
from portal.companies import services as companies
from portal.companies.models import Company, CompanyKind, Feature, Role
from portal.compliance import services as compliance
from portal.compliance.models import DocumentType, RequiredAt
from portal.core import money, tenancy
from portal.core.db import db, utcnow
from portal.invoicing import services as invoicing
from portal.invoicing.models import (
    BillingType,
    Commitment,
    CommitmentKind,
    InvoiceStatus,
    PaymentStatus,
    Project,
)
from portal.invoicing.policies import billing_date
from portal.onboarding import services as onboarding
from portal.onboarding.models import PayeeInvitation, PayeeRelationship
from portal.onboarding.terms import PAY_AGREEMENT_VERSION, digest
from portal.operations import services as operations
from portal.operations.models import TrainingTopic
from portal.payees import services as payees
from portal.payees.models import EntityType, PayeeBankAccount, TaxClassification, TinType
from portal.payment_settings import queries as settings_queries
from portal.payment_settings import services as payment_settings
from portal.payment_settings.models import PersonRole
from portal.readiness import services as readiness
from portal.readiness.models import EnforcementMode, HoldKind, HoldReason, RequirementKind
from portal.waivers import queries as waivers
from portal.waivers import services as waivers_services
from portal.waivers.models import CONSENT_VERSION

DEMO_PASSWORD = "trestle-demo-password"  # noqa: S105 - printed for the demo on purpose

COMPANIES = [
    ("trestle-ops", "Trestle Payment Operations", CompanyKind.OPERATOR),
    ("summit-builders", "Summit Builders", CompanyKind.PAYOR),
    ("harbor-construction", "Harbor Construction", CompanyKind.PAYOR),
    ("ironline-steel", "Ironline Steel", CompanyKind.PAYEE),
    ("brightwire-electric", "Brightwire Electric", CompanyKind.PAYEE),
]

# (login role shown, email, name, company slug, roles held)
USERS = [
    ("operator", "ops@trestle.example.com", "Olivia Operator", "trestle-ops", [Role.OPERATOR]),
    (
        "payments_admin",
        "admin@summit.example.com",
        "Sam Summit",
        "summit-builders",
        [Role.PAYMENTS_ADMIN],
    ),
    (
        "disburser",
        "disburser@summit.example.com",
        "Dana Disburser",
        "summit-builders",
        [Role.DISBURSER],
    ),
    (
        "beneficiary_approver",
        "approver@summit.example.com",
        "Avery Approver",
        "summit-builders",
        [Role.BENEFICIARY_APPROVER],
    ),
    (
        "payments_admin",
        "admin@harbor.example.com",
        "Harper Harbor",
        "harbor-construction",
        [Role.PAYMENTS_ADMIN],
    ),
    (
        "payee_admin",
        "admin@ironline.example.com",
        "Ivan Ironline",
        "ironline-steel",
        [Role.PAYEE_ADMIN],
    ),
    ("invoice_contact", "billing@ironline.example.com", "Bailey Billing", "ironline-steel", []),
    (
        "payee_admin",
        "admin@brightwire.example.com",
        "Brook Brightwire",
        "brightwire-electric",
        [Role.PAYEE_ADMIN],
    ),
]


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    company_slug: str

    def line(self) -> str:
        return f"LOGIN {self.role} {self.email} {self.password} {self.company_slug}"


def seed_demo() -> list[DemoLogin]:
    """Create (or find) the demo companies and users; return the logins.

    Keyed by natural identifiers (slugs, emails), so a second run changes nothing. Demo
    users have no authenticator yet: they enroll at first sign-in.
    """
    with tenancy.unscoped():
        by_slug = {}
        for slug, name, kind in COMPANIES:
            company = db.session.scalar(sa.select(Company).where(Company.slug == slug))
            by_slug[slug] = company or companies.create_company(slug, name, kind)
        logins = []
        for login_role, email, name, slug, roles in USERS:
            user = db.session.scalar(sa.select(User).where(User.email == email))
            if user is None:
                user = accounts.create_user(email, name, DEMO_PASSWORD)
            membership = companies.add_member(by_slug[slug], user, actor_user_id=None)
            for role in roles:
                companies.grant_role(membership, role, actor_user_id=None)
            logins.append(DemoLogin(login_role, email, DEMO_PASSWORD, slug))
        operator = db.session.scalar(sa.select(User).where(User.email == USERS[0][1]))
        _implementation_part_way(by_slug["summit-builders"], operator.id)
        operations.project_of(by_slug["harbor-construction"])
        _payees_of_summit(by_slug)
        _commitments_of_summit(by_slug)
        _join_request_at_ironline(by_slug)
    return logins


def _commitments_of_summit(by_slug: dict[str, Company]) -> None:
    """Ironline's subcontract on the California project (executed, with an approved change
    order) and its purchase order on the Texas one; Bailey Billing bills both."""
    summit, ironline = by_slug["summit-builders"], by_slug["ironline-steel"]
    if db.session.scalar(sa.select(Commitment.id).where(Commitment.company_id == summit.id)):
        return
    admin = _user("admin@summit.example.com")
    relationship = db.session.scalar(
        sa.select(PayeeRelationship).where(
            PayeeRelationship.payor_id == summit.id, PayeeRelationship.payee_id == ironline.id
        )
    )
    projects = {
        p.region: p
        for p in db.session.scalars(sa.select(Project).where(Project.company_id == summit.id))
    }
    bailey = _user("billing@ironline.example.com")
    made = []
    for region, kind, number, title, lines in (
        (
            "CA",
            CommitmentKind.SUBCONTRACT,
            "SC-101",
            "Structural steel",
            [
                ("05 12 00", "Structural steel fabrication", "620,000.00", ""),
                ("05 12 10", "Steel erection", "410,000.00", ""),
                ("05 31 00", "Steel decking", "145,000.00", ""),
                ("05 50 00", "Miscellaneous metals", "75,000.00", "5"),
            ],
        ),
        (
            "TX",
            CommitmentKind.PURCHASE_ORDER,
            "PO-201",
            "Reinforcing steel supply",
            [
                ("03 21 00", "Rebar, foundations", "96,500.00", ""),
                ("03 21 10", "Rebar, elevated slabs", "83,500.00", ""),
            ],
        ),
    ):
        total = sum(money.parse_amount(value) for _, _, value, _ in lines)
        commitment = invoicing.create_commitment(
            projects[region],
            relationship=relationship,
            kind=kind,
            number=number,
            title=title,
            contract_sum=money.cents_to_decimal_string(total),
            default_retainage="10",
            actor_user_id=admin.id,
        )
        invoicing.save_schedule(
            commitment, [invoicing.LineInput(*line) for line in lines], actor_user_id=admin.id
        )
        invoicing.approve_commitment(commitment, actor_user_id=admin.id)
        invoicing.set_contacts(commitment, [bailey.id], actor_user_id=admin.id)
        made.append(commitment)
    # Monthly periods from two months ago, due at each month's end: the current month is
    # open for billing whenever the demo is seeded.
    this_month = billing_date().replace(day=1)
    first = (this_month - timedelta(days=40)).replace(day=1)
    periods = {}
    for region, project in projects.items():
        periods[region] = invoicing.create_monthly_periods(
            project, first_month=first, months=6, due_day=31, actor_user_id=admin.id
        )
    steel, rebar = made
    invoicing.set_executed(steel, first, actor_user_id=admin.id)
    order = invoicing.create_change_order(
        steel,
        number="CO-1",
        title="Canopy at the main entrance",
        rows=[
            invoicing.ChangeInput(None, "05 12 20", "Entrance canopy steel", "38,400.00", ""),
            invoicing.ChangeInput(steel.lines[3].id, "", "", "-5,000.00", ""),
        ],
        actor_user_id=admin.id,
    )
    invoicing.approve_change_order(order, actor_user_id=admin.id)
    stairs = invoicing.create_commitment(
        projects["CA"],
        relationship=relationship,
        kind=CommitmentKind.SUBCONTRACT,
        number="SC-102",
        title="Metal stairs and railings",
        contract_sum="96,000.00",
        default_retainage="10",
        actor_user_id=admin.id,
    )
    invoicing.save_schedule(
        stairs,
        [
            invoicing.LineInput("05 51 00", "Metal stairs", "64,000.00", ""),
            invoicing.LineInput("05 52 00", "Railings", "32,000.00", ""),
        ],
        actor_user_id=admin.id,
    )
    invoicing.approve_commitment(stairs, actor_user_id=admin.id)
    invoicing.set_contacts(stairs, [bailey.id], actor_user_id=admin.id)
    ca, tx = periods["CA"], periods["TX"]
    # SC-101: two months approved, this month under review.
    first = _bill(steel, ca[0], ["15%", "", "10%", ""], bailey, admin, approve=True)
    _bill(steel, ca[1], ["20%", "10%", "25%", "10%", ""], bailey, admin, approve=True)
    # Summit requires each invoice's lien waiver before paying it: the first month's is
    # signed (ready to pay); the second month's is not yet (ready except for its waiver).
    readiness.set_modes(
        summit,
        {RequirementKind.LIEN_WAIVER_SIGNED: EnforcementMode.PREVENTS_PAYMENT},
        actor_user_id=admin.id,
    )
    (waiver,) = waivers.waivers_of(first.id)
    waivers_services.sign(
        waiver,
        bailey,
        waivers_services.Signature(
            "Bailey Billing",
            "Project accountant",
            "Bailey Billing",
            True,
            CONSENT_VERSION,
            "192.0.2.44",
            "Demo seed",
        ),
        company_id=ironline.id,
    )
    # Its payment settled (as the payments side will report it): the unconditional waiver
    # made from the signed conditional one, with the evidence of payment, and signed.
    first.payment_status = PaymentStatus.PAID
    unconditional = waivers_services.settled(
        first,
        amount_cents=first.current_due_cents,
        paid_on=billing_date() - timedelta(days=3),
        reference="ACH TRACE 021000021234567",
        actor_user_id=None,
    )
    waivers_services.sign(
        unconditional,
        bailey,
        waivers_services.Signature(
            "Bailey Billing",
            "Project accountant",
            "Bailey Billing",
            True,
            CONSENT_VERSION,
            "192.0.2.44",
            "Demo seed",
        ),
        company_id=ironline.id,
    )
    _bill(steel, ca[2], ["15%", "25%", "", "", "40%"], bailey, admin)
    # PO-201: approved, then returned to revise and resubmit on one line.
    _bill(rebar, tx[0], ["40%", ""], bailey, admin, approve=True)
    returned = _bill(rebar, tx[1], ["35%", "45%"], bailey, admin)
    invoicing.decide_invoice(
        returned,
        InvoiceStatus.REVISE_AND_RESUBMIT,
        comment="",
        line_comments={2: "The elevated-slab rebar is at 30% on site, not 45%."},
        actor_user_id=admin.id,
    )
    # SC-102: one month approved, then held for missing certified payroll.
    held = _bill(stairs, ca[1], ["30%", "10%"], bailey, admin, approve=True)
    readiness.apply_hold(
        summit.id,
        kind=HoldKind.INVOICE,
        payee_company_id=ironline.id,
        invoice=held,
        reason=HoldReason.MISSING_DOCUMENTS,
        description="Certified payroll for the month is missing.",
        visible_to_payee=True,
        attachment=None,
        actor_user_id=_user("disburser@summit.example.com").id,
    )
    _compliance_of_summit(summit, steel, stairs, bailey, admin)


def _compliance_of_summit(summit, steel, stairs, bailey, admin) -> None:
    """Summit requires insurance and, for subcontracts, a contractor's license from the
    first invoice, and a bond with the final invoice. SC-101 has both on file, its
    certificate expiring in ten days; SC-102's certificate awaits review; PO-201 has none."""
    for document_type, applies_to, required_at in (
        (DocumentType.INSURANCE_CERTIFICATE, None, RequiredAt.FIRST_INVOICE),
        (DocumentType.LICENSE, CommitmentKind.SUBCONTRACT, RequiredAt.FIRST_INVOICE),
        (DocumentType.BOND, None, RequiredAt.FINAL_INVOICE),
    ):
        compliance.add_template(
            summit,
            document_type=document_type,
            applies_to=applies_to,
            required_at=required_at,
            actor_user_id=admin.id,
        )
    today = billing_date()
    for commitment, document_type, effective_from, expires_in, accept in (
        (steel, DocumentType.INSURANCE_CERTIFICATE, -355, 10, True),
        (steel, DocumentType.LICENSE, -330, 400, True),
        (stairs, DocumentType.INSURANCE_CERTIFICATE, -10, 355, False),
    ):
        document = compliance.add_document(
            commitment,
            invoice=None,
            document_type=document_type,
            effective_on=today + timedelta(days=effective_from),
            expires_on=today + timedelta(days=expires_in),
            upload=(
                io.BytesIO(_sample_pdf(document_type.label)),
                "ironline-" + document_type.value + ".pdf",
            ),
            payor_side=False,
            actor_user_id=bailey.id,
        )
        if accept:
            compliance.review_document(document, accept=True, note="", actor_user_id=admin.id)


def _sample_pdf(title: str) -> bytes:
    """A one-page PDF standing in for a scanned document."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=letter)
    page.setFont("Helvetica-Bold", 16)
    page.drawString(72, 700, f"{title} (demo sample)")
    page.setFont("Helvetica", 11)
    page.drawString(72, 676, "Ironline Steel, Inc. This page stands in for the real document.")
    page.save()
    return out.getvalue()


def _bill(commitment, period, shares, contact, admin, *, approve: bool = False):
    """The invoice contact bills ``shares`` of each line for ``period`` and submits it (the
    demo writes past months as if they were billed in time); the admin may approve it."""
    invoice = invoicing.start_invoice(
        commitment,
        period,
        billing_type=BillingType.PROGRESS,
        actor_user_id=contact.id,
        on_behalf=True,  # past periods are closed now; they were billed while open
    )
    invoice.on_behalf = False
    bills = [
        invoicing.LineBill(line.sov_line_id, share, "")
        for line, share in zip(invoice.lines, shares, strict=False)
    ]
    invoicing.save_invoice(invoice, bills, "", actor_user_id=contact.id)
    invoicing.submit_invoice(invoice, actor_user_id=contact.id, on_behalf=True)
    if approve:
        invoicing.decide_invoice(
            invoice,
            InvoiceStatus.APPROVED,
            comment="",
            line_comments={},
            actor_user_id=admin.id,
        )
    return invoice


def _join_request_at_ironline(by_slug: dict[str, Company]) -> None:
    """Harbor Construction invited Ironline's project manager, who asked to join Ironline
    Steel instead of making a second company: Ironline's admin decides."""
    email = "pm@ironline.example.com"
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        return
    (sent,) = onboarding.invite_payees(
        by_slug["harbor-construction"],
        [onboarding.Invitee("Ironline Steel", email)],
        actor_user_id=None,
    )
    onboarding.request_to_join(
        sent.token,
        person_name="Paz Projects",
        password=DEMO_PASSWORD,
        admin_email="admin@ironline.example.com",
    )


def _user(email: str) -> User:
    return db.session.scalars(sa.select(User).where(User.email == email)).one()


def _payees_of_summit(by_slug: dict[str, Company]) -> None:
    """Ironline Steel ready for payment; Brightwire Electric in needs review after changing
    its bank account (in its cooling-off period); Keystone Concrete not yet accepted."""
    summit = by_slug["summit-builders"]
    approver = _user("approver@summit.example.com")
    ironline = _onboard(
        summit,
        by_slug["ironline-steel"],
        _user("admin@ironline.example.com"),
        legal_name="Ironline Steel LLC",
        ein="27-1234567",
        street="400 Forge Way",
        accounts=["000111222333"],
    )
    if ironline is not None:
        onboarding.approve(ironline, actor_user_id=approver.id)
        _backdate_receiving(ironline.payee_id, days=30)  # long past its cooling-off
    brightwire = _onboard(
        summit,
        by_slug["brightwire-electric"],
        _user("admin@brightwire.example.com"),
        legal_name="Brightwire Electric, Inc.",
        ein="46-2345678",
        street="77 Volt Ave",
        accounts=["000444555666"],
    )
    if brightwire is not None:
        onboarding.approve(brightwire, actor_user_id=approver.id)
        _backdate_receiving(brightwire.payee_id, days=60)
        admin = _user("admin@brightwire.example.com")
        changed = _verified_account(by_slug["brightwire-electric"], admin, "000777888999")
        payees.choose_receiving(changed, actor_user_id=admin.id)  # needs review again
    if not db.session.scalar(
        sa.select(PayeeInvitation.id).where(PayeeInvitation.email == "office@keystone.example.com")
    ):
        onboarding.invite_payees(
            summit,
            [onboarding.Invitee("Keystone Concrete", "office@keystone.example.com")],
            actor_user_id=approver.id,
        )


def _onboard(
    payor: Company,
    payee: Company,
    admin: User,
    *,
    legal_name: str,
    ein: str,
    street: str,
    accounts: list[str],
):
    """Invite, accept, fill the profile, certify, verify an account and accept the Pay
    agreement; None if done before."""
    if db.session.scalar(
        sa.select(PayeeRelationship.id).where(
            PayeeRelationship.payor_id == payor.id, PayeeRelationship.payee_id == payee.id
        )
    ):
        return None
    (sent,) = onboarding.invite_payees(
        payor, [onboarding.Invitee(payee.name, admin.email)], actor_user_id=None
    )
    onboarding.accept_for_member(sent.token, admin, payee=payee)
    profile = payees.save_profile(
        payee,
        payees.ProfileInput(
            legal_name=legal_name,
            dba=None,
            entity_type=EntityType.CORPORATION,
            address_line1=street,
            address_line2=None,
            city="Oakland",
            region="CA",
            postal_code="94607",
            remit_to_email=admin.email,
            tin_type=TinType.EIN,
            tin=ein,
            tax_classification=TaxClassification.C_CORPORATION,
            exempt_payee_code=None,
            fatca_code=None,
        ),
        actor_user_id=admin.id,
    )
    payees.certify(profile, name=admin.name, title="Owner", actor_user_id=admin.id)
    for number in accounts:
        _verified_account(payee, admin, number)
    relationship = db.session.scalars(
        sa.select(PayeeRelationship).where(
            PayeeRelationship.payor_id == payor.id, PayeeRelationship.payee_id == payee.id
        )
    ).one()
    onboarding.accept_pay_agreement(
        relationship,
        actor_user_id=admin.id,
        version=PAY_AGREEMENT_VERSION,
        shown_digest=digest(onboarding.pay_agreement_terms(relationship)),
        signer_name=admin.name,
        signer_title="Owner",
    )
    return relationship


def _verified_account(payee: Company, admin: User, number: str):
    """Add an account and confirm its micro-deposits, read from the sandbox bank's books
    as the payee reads them on its statement."""
    account = payees.add_bank_account(
        payee,
        payees.BankAccountInput(payee.name, AccountType.CHECKING, "021000021", number, number),
        actor_user_id=admin.id,
    )
    amounts = db.session.scalars(
        sa.select(SandboxBankEntry.amount_cents).where(
            SandboxBankEntry.reference.like(f"{account.bank_reference}:%")
        )
    ).all()
    cents = [f"{c / 100:.2f}" for c in amounts]
    payees.confirm_micro_deposits(account, cents[0], cents[1], actor_user_id=admin.id)
    return account


def _backdate_receiving(payee_id: int, *, days: int) -> None:
    db.session.execute(
        sa.update(PayeeBankAccount)
        .where(PayeeBankAccount.company_id == payee_id, PayeeBankAccount.receives_payments)
        .values(receiving_since=utcnow() - timedelta(days=days))
        .execution_options(synchronize_session=False)
    )


def _implementation_part_way(company: Company, operator_id: int) -> None:
    """Summit Builders is part-way through implementation: some of step 1 and 2 done."""
    project = operations.project_of(company)
    # Payment Requirements stays off: the implementation is part way (its defaults apply).
    for feature in (Feature.PAY, Feature.LIEN_WAIVERS, Feature.INVOICE_MANAGEMENT):
        companies.set_feature(company, feature, True, actor_user_id=operator_id)
    if deposit_account_of(company.id) is None:
        banking.open_deposit_account(company, actor_user_id=operator_id)
    operations.set_sso_not_used(project, True, actor_user_id=operator_id)
    if not settings_queries.entities(company.id):
        entity = payment_settings.save_entity(
            company,
            payment_settings.EntityInput(
                "Summit Builders, Inc.",
                "Summit",
                "500 Market St",
                "Suite 1200",
                "San Francisco",
                "CA",
                "94105",
                "DE",
                "12-3456789",
            ),
            actor_user_id=operator_id,
        )
        payment_settings.add_person(
            entity,
            role=PersonRole.CONTROLLER,
            full_name="Sam Summit",
            title="CFO",
            ownership_percent=None,
            date_of_birth=date(1978, 3, 14),
            ssn="123-45-6789",
            actor_user_id=operator_id,
        )
    if not db.session.scalar(
        sa.select(Project.id).where(Project.company_id == company.id).limit(1)
    ):
        for name, number, street, city, state, postal, owner in (
            (
                "Mission Bay Medical Center",
                "SB-2101",
                "1600 Owens St",
                "San Francisco",
                "CA",
                "94158",
                "Mission Bay Health Partners, LLC",
            ),
            (
                "Riverside Lofts",
                "SB-2102",
                "901 E Cesar Chavez St",
                "Austin",
                "TX",
                "78702",
                "Riverside Lofts Owner, LP",
            ),
        ):
            invoicing.create_project(
                company,
                name=name,
                number=number,
                address_line1=street,
                city=city,
                region=state,
                postal_code=postal,
                owner_name=owner,
                actor_user_id=operator_id,
            )
    if not project.trainings:
        operations.record_training(
            project,
            TrainingTopic.PAYMENTS_OVERVIEW,
            date(2026, 11, 2),
            "Sam Summit (Payments Admin), Dana Disburser",
            "Walked through the payment flow.",
            actor_user_id=operator_id,
        )
