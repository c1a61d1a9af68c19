"""Implementation projects (a payor's path to its first production payment) and admin
designations."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import db, str_enum, utcnow
from portal.core.tenancy import TenantOwned


class TrainingTopic(enum.StrEnum):
    PAYMENTS_OVERVIEW = "payments_overview"
    LIEN_WAIVERS = "lien_waivers"
    REQUIREMENTS_AND_HOLDS = "requirements_and_holds"

    @property
    def label(self) -> str:
        return {
            TrainingTopic.PAYMENTS_OVERVIEW: "Company payments overview",
            TrainingTopic.LIEN_WAIVERS: "Lien waiver collection",
            TrainingTopic.REQUIREMENTS_AND_HOLDS: "Payment requirements and payment holds",
        }[self]


class ContactKind(enum.StrEnum):
    KEY_CONTACT = "key_contact"
    TECHNICAL_LEAD = "technical_lead"


class ImplementationProject(TenantOwned, db.Model):
    __tablename__ = "implementation_project"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sso_not_used: Mapped[bool] = mapped_column(default=False)
    lessons_learned: Mapped[str | None] = mapped_column(sa.Text)
    closed_at: Mapped[datetime | None]
    closed_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    # Loaded only where shown (a page of them at a time); the checklist reads its facts
    # set-based (``operations.queries.checklist_facts``).
    contacts: Mapped[list[ProjectContact]] = relationship(
        cascade="all, delete-orphan", order_by="ProjectContact.id"
    )
    trainings: Mapped[list[TrainingSession]] = relationship(
        cascade="all, delete-orphan", order_by="TrainingSession.held_on"
    )


class ProjectContact(TenantOwned, db.Model):
    __tablename__ = "project_contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("implementation_project.id"), index=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    kind: Mapped[ContactKind] = mapped_column(str_enum(ContactKind, 20))
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(40))


class TrainingSession(TenantOwned, db.Model):
    __tablename__ = "training_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("implementation_project.id"), index=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    topic: Mapped[TrainingTopic] = mapped_column(str_enum(TrainingTopic, 40))
    held_on: Mapped[date]
    attendees: Mapped[str] = mapped_column(sa.Text)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    recorded_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))


class AdminDesignation(TenantOwned, db.Model):
    """A signed designation form naming a payor's Payments Admins, uploaded by an operator."""

    __tablename__ = "admin_designation"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    stored_file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_file.id"))
    user_ids: Mapped[list[int]] = mapped_column(sa.JSON)
    uploaded_by_user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
