"""Tenant isolation in one place: every ORM query for company-owned rows is filtered to the
current company, unless the code says explicitly that it works across companies.

A model opts in by inheriting ``TenantOwned`` and naming the columns that can make a row
visible to a company (a payor's invoice is also visible to the payee it pays). Web requests
start scoped to *no* company; the login layer scopes them to the signed-in user's current
company. Jobs and commands run unscoped, as the system.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria

from portal.core.db import PortalSession


class _Unscoped:
    def __repr__(self) -> str:
        return "UNSCOPED"


UNSCOPED: Any = _Unscoped()
NO_COMPANY = 0  # no company has id 0: a query scoped to it finds nothing

_current_company: ContextVar[Any] = ContextVar("current_company", default=UNSCOPED)
_owned_models: list[type[TenantOwned]] = []


class TenantOwned:
    """Mixin for company-owned models. ``tenant_columns`` name the company id columns."""

    tenant_columns: ClassVar[tuple[str, ...]] = ("company_id",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__tablename__" in cls.__dict__:
            _owned_models.append(cls)

    @classmethod
    def tenant_criteria(cls, company_id: int) -> sa.ColumnElement[bool]:
        return sa.or_(*(getattr(cls, column) == company_id for column in cls.tenant_columns))


def current_company_id() -> Any:
    """The company queries are scoped to, or UNSCOPED."""
    return _current_company.get()


def scope_to(company_id: int | None) -> Any:
    """Scope this context's queries to ``company_id`` (None: to no company). Returns a token."""
    return _current_company.set(NO_COMPANY if company_id is None else company_id)


def reset(token: Any) -> None:
    _current_company.reset(token)


@contextmanager
def scoped(company_id: int | None) -> Iterator[None]:
    token = scope_to(company_id)
    try:
        yield
    finally:
        _current_company.reset(token)


@contextmanager
def unscoped() -> Iterator[None]:
    """Work across companies, deliberately (operator console, login, the system itself)."""
    token = _current_company.set(UNSCOPED)
    try:
        yield
    finally:
        _current_company.reset(token)


@functools.lru_cache(maxsize=4096)
def _criteria_for(company_id: int, models: int) -> tuple[Any, ...]:
    """The loader criteria of every company-owned model for one company, built once (and
    again should a model be declared later: ``models`` counts them). Each statement still
    carries them all, so a related company-owned row loaded with it is scoped too."""
    return tuple(
        with_loader_criteria(model, model.tenant_criteria(company_id), include_aliases=True)
        for model in _owned_models
    )


@sa.event.listens_for(PortalSession, "do_orm_execute")
def _apply_tenant_scope(state: ORMExecuteState) -> None:
    company_id = _current_company.get()
    if company_id is UNSCOPED:
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    state.statement = state.statement.options(*_criteria_for(company_id, len(_owned_models)))
