"""Read helpers for payment settings (tenant-scoped)."""

from __future__ import annotations

import sqlalchemy as sa

from portal.core.db import db
from portal.core.errors import NotFound
from portal.payment_settings.models import BusinessEntity, EntityPerson, FundingAccount


def entities(company_id: int) -> list[BusinessEntity]:
    return list(
        db.session.scalars(
            sa.select(BusinessEntity)
            .where(BusinessEntity.company_id == company_id)
            .order_by(BusinessEntity.legal_name)
        )
    )


def entity(entity_id: int) -> BusinessEntity:
    found = db.session.scalar(sa.select(BusinessEntity).where(BusinessEntity.id == entity_id))
    if found is None:
        raise NotFound("No such business entity.")
    return found


def person(entity_id: int, person_id: int) -> EntityPerson:
    found = db.session.scalar(
        sa.select(EntityPerson).where(
            EntityPerson.id == person_id, EntityPerson.entity_id == entity_id
        )
    )
    if found is None:
        raise NotFound("No such person.")
    return found


def funding_accounts(company_id: int) -> list[FundingAccount]:
    return list(
        db.session.scalars(
            sa.select(FundingAccount)
            .where(FundingAccount.company_id == company_id)
            .order_by(FundingAccount.active.desc(), FundingAccount.nickname)
        )
    )


def funding_account(account_id: int) -> FundingAccount:
    found = db.session.scalar(sa.select(FundingAccount).where(FundingAccount.id == account_id))
    if found is None:
        raise NotFound("No such funding account.")
    return found
