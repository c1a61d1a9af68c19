"""Hostile input gets 400 or 404 with a clear message, never a 500, and changes nothing."""

from __future__ import annotations

import random
import re

import pytest
import sqlalchemy as sa

from portal.accounts.models import User
from portal.core import tenancy
from portal.core.audit import clean_values
from portal.core.db import db
from portal.core.models import AuditEvent
from portal.core.security import CONTROL_CHARACTER_MESSAGE
from portal.core.text import clean_text, is_ascii_digits
from portal.core.urls import MAX_ID, digits_up_to
from portal.payment_settings.models import BusinessEntity, FundingAccount
from tests.factories import (
    ACCOUNT_FORM,
    ENTITY_FORM,
    PASSWORD,
    make_paying_payor,
    make_user,
    sign_in_fresh_admin,
)

pytestmark = pytest.mark.usefixtures("database")


def audit_count() -> int:
    with tenancy.unscoped():
        return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


def id_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) of a route with an id in it, the ids far past what a DB holds."""
    found = []
    for rule in app.url_map.iter_rules():
        ints = [
            name
            for name, conv in rule._converters.items()
            if conv.__class__.__name__ == "IdConverter"
        ]
        if not ints:
            continue
        path = rule.rule
        for name in ints:
            path = path.replace(f"<int:{name}>", str(MAX_ID + 1))
        path = path.replace("<feature>", "pay").replace("<role>", "viewer")
        path = path.replace("<action>", "default").replace("<token>", "x")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return found


def test_ids_past_the_integer_range_are_not_found_on_every_route(app, client) -> None:
    user, phone = make_user(make_paying_payor())
    from tests.factories import sign_in

    sign_in(client, user, phone)
    routes = id_routes(app)
    assert len(routes) > 20, "the walk found the routes with ids"
    for method, path in routes:
        for huge in (str(MAX_ID + 1), "9" * 30):
            response = client.open(path.replace(str(MAX_ID + 1), huge), method=method)
            assert response.status_code == 404, (method, path, response.status_code)
    assert client.get(f"/operator/payors/{MAX_ID}").status_code in (403, 404)


@pytest.mark.parametrize(
    ("where", "kwargs"),
    [
        ("User-Agent header", {"headers": {"User-Agent": "Mozilla\x00/5.0"}}),
        ("another header", {"headers": {"X-Anything": "a\x01b"}}),
        ("form field", {"data": {"email": "a\x00@example.com", "password": "x"}}),
        ("query argument", {"query_string": {"next": "/dash\x00board"}}),
        ("right-to-left override", {"data": {"email": "\u202eadmin@example.com", "password": "x"}}),
        ("zero-width space", {"data": {"email": "ad\u200bmin@example.com", "password": "x"}}),
    ],
)
def test_control_characters_are_refused_with_a_clear_message(client, where, kwargs) -> None:
    user, _ = make_user(make_paying_payor())
    before = audit_count()
    kwargs.setdefault("data", {"email": user.email, "password": "wrong password"})
    response = client.post("/login", **kwargs)
    assert response.status_code == 400, where
    assert CONTROL_CHARACTER_MESSAGE in response.get_data(as_text=True).replace("&#39;", "'")
    assert audit_count() == before, "nothing was recorded"


def test_a_nul_in_the_user_agent_never_lets_a_password_through_the_limit(client) -> None:
    """Found by the probe: the NUL made every failure's commit fail on PostgreSQL, so wrong
    passwords were never counted, and the right one was then accepted."""
    user, _ = make_user(make_paying_payor())
    hostile = {"User-Agent": "probe\x00"}
    for _ in range(12):
        response = client.post(
            "/login", data={"email": user.email, "password": "wrong"}, headers=hostile
        )
        assert response.status_code == 400
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD}, headers=hostile
    )
    assert response.status_code == 400, "refused at the door, never checked"


def test_line_breaks_and_tabs_in_a_text_field_are_fine(client) -> None:
    payor = make_paying_payor()
    sign_in_fresh_admin(client, payor)
    response = client.submit(
        "/settings/payments/controls",
        {
            "funding_account_mode": "chosen_at_disbursement",
            "invitation_message": "Welcome aboard.\r\n\tSee you on site.",
        },
        token_from="/settings/payments",
    )
    assert response.status_code == 303, response.get_data(as_text=True)


def arabic_indic(digits: str) -> str:
    """The same number in Arabic-Indic digits, which str.isdigit() and int() accept."""
    return "".join(chr(0x0660 + int(d)) for d in digits)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "account_number",
            arabic_indic("000123456789"),
            "Account numbers are 4 to 17 digits (0 to 9 only).",
        ),
        ("routing_number", arabic_indic("021000021"), "That routing number is not valid"),
        ("next_check_number", arabic_indic("100"), "Enter a whole number using the digits 0"),
        ("next_check_number", str(MAX_ID + 1), "Enter a check number from 1 to 2,147,483,647."),
    ],
)
def test_bank_numbers_take_ascii_digits_only(client, field, value, message) -> None:
    payor = make_paying_payor()
    sign_in_fresh_admin(client, payor)
    entity = client.submit("/settings/payments/entities", ENTITY_FORM, token_from="/dashboard")
    assert entity.status_code == 303
    with tenancy.unscoped():
        entity_id = db.session.scalar(sa.select(BusinessEntity.id))
    form = {**ACCOUNT_FORM, "entity_id": str(entity_id), field: value}
    if field == "account_number":
        form["account_number_confirm"] = value
    response = client.submit("/settings/payments/funding-accounts", form, token_from="/dashboard")
    assert response.status_code == 200
    assert message in response.get_data(as_text=True).replace("&#39;", "'")
    with tenancy.unscoped():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FundingAccount)) == 0


def test_zip_codes_and_codes_take_ascii_digits_only() -> None:
    assert is_ascii_digits("0123456789")
    for text in (arabic_indic("012"), "\uff11\uff12\uff13", "\u00b2", "12a", "", "-1"):
        assert not is_ascii_digits(text), text


def test_stored_strings_are_cleaned_before_audit() -> None:
    assert clean_text("a\x00b\x1fc\td\ne") == "abc\td\ne"
    assert clean_values({"k\x00": ["v\x00", {"x": "y\x07"}], "n": 3}) == {
        "k": ["v", {"x": "y"}],
        "n": 3,
    }
    assert clean_values(None) is None


def test_users_are_untouched_by_refused_requests(client) -> None:
    user, _ = make_user(make_paying_payor())
    client.post("/login", data={"email": user.email, "password": "x"}, headers={"X-A": "\x00"})
    db.session.expire_all()
    assert db.session.get(User, user.id).step_up_failures == 0


@pytest.mark.parametrize("limit", [0, 7, 10, 99, 100, 205, 1000, MAX_ID])
def test_the_id_pattern_matches_exactly_the_numbers_up_to_its_limit(limit) -> None:
    # A larger id must match no route's pattern: otherwise a path shared by a GET and a POST
    # route answers 405, not 404, for an id past the range.
    pattern = re.compile(digits_up_to(limit) + r"\Z")
    probes = {*range(0, 1200), limit - 1, limit, limit + 1, limit * 10, 10 ** len(str(limit))}
    rng = random.Random(limit)  # noqa: S311 - reproducible probes, not secrets
    probes |= {rng.randrange(0, 10 * limit + 10) for _ in range(2000)}
    for number in probes - {-1}:
        assert bool(pattern.match(str(number))) == (number <= limit), (limit, number)
