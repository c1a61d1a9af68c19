"""Read helpers for projects (tenant-scoped)."""

from __future__ import annotations

import sqlalchemy as sa

from portal.core.db import db
from portal.core.errors import NotFound
from portal.core.tables import Column, TablePage, TableState, matches_text, paginate
from portal.invoicing.models import Project

PROJECT_COLUMNS = (
    Column("number", "Number", sortable=True),
    Column("name", "Project", sortable=True),
    Column("region", "State", sortable=True),
    Column("pay", "Pay"),
    Column("funding", "Funding account"),
)


def project_list_state(args) -> TableState:
    return TableState.from_args(
        args, columns=PROJECT_COLUMNS, default_sort="number", filters=("q", "archived")
    )


def project_table(company_id: int, state: TableState) -> TablePage:
    """One page of the payor's projects (tenant-scoped), each with its funding account:
    the ones in use, or (``archived=1``) the archived ones."""
    stmt = sa.select(Project).where(Project.company_id == company_id)
    archived = state.filter("archived") == "1"
    stmt = stmt.where(
        Project.archived_at.is_not(None) if archived else Project.archived_at.is_(None)
    )
    stmt = stmt.where(matches_text(state.filter("q"), Project.name, Project.number))
    return paginate(
        stmt,
        state,
        {"number": Project.number, "name": sa.func.lower(Project.name), "region": Project.region},
        tiebreak=Project.id,
    )


def project(project_id: int) -> Project:
    found = db.session.scalar(sa.select(Project).where(Project.id == project_id))
    if found is None:
        raise NotFound("No such project.")
    return found


def projects_funded_by(account_id: int) -> list[Project]:
    return list(
        db.session.scalars(
            sa.select(Project)
            .where(Project.funding_account_id == account_id)
            .order_by(Project.name)
        )
    )
