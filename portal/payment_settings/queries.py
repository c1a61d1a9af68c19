"""Read helpers for payment settings (tenant-scoped)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager, lazyload, selectinload

from portal.core.db import db
from portal.core.errors import NotFound
from portal.core.tables import Column, TablePage, TableState, matches_text, paginate
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


# --------------------------------------------------------------------------- lists

ENTITY_COLUMNS = (
    Column("legal_name", "Legal name", sortable=True),
    Column("incorporated", "Incorporated in", sortable=True),
    Column("ein", "EIN"),
    Column("status", "Business verification"),
)


def entity_list_state(args) -> TableState:
    return TableState.from_args(
        args, columns=ENTITY_COLUMNS, default_sort="legal_name", filters=("q",)
    )


def entity_table(company_id: int, state: TableState) -> TablePage:
    """One page of the payor's business entities, each with its owners and controllers
    (what its completeness is judged by): three statements, whatever the number."""
    stmt = (
        sa.select(BusinessEntity)
        .where(BusinessEntity.company_id == company_id)
        .options(selectinload(BusinessEntity.people), lazyload(BusinessEntity.funding_accounts))
    )
    stmt = stmt.where(
        matches_text(state.filter("q"), BusinessEntity.legal_name, BusinessEntity.dba)
    )
    return paginate(
        stmt,
        state,
        {
            "legal_name": sa.func.lower(BusinessEntity.legal_name),
            "incorporated": BusinessEntity.incorporation_state,
        },
        tiebreak=BusinessEntity.id,
    )


ACCOUNT_COLUMNS = (
    Column("nickname", "Nickname", sortable=True),
    Column("entity", "Entity", sortable=True),
    Column("routing", "Routing"),
    Column("account", "Account"),
    Column("type", "Type"),
    Column("status", "Status", sortable=True),
)
ACCOUNT_STATUSES = ("active", "deactivated")


def funding_account_list_state(args) -> TableState:
    return TableState.from_args(
        args,
        columns=ACCOUNT_COLUMNS,
        default_sort="nickname",
        filters=("q", "status", "entity"),
    )


def funding_account_table(company_id: int, state: TableState) -> TablePage:
    """One page of the payor's funding accounts with their entity's name (one join)."""
    stmt = (
        sa.select(FundingAccount)
        .join(BusinessEntity, BusinessEntity.id == FundingAccount.entity_id)
        .where(FundingAccount.company_id == company_id)
        .options(
            contains_eager(FundingAccount.entity).options(
                lazyload(BusinessEntity.people), lazyload(BusinessEntity.funding_accounts)
            )
        )
    )
    stmt = stmt.where(matches_text(state.filter("q"), FundingAccount.nickname))
    if state.filter("status") in ACCOUNT_STATUSES:
        stmt = stmt.where(FundingAccount.active.is_(state.filter("status") == "active"))
    if (entity_id := state.filter("entity")).isascii() and entity_id.isdecimal():
        stmt = stmt.where(FundingAccount.entity_id == int(entity_id[:9]))
    return paginate(
        stmt,
        state,
        {
            "nickname": sa.func.lower(FundingAccount.nickname),
            "entity": sa.func.lower(BusinessEntity.legal_name),
            # Active first when ascending.
            "status": sa.case((FundingAccount.active, 0), else_=1),
        },
        tiebreak=FundingAccount.id,
    )


def entity_account_counts(entity_id: int) -> tuple[int, int]:
    """How many funding accounts the entity has: (active, all)."""
    active, total = db.session.execute(
        sa.select(sa.func.count().filter(FundingAccount.active.is_(True)), sa.func.count()).where(
            FundingAccount.entity_id == entity_id
        )
    ).one()
    return active or 0, total or 0
