"""Step-up never loses an action: a code sent with it, or the submission held and resumed."""

from __future__ import annotations

import html
import io
import re
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal.accounts import guards, held_actions
from portal.accounts.models import User
from portal.companies import services as companies
from portal.companies.models import CompanyKind, Membership, MembershipRole, Role
from portal.core import storage, tenancy
from portal.core.db import db
from portal.core.models import StoredFile
from portal.operations import services as operations
from portal.operations.models import AdminDesignation
from portal.payment_settings.models import BusinessEntity, FundingAccount
from tests.conftest import PortalClient
from tests.factories import (
    ACCOUNT_FORM,
    ENTITY_FORM,
    emails_of,
    make_company,
    make_paying_payor,
    make_user,
    members_of,
    membership_of,
    sign_in,
    sign_in_fresh_admin,
    sign_in_fresh_operator,
    step_up,
)

pytestmark = pytest.mark.usefixtures("database")

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXPIRED = "That action was already finished, or it expired before it was confirmed."


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def no_held_actions(app):
    """Storage is shared by the session's tests: start and end each with no held action."""
    folder = Path(app.config["STORAGE_DIR"]) / held_actions.FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    yield
    shutil.rmtree(folder, ignore_errors=True)


def count(model) -> int:
    with tenancy.unscoped():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def go_stale(client) -> None:
    with client.session_transaction() as session:
        session["mfa_at"] = 0  # the last verification is long past


def held_files(app) -> list[Path]:
    folder = Path(app.config["STORAGE_DIR"]) / held_actions.FOLDER
    return sorted(folder.iterdir()) if folder.is_dir() else []


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def resume_token(location: str) -> str:
    match = re.search(r"[?&]resume=([^&]+)", location)
    assert match, f"no resume token in {location}"
    return match.group(1)


def verify_and_open_finishing_page(client, location: str, phone, *, htmx: bool = False):
    """Enter a good code on the prompt at ``location``; return the finishing page."""
    response = client.submit(location, {"code": phone.code()}, token_from=location, htmx=htmx)
    target = response.headers["HX-Redirect"] if htmx else response.headers["Location"]
    assert resume_token(target) == resume_token(location), "the prompt keeps the held action"
    finishing = client.get(target)
    assert finishing.status_code == 200
    return finishing


def finishing_form(finishing) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the page that posts the held action back."""
    text = finishing.get_data(as_text=True)
    form = re.search(
        r'<form method="post" action="([^"]+)" data-autosubmit>(.*?)</form>', text, re.S
    )
    assert form, "the finishing page posts the action back by itself"
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))
    return html.unescape(form.group(1)), {k: html.unescape(v) for k, v in fields.items()}


def resume(client, finishing):
    action, fields = finishing_form(finishing)
    return client.post(action, data=fields)


# --------------------------------------------------------------------------- operator, file


@pytest.fixture
def operator(client):
    return sign_in_fresh_operator(client)


@pytest.fixture
def payor(client, operator):
    with tenancy.unscoped():
        company = operations.create_payor("Granite Works", "granite-works", actor_user_id=None)
    db.session.commit()
    for email in ("cfo@granite.example.com", "controller@granite.example.com"):
        response = client.submit(
            f"/operator/payors/{company.id}/members",
            {"email": email, "name": email.split("@")[0].title()},
            token_from="/operator",
        )
        assert response.status_code == 303, response.get_data(as_text=True)
    return company


def member_ids(payor) -> list[int]:
    return sorted(m.user_id for m in members_of(payor))


def designate(client, payor, *, data=PDF, headers=None, **extra):
    token = client.csrf_token("/operator")
    return client.post(
        f"/operator/payors/{payor.id}/designations",
        data={
            "csrf_token": token,
            "emails": emails_of(member_ids(payor)),
            "form_file": (io.BytesIO(data), "signed designation.pdf", "application/pdf"),
            **extra,
        },
        content_type="multipart/form-data",
        headers={"Referer": f"http://localhost/operator/payors/{payor.id}", **(headers or {})},
    )


def designation_files() -> list[bytes]:
    with tenancy.unscoped():
        designations = db.session.scalars(sa.select(AdminDesignation)).all()
        records = [db.session.get(StoredFile, d.stored_file_id) for d in designations]
    stored = []
    for record in records:
        with storage.open_file(record) as stream:
            stored.append(stream.read())
    return stored


def test_a_stale_upload_is_held_then_finished_once_after_the_code(app, client, payor, operator):
    _user, phone = operator
    go_stale(client)
    response = designate(client, payor)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"/verify?next=/operator/payors/{payor.id}&resume=")
    assert count(AdminDesignation) == 0 and count(StoredFile) == 0
    assert len(held_files(app)) == 1
    assert PDF not in held_files(app)[0].read_bytes(), "held submissions are encrypted"

    prompt = page_text(client.get(location))
    assert "To confirm <strong>Designate Payments Admins</strong>" in prompt
    finishing = verify_and_open_finishing_page(client, location, phone)
    assert "Code accepted — finishing: Designate Payments Admins" in page_text(finishing)

    done = resume(client, finishing)
    assert done.status_code == 303, done.get_data(as_text=True)
    assert done.headers["Location"] == f"/operator/payors/{payor.id}"
    with tenancy.unscoped():
        designation = db.session.scalar(sa.select(AdminDesignation))
        stored = db.session.get(StoredFile, designation.stored_file_id)
    assert sorted(designation.user_ids) == member_ids(payor)
    assert designation_files() == [PDF], "the very bytes uploaded, stored once"
    assert stored.original_name == "signed designation.pdf"
    shown = page_text(client.get(done.headers["Location"]))
    assert "Payments Admins designated." in shown
    assert held_files(app) == [], "a held action is used up"

    again = resume(client, finishing)
    assert again.status_code == 303
    assert EXPIRED in page_text(client.get(again.headers["Location"]))
    assert count(AdminDesignation) == 1 and count(StoredFile) == 1


def test_a_stale_htmx_upload_is_held_and_finished_with_its_file(app, client, payor, operator):
    _user, phone = operator
    go_stale(client)
    response = designate(
        client,
        payor,
        headers={
            "HX-Request": "true",
            "HX-Current-URL": f"http://localhost/operator/payors/{payor.id}",
        },
    )
    location = response.headers["HX-Redirect"]
    assert "resume=" in location and count(AdminDesignation) == 0
    finishing = verify_and_open_finishing_page(client, location, phone, htmx=True)
    done = resume(client, finishing)
    assert done.status_code == 303
    assert designation_files() == [PDF], "the file came through the prompt"
    assert count(AdminDesignation) == 1


def test_a_code_sent_with_the_upload_finishes_it_in_one_request(app, client, payor, operator):
    _user, phone = operator
    go_stale(client)
    response = designate(client, payor, step_up_code=phone.code())
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"] == f"/operator/payors/{payor.id}"
    assert designation_files() == [PDF]
    assert held_files(app) == []
    # The code counts as a step-up: the next sensitive action needs none.
    response = client.submit(
        f"/operator/payors/{payor.id}/deposit-account", {}, token_from="/operator"
    )
    assert "/verify" not in response.headers["Location"]


def test_a_wrong_code_with_the_upload_changes_nothing_and_counts(app, client, payor, operator):
    user, phone = operator
    go_stale(client)
    response = designate(client, payor, step_up_code=phone.stale_code())
    assert response.status_code == 303
    assert "/verify?" in response.headers["Location"] and "resume=" in response.headers["Location"]
    assert count(AdminDesignation) == 0 and count(StoredFile) == 0
    db.session.expire_all()
    assert db.session.get(User, user.id).step_up_failures == 1
    prompt = page_text(client.get(response.headers["Location"]))
    assert "Designate Payments Admins" in prompt
    assert "code" in prompt.lower() and "notice-danger" in prompt, "the refusal is explained"


def test_ten_wrong_inline_codes_sign_the_user_out(client, payor, operator) -> None:
    from portal.core.ratelimit import ThrottleEvent

    _user, phone = operator
    go_stale(client)
    for _ in range(10):
        # Clear the per-user code limit so the step-up counter is what ends the session.
        db.session.execute(sa.delete(ThrottleEvent))
        db.session.commit()
        response = designate(client, payor, step_up_code=phone.stale_code())
    assert response.headers["Location"].endswith("/login")
    assert client.get("/operator").status_code == 303
    assert count(AdminDesignation) == 0


def test_a_held_action_is_only_for_its_own_session_and_path(app, client, payor, operator):
    user, phone = operator
    go_stale(client)
    token = resume_token(designate(client, payor).headers["Location"])

    # The same user in another browser (another session row), freshly verified.
    other = PortalClient(app, app.response_class, use_cookies=True)
    sign_in(other, user, phone)
    step_up(other, phone)
    stolen = other.submit(
        f"/operator/payors/{payor.id}/designations",
        {"step_up_resume": token},
        token_from="/operator",
    )
    assert stolen.status_code == 303
    assert EXPIRED in page_text(other.get(stolen.headers["Location"]))

    # Another operator.
    third = PortalClient(app, app.response_class, use_cookies=True)
    sign_in_fresh_operator(third)
    refused = third.submit(
        f"/operator/payors/{payor.id}/designations",
        {"step_up_resume": token},
        token_from="/operator",
    )
    assert refused.status_code == 303
    assert EXPIRED in page_text(third.get(refused.headers["Location"]))
    assert count(AdminDesignation) == 0

    # Its own session, but posted to another sensitive action.
    step_up(client, phone)
    elsewhere = client.submit(
        f"/operator/payors/{payor.id}/deposit-account",
        {"step_up_resume": token},
        token_from="/operator",
    )
    assert EXPIRED in page_text(client.get(elsewhere.headers["Location"]))
    assert count(AdminDesignation) == 0
    from portal.banking.models import DepositAccount

    assert count(DepositAccount) == 0

    # None of that used it up: the owner can still finish.
    finishing = client.get(f"/verify?next=/operator/payors/{payor.id}&resume={token}")
    assert resume(client, finishing).status_code == 303
    assert designation_files() == [PDF]


def test_an_expired_held_action_changes_nothing_and_is_pruned(
    app, client, payor, operator, monkeypatch
):
    _user, phone = operator
    go_stale(client)
    location = designate(client, payor).headers["Location"]
    client.submit(location, {"code": phone.code()}, token_from=location)
    finishing = client.get(location)
    assert "Code accepted" in page_text(finishing)

    later = time.time() + held_actions.HOLD_LIFETIME.total_seconds() + 5
    monkeypatch.setattr("cryptography.fernet.time.time", lambda: later)
    done = resume(client, finishing)
    assert done.headers["Location"] == f"/operator/payors/{payor.id}"
    assert EXPIRED in page_text(client.get(done.headers["Location"]))
    assert count(AdminDesignation) == 0

    assert held_actions.prune_expired(now=later) == 1
    assert held_files(app) == []


def test_prune_keeps_held_actions_that_are_still_alive(app, client, payor) -> None:
    go_stale(client)
    designate(client, payor)
    assert held_actions.prune_expired() == 0
    assert len(held_files(app)) == 1


# --------------------------------------------------------------------------- htmx, no file


def roles_of(membership) -> set[str]:
    db.session.expire_all()
    return set(
        db.session.scalars(
            sa.select(MembershipRole.role).where(MembershipRole.membership_id == membership.id)
        )
    )


def test_a_stale_htmx_role_grant_is_resumed_after_the_code(client) -> None:
    payor = make_company(CompanyKind.PAYOR)
    admin, phone = make_user(payor, (Role.PAYMENTS_ADMIN,))
    teammate, _ = make_user(payor)
    member = membership_of(teammate, payor)
    sign_in(client, admin, phone)
    go_stale(client)
    response = client.submit(
        f"/company/members/{member.id}/roles",
        {"role": "disburser"},
        token_from="/company/members",
        htmx=True,
        headers={"HX-Current-URL": "http://localhost/company/members"},
    )
    assert response.status_code == 204
    location = response.headers["HX-Redirect"]
    assert location.startswith("/verify?next=/company/members&resume=")
    assert roles_of(member) == set()

    assert "To confirm <strong>Give a member a role</strong>" in page_text(client.get(location))
    finishing = verify_and_open_finishing_page(client, location, phone, htmx=True)
    done = resume(client, finishing)
    # The row fragment's target is not on the finishing page: the whole team page instead.
    assert done.status_code == 200
    text = page_text(done)
    assert "<html" in text and f'id="member-{member.id}"' in text
    assert "is now Payments Disburser." in text, "the view acknowledges the change itself"
    assert roles_of(member) == {Role.DISBURSER}


def add_entity(client) -> int:
    entity = client.submit(
        "/settings/payments/entities",
        ENTITY_FORM,
        token_from="/settings/payments",
    )
    assert entity.status_code == 303, entity.get_data(as_text=True)
    with tenancy.unscoped():
        return db.session.scalar(sa.select(BusinessEntity.id))


def test_a_stale_full_page_form_without_a_file_is_resumed(client) -> None:
    payor = make_paying_payor()
    _admin, phone = sign_in_fresh_admin(client, payor)
    entity_id = add_entity(client)
    go_stale(client)
    page = client.get(f"/settings/payments/entities/{entity_id}").get_data(as_text=True)
    assert 'name="step_up_code"' in page, "the stale form offers its own code field"
    response = client.submit(
        "/settings/payments/funding-accounts",
        {**ACCOUNT_FORM, "entity_id": str(entity_id), "nickname": "Payroll"},
        token_from="/settings/payments",
    )
    location = response.headers["Location"]
    assert "resume=" in location
    assert count(FundingAccount) == 0
    finishing = verify_and_open_finishing_page(client, location, phone)
    assert "finishing: Add a funding account" in page_text(finishing)
    done = resume(client, finishing)
    assert done.status_code == 303
    assert done.headers["Location"] == "/settings/payments/funding-accounts"
    with tenancy.unscoped():
        assert db.session.scalars(sa.select(FundingAccount.nickname)).all() == ["Payroll"]
    assert "Funding account Payroll added." in page_text(
        client.get("/settings/payments/funding-accounts")
    )
    again = resume(client, finishing)
    assert again.status_code == 303
    assert EXPIRED in page_text(client.get(again.headers["Location"], follow_redirects=True))
    assert count(FundingAccount) == 1


def test_a_stale_htmx_deactivate_is_resumed_and_redirects(client) -> None:
    payor = make_paying_payor()
    _admin, phone = sign_in_fresh_admin(client, payor)
    entity_id = add_entity(client)
    for nickname, number in (("Operating", "000123456789"), ("Reserve", "000987654321")):
        added = client.submit(
            "/settings/payments/funding-accounts",
            {
                **ACCOUNT_FORM,
                "entity_id": str(entity_id),
                "nickname": nickname,
                "account_number": number,
                "account_number_confirm": number,
            },
            token_from="/settings/payments",
        )
        assert added.status_code == 303, added.get_data(as_text=True)
    with tenancy.unscoped():
        reserve = db.session.scalar(sa.select(FundingAccount).filter_by(nickname="Reserve"))
    go_stale(client)
    response = client.submit(
        f"/settings/payments/funding-accounts/{reserve.id}/deactivate",
        {},
        token_from="/settings/payments",
        htmx=True,
        headers={"HX-Current-URL": "http://localhost/settings/payments"},
    )
    location = response.headers["HX-Redirect"]
    assert "resume=" in location
    db.session.expire_all()
    assert db.session.get(FundingAccount, reserve.id).active

    finishing = verify_and_open_finishing_page(client, location, phone, htmx=True)
    assert "finishing: Make default or deactivate a funding account" in page_text(finishing)
    done = resume(client, finishing)
    assert done.status_code == 303
    assert done.headers["Location"] == "/settings/payments/funding-accounts"
    db.session.expire_all()
    assert not db.session.get(FundingAccount, reserve.id).active


def test_a_stale_page_that_needs_step_up_is_still_just_asked_for(client, payor, operator):
    go_stale(client)
    response = client.get(f"/operator/payors/{payor.id}/sso")
    assert response.headers["Location"] == f"/verify?next=/operator/payors/{payor.id}/sso"


# --------------------------------------------------------------------------- the code field


@pytest.mark.parametrize("needed", [True, False])
def test_the_code_field_shows_only_when_the_session_is_not_fresh(app, needed, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(guards, "current_user", SimpleNamespace(is_authenticated=True))
    monkeypatch.setattr(guards, "is_fresh", lambda: not needed)
    with app.test_request_context():
        rendered = app.jinja_env.from_string(
            '{% from "components/step_up.html" import step_up_field %}{{ step_up_field() }}'
        ).render()
    if not needed:
        assert rendered.strip() == ""
        return
    assert "Code from your authenticator app" in rendered
    assert 'name="step_up_code"' in rendered
    assert 'autocomplete="one-time-code"' in rendered and 'inputmode="numeric"' in rendered


def test_a_held_action_never_runs_in_another_company(client) -> None:
    """Held in one payor, the user switches company before the code: nothing runs there."""
    first, second = make_paying_payor(), make_paying_payor()
    user, phone = sign_in_fresh_admin(client, first)
    with tenancy.unscoped():
        companies.add_member(second, user, actor_user_id=None)
        membership = db.session.scalar(
            sa.select(Membership).filter_by(user_id=user.id, company_id=second.id)
        )
        companies.grant_role(membership, Role.PAYMENTS_ADMIN, actor_user_id=None)
    db.session.commit()
    entity_id = add_entity(client)  # in the first payor
    go_stale(client)
    response = client.submit(
        "/settings/payments/funding-accounts",
        {**ACCOUNT_FORM, "entity_id": str(entity_id), "nickname": "Payroll"},
        token_from="/settings/payments",
    )
    location = response.headers["Location"]
    assert "resume=" in location
    switched = client.submit(
        "/companies/switch", {"company_id": second.id}, token_from="/dashboard"
    )
    assert switched.status_code == 303
    prompt = page_text(client.get(location))
    assert "To confirm" not in prompt, "the prompt does not offer another company's action"
    response = client.submit(location, {"code": phone.code()}, token_from=location)
    finishing = client.get(response.headers["Location"])
    assert "finishing" not in page_text(finishing)
    assert count(FundingAccount) == 0


def test_a_session_holds_one_action_at_a_time(app, client, payor, operator) -> None:
    go_stale(client)
    first = resume_token(designate(client, payor).headers["Location"])
    second = resume_token(designate(client, payor).headers["Location"])
    assert first != second
    assert len(held_files(app)) == 1, "holding another replaced the first"
