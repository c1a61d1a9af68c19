"""Commitments: schedules of values that add up, retainage with its history, invoice
contacts from the payee's users, the executed flag, change orders and "Invite to Trestle Pay"."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.companies import services as company_services
from portal.companies.models import CompanyKind, Feature, Role
from portal.core import tenancy
from portal.core.audit import AuditEvent
from portal.core.db import db, utcnow
from portal.invoicing import services
from portal.invoicing.models import (
    ChangeOrder,
    ChangeOrderStatus,
    Commitment,
    CommitmentKind,
    CommitmentStatus,
    RetainageChange,
    SovLine,
)
from portal.notifications.models import EmailMessage
from portal.onboarding import services as onboarding
from portal.onboarding.models import OnboardingStatus, PayeeRelationship
from tests.factories import (
    add_project,
    make_company,
    make_invoicing_payor,
    make_paying_payor,
    make_user,
    sign_in_fresh,
)

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def payor():
    return make_invoicing_payor()


@pytest.fixture
def admin(client, payor):
    return sign_in_fresh(client, payor, (Role.INVOICE_ADMINISTRATOR,))[0]


@pytest.fixture
def project(payor, admin):
    made = add_project(payor, "P-1", actor_user_id=admin.id, name="Harbor Tower")
    db.session.commit()
    return made


@pytest.fixture
def payee(payor, admin):
    """Ironline, a payee company that accepted the payor's invitation; and its admin."""
    with tenancy.unscoped():
        (sent,) = onboarding.invite_payees(
            payor,
            [onboarding.Invitee("Ironline Steel", "ap@ironline.example")],
            actor_user_id=admin.id,
        )
        db.session.commit()
        membership = onboarding.accept_as_new_payee(
            sent.token,
            company_name="Ironline Steel",
            person_name="Ada",
            password="Steel beams rise 4 ever",
        )
        db.session.commit()
        relationship = db.session.get(PayeeRelationship, sent.invitation.relationship_id)
        return relationship, membership.company


def emails_to(address: str) -> list[EmailMessage]:
    db.session.expire_all()
    with tenancy.unscoped():
        return list(db.session.scalars(sa.select(EmailMessage).filter_by(to_address=address)))


def commitments() -> list[Commitment]:
    db.session.expire_all()
    with tenancy.unscoped():
        return list(db.session.scalars(sa.select(Commitment).order_by(Commitment.id)))


def fresh(commitment_id: int) -> Commitment:
    db.session.expire_all()
    with tenancy.unscoped():
        return db.session.get(Commitment, commitment_id)


def actions(prefix: str) -> list[str]:
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.id)
            )
        )


COMMITMENT = {
    "kind": "subcontract",
    "number": "SC-7",
    "title": "Structural steel",
    "contract_sum": "100,000.00",
    "default_retainage": "10",
}


def create(client, project, relationship, **changes):
    return client.submit(
        f"/projects/{project.id}/commitments",
        {**COMMITMENT, "payee": str(relationship.id) if relationship else "", **changes},
        token_from=f"/projects/{project.id}",
        follow_redirects=changes.pop("follow", False),
    )


def schedule_form(*lines: tuple[str, str, str, str]) -> dict[str, str]:
    form = {}
    for n, (code, description, value, retainage) in enumerate(lines):
        form |= {
            f"lines-{n}-code": code,
            f"lines-{n}-description": description,
            f"lines-{n}-value": value,
            f"lines-{n}-retainage": retainage,
        }
    return form


def draft(client, project, relationship, **changes) -> Commitment:
    response = create(client, project, relationship, **changes)
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    return commitments()[-1]


def approved(client, project, relationship, **changes) -> Commitment:
    """SC-7 for $100,000: steel $60,000 at 10%, erection $40,000 at 5%, approved."""
    commitment = draft(client, project, relationship, **changes)
    path = f"/commitments/{commitment.id}"
    client.submit(
        f"{path}/schedule",
        schedule_form(("05-100", "Steel", "60,000", ""), ("05-200", "Erection", "40000", "5")),
        token_from=path,
    )
    client.submit(f"{path}/approve", {}, token_from=path)
    commitment = fresh(commitment.id)
    assert commitment.status is CommitmentStatus.APPROVED
    return commitment


# --------------------------------------------------------------------------- drafting


def test_a_commitment_is_drafted_to_a_listed_payee_and_the_payee_sees_it(
    client, project, payee
) -> None:
    relationship, payee_company = payee
    response = create(client, project, relationship)
    assert response.status_code == 303
    (commitment,) = commitments()
    assert (commitment.kind, commitment.number, commitment.original_sum_cents) == (
        CommitmentKind.SUBCONTRACT,
        "SC-7",
        10_000_000,
    )
    assert commitment.status is CommitmentStatus.DRAFT
    assert commitment.default_retainage_bps == 1000
    assert commitment.payee_company_id == payee_company.id
    assert actions("invoicing:commitment:") == ["invoicing:commitment:created"]
    page = client.get(f"/projects/{project.id}").get_data(as_text=True)
    assert "Structural steel" in page and "$100,000.00" in page
    # The payee's own scope reaches it; a third company's does not.
    with tenancy.scoped(payee_company.id):
        assert db.session.scalar(sa.select(Commitment.id)) == commitment.id
    with tenancy.scoped(make_company(CompanyKind.PAYEE).id):
        assert db.session.scalar(sa.select(Commitment.id)) is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"contract_sum": "abc"}, "Enter an amount in dollars and cents"),
        ({"contract_sum": "1e6"}, "without an exponent"),
        ({"contract_sum": "-5"}, "cannot be negative"),
        ({"contract_sum": "0"}, "more than zero"),
        ({"contract_sum": "10.005"}, "at most two decimal places"),
        ({"default_retainage": "101"}, "cannot be more than 100"),
        ({"default_retainage": "-1"}, "cannot be negative"),
        ({"default_retainage": "5.555"}, "at most two decimal places"),
        ({"number": ""}, "Enter the commitment"),
        ({"payee": ""}, "Choose the payee"),
        ({"payee": "999999"}, "Choose one of your payees"),
        ({"payee": "x"}, "Choose one of your payees"),
    ],
)
def test_bad_commitment_input_saves_nothing(client, project, payee, changes, message) -> None:
    response = create(client, project, payee[0], **changes)
    assert response.status_code in (200, 404)
    assert message in response.get_data(as_text=True)
    assert commitments() == []


def test_a_number_is_used_once_per_project(client, project, payee) -> None:
    create(client, project, payee[0])
    response = create(client, project, payee[0], title="Again")
    assert "already has that number" in response.get_data(as_text=True)
    assert len(commitments()) == 1


def test_another_payors_payee_cannot_be_chosen(client, project, admin) -> None:
    other = make_paying_payor()
    with tenancy.unscoped():
        foreign = onboarding.add_to_directory(
            other, onboarding.Invitee("Theirs", "theirs@example.com"), actor_user_id=None
        )
    db.session.commit()
    response = create(client, project, foreign)
    assert "Choose one of your payees" in response.get_data(as_text=True)
    assert commitments() == []


# --------------------------------------------------------------------------- invite to Pay


def test_a_commitment_to_an_unlisted_company_invites_it_and_follows_it_onto_trestle(
    client, project
) -> None:
    response = create(
        client,
        project,
        None,
        payee="new",
        payee_name="Copperline Electric",
        payee_email="Office@Copperline.example",
    )
    assert response.status_code == 303
    (commitment,) = commitments()
    with tenancy.unscoped():
        relationship = db.session.get(PayeeRelationship, commitment.relationship_id)
    assert relationship.status is OnboardingStatus.INVITE_NOT_SENT
    assert relationship.contact_email == "office@copperline.example"
    assert commitment.payee_company_id is None
    path = f"/commitments/{commitment.id}"
    assert "not on Trestle Pay yet" in client.get(path).get_data(as_text=True)

    response = client.submit(
        f"{path}/invite", {"email": "billing@copperline.example"}, token_from=path
    )
    assert response.status_code == 303
    (message,) = emails_to("billing@copperline.example")
    link = re.search(r"/payee-invitations/([A-Za-z0-9_-]{40,})", message.text_body).group(1)
    db.session.expire_all()
    assert relationship.status is OnboardingStatus.INVITE_NOT_ACCEPTED
    assert relationship.contact_email == "billing@copperline.example"
    # Asking again does not send a second invitation.
    again = client.submit(
        f"{path}/invite", {"email": "billing@copperline.example"}, token_from=path
    )
    assert "already invited" in again.get_data(as_text=True)
    assert len(emails_to("billing@copperline.example")) == 1

    with tenancy.unscoped():
        membership = onboarding.accept_as_new_payee(
            link, company_name="Copperline", person_name="Cy", password="Copper wires hum 7 times"
        )
    db.session.commit()
    assert fresh(commitment.id).payee_company_id == membership.company_id


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"payee_name": ""}, "Enter the company"),
        ({"payee_email": "not-an-email"}, "is not a valid email address"),
        ({"payee_email": ""}, "Enter the email"),
    ],
)
def test_a_bad_new_payee_saves_nothing(client, project, changes, message) -> None:
    new = {"payee": "new", "payee_name": "Copperline", "payee_email": "o@copperline.example"}
    response = create(client, project, None, **{**new, **changes})
    assert message in response.get_data(as_text=True)
    assert commitments() == []
    with tenancy.unscoped():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PayeeRelationship)) == 0


# --------------------------------------------------------------------------- schedule of values


def test_the_schedule_must_add_up_to_the_contract_sum(client, project, payee) -> None:
    commitment = draft(client, project, payee[0])
    path = f"/commitments/{commitment.id}"
    response = client.submit(
        f"{path}/schedule",
        schedule_form(("", "Steel", "60,000", ""), ("", "Erection", "39,999.99", "")),
        token_from=path,
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "add up to $99,999.99" in page and "$0.01 short" in page
    assert fresh(commitment.id).lines == []

    response = client.submit(
        f"{path}/schedule",
        schedule_form(("05-100", "Steel", "60,000", ""), ("05-200", "Erection", "40000", "5")),
        token_from=path,
    )
    assert response.status_code == 303
    lines = fresh(commitment.id).lines
    assert [(x.position, x.code, x.scheduled_value_cents, x.retainage_bps) for x in lines] == [
        (1, "05-100", 6_000_000, 1000),
        (2, "05-200", 4_000_000, 500),
    ]
    assert "invoicing:commitment:schedule_saved" in actions("invoicing:commitment:")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (("", "Erection", "-40000", ""), "Line 2, scheduled value: The amount cannot be negative"),
        (("", "Erection", "4e4", ""), "Line 2, scheduled value: Write the amount out in full"),
        (("", "Erection", "40,000", "150"), "Line 2, retainage: The percentage cannot be more"),
        (("", "", "40,000", ""), "Line 2: enter a description"),
        (("", "Erection", "", ""), "Line 2, scheduled value: Enter an amount"),
    ],
)
def test_a_bad_line_saves_no_line(client, project, payee, line, message) -> None:
    commitment = draft(client, project, payee[0])
    path = f"/commitments/{commitment.id}"
    client.submit(f"{path}/schedule", schedule_form(("", "Old", "100,000", "")), token_from=path)
    response = client.submit(
        f"{path}/schedule", schedule_form(("", "Steel", "60,000", ""), line), token_from=path
    )
    assert message in response.get_data(as_text=True)
    assert [x.description for x in fresh(commitment.id).lines] == ["Old"]


def test_approval_fixes_the_schedule_and_the_sum(client, project, payee) -> None:
    empty = draft(client, project, payee[0])
    path = f"/commitments/{empty.id}"
    response = client.submit(f"{path}/approve", {}, token_from=path, follow_redirects=True)
    assert "Enter its schedule of values before approving it" in response.get_data(as_text=True)
    assert fresh(empty.id).status is CommitmentStatus.DRAFT

    commitment = approved(client, project, payee[0], number="SC-8")
    assert commitment.approved_at is not None
    path = f"/commitments/{commitment.id}"
    response = client.submit(
        f"{path}/schedule",
        schedule_form(("", "All", "100,000", "")),
        token_from=path,
        follow_redirects=True,
    )
    assert "write a change order instead" in response.get_data(as_text=True)
    response = client.submit(
        path,
        {**COMMITMENT, "number": "SC-8", "contract_sum": "200,000"},
        token_from=path,
        follow_redirects=True,
    )
    assert "write a change order instead" in response.get_data(as_text=True)
    assert fresh(commitment.id).original_sum_cents == 10_000_000
    assert [x.description for x in fresh(commitment.id).lines] == ["Steel", "Erection"]
    # Approving twice is an illegal move, not a second approval.
    with tenancy.unscoped(), pytest.raises(Exception, match="cannot become approved"):
        services.approve_commitment(fresh(commitment.id), actor_user_id=None)
    assert actions("invoicing:commitment:approved") == ["invoicing:commitment:approved"]


def test_a_draft_is_corrected_and_each_change_audited(client, project, payee) -> None:
    commitment = draft(client, project, payee[0])
    path = f"/commitments/{commitment.id}"
    response = client.submit(
        path, {**COMMITMENT, "title": "Steel and deck", "contract_sum": "120,000"}, token_from=path
    )
    assert response.status_code == 303
    commitment = fresh(commitment.id)
    assert (commitment.title, commitment.original_sum_cents) == ("Steel and deck", 12_000_000)
    with tenancy.unscoped():
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "invoicing:commitment:updated")
        )
    assert event.before == {"title": "Structural steel", "original_sum_cents": "$100,000.00"}


# --------------------------------------------------------------------------- retainage


def test_retainage_changes_per_line_and_keeps_its_history(client, project, payee) -> None:
    commitment = approved(client, project, payee[0])
    steel = commitment.lines[0]
    path = f"/commitments/{commitment.id}"
    response = client.submit(
        f"{path}/retainage", {"line_id": str(steel.id), "retainage": "5"}, token_from=path
    )
    assert response.status_code == 303
    client.submit(
        f"{path}/retainage", {"line_id": str(steel.id), "retainage": "0"}, token_from=path
    )
    db.session.expire_all()
    with tenancy.unscoped():
        history = db.session.scalars(sa.select(RetainageChange).order_by(RetainageChange.id))
        assert [(c.from_bps, c.to_bps) for c in history] == [(1000, 500), (500, 0)]
        assert db.session.get(SovLine, steel.id).retainage_bps == 0
    page = client.get(path).get_data(as_text=True)
    assert "History of retainage changes" in page

    for value, message in (("0", "already retains 0%"), ("12.345", "two decimal"), ("", "Enter")):
        response = client.submit(
            f"{path}/retainage", {"line_id": str(steel.id), "retainage": value}, token_from=path
        )
        assert message in response.get_data(as_text=True)
    with tenancy.unscoped():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RetainageChange)) == 2


def test_retainage_of_another_commitments_line_is_refused(client, project, payee) -> None:
    first = approved(client, project, payee[0])
    other = approved(client, project, payee[0], number="SC-8")
    path = f"/commitments/{other.id}"
    response = client.submit(
        f"{path}/retainage",
        {"line_id": str(first.lines[0].id), "retainage": "1"},
        token_from=path,
    )
    assert "Choose one of this commitment" in response.get_data(as_text=True)
    assert fresh(first.id).lines[0].retainage_bps == 1000


# --------------------------------------------------------------------------- contacts


def test_invoice_contacts_are_the_payees_own_active_users(client, project, payee) -> None:
    relationship, payee_company = payee
    commitment = draft(client, project, relationship)
    biller, _ = make_user(payee_company)
    outsider, _ = make_user(make_company(CompanyKind.PAYEE))
    path = f"/commitments/{commitment.id}"
    assert biller.name in client.get(path).get_data(as_text=True)

    response = client.submit(
        f"{path}/contacts", {"contacts": [str(biller.id), str(outsider.id)]}, token_from=path
    )
    assert "among the payee" in response.get_data(as_text=True)
    assert fresh(commitment.id).contacts == []

    response = client.submit(f"{path}/contacts", {"contacts": [str(biller.id)]}, token_from=path)
    assert response.status_code == 303
    assert [c.user_id for c in fresh(commitment.id).contacts] == [biller.id]
    client.submit(f"{path}/contacts", {}, token_from=path)
    assert fresh(commitment.id).contacts == []
    assert actions("invoicing:commitment:contacts") == ["invoicing:commitment:contacts_changed"] * 2


def test_contacts_wait_for_the_payee_to_be_on_trestle(client, project) -> None:
    create(client, project, None, payee="new", payee_name="New Co", payee_email="n@new.example")
    (commitment,) = commitments()
    with tenancy.unscoped(), pytest.raises(Exception, match="invite the payee"):
        services.set_contacts(commitment, [], actor_user_id=None)


# --------------------------------------------------------------------------- executed


def test_the_executed_flag_records_the_signing_date(client, project, payee) -> None:
    commitment = draft(client, project, payee[0])
    path = f"/commitments/{commitment.id}"
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    response = client.submit(f"{path}/executed", {"executed_on": tomorrow}, token_from=path)
    assert "cannot be signed in the future" in response.get_data(as_text=True)
    response = client.submit(f"{path}/executed", {"executed_on": "30/11/2026"}, token_from=path)
    assert "Enter the date it was signed" in response.get_data(as_text=True)
    assert fresh(commitment.id).executed_on is None

    client.submit(f"{path}/executed", {"executed_on": "2026-11-30"}, token_from=path)
    assert fresh(commitment.id).executed_on.isoformat() == "2026-11-30"
    client.submit(f"{path}/executed", {"withdraw": "1"}, token_from=path)
    commitment = fresh(commitment.id)
    assert (commitment.executed_on, commitment.executed_by_user_id) == (None, None)
    assert actions("invoicing:commitment:exec") == [
        "invoicing:commitment:executed",
        "invoicing:commitment:execution_withdrawn",
    ]


# --------------------------------------------------------------------------- change orders


def change_form(number: str, title: str, *rows: tuple[str, str, str, str, str]) -> dict:
    form = {"number": number, "title": title}
    for n, (line_id, code, description, amount, retainage) in enumerate(rows):
        form |= {
            f"lines-{n}-line_id": line_id,
            f"lines-{n}-code": code,
            f"lines-{n}-description": description,
            f"lines-{n}-amount": amount,
            f"lines-{n}-retainage": retainage,
        }
    return form


def test_an_approved_change_order_changes_lines_and_the_contract_sum(
    client, project, payee
) -> None:
    commitment = approved(client, project, payee[0])
    steel, erection = commitment.lines
    path = f"/commitments/{commitment.id}"
    response = client.submit(
        f"{path}/change-orders",
        change_form(
            "CO-1",
            "Added canopy; less erection",
            (str(erection.id), "", "", "-2,500", ""),
            ("", "05-300", "Canopy steel", "12,500.50", "7.5"),
        ),
        token_from=path,
    )
    assert response.status_code == 303
    with tenancy.unscoped():
        order = db.session.scalar(sa.select(ChangeOrder))
    assert order.status is ChangeOrderStatus.DRAFT and order.amount_cents == 1_000_050
    assert fresh(commitment.id).contract_sum_cents == 10_000_000  # a draft changes nothing

    order_path = f"{path}/change-orders/{order.id}"
    page = client.get(order_path).get_data(as_text=True)
    assert "$10,000.50" in page and "Canopy steel" in page
    response = client.submit(f"{order_path}/approve", {}, token_from=order_path)
    assert response.status_code == 303
    commitment = fresh(commitment.id)
    assert commitment.approved_changes_cents == 1_000_050
    assert commitment.contract_sum_cents == 11_000_050
    assert [
        (
            x.position,
            x.description,
            x.original_value_cents,
            x.scheduled_value_cents,
            x.retainage_bps,
        )
        for x in commitment.lines
    ] == [
        (1, "Steel", 6_000_000, 6_000_000, 1000),
        (2, "Erection", 4_000_000, 3_750_000, 500),
        (3, "Canopy steel", 0, 1_250_050, 750),
    ]
    assert commitment.scheduled_total_cents == commitment.contract_sum_cents
    assert commitment.lines[2].added_by_change_order_id == order.id
    # Approved is final: neither approved again nor edited.
    client.submit(f"{order_path}/approve", {}, token_from=order_path)
    response = client.submit(
        order_path,
        change_form("CO-1", "x", (str(steel.id), "", "", "1", "")),
        token_from=path,
        follow_redirects=True,
    )
    assert "part of the contract" in response.get_data(as_text=True)
    assert fresh(commitment.id).contract_sum_cents == 11_000_050
    assert actions("invoicing:change_order:") == [
        "invoicing:change_order:created",
        "invoicing:change_order:approved",
    ]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ((("steel", "", "", "-60,000.01", ""),), "cannot go below zero"),
        ((("", "", "", "100", ""),), "describe the new line"),
        ((("", "", "New", "-100", ""),), "cannot be negative"),
        ((("", "", "New", "100", "200"),), "cannot be more than 100"),
        ((("steel", "", "", "abc", ""),), "Line 1, amount"),
        ((("steel", "", "", "1", ""), ("steel", "", "", "2", "")), "already changed above"),
        ((("999999", "", "", "1", ""),), "Choose one of this commitment"),
        ((), "Enter at least one change"),
    ],
)
def test_a_bad_change_order_saves_nothing(client, project, payee, rows, message) -> None:
    commitment = approved(client, project, payee[0])
    steel = str(commitment.lines[0].id)
    rows = tuple((steel if r[0] == "steel" else r[0], *r[1:]) for r in rows)
    path = f"/commitments/{commitment.id}"
    response = client.submit(
        f"{path}/change-orders", change_form("CO-1", "Change", *rows), token_from=path
    )
    assert message in response.get_data(as_text=True)
    with tenancy.unscoped():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ChangeOrder)) == 0


def test_a_draft_commitment_takes_no_change_order(client, project, payee) -> None:
    commitment = draft(client, project, payee[0])
    with tenancy.unscoped(), pytest.raises(Exception, match="edit its schedule of values"):
        services.create_change_order(
            commitment, number="CO-1", title="x", rows=[], actor_user_id=None
        )


def test_a_change_order_that_meanwhile_went_below_zero_is_not_approved(
    client, project, payee
) -> None:
    commitment = approved(client, project, payee[0])
    erection = commitment.lines[1]
    path = f"/commitments/{commitment.id}"
    for number in ("CO-1", "CO-2"):
        client.submit(
            f"{path}/change-orders",
            change_form(number, "Less erection", (str(erection.id), "", "", "-30,000", "")),
            token_from=path,
        )
    with tenancy.unscoped():
        first, second = db.session.scalars(sa.select(ChangeOrder).order_by(ChangeOrder.id))
    for order, status in ((first, 303), (second, 303)):
        order_path = f"{path}/change-orders/{order.id}"
        assert client.submit(f"{order_path}/approve", {}, token_from=order_path).status_code == (
            status
        )
    db.session.expire_all()
    with tenancy.unscoped():
        assert db.session.get(ChangeOrder, second.id).status is ChangeOrderStatus.DRAFT
        assert db.session.get(SovLine, erection.id).scheduled_value_cents == 1_000_000
    assert fresh(commitment.id).contract_sum_cents == 7_000_000


# --------------------------------------------------------------------------- access


def test_commitments_need_invoice_management(client, project, payee, payor) -> None:
    commitment = draft(client, project, payee[0])
    with tenancy.unscoped():
        company_services.set_feature(payor, Feature.INVOICE_MANAGEMENT, False, actor_user_id=None)
    db.session.commit()
    assert client.get(f"/commitments/{commitment.id}").status_code == 404
    assert "come with Invoice Management" in client.get(f"/projects/{project.id}").get_data(
        as_text=True
    )


def test_an_archived_project_takes_no_commitment_changes(client, project, payee, admin) -> None:
    commitment = draft(client, project, payee[0])
    with tenancy.unscoped():
        services.archive_project(project, actor_user_id=admin.id)
    db.session.commit()
    path = f"/commitments/{commitment.id}"
    response = client.submit(
        f"{path}/schedule",
        schedule_form(("", "All", "100,000", "")),
        token_from=path,
        follow_redirects=True,
    )
    assert "Restore it first" in response.get_data(as_text=True)
    assert fresh(commitment.id).lines == []
    response = create(client, project, payee[0], number="SC-9", follow=True)
    assert "Restore it first" in response.get_data(as_text=True)
    assert len(commitments()) == 1
