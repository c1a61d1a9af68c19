"""Construction projects of a payor."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import db, utcnow
from portal.core.tenancy import TenantOwned
from portal.payment_settings.models import FundingAccount


class Project(TenantOwned, db.Model):
    """A construction job. Its state picks the lien waiver forms; Pay is on or off per project."""

    __tablename__ = "project"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    number: Mapped[str] = mapped_column(sa.String(40))
    address_line1: Mapped[str] = mapped_column(sa.String(200))
    city: Mapped[str] = mapped_column(sa.String(100))
    region: Mapped[str] = mapped_column(sa.String(2))
    postal_code: Mapped[str] = mapped_column(sa.String(10))
    pay_enabled: Mapped[bool] = mapped_column(default=True)
    funding_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("funding_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # An archived project is finished: it leaves the lists and takes no new work.
    archived_at: Mapped[datetime | None]
    archived_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    funding_account: Mapped[FundingAccount | None] = relationship(lazy="joined")

    __table_args__ = (sa.UniqueConstraint("company_id", "number"),)
