"""Users, their sessions and second factors, password resets and federated identities."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from portal.core.crypto import encrypted_column
from portal.core.db import db, utcnow
from portal.core.status import Status, Tone


class MfaStatus(Status):
    """Whether a user has an authenticator (mandatory before any payments work)."""

    ENROLLED = "enrolled", "On", Tone.SUCCESS
    NOT_ENROLLED = "not_enrolled", "Not set up", Tone.WARNING


class User(db.Model):
    """A person who signs in. Email is unique regardless of case (stored lower-cased)."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime | None]
    # TOTP: the secret is encrypted; the last accepted time step refuses replays.
    totp_secret: Mapped[str | None] = encrypted_column()
    totp_enrolled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # Recovery codes shown once after (re)generation, until the user confirms saving them.
    recovery_codes_to_show: Mapped[str | None] = encrypted_column()
    # Whether codes wait to be shown: loaded with the row, so every request's check reads
    # (and decrypts) nothing more.
    recovery_codes_waiting: Mapped[bool] = column_property(
        recovery_codes_to_show.column.is_not(None)
    )
    step_up_failures: Mapped[int] = mapped_column(default=0)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")  # noqa: F821

    __table_args__ = (
        sa.CheckConstraint("email = lower(email)", name="email_lowercase"),
        sa.CheckConstraint("step_up_failures >= 0", name="step_up_failures_not_negative"),
        sa.CheckConstraint(
            "(totp_secret IS NULL) = (totp_enrolled_at IS NULL)", name="totp_enrolled_with_secret"
        ),
    )

    # flask-login protocol. get_id carries the session key so that a revoked session's
    # cookie (plain or remember-me) no longer loads the user.
    current_session_key = None  # set per request by the session loader

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.current_session_key}"

    @property
    def mfa_enrolled(self) -> bool:
        """Answered without decrypting the secret (a constraint keeps the two together)."""
        return self.totp_enrolled_at is not None

    @property
    def mfa_status(self) -> MfaStatus:
        return MfaStatus.ENROLLED if self.mfa_enrolled else MfaStatus.NOT_ENROLLED


class UserSession(db.Model):
    """One signed-in browser. The cookie holds the key; the database holds its hash."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    remember: Mapped[bool] = mapped_column(default=False)
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))
    sso_issuer: Mapped[str | None] = mapped_column(sa.String(300))
    sso_subject: Mapped[str | None] = mapped_column(sa.String(300))


class RecoveryCode(db.Model):
    """A single-use MFA recovery code, stored only as a hash."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]

    __table_args__ = (sa.UniqueConstraint("user_id", "code_hash"),)


class PasswordResetToken(db.Model):
    """A single-use, expiring password reset link (only its hash is stored)."""

    __tablename__ = "password_reset_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class FederatedIdentity(db.Model):
    """An identity at an OpenID provider (issuer + subject) linked to a user."""

    __tablename__ = "federated_identity"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    issuer: Mapped[str] = mapped_column(sa.String(300))
    subject: Mapped[str] = mapped_column(sa.String(300))
    email_at_link: Mapped[str | None] = mapped_column(sa.String(254))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.UniqueConstraint("issuer", "subject"),)
