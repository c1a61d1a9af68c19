"""A company's OpenID Connect configuration."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.companies.models import Company
from portal.core.crypto import encrypted_column
from portal.core.db import db, str_enum, utcnow
from portal.core.tenancy import TenantOwned


class SsoMode(enum.StrEnum):
    OPTIONAL = "optional"  # members may use SSO or their password
    REQUIRED = "required"  # password sign-in is refused for members


class SsoConnection(TenantOwned, db.Model):
    __tablename__ = "sso_connection"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), unique=True)
    issuer: Mapped[str] = mapped_column(sa.String(300))
    client_id: Mapped[str] = mapped_column(sa.String(300))
    client_secret: Mapped[str] = encrypted_column()
    allowed_domains: Mapped[str] = mapped_column(sa.String(1000))  # comma-separated, lower-case
    mode: Mapped[SsoMode] = mapped_column(str_enum(SsoMode, 20), default=SsoMode.OPTIONAL)
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    company: Mapped[Company] = relationship(lazy="joined")

    @property
    def domains(self) -> list[str]:
        return [d for d in self.allowed_domains.split(",") if d]


class SsoState(db.Model):
    """One sign-in's OAuth state, nonce and PKCE verifier, kept server-side until its
    callback uses it (once); the browser's cookie holds only the state's expiry."""

    __tablename__ = "sso_state"

    key_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[str] = encrypted_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)
