"""Test data builders and a real TOTP authenticator (codes from oathtool)."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime

import pyotp

from portal.accounts import services as accounts
from portal.accounts.models import User
from portal.companies import services as companies
from portal.companies.models import Company, CompanyKind, Membership, Role
from portal.core import tenancy
from portal.core.db import db, utcnow
from tests.conftest import require_peer

PASSWORD = "correct horse battery staple"
# What a Payments Admin types into the business entity and funding account forms.
ENTITY_FORM = {
    "legal_name": "Granite Works LLC",
    "dba": "Granite",
    "address_line1": "1 Quarry Rd",
    "address_line2": "",
    "city": "Barre",
    "region": "VT",
    "postal_code": "05641",
    "incorporation_state": "DE",
    "ein": "12-3456789",
}
ACCOUNT_FORM = {
    "nickname": "Operating",
    "routing_number": "021000021",
    "account_number": "000123456789",
    "account_number_confirm": "000123456789",
    "account_type": "checking",
}

_sequence = itertools.count(1)


def oathtool_code(secret: str, step: int) -> str:
    """The TOTP code for ``step``, computed by oathtool (an implementation we did not write)."""
    require_peer(shutil.which("oathtool") is not None, "oathtool (apt-get install oathtool)")
    moment = datetime.fromtimestamp(step * 30, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    result = subprocess.run(
        ["oathtool", "--totp", "--base32", "--now", moment, secret],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


class Authenticator:
    """A phone's authenticator app: each code() is for a later time step than the last."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.last_step: int | None = None

    def current_step(self) -> int:
        return int(time.time()) // 30

    def code(self) -> str:
        now = time.time()
        if now % 30 > 27:  # too close to the edge of a step: wait for the next one
            time.sleep(30 - now % 30 + 0.1)
        current = self.current_step()
        step = current - 1 if self.last_step is None else max(self.last_step + 1, current - 1)
        if step > current + 1:
            time.sleep((step - 1) * 30 - time.time() + 0.1)
        self.last_step = step
        return oathtool_code(self.secret, step)

    def stale_code(self, steps_away: int = 4) -> str:
        return oathtool_code(self.secret, self.current_step() + steps_away)


def make_company(kind: CompanyKind = CompanyKind.PAYOR, name: str | None = None) -> Company:
    n = next(_sequence)
    with tenancy.unscoped():
        return companies.create_company(
            f"{kind.value}-{n}", name or f"{kind.value.title()} {n}", kind
        )


def make_user(
    company: Company | None = None,
    roles: tuple[Role, ...] = (),
    *,
    email: str | None = None,
    enrolled: bool = True,
    password: str = PASSWORD,
) -> tuple[User, Authenticator | None]:
    n = next(_sequence)
    with tenancy.unscoped():
        user = accounts.create_user(email or f"user{n}@example.com", f"User {n}", password)
        if company is not None:
            membership = companies.add_member(company, user, actor_user_id=None)
            for role in roles:
                companies.grant_role(membership, role, actor_user_id=None)
        authenticator = None
        if enrolled:
            secret = pyotp.random_base32(32)
            user.totp_secret = secret
            user.totp_enrolled_at = utcnow()
            authenticator = Authenticator(secret)
        db.session.commit()
    return user, authenticator


def membership_of(user: User, company: Company) -> Membership:
    with tenancy.unscoped():
        return db.session.query(Membership).filter_by(user_id=user.id, company_id=company.id).one()


def sign_in(
    client,
    user: User,
    authenticator: Authenticator,
    *,
    remember: bool = False,
    password: str = PASSWORD,
):
    """Sign in through the real pages: password, then a TOTP code."""
    response = client.submit(
        "/login",
        {"email": user.email, "password": password, **({"remember": "y"} if remember else {})},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/login/code")
    response = client.submit(
        "/login/code", {"code": authenticator.code()}, token_from="/login/code"
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


def step_up(client, authenticator: Authenticator) -> None:
    response = client.submit("/verify", {"code": authenticator.code()}, token_from="/verify")
    assert response.status_code == 303, response.get_data(as_text=True)


def totp_secret_on_page(html: str) -> str:
    match = re.search(r'data-totp-secret="([A-Z2-7]+)"', html)
    assert match, "the enrollment page shows the secret in data-totp-secret"
    return match.group(1)


def make_paying_payor() -> Company:
    """A payor with Pay switched on."""
    from portal.companies import services as company_services
    from portal.companies.models import Feature

    company = make_company(CompanyKind.PAYOR)
    with tenancy.unscoped():
        company_services.set_feature(company, Feature.PAY, True, actor_user_id=None)
    db.session.commit()
    return company


def sign_in_fresh(client, company: Company, roles: tuple[Role, ...]) -> tuple[User, Authenticator]:
    """A new person of ``company`` with ``roles``, signed in on ``client`` and just verified."""
    user, phone = make_user(company, roles)
    sign_in(client, user, phone)
    step_up(client, phone)
    return user, phone


def sign_in_fresh_admin(client, payor: Company) -> tuple[User, Authenticator]:
    """A Payments Admin of ``payor``, signed in on ``client`` and just verified."""
    return sign_in_fresh(client, payor, (Role.PAYMENTS_ADMIN,))


def sign_in_fresh_operator(client) -> tuple[User, Authenticator]:
    """A Trestle operator, signed in on ``client`` and just verified."""
    return sign_in_fresh(client, make_company(CompanyKind.OPERATOR), (Role.OPERATOR,))


def add_entity_with_controller(payor: Company, legal_name: str, *, actor_user_id: int):
    """A business entity of ``payor`` with its controller (what the bank needs of one)."""
    from datetime import date

    from portal.payment_settings import services as payment_settings
    from portal.payment_settings.models import PersonRole

    with tenancy.unscoped():
        entity = payment_settings.save_entity(
            payor,
            payment_settings.EntityInput(
                legal_name, None, "1 Main St", None, "Austin", "TX", "78701", "DE", "12-3456789"
            ),
            actor_user_id=actor_user_id,
        )
        person = payment_settings.add_person(
            entity,
            role=PersonRole.CONTROLLER,
            full_name=f"Controller of {legal_name}",
            title=None,
            ownership_percent=None,
            date_of_birth=date(1980, 1, 1),
            ssn="123-45-6789",
            actor_user_id=actor_user_id,
        )
    return entity, person


def add_funding_account(entity, nickname: str, routing: str, number: str, *, actor_user_id: int):
    """A checking account of ``entity``'s payor (the number typed twice, as the form asks)."""
    from portal.payment_settings import services as payment_settings
    from portal.payment_settings.models import AccountType

    with tenancy.unscoped():
        payor = db.session.get(Company, entity.company_id)
        return payment_settings.add_funding_account(
            payor,
            payment_settings.FundingAccountInput(
                entity.id,
                nickname,
                routing,
                number,
                number,
                AccountType.CHECKING,
                None,
                None,
                False,
            ),
            actor_user_id=actor_user_id,
        )


def add_project(payor: Company, number: str, *, actor_user_id: int, name: str = "Tower"):
    """A project of ``payor`` in Austin, Texas."""
    from portal.invoicing import services as invoicing

    with tenancy.unscoped():
        return invoicing.create_project(
            payor,
            name=name,
            number=number,
            address_line1="1 Main St",
            city="Austin",
            region="TX",
            postal_code="78701",
            actor_user_id=actor_user_id,
        )


def members_of(company: Company) -> list[Membership]:
    """Every membership of ``company``, oldest first (unscoped: any test may ask)."""
    import sqlalchemy as sa

    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(Membership)
                .where(Membership.company_id == company.id)
                .order_by(Membership.id)
            ).unique()
        )


def emails_of(user_ids) -> str:
    """The users' emails, one per line, as the designation form takes them."""
    import sqlalchemy as sa

    ids = list(user_ids)
    with tenancy.unscoped():
        emails = dict(
            db.session.execute(sa.select(User.id, User.email).where(User.id.in_(ids))).all()
        )
    return "\n".join(emails[i] for i in ids)


CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def http_sign_in(base_url: str, user: User, authenticator: Authenticator):
    """A ``requests`` session signed in to a live server as ``user`` (password, then a TOTP
    code), for tests that send many real requests at once."""
    import requests

    session = requests.Session()
    for path, data in (
        ("/login", {"email": user.email, "password": PASSWORD}),
        ("/login/code", {"code": authenticator.code()}),
    ):
        page = session.get(f"{base_url}{path}", timeout=30).text
        session.post(
            f"{base_url}{path}",
            data={"csrf_token": CSRF_FIELD.search(page).group(1), **data},
            timeout=30,
        )
    return session


def csrf_of(session, url: str) -> str:
    """The CSRF token on the page at ``url``, as ``session`` sees it."""
    return CSRF_FIELD.search(session.get(url, timeout=30).text).group(1)


def make_invoicing_payor() -> Company:
    """A payor with Pay and Invoice Management switched on."""
    from portal.companies import services as company_services
    from portal.companies.models import Feature

    company = make_paying_payor()
    with tenancy.unscoped():
        company_services.set_feature(company, Feature.INVOICE_MANAGEMENT, True, actor_user_id=None)
    db.session.commit()
    return company
