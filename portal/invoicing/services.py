"""Create, edit and archive projects, and set their payment controls."""

from __future__ import annotations

import sqlalchemy as sa

from portal.companies.models import Company, CompanyKind
from portal.core import addresses, audit
from portal.core.db import db, update_if, utcnow
from portal.core.errors import DomainError, InvalidInput
from portal.core.text import one_line
from portal.invoicing.models import Project
from portal.payment_settings import services as payment_settings
from portal.payment_settings.models import FundingAccount, FundingAccountMode


def create_project(
    company: Company,
    *,
    name: str,
    number: str,
    address_line1: str,
    city: str,
    region: str,
    postal_code: str,
    actor_user_id: int,
) -> Project:
    """Add a project; Pay starts on or off as the payor's "Pay on new projects" says."""
    if company.kind is not CompanyKind.PAYOR:
        raise InvalidInput("Only payors have projects.")
    number = number.strip()
    if db.session.scalar(
        sa.select(Project.id).where(Project.company_id == company.id, Project.number == number)
    ):
        raise InvalidInput("Another project already has that number.", field="number")
    controls = payment_settings.controls_of(company)
    project = Project(
        company_id=company.id,
        name=name.strip(),
        number=number,
        address_line1=address_line1.strip(),
        city=city.strip(),
        region=addresses.validate_state(region, "region"),
        postal_code=addresses.validate_postal_code(postal_code),
        pay_enabled=controls.pay_on_new_projects,
    )
    db.session.add(project)
    db.session.flush()
    audit.record(
        "invoicing:project:created",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="project",
        object_id=project.id,
        after={"name": project.name, "number": number, "pay_enabled": project.pay_enabled},
    )
    return project


def update_project(
    project: Project,
    *,
    name: str,
    number: str,
    address_line1: str,
    city: str,
    region: str,
    postal_code: str,
    actor_user_id: int,
) -> list[str]:
    """Correct a project's name, number or job site; return the fields that changed.

    A new state changes which lien waiver forms its future waivers use."""
    _refuse_archived(project)
    facts = {
        "name": one_line(name),
        "number": one_line(number),
        "address_line1": one_line(address_line1),
        "city": one_line(city),
        "region": addresses.validate_state(region, "region"),
        "postal_code": addresses.validate_postal_code(postal_code),
    }
    for field, label in (("name", "name"), ("number", "number"), ("address_line1", "address")):
        if not facts[field]:
            raise InvalidInput(f"Enter the project's {label}.", field=field)
    if not facts["city"]:
        raise InvalidInput("Enter the city.", field="city")
    if facts["number"] != project.number and db.session.scalar(
        sa.select(Project.id).where(
            Project.company_id == project.company_id,
            Project.number == facts["number"],
            Project.id != project.id,
        )
    ):
        raise InvalidInput("Another project already has that number.", field="number")
    changed = [field for field, value in facts.items() if getattr(project, field) != value]
    if not changed:
        return []
    before = {field: getattr(project, field) for field in changed}
    for field in changed:
        setattr(project, field, facts[field])
    audit.record(
        "invoicing:project:updated",
        actor_user_id=actor_user_id,
        company_id=project.company_id,
        object_type="project",
        object_id=project.id,
        before=before,
        after={field: facts[field] for field in changed},
    )
    return changed


def archive_project(project: Project, *, actor_user_id: int) -> None:
    """The job is finished: the project leaves the lists and takes no new work (its
    records stay, and it can be restored)."""
    _refuse_archived(project)
    if not update_if(
        project,
        Project.archived_at.is_(None),
        archived_at=utcnow(),
        archived_by_user_id=actor_user_id,
    ):
        raise DomainError("This project was archived meanwhile.")
    audit.record(
        "invoicing:project:archived",
        actor_user_id=actor_user_id,
        company_id=project.company_id,
        object_type="project",
        object_id=project.id,
        after={"name": project.name, "number": project.number},
    )


def restore_project(project: Project, *, actor_user_id: int) -> None:
    """Bring an archived project back into use."""
    if project.archived_at is None:
        raise DomainError("This project is not archived.")
    if not update_if(
        project, Project.archived_at.is_not(None), archived_at=None, archived_by_user_id=None
    ):
        raise DomainError("This project was restored meanwhile.")
    audit.record(
        "invoicing:project:restored",
        actor_user_id=actor_user_id,
        company_id=project.company_id,
        object_type="project",
        object_id=project.id,
        after={"name": project.name, "number": project.number},
    )


def _refuse_archived(project: Project) -> None:
    if project.archived_at is not None:
        raise DomainError("This project is archived. Restore it first to change it.")


def set_project_pay(project: Project, enabled: bool, *, actor_user_id: int) -> None:
    _refuse_archived(project)
    if project.pay_enabled == enabled:
        return
    project.pay_enabled = enabled
    audit.record(
        "invoicing:project:pay_changed",
        actor_user_id=actor_user_id,
        company_id=project.company_id,
        object_type="project",
        object_id=project.id,
        before={"pay_enabled": not enabled},
        after={"pay_enabled": enabled},
    )


def set_project_funding_account(
    company: Company, project: Project, account_id: int | None, *, actor_user_id: int
) -> None:
    """Fix the funding account of a project (only when the payor funds per project)."""
    _refuse_archived(project)
    controls = payment_settings.controls_of(company)
    if controls.funding_account_mode is not FundingAccountMode.FIXED_PER_PROJECT:
        raise DomainError(
            "Funding accounts are chosen for each disbursement; switch payment "
            "controls to “fixed per project” first."
        )
    account = None
    if account_id is not None:
        account = db.session.scalar(
            sa.select(FundingAccount).where(
                FundingAccount.id == account_id,
                FundingAccount.company_id == company.id,
                FundingAccount.active.is_(True),
            )
        )
        if account is None:
            raise InvalidInput(
                "Choose one of your active funding accounts.", field="funding_account_id"
            )
    before = project.funding_account.nickname if project.funding_account else None
    project.funding_account_id = account.id if account else None
    audit.record(
        "invoicing:project:funding_account_changed",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="project",
        object_id=project.id,
        before={"funding_account": before},
        after={"funding_account": account.nickname if account else None},
    )
