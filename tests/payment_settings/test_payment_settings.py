"""Business entities, funding accounts and controls: validation, permissions, step-up, masking."""

import pytest
import sqlalchemy as sa

from portal.companies import services as company_services
from portal.companies.models import Feature, Role
from portal.core import tenancy
from portal.core.db import db
from portal.core.models import AuditEvent
from portal.payment_settings.models import BusinessEntity, EntityPerson, FundingAccount
from tests.factories import ACCOUNT_FORM as ACCOUNT
from tests.factories import ENTITY_FORM as ENTITY
from tests.factories import (
    make_paying_payor,
    make_user,
    sign_in,
    sign_in_fresh_admin,
)

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def payor():
    return make_paying_payor()


@pytest.fixture
def admin(client, payor):
    return sign_in_fresh_admin(client, payor)


def count(model) -> int:
    with tenancy.unscoped():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def add_entity(client, **changes):
    return client.submit(
        "/settings/payments/entities", {**ENTITY, **changes}, token_from="/settings/payments"
    )


def entity_id() -> int:
    with tenancy.unscoped():
        return db.session.scalar(sa.select(BusinessEntity.id))


def person_fields(entity_id: int, **fields: str) -> dict[str, str]:
    """The owner-or-controller form's fields, named after their entity as the page names them."""
    return {f"entity-{entity_id}-{name}": value for name, value in fields.items()}


def test_admin_adds_an_entity_with_owner_and_controller(client, admin) -> None:
    response = add_entity(client)
    assert response.status_code == 303
    eid = entity_id()
    assert response.headers["Location"].endswith(f"/settings/payments/entities/{eid}")
    listing = client.get("/settings/payments").get_data(as_text=True)
    assert "Granite Works LLC" in listing and "Incomplete" in listing and "••-•••6789" in listing
    page = client.get(f"/settings/payments/entities/{eid}").get_data(as_text=True)
    assert "Incomplete: add a controller" in page and "••-•••6789" in page
    response = client.submit(
        f"/settings/payments/entities/{eid}/people",
        person_fields(
            eid,
            role="controller",
            full_name="Casey Controller",
            title="CFO",
            date_of_birth="1980-04-02",
            ssn="123-45-6789",
        ),
        token_from="/settings/payments",
    )
    assert response.status_code == 303
    client.submit(
        f"/settings/payments/entities/{eid}/people",
        person_fields(
            eid,
            role="beneficial_owner",
            full_name="Olive Owner",
            ownership_percent="60",
            date_of_birth="1970-01-01",
            ssn="234-56-7890",
        ),
        token_from="/settings/payments",
    )
    page = client.get(f"/settings/payments/entities/{eid}").get_data(as_text=True)
    assert "Complete for the bank" in page
    assert "123-45-6789" not in page and "•••-••-6789" in page
    raw = db.session.execute(sa.text("SELECT ssn, date_of_birth FROM entity_person")).all()
    assert all("6789" not in ssn and "1980" not in dob for ssn, dob in raw), "encrypted at rest"
    raw_ein = db.session.execute(sa.text("SELECT ein FROM business_entity")).scalar()
    assert "123456789" not in raw_ein

    # Removing one says who was removed from what, and the entity is incomplete again.
    with tenancy.unscoped():
        owner = db.session.scalar(sa.select(EntityPerson).filter_by(full_name="Olive Owner"))
    response = client.submit(
        f"/settings/payments/entities/{eid}/people/{owner.id}/remove",
        {},
        token_from="/settings/payments",
    )
    assert response.status_code == 303
    page = client.get(f"/settings/payments/entities/{eid}").get_data(as_text=True)
    assert "Olive Owner removed from" in page
    assert count(EntityPerson) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ein": "12-345678"}, "valid EIN"),
        ({"ein": "07-3456789"}, "valid EIN"),
        ({"region": ""}, "Choose a state"),
        ({"postal_code": "ABCDE"}, "ZIP code"),
        ({"legal_name": ""}, "Enter the legal name"),
    ],
)
def test_bad_entity_input_gets_a_field_error_and_saves_nothing(
    client, admin, changes, message
) -> None:
    response = add_entity(client, **changes)
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert count(BusinessEntity) == 0


@pytest.mark.parametrize(
    ("person", "message"),
    [
        ({"role": "beneficial_owner", "ownership_percent": "10"}, "between 25% and 100%"),
        ({"role": "controller", "ssn": "666-12-3456"}, "valid Social Security"),
        ({"role": "controller", "date_of_birth": "2015-01-01"}, "an adult"),
    ],
)
def test_bad_people_are_refused(client, admin, person, message) -> None:
    add_entity(client)
    data = {"full_name": "Pat", "date_of_birth": "1980-01-01", "ssn": "123-45-6789", **person}
    response = client.submit(
        f"/settings/payments/entities/{entity_id()}/people",
        person_fields(entity_id(), **data),
        token_from="/settings/payments",
    )
    assert message in response.get_data(as_text=True)
    assert count(EntityPerson) == 0


def test_owners_cannot_exceed_one_hundred_percent(client, admin) -> None:
    add_entity(client)
    for name, percent in (("A", "60"), ("B", "50")):
        client.submit(
            f"/settings/payments/entities/{entity_id()}/people",
            person_fields(
                entity_id(),
                role="beneficial_owner",
                full_name=name,
                ownership_percent=percent,
                date_of_birth="1970-01-01",
                ssn="123-45-6789",
            ),
            token_from="/settings/payments",
        )
    assert count(EntityPerson) == 1


OTHER_NUMBER = {"account_number": "000987654321", "account_number_confirm": "000987654321"}


def add_account(client, **changes):
    return client.submit(
        "/settings/payments/funding-accounts",
        {"entity_id": str(entity_id()), **ACCOUNT, **changes},
        token_from="/settings/payments",
    )


def test_admin_adds_a_funding_account_shown_masked(client, admin) -> None:
    add_entity(client)
    assert add_account(client).status_code == 303
    with tenancy.unscoped():
        account = db.session.scalar(sa.select(FundingAccount))
    assert account.is_default and account.account_last4 == "6789"
    page = client.get("/settings/payments/funding-accounts").get_data(as_text=True)
    assert "••••6789" in page and "000123456789" not in page
    raw = db.session.execute(sa.text("SELECT account_number FROM funding_account")).scalar()
    assert "123456789" not in raw
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "payment_settings:funding_account:added")
        )
        == 1
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"routing_number": "021000022"}, "routing number is not valid"),
        ({"account_number_confirm": "000123456788"}, "do not match"),
        ({"account_number": "12ab", "account_number_confirm": "12ab"}, "4 to 17 digits"),
    ],
)
def test_bad_funding_account_input_saves_nothing(client, admin, changes, message) -> None:
    add_entity(client)
    response = add_account(client, **changes)
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert count(FundingAccount) == 0


def test_duplicate_nicknames_are_refused(client, admin) -> None:
    add_entity(client)
    add_account(client)
    response = add_account(client)
    assert "already has that nickname" in response.get_data(as_text=True)
    assert count(FundingAccount) == 1


def test_the_default_account_cannot_be_deactivated(client, admin) -> None:
    add_entity(client)
    add_account(client)
    add_account(client, nickname="Reserve", **OTHER_NUMBER)
    with tenancy.unscoped():
        operating, reserve = db.session.scalars(
            sa.select(FundingAccount).order_by(FundingAccount.id)
        ).all()
    client.submit(
        f"/settings/payments/funding-accounts/{operating.id}/deactivate",
        {},
        token_from="/settings/payments",
    )
    db.session.expire_all()
    assert db.session.get(FundingAccount, operating.id).active
    client.submit(
        f"/settings/payments/funding-accounts/{reserve.id}/default",
        {},
        token_from="/settings/payments",
    )
    client.submit(
        f"/settings/payments/funding-accounts/{operating.id}/deactivate",
        {},
        token_from="/settings/payments",
    )
    db.session.expire_all()
    assert not db.session.get(FundingAccount, operating.id).active
    assert db.session.get(FundingAccount, reserve.id).is_default


def test_funding_accounts_need_a_fresh_second_factor(client, admin) -> None:
    add_entity(client)
    with client.session_transaction() as session:
        session["mfa_at"] = 0
    response = add_account(client)
    assert "/verify" in response.headers["Location"]
    assert count(FundingAccount) == 0


def test_only_payments_admins_and_only_while_pay_is_on(app, client, payor) -> None:
    disburser, phone = make_user(payor, (Role.DISBURSER,))
    sign_in(client, disburser, phone)
    assert client.get("/settings/payments").status_code == 403
    admin, admin_phone = make_user(payor, (Role.PAYMENTS_ADMIN,))
    admin_client = type(client)(app, app.response_class, use_cookies=True)
    sign_in(admin_client, admin, admin_phone)
    assert admin_client.get("/settings/payments").status_code == 200
    with tenancy.unscoped():
        company_services.set_feature(payor, Feature.PAY, False, actor_user_id=None)
    db.session.commit()
    assert admin_client.get("/settings/payments").status_code == 404, "hidden while Pay is off"


def test_controls_and_invitation_preview(client, admin, payor) -> None:
    response = client.submit(
        "/settings/payments/invitation-preview",
        {"invitation_message": "Questions? Call Ana at 555-0100."},
        token_from="/settings/payments",
        htmx=True,
    )
    body = response.get_data(as_text=True)
    assert body.startswith('<div id="invitation-preview"') and "Call Ana" in body
    response = client.submit(
        "/settings/payments/controls",
        {
            "disbursements_enabled": "",
            "pay_on_new_projects": "y",
            "funding_account_mode": "fixed_per_project",
            "invitation_message": "Questions? Call Ana.",
        },
        token_from="/settings/payments",
    )
    assert response.status_code == 303
    history = client.get("/company/history").get_data(as_text=True)
    assert "Changed payment controls: disbursements, funding account choice" in history


def test_new_disbursements_stop_when_pay_or_disbursements_are_off(payor) -> None:
    from portal.payment_settings import services as settings
    from portal.payment_settings.models import FundingAccountMode
    from portal.payment_settings.policies import may_start_disbursements

    assert may_start_disbursements(payor.id).allowed
    with tenancy.unscoped():
        settings.update_controls(
            payor,
            disbursements_enabled=False,
            pay_on_new_projects=True,
            funding_account_mode=FundingAccountMode.CHOSEN_AT_DISBURSEMENT,
            invitation_message=None,
            actor_user_id=None,
        )
    decision = may_start_disbursements(payor.id)
    assert not decision.allowed and "turned off in payment settings" in decision.reason
    with tenancy.unscoped():
        settings.update_controls(
            payor,
            disbursements_enabled=True,
            pay_on_new_projects=True,
            funding_account_mode=FundingAccountMode.CHOSEN_AT_DISBURSEMENT,
            invitation_message=None,
            actor_user_id=None,
        )
        company_services.set_feature(payor, Feature.PAY, False, actor_user_id=None)
    assert may_start_disbursements(payor.id).reason == "Pay is not active for this company."


def test_an_account_fixed_to_projects_cannot_be_deactivated(client, admin, payor) -> None:
    from portal.invoicing import services as invoicing

    add_entity(client)
    add_account(client)
    add_account(client, nickname="Reserve", **OTHER_NUMBER)
    with tenancy.unscoped():
        _, reserve = db.session.scalars(sa.select(FundingAccount).order_by(FundingAccount.id)).all()
        from portal.payment_settings import services as settings
        from portal.payment_settings.models import FundingAccountMode

        settings.update_controls(
            payor,
            disbursements_enabled=True,
            pay_on_new_projects=True,
            funding_account_mode=FundingAccountMode.FIXED_PER_PROJECT,
            invitation_message=None,
            actor_user_id=None,
        )
        project = invoicing.create_project(
            payor,
            name="Tower",
            number="T-1",
            address_line1="1 Main",
            city="Austin",
            region="TX",
            postal_code="78701",
            actor_user_id=None,
        )
        invoicing.set_project_funding_account(payor, project, reserve.id, actor_user_id=None)
    db.session.commit()
    client.submit(
        f"/settings/payments/funding-accounts/{reserve.id}/deactivate",
        {},
        token_from="/settings/payments",
    )
    db.session.expire_all()
    assert db.session.get(FundingAccount, reserve.id).active
    assert "Projects are fixed to this account (Tower)" in client.get(
        "/settings/payments"
    ).get_data(as_text=True)


def test_the_database_allows_one_default_account_per_payor(client, admin, payor) -> None:
    add_entity(client)
    add_account(client)
    add_account(client, nickname="Reserve", **OTHER_NUMBER)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.text("UPDATE funding_account SET is_default = true"))
    db.session.rollback()


def test_an_entity_page_has_no_duplicate_ids(client, admin) -> None:
    import re
    from collections import Counter

    add_entity(client)
    page = client.get(f"/settings/payments/entities/{entity_id()}").get_data(as_text=True)
    ids = Counter(re.findall(r'\sid="([^"]+)"', page))
    assert [name for name, seen in ids.items() if seen > 1] == []
    assert page.count('for="entity-') >= 6, "the person form's labels point at its fields"


def test_entities_and_accounts_are_paginated_tables(client, admin, payor) -> None:
    """Twelve entities with an account each: a page of ten, then two; filters and sorts."""
    from tests.factories import add_entity_with_controller, add_funding_account

    with tenancy.unscoped():
        for k in range(12):
            entity, _ = add_entity_with_controller(payor, f"Entity {k:02d} LLC", actor_user_id=None)
            add_funding_account(
                entity, f"Account {k:02d}", "021000021", f"{7000000 + k}", actor_user_id=None
            )
    db.session.commit()
    first = client.get("/settings/payments?per_page=10").get_data(as_text=True)
    assert first.count("/settings/payments/entities/") >= 10
    assert "Entity 00 LLC" in first and "Entity 10 LLC" not in first
    second = client.get("/settings/payments?per_page=10&page=2").get_data(as_text=True)
    assert "Entity 10 LLC" in second and "Entity 11 LLC" in second and "Entity 00" not in second
    desc = client.get("/settings/payments?per_page=10&dir=desc").get_data(as_text=True)
    assert "Entity 11 LLC" in desc and "Entity 00 LLC" not in desc
    found = client.get("/settings/payments?q=entity+07").get_data(as_text=True)
    assert "Entity 07 LLC" in found and "Entity 08 LLC" not in found

    accounts = client.get("/settings/payments/funding-accounts?per_page=10&page=2")
    html = accounts.get_data(as_text=True)
    assert "Account 10" in html and "Account 11" in html and "Account 00" not in html
    fragment = client.get(
        "/settings/payments/funding-accounts?q=account+03", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "Account 03" in fragment and "Account 04" not in fragment
    assert "<html" not in fragment, "an htmx request gets the table alone"
    with tenancy.unscoped():
        one = db.session.scalar(
            sa.select(BusinessEntity.id).where(BusinessEntity.legal_name == "Entity 05 LLC")
        )
    by_entity = client.get(f"/settings/payments/funding-accounts?entity={one}").get_data(
        as_text=True
    )
    assert "Account 05" in by_entity and "Account 06" not in by_entity
    inactive = client.get("/settings/payments/funding-accounts?status=deactivated")
    assert "No funding account matches these filters." in inactive.get_data(as_text=True)


def test_a_funding_account_cannot_be_added_to_another_payors_entity(client, admin) -> None:
    from tests.factories import add_entity_with_controller

    other = make_paying_payor()
    with tenancy.unscoped():
        theirs, _ = add_entity_with_controller(other, "Other Holdings LLC", actor_user_id=None)
        theirs_id = theirs.id
    db.session.commit()
    response = client.submit(
        "/settings/payments/funding-accounts",
        {"entity_id": str(theirs_id), **ACCOUNT},
        token_from="/settings/payments",
    )
    assert response.status_code == 404
    assert count(FundingAccount) == 0


def test_the_same_account_cannot_be_added_twice_even_under_another_entity(client, admin) -> None:
    add_entity(client)
    add_entity(client, legal_name="Granite Holdings LLC")
    with tenancy.unscoped():
        first, second = db.session.scalars(
            sa.select(BusinessEntity.id).order_by(BusinessEntity.id)
        ).all()
    assert add_account(client, entity_id=str(first)).status_code == 303
    response = add_account(client, entity_id=str(second), nickname="Payroll")
    assert response.status_code == 200
    assert "That account is already a funding account (“Operating”, ••••6789)" in (
        response.get_data(as_text=True)
    )
    assert count(FundingAccount) == 1


def test_nicknames_are_compared_without_case(client, admin) -> None:
    add_entity(client)
    add_account(client)
    response = add_account(client, nickname="  OPERATING ", **OTHER_NUMBER)
    assert "already has that nickname" in response.get_data(as_text=True)
    assert count(FundingAccount) == 1


def test_a_deactivated_account_may_be_added_again(client, admin) -> None:
    add_entity(client)
    add_account(client)
    add_account(client, nickname="Reserve", **OTHER_NUMBER)
    with tenancy.unscoped():
        reserve = db.session.scalar(sa.select(FundingAccount).filter_by(nickname="Reserve"))
    client.submit(
        f"/settings/payments/funding-accounts/{reserve.id}/deactivate",
        {},
        token_from="/settings/payments",
    )
    assert add_account(client, nickname="Reserve again", **OTHER_NUMBER).status_code == 303
    assert count(FundingAccount) == 3


def test_the_database_allows_one_active_account_per_number(client, admin) -> None:
    add_entity(client)
    add_account(client)
    add_account(client, nickname="Reserve", **OTHER_NUMBER)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(
            sa.text(
                "UPDATE funding_account SET account_fingerprint = "
                "(SELECT min(account_fingerprint) FROM funding_account)"
            )
        )
    db.session.rollback()


def test_the_fingerprint_is_a_keyed_hash_that_rotates_with_the_keys(app, client, admin) -> None:
    from cryptography.fernet import Fernet, MultiFernet

    from portal.banking.models import account_fingerprint
    from portal.core import crypto

    add_entity(client)
    add_account(client)
    with tenancy.unscoped():
        account = db.session.scalar(sa.select(FundingAccount))
    before = account.account_fingerprint
    assert before == account_fingerprint("021000021", "000123456789")
    assert "000123456789" not in before and len(before) == 64
    new_key = Fernet.generate_key().decode()
    saved = dict(app.extensions)
    try:
        old_ring = app.extensions["trestle.keyring"]
        app.extensions["trestle.keyring"] = MultiFernet(
            [Fernet(new_key), *old_ring._fernets]  # the new key first, the old ones after
        )
        app.extensions["trestle.blind_index_key"] = crypto._derived_key(
            [new_key], app.config["SECRET_KEY"], "blind_index"
        )
        assert crypto.rebuild_blind_indexes(db.session.connection()) >= 1
        db.session.expire_all()
        after = db.session.get(FundingAccount, account.id).account_fingerprint
        assert after != before and after == account_fingerprint("021000021", "000123456789")
    finally:
        app.extensions.update(saved)


@pytest.mark.committed
def test_crypto_rotate_rewrites_the_real_tables(app, client, admin) -> None:
    from cryptography.fernet import Fernet, MultiFernet

    assert add_entity(client).status_code == 303
    db.session.commit()  # end this test's read, so it sees what the requests committed
    assert add_account(client).status_code == 303
    db.session.commit()
    raw = "SELECT account_number, account_fingerprint FROM funding_account"
    token_before, fingerprint_before = db.session.execute(sa.text(raw)).one()
    new = Fernet(Fernet.generate_key())
    saved = dict(app.extensions)
    try:
        app.extensions["trestle.keyring"] = MultiFernet([new, *saved["trestle.keyring"]._fernets])
        app.extensions["trestle.blind_index_key"] = b"k" * 32
        result = app.test_cli_runner().invoke(args=["crypto", "rotate"])
        assert result.exit_code == 0, result.output
        assert "recomputed 1 blind index(es)" in result.output
        db.session.rollback()
        token_after, fingerprint_after = db.session.execute(sa.text(raw)).one()
        assert token_after != token_before and fingerprint_after != fingerprint_before
        assert new.decrypt(token_after.encode()).decode() == "000123456789", "new key alone"
    finally:
        app.extensions.update(saved)
