"""The payor's Payees page: payees by onboarding status with counts, invitations sent from
a list of up to 20 lines, and resend, remind and revoke per invitation."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.companies import services as company_services
from portal.companies.models import Feature, Role
from portal.core import tenancy
from portal.core.db import db
from portal.notifications.models import EmailMessage
from portal.onboarding.models import PayeeInvitation, PayeeRelationship
from tests.factories import make_paying_payor, make_user, sign_in, sign_in_fresh_admin

pytestmark = pytest.mark.usefixtures("database")


def counts() -> tuple[int, int, int]:
    with tenancy.unscoped():
        return tuple(
            db.session.scalar(sa.select(sa.func.count()).select_from(m))
            for m in (PayeeRelationship, PayeeInvitation, EmailMessage)
        )


def invite(client, text: str):
    return client.submit("/payees/invitations", {"invitees": text}, token_from="/payees")


def test_an_admin_invites_from_a_list_and_sees_them_by_status(client):
    payor = make_paying_payor()
    sign_in_fresh_admin(client, payor)
    page = client.get("/payees").get_data(as_text=True)
    assert "No payees yet." in page and 'href="/payees"' in page and "All (0)" in page
    response = invite(
        client,
        "Ironline Steel, billing@ironline.example.com\n\n Brightwire, Inc., bea@bw.example.com \n",
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Invited 2 companies." in page
    assert "Invite not accepted (2)" in page and "All (2)" in page
    assert "Ironline Steel" in page and "Brightwire, Inc." in page, "the last comma splits"
    assert counts() == (2, 2, 2)
    page = client.get("/payees?status=approved").get_data(as_text=True)
    assert "No payee matches these filters." in page
    page = client.get("/payees?q=ironline").get_data(as_text=True)
    assert "Ironline Steel" in page and "Brightwire" not in page
    # A search from a status tab searches within it.
    page = client.get("/payees?status=approved").get_data(as_text=True)
    assert '<input type="hidden" name="status" value="approved">' in page


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Ironline Steel billing@ironline.example.com", "Line 1: put a comma"),
        ("A, a@example.com\nB, not-an-email", "not a valid email"),
        ("\n".join(f"Sub {k}, s{k}@example.com" for k in range(21)), "at most 20"),
        ("  \n ", "Enter at least one"),
    ],
)
def test_a_bad_list_is_refused_whole(client, text, message):
    sign_in_fresh_admin(client, make_paying_payor())
    before = counts()
    response = invite(client, text)
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert counts() == before


def test_resend_remind_and_revoke_from_the_list(client):
    payor = make_paying_payor()
    sign_in_fresh_admin(client, payor)
    invite(client, "Ironline Steel, billing@ironline.example.com")
    with tenancy.unscoped():
        invitation_id = db.session.scalar(sa.select(PayeeInvitation.id))
    base = f"/payees/invitations/{invitation_id}"
    for action, said in (
        ("remind", "Reminder sent to billing@ironline.example.com."),
        ("resend", "open for 14 more days"),
        ("revoke", "withdrawn; its link no longer works"),
    ):
        response = client.submit(f"{base}/{action}", {}, token_from="/payees")
        assert response.status_code == 303
        assert said in client.get("/payees").get_data(as_text=True)
    assert counts()[2] == 3, "the invitation, then a reminder and a resend"
    page = client.get("/payees").get_data(as_text=True)
    assert "Invite not sent (1)" in page and "None open" in page
    before = counts()
    response = client.submit(f"{base}/remind", {}, token_from="/payees")
    assert response.status_code == 303 and counts() == before
    assert "there is nothing to send again" in client.get("/payees").get_data(as_text=True)
    # Invited again, it is the same payee: no second row.
    assert invite(client, "Ironline Steel, billing@ironline.example.com").status_code == 303
    relationships, invitations, _ = counts()
    assert (relationships, invitations) == (1, 2)
    assert "Invite not accepted (1)" in client.get("/payees").get_data(as_text=True)


def test_who_may_open_the_page(client, app):
    payor = make_paying_payor()
    approver, phone = make_user(payor, (Role.BENEFICIARY_APPROVER,))
    sign_in(client, approver, phone)
    assert client.get("/payees").status_code == 200
    assert 'href="/payees"' in client.get("/dashboard").get_data(as_text=True)
    disburser, phone = make_user(payor, (Role.DISBURSER,))
    other = app.test_client()
    sign_in(other, disburser, phone)
    assert other.get("/payees").status_code == 403
    with tenancy.unscoped():
        company_services.set_feature(payor, Feature.PAY, False, actor_user_id=None)
    db.session.commit()
    assert client.get("/payees").status_code == 404, "hidden while Pay is off"


def test_the_invitation_page_sends_it_to_someone_else(client):
    payor = make_paying_payor()
    sign_in_fresh_admin(client, payor)
    invite(client, "Ironline Steel, billing@ironline.example.com")
    with tenancy.unscoped():
        invitation_id = db.session.scalar(sa.select(PayeeInvitation.id))
    listing = client.get("/payees").get_data(as_text=True)
    url = f"/payees/invitations/{invitation_id}"
    assert f'<a href="{url}">Ironline Steel</a>' in listing
    page = client.get(url).get_data(as_text=True)
    assert "billing@ironline.example.com" in page and "Send it to someone else" in page
    before = counts()
    bad = client.submit(
        f"{url}/reassign", {"email": "billing@ironline.example.com"}, token_from=url
    )
    assert bad.status_code == 200 and "already sent to" in bad.get_data(as_text=True)
    assert counts() == before
    done = client.submit(
        f"{url}/reassign", {"email": "treasury@ironline.example.com"}, token_from=url
    )
    assert done.status_code == 303
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Invitation sent to treasury@ironline.example.com instead." in page
    old = client.get(url).get_data(as_text=True)
    assert "sent to someone else" in old and "there is nothing to send on" in old


def test_a_name_is_kept_on_one_line(client):
    sign_in_fresh_admin(client, make_paying_payor())
    assert invite(client, "Tab\tCo   Steel, t@example.com").status_code == 303
    with tenancy.unscoped():
        (name,) = db.session.scalars(sa.select(PayeeRelationship.directory_name))
    assert name == "Tab Co Steel"


def test_one_invitation_is_sent_again_at_most_three_times_an_hour(client):
    sign_in_fresh_admin(client, make_paying_payor())
    invite(client, "Keystone Concrete, office@keystone.example.com")
    with tenancy.unscoped():
        invitation_id = db.session.scalar(sa.select(PayeeInvitation.id))
    base = f"/payees/invitations/{invitation_id}"
    for action in ("resend", "remind", "resend"):
        assert client.submit(f"{base}/{action}", {}, token_from="/payees").status_code == 303
    before = counts()
    client.submit(f"{base}/remind", {}, token_from="/payees")
    assert "sent three times in the last hour" in client.get("/payees").get_data(as_text=True)
    assert counts() == before, "no fourth email"


def test_a_company_already_connected_is_not_invited_again(client, app):
    from tests.onboarding.test_statuses import join
    from tests.payees.helpers import payee_admin

    payor = make_paying_payor()
    payee_client = app.test_client()
    payee, user, _ = payee_admin(payee_client)
    join(payor, payee, user)
    sign_in_fresh_admin(client, payor)
    before = counts()
    response = invite(client, f"Ironline again, {user.email.upper()}")
    assert f"Already your payees: {user.email} (" in response.get_data(as_text=True)
    assert counts() == before


def test_an_action_goes_back_to_the_list_as_it_was(client):
    sign_in_fresh_admin(client, make_paying_payor())
    invite(client, "Keystone Concrete, office@keystone.example.com")
    with tenancy.unscoped():
        invitation_id = db.session.scalar(sa.select(PayeeInvitation.id))
    listing = "/payees?status=invite_not_accepted&q=keystone"
    response = client.submit(
        f"/payees/invitations/{invitation_id}/remind",
        {},
        token_from=listing,
        headers={"Referer": f"http://localhost{listing}"},
    )
    assert response.headers["Location"].endswith(listing)
    record = f"/payees/invitations/{invitation_id}"
    response = client.submit(
        f"{record}/resend", {}, token_from=record, headers={"Referer": f"http://localhost{record}"}
    )
    assert response.headers["Location"].endswith(record)
    elsewhere = client.submit(
        f"{record}/resend",
        {},
        token_from=record,
        headers={"Referer": "https://evil.example/payees"},
    )
    assert elsewhere.headers["Location"].endswith("/payees")
