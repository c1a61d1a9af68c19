"""Operator commands: create payors, keep their profiles, add their users, designate Payments
Admins, run the implementation project."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import IO

import sqlalchemy as sa

from portal.accounts import services as accounts
from portal.companies import services as companies
from portal.companies.models import Company, CompanyKind, Membership, MembershipInvitation, Role
from portal.core import addresses, audit, storage
from portal.core.db import db, utcnow
from portal.core.errors import DomainError, InvalidInput, NotFound
from portal.core.models import StoredFile
from portal.core.urls import external_url
from portal.notifications.services import queue_email
from portal.operations.models import (
    AdminDesignation,
    ContactKind,
    ImplementationProject,
    ProjectContact,
    TrainingSession,
    TrainingTopic,
)

log = logging.getLogger(__name__)

WELCOME_LINK_LIFETIME = timedelta(days=7)
PHONE_CHARACTERS = re.compile(r"[0-9 +().\-]+")
EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def create_payor(name: str, slug: str, *, actor_user_id: int) -> Company:
    """Create a payor and its implementation project."""
    if not name.strip():
        raise InvalidInput("Enter the company's name.", field="name")
    company = companies.create_company(slug, name, CompanyKind.PAYOR)
    audit.record(
        "operations:payor:created",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="company",
        object_id=company.id,
        after={"name": company.name, "slug": company.slug},
    )
    return company


@dataclass(frozen=True)
class ProfileInput:
    legal_name: str
    address_line1: str
    address_line2: str | None
    city: str
    region: str
    postal_code: str
    main_phone: str | None
    primary_contact_name: str | None
    primary_contact_email: str | None


PROFILE_FIELDS = tuple(f.name for f in fields(ProfileInput))


def _optional(value: str | None) -> str | None:
    return (value or "").strip() or None


def validate_phone(value: str, field: str) -> str:
    phone = " ".join(value.split())
    digits = sum(c.isdigit() for c in phone)
    if not PHONE_CHARACTERS.fullmatch(phone) or not 10 <= digits <= 15:
        raise InvalidInput(
            "Enter a phone number like (512) 555-0100 or +1 512 555 0100.", field=field
        )
    return phone


def update_profile(company: Company, data: ProfileInput, *, actor_user_id: int) -> None:
    """Save the payor's legal name, address and contacts; on bad input, raise and save nothing."""
    if company.kind is not CompanyKind.PAYOR:
        raise InvalidInput("Profiles are kept for payors only.")
    required = {
        "legal_name": "Enter the company's legal name.",
        "address_line1": "Enter the street address.",
        "city": "Enter the city.",
    }
    for field, message in required.items():
        if not getattr(data, field).strip():
            raise InvalidInput(message, field=field)
    contact_name = _optional(data.primary_contact_name)
    contact_email = _optional(data.primary_contact_email)
    if contact_email and not contact_name:
        raise InvalidInput("Enter the primary contact's name.", field="primary_contact_name")
    if contact_name and not contact_email:
        raise InvalidInput("Enter the primary contact's email.", field="primary_contact_email")
    if contact_email and not EMAIL_SHAPE.fullmatch(contact_email):
        raise InvalidInput("Enter a valid email address.", field="primary_contact_email")
    phone = _optional(data.main_phone)
    values = {
        "legal_name": data.legal_name.strip(),
        "address_line1": data.address_line1.strip(),
        "address_line2": _optional(data.address_line2),
        "city": data.city.strip(),
        "region": addresses.validate_state(data.region, "region"),
        "postal_code": addresses.validate_postal_code(data.postal_code),
        "main_phone": validate_phone(phone, "main_phone") if phone else None,
        "primary_contact_name": contact_name,
        "primary_contact_email": accounts.normalize_email(contact_email) if contact_email else None,
    }
    changed = {k: v for k, v in values.items() if getattr(company, k) != v}
    if not changed:
        return
    before = {k: getattr(company, k) for k in changed}
    for key, value in changed.items():
        setattr(company, key, value)
    db.session.flush()
    audit.record(
        "operations:profile:updated",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="company",
        object_id=company.id,
        before=before,
        after=changed,
    )


def project_of(company: Company) -> ImplementationProject:
    """The payor's implementation project (made with the payor; see ``_make_project``)."""
    return db.session.scalars(
        sa.select(ImplementationProject).where(ImplementationProject.company_id == company.id)
    ).one()


def _make_project(company: Company) -> None:
    if company.kind is CompanyKind.PAYOR:
        db.session.add(ImplementationProject(company_id=company.id))


companies.COMPANY_CREATED.append(_make_project)


def add_payor_user(
    company: Company, email: str, name: str, *, actor_user_id: int
) -> Membership | MembershipInvitation:
    """Add a person to a payor.

    A new account is emailed a link to choose a password. An account that already belongs to
    another company is invited instead: it joins only when its owner accepts the emailed link.
    """
    user = accounts.find_user_by_email(email)
    if user is None:
        if not name.strip():
            raise InvalidInput("Enter the person's name.", field="name")
        user = accounts.create_user(email, name, password=None)
        membership = companies.add_member(company, user, actor_user_id=actor_user_id)
        token = accounts.issue_password_link(user, WELCOME_LINK_LIFETIME)
        queue_email(
            user.email,
            "welcome",
            name=user.name,
            company=company.name,
            url=external_url("accounts.reset_password", token=token),
        )
        return membership
    if companies.is_member(company, user):
        raise InvalidInput(f"{user.email} is already a member of {company.name}.", field="email")
    if not user.memberships:
        # An account no company holds (never set up, or removed everywhere) has nobody else's
        # authority to respect: add it as before.
        return companies.add_member(company, user, actor_user_id=actor_user_id)
    invitation, token = companies.invite_member(company, user, actor_user_id=actor_user_id)
    queue_email(
        user.email,
        "membership_invitation",
        company_id=company.id,
        name=user.name,
        company=company.name,
        expires_on=f"{invitation.expires_at:%B %-d, %Y}",
        url=external_url("companies.show_invitation", token=token),
    )
    return invitation


def designate_admins(
    company: Company,
    *,
    form_file: IO[bytes],
    filename: str,
    user_ids: list[int],
    actor_user_id: int,
) -> AdminDesignation:
    """Make the named members Payments Admins, on the strength of their signed form."""
    if not user_ids:
        raise InvalidInput("Choose the people the form designates.", field="user_ids")
    members = {
        m.user_id: m
        for m in db.session.scalars(
            sa.select(Membership).where(
                Membership.company_id == company.id, Membership.user_id.in_(user_ids)
            )
        ).unique()
    }
    if set(user_ids) - set(members):
        raise InvalidInput(
            "Everyone designated must already be a member of this payor.", field="user_ids"
        )
    # Grant first, so a refused grant never leaves the signed form (personal data) on disk;
    # a bad file then rolls the grants back with the transaction.
    for user_id in user_ids:
        companies.grant_role(members[user_id], Role.PAYMENTS_ADMIN, actor_user_id=actor_user_id)
    stored = storage.save_file(
        form_file,
        original_name=filename,
        kind="designation-forms",
        rules=storage.PDF_ONLY,
        company_id=company.id,
        uploaded_by_user_id=actor_user_id,
    )
    db.session.flush()
    designation = AdminDesignation(
        company_id=company.id,
        stored_file_id=stored.id,
        user_ids=sorted(user_ids),
        uploaded_by_user_id=actor_user_id,
    )
    db.session.add(designation)
    db.session.flush()
    audit.record(
        "operations:admins:designated",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="admin_designation",
        object_id=designation.id,
        after={"user_ids": sorted(user_ids), "form_sha256": stored.sha256},
    )
    return designation


@dataclass(frozen=True)
class DesignationDownload:
    """A signed designation form opened for download, and the name to save it under."""

    stored: StoredFile
    stream: IO[bytes]
    filename: str


def open_designation_form(
    company: Company, designation: AdminDesignation, *, actor_user_id: int
) -> DesignationDownload:
    """Open a signed designation form for download; every copy taken is audited."""
    stored = db.session.get(StoredFile, designation.stored_file_id)
    try:
        stream = storage.open_file(stored)
    except FileNotFoundError:
        log.error("designation form %s: stored file %s is missing", designation.id, stored.id)
        raise NotFound("The signed form is missing from storage. Contact support.") from None
    audit.record(
        "operations:designation:downloaded",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="admin_designation",
        object_id=designation.id,
        after={"stored_file_id": stored.id, "form_sha256": stored.sha256},
    )
    return DesignationDownload(
        stored,
        stream,
        f"designation-form-{company.slug}-{designation.created_at:%Y-%m-%d}-{designation.id}.pdf",
    )


def remove_admin(membership: Membership, *, actor_user_id: int) -> None:
    companies.revoke_role(membership, Role.PAYMENTS_ADMIN, actor_user_id=actor_user_id)


def set_sso_not_used(project: ImplementationProject, not_used: bool, *, actor_user_id: int) -> None:
    if project.sso_not_used == not_used:
        return
    project.sso_not_used = not_used
    audit.record(
        "operations:implementation:sso_not_used",
        actor_user_id=actor_user_id,
        company_id=project.company_id,
        object_type="implementation_project",
        object_id=project.id,
        before={"sso_not_used": not not_used},
        after={"sso_not_used": not_used},
    )


def add_contact(
    project: ImplementationProject,
    kind: ContactKind,
    name: str,
    email: str,
    phone: str | None,
    *,
    actor_user_id: int,
) -> ProjectContact:
    contact = ProjectContact(
        project_id=project.id,
        company_id=project.company_id,
        kind=kind,
        name=name.strip(),
        email=accounts.normalize_email(email),
        phone=(phone or "").strip() or None,
    )
    project.contacts.append(contact)
    db.session.flush()
    audit.record(
        "operations:implementation:contact_added",
        actor_user_id=actor_user_id,
        company_id=project.company_id,
        object_type="project_contact",
        object_id=contact.id,
        after={"kind": kind.value, "name": contact.name, "email": contact.email},
    )
    return contact


def record_training(
    project: ImplementationProject,
    topic: TrainingTopic,
    held_on: date,
    attendees: str,
    notes: str | None,
    *,
    actor_user_id: int,
) -> TrainingSession:
    if held_on > utcnow().date():
        raise InvalidInput("Record a training session once it has happened.", field="held_on")
    if not attendees.strip():
        raise InvalidInput("List who attended.", field="attendees")
    session = TrainingSession(
        project_id=project.id,
        company_id=project.company_id,
        topic=topic,
        held_on=held_on,
        attendees=attendees.strip(),
        notes=(notes or "").strip() or None,
        recorded_by_user_id=actor_user_id,
    )
    project.trainings.append(session)
    db.session.flush()
    audit.record(
        "operations:implementation:training_recorded",
        actor_user_id=actor_user_id,
        company_id=project.company_id,
        object_type="training_session",
        object_id=session.id,
        after={"topic": topic.value, "held_on": held_on.isoformat()},
    )
    return session


def record_lessons_learned(
    project: ImplementationProject, text: str, *, actor_user_id: int
) -> None:
    if not text.strip():
        raise InvalidInput("Write down what was learned.", field="lessons_learned")
    before = project.lessons_learned
    project.lessons_learned = text.strip()
    audit.record(
        "operations:implementation:lessons_recorded",
        actor_user_id=actor_user_id,
        company_id=project.company_id,
        object_type="implementation_project",
        object_id=project.id,
        before={"lessons_learned": before},
        after={"lessons_learned": project.lessons_learned},
    )


def close_project(company: Company, project: ImplementationProject, *, actor_user_id: int) -> None:
    """Close out the implementation, only once every checklist item is met."""
    from portal.operations.queries import implementation_checklist, left_before_close

    if project.closed_at is not None:
        raise DomainError("This implementation project is already closed.")
    unmet = [item.label for item in left_before_close(implementation_checklist(company, project))]
    if unmet:
        raise DomainError("The project cannot close yet. Still open: " + "; ".join(unmet) + ".")
    project.closed_at = utcnow()
    project.closed_by_user_id = actor_user_id
    audit.record(
        "operations:implementation:closed",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="implementation_project",
        object_id=project.id,
    )
