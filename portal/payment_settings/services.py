"""Commands for a payor's payment settings. Every rule that protects money is checked here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from stdnum.exceptions import ValidationError
from stdnum.us import ein as ein_number
from stdnum.us import ssn as ssn_number

from portal.banking.models import account_fingerprint
from portal.banking.services import validate_account_number, validate_routing_number
from portal.companies import services as companies
from portal.companies.models import Company, CompanyKind
from portal.core import audit
from portal.core.addresses import validate_postal_code, validate_state
from portal.core.db import db, utcnow
from portal.core.errors import DomainError, InvalidInput
from portal.payment_settings.models import (
    AccountType,
    BusinessEntity,
    EntityPerson,
    EntityStatus,
    FundingAccount,
    FundingAccountMode,
    PaymentControls,
    PersonRole,
)


def validate_ein(value: str) -> str:
    try:
        return ein_number.validate(value)
    except ValidationError as exc:
        raise InvalidInput("Enter a valid EIN, like 12-3456789.", field="ein") from exc


def validate_ssn(value: str) -> str:
    try:
        return ssn_number.validate(value)
    except ValidationError as exc:
        raise InvalidInput("Enter a valid Social Security number.", field="ssn") from exc


@dataclass(frozen=True)
class EntityInput:
    legal_name: str
    dba: str | None
    address_line1: str
    address_line2: str | None
    city: str
    region: str
    postal_code: str
    incorporation_state: str
    ein: str


def save_entity(
    company: Company, data: EntityInput, *, actor_user_id: int, entity: BusinessEntity | None = None
) -> BusinessEntity:
    """Create or update a business entity (the EIN may be corrected: it is not a bank number)."""
    if company.kind is not CompanyKind.PAYOR:
        raise InvalidInput("Only payors have business entities.")
    ein = validate_ein(data.ein)
    postal = validate_postal_code(data.postal_code)
    values = {
        "legal_name": data.legal_name.strip(),
        "dba": (data.dba or "").strip() or None,
        "address_line1": data.address_line1.strip(),
        "address_line2": (data.address_line2 or "").strip() or None,
        "city": data.city.strip(),
        "region": validate_state(data.region, "region"),
        "postal_code": postal,
        "country": "US",
        "incorporation_state": validate_state(data.incorporation_state, "incorporation_state"),
        "incorporation_country": "US",
        "ein": ein,
        "ein_last4": ein[-4:],
    }
    before = None
    if entity is None:
        entity = BusinessEntity(company_id=company.id, **values)
        db.session.add(entity)
    else:
        before = {"legal_name": entity.legal_name, "ein_last4": entity.ein_last4}
        for key, value in values.items():
            setattr(entity, key, value)
    db.session.flush()
    audit.record(
        "payment_settings:entity:saved",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="business_entity",
        object_id=entity.id,
        before=before,
        after={"legal_name": entity.legal_name, "ein_last4": entity.ein_last4},
    )
    return entity


def add_person(
    entity: BusinessEntity,
    *,
    role: PersonRole,
    full_name: str,
    title: str | None,
    ownership_percent: int | None,
    date_of_birth: date,
    ssn: str,
    actor_user_id: int,
) -> EntityPerson:
    """Add a beneficial owner (25% or more) or a controller, with DOB and SSN (encrypted)."""
    ssn = validate_ssn(ssn)
    today = utcnow().date()
    age = (
        today.year
        - date_of_birth.year
        - ((today.month, today.day) < (date_of_birth.month, date_of_birth.day))
    )
    if date_of_birth >= today or age < 18 or age > 120:
        raise InvalidInput("Enter the date of birth of an adult.", field="date_of_birth")
    if role is PersonRole.BENEFICIAL_OWNER:
        if ownership_percent is None or not 25 <= ownership_percent <= 100:
            raise InvalidInput(
                "Beneficial owners own between 25% and 100%.", field="ownership_percent"
            )
        owned = sum(
            p.ownership_percent or 0 for p in entity.people if p.role is PersonRole.BENEFICIAL_OWNER
        )
        if owned + ownership_percent > 100:
            raise InvalidInput(
                f"Owners would hold {owned + ownership_percent}%; the total cannot pass 100%.",
                field="ownership_percent",
            )
    else:
        ownership_percent = None
    person = EntityPerson(
        entity_id=entity.id,
        company_id=entity.company_id,
        role=role,
        full_name=full_name.strip(),
        title=(title or "").strip() or None,
        ownership_percent=ownership_percent,
        date_of_birth=date_of_birth.isoformat(),
        ssn=ssn,
        ssn_last4=ssn[-4:],
    )
    entity.people.append(person)
    db.session.flush()
    audit.record(
        "payment_settings:entity_person:added",
        actor_user_id=actor_user_id,
        company_id=entity.company_id,
        object_type="entity_person",
        object_id=person.id,
        after={"role": role.value, "name": person.full_name, "ssn_last4": person.ssn_last4},
    )
    return person


def remove_person(person: EntityPerson, *, actor_user_id: int) -> None:
    audit.record(
        "payment_settings:entity_person:removed",
        actor_user_id=actor_user_id,
        company_id=person.company_id,
        object_type="entity_person",
        object_id=person.id,
        before={"role": person.role.value, "name": person.full_name},
    )
    person.entity.people.remove(person)
    db.session.delete(person)


def entity_gaps(entity: BusinessEntity) -> list[str]:
    """What a bank's KYB review would still ask for; empty when the entity is complete."""
    gaps = []
    if not any(p.role is PersonRole.CONTROLLER for p in entity.people):
        gaps.append("a controller (someone with significant management responsibility)")
    return gaps


def entity_status(entity: BusinessEntity) -> EntityStatus:
    return EntityStatus.INCOMPLETE if entity_gaps(entity) else EntityStatus.COMPLETE


@dataclass(frozen=True)
class FundingAccountInput:
    entity_id: int
    nickname: str
    routing_number: str
    account_number: str
    account_number_confirm: str
    account_type: AccountType
    bank_id: str | None
    next_check_number: int | None
    make_default: bool


def add_funding_account(
    company: Company, data: FundingAccountInput, *, actor_user_id: int
) -> FundingAccount:
    """Add a funding account to one of the payor's entities."""
    entity = db.session.scalar(
        sa.select(BusinessEntity).where(
            BusinessEntity.id == data.entity_id, BusinessEntity.company_id == company.id
        )
    )
    if entity is None:
        raise InvalidInput("Choose one of your business entities.", field="entity_id")
    nickname = data.nickname.strip()
    if db.session.scalar(
        sa.select(FundingAccount.id).where(
            FundingAccount.company_id == company.id,
            sa.func.lower(FundingAccount.nickname) == nickname.lower(),
        )
    ):
        raise InvalidInput("Another funding account already has that nickname.", field="nickname")
    routing = validate_routing_number(data.routing_number)
    number = validate_account_number(data.account_number, data.account_number_confirm)
    fingerprint = account_fingerprint(routing, number)
    same = db.session.scalar(
        sa.select(FundingAccount).where(
            FundingAccount.company_id == company.id,
            FundingAccount.account_fingerprint == fingerprint,
            FundingAccount.active.is_(True),
        )
    )
    if same is not None:
        raise InvalidInput(
            f"That account is already a funding account (“{same.nickname}”, "
            f"••••{same.account_last4}). Use it, or deactivate it before adding it again.",
            field="account_number",
        )
    first = not db.session.scalar(
        sa.select(FundingAccount.id).where(
            FundingAccount.company_id == company.id, FundingAccount.active.is_(True)
        )
    )
    account = FundingAccount(
        company_id=company.id,
        entity_id=entity.id,
        nickname=nickname,
        routing_number=routing,
        account_number=number,
        account_last4=number[-4:],
        account_fingerprint=fingerprint,
        account_type=data.account_type,
        bank_id=(data.bank_id or "").strip() or None,
        next_check_number=data.next_check_number,
        is_default=False,
    )
    db.session.add(account)
    db.session.flush()
    audit.record(
        "payment_settings:funding_account:added",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="funding_account",
        object_id=account.id,
        after={
            "nickname": nickname,
            "routing_number": routing,
            "account_last4": account.account_last4,
            "account_type": data.account_type.value,
        },
    )
    if first or data.make_default:
        make_default(account, actor_user_id=actor_user_id)
    return account


def make_default(account: FundingAccount, *, actor_user_id: int) -> None:
    if not account.active:
        raise DomainError("A deactivated account cannot be the default.")
    previous = db.session.scalar(
        sa.select(FundingAccount).where(
            FundingAccount.company_id == account.company_id, FundingAccount.is_default.is_(True)
        )
    )
    if previous is account:
        return
    if previous is not None:
        previous.is_default = False
        db.session.flush()
    account.is_default = True
    db.session.flush()
    audit.record(
        "payment_settings:funding_account:default_changed",
        actor_user_id=actor_user_id,
        company_id=account.company_id,
        object_type="funding_account",
        object_id=account.id,
        before={"default": previous.nickname if previous else None},
        after={"default": account.nickname},
    )


def deactivate(account: FundingAccount, *, actor_user_id: int) -> None:
    from portal.invoicing.queries import projects_funded_by

    if account.is_default:
        raise DomainError("Choose another default account before deactivating this one.")
    funded = projects_funded_by(account.id)
    if funded:
        names = ", ".join(p.name for p in funded[:5])
        raise DomainError(
            f"Projects are fixed to this account ({names}); give them another "
            "funding account first."
        )
    if not account.active:
        return
    account.active = False
    account.deactivated_at = utcnow()
    audit.record(
        "payment_settings:funding_account:deactivated",
        actor_user_id=actor_user_id,
        company_id=account.company_id,
        object_type="funding_account",
        object_id=account.id,
        before={"active": True},
        after={"active": False},
    )


def controls_of(company: Company) -> PaymentControls:
    """The payor's payment controls (made with the payor; see ``_make_controls``)."""
    return db.session.scalars(
        sa.select(PaymentControls).where(PaymentControls.company_id == company.id)
    ).one()


def _make_controls(company: Company) -> None:
    if company.kind is CompanyKind.PAYOR:
        db.session.add(PaymentControls(company_id=company.id))


companies.COMPANY_CREATED.append(_make_controls)


MAX_COOLING_OFF_DAYS = 30


def update_controls(
    company: Company,
    *,
    disbursements_enabled: bool,
    pay_on_new_projects: bool,
    funding_account_mode: FundingAccountMode,
    invitation_message: str | None,
    actor_user_id: int,
    cooling_off_days: int | None = None,
) -> PaymentControls:
    controls = controls_of(company)
    if cooling_off_days is not None and not 0 <= cooling_off_days <= MAX_COOLING_OFF_DAYS:
        raise InvalidInput(
            f"The cooling-off period is 0 to {MAX_COOLING_OFF_DAYS} days.", field="cooling_off_days"
        )
    before = {
        "disbursements_enabled": controls.disbursements_enabled,
        "pay_on_new_projects": controls.pay_on_new_projects,
        "funding_account_mode": controls.funding_account_mode.value,
        "invitation_message": controls.invitation_message,
        "cooling_off_days": controls.cooling_off_days,
    }
    controls.disbursements_enabled = disbursements_enabled
    controls.pay_on_new_projects = pay_on_new_projects
    controls.funding_account_mode = funding_account_mode
    controls.invitation_message = (invitation_message or "").strip() or None
    if cooling_off_days is not None:
        controls.cooling_off_days = cooling_off_days
    after = {
        "disbursements_enabled": disbursements_enabled,
        "pay_on_new_projects": pay_on_new_projects,
        "funding_account_mode": funding_account_mode.value,
        "invitation_message": controls.invitation_message,
        "cooling_off_days": controls.cooling_off_days,
    }
    if before != after:
        audit.record(
            "payment_settings:controls:updated",
            actor_user_id=actor_user_id,
            company_id=company.id,
            object_type="payment_controls",
            object_id=controls.id,
            before=before,
            after=after,
        )
    return controls
