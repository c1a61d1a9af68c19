"""Read helpers for projects (tenant-scoped)."""

from __future__ import annotations

import sqlalchemy as sa

from portal.core.db import db
from portal.core.errors import NotFound
from portal.invoicing.models import Project


def projects(company_id: int) -> list[Project]:
    return list(
        db.session.scalars(
            sa.select(Project).where(Project.company_id == company_id).order_by(Project.number)
        )
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
