"""Accounts: passwords, sessions, TOTP, recovery codes, password resets and MFA resets.

Every function takes what it needs as arguments and never commits; the caller commits once.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Flask, current_app
from sqlalchemy.sql.base import ExecutableOption

from portal.accounts.models import PasswordResetToken, RecoveryCode, User, UserSession
from portal.config import REMEMBER_LIFETIME
from portal.core import audit, crypto, ratelimit
from portal.core.db import db, utcnow
from portal.core.errors import DomainError, InvalidInput, NotFound
from portal.core.text import clean_text, is_ascii_digits
from portal.notifications.services import queue_email


def init_app(app: Flask) -> None:
    """Build the password hasher: argon2id with library defaults, or cheap in tests."""
    if app.config["PORTAL_ENV"] == "test":
        hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    else:
        hasher = PasswordHasher()
    app.extensions["trestle.password_hasher"] = hasher


def password_hasher() -> PasswordHasher:
    return current_app.extensions["trestle.password_hasher"]


def dummy_hash() -> str:
    """A hash verified against when the email is unknown, so both paths cost the same time.

    Made at the first sign-in attempt, once per process (not at start-up: a web worker or
    command that never checks a password never pays for an argon2 hash)."""
    extensions = current_app.extensions
    if "trestle.dummy_hash" not in extensions:
        extensions["trestle.dummy_hash"] = password_hasher().hash(secrets.token_hex(16))
    return extensions["trestle.dummy_hash"]


MIN_PASSWORD_LENGTH = 12
SESSION_LIFETIME = timedelta(hours=12)
RESET_TOKEN_LIFETIME = timedelta(hours=1)
RECOVERY_CODE_COUNT = 10
TOTP_INTERVAL = 30
TOTP_DRIFT_STEPS = 10  # a code this many steps away means the clock is off
MAX_STEP_UP_FAILURES = 10

PASSWORD_LIMITS = {
    "login:account": (
        ratelimit.Limit(10, timedelta(minutes=15)),
        ratelimit.Limit(30, timedelta(hours=24)),
    ),
    "login:ip": (ratelimit.Limit(50, timedelta(minutes=15)),),
}
MFA_LIMITS = {
    "mfa:user": (ratelimit.Limit(5, timedelta(minutes=5)), ratelimit.Limit(20, timedelta(hours=1))),
    "mfa:ip": (ratelimit.Limit(10, timedelta(minutes=5)), ratelimit.Limit(50, timedelta(hours=1))),
}


class TooManyAttempts(DomainError):
    status_code = 429


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --------------------------------------------------------------------------- users


def hash_password(password: str) -> str:
    return password_hasher().hash(password)


def check_password_rules(password: str, email: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"Use at least {MIN_PASSWORD_LENGTH} characters.", field="password")
    if password.strip().lower() == email.lower():
        raise InvalidInput("Your password cannot be your email address.", field="password")


def create_user(email: str, name: str, password: str | None) -> User:
    email = normalize_email(email)
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise InvalidInput("An account with that email already exists.", field="email")
    if password is not None:
        check_password_rules(password, email)
    user = User(
        email=email,
        name=name.strip(),
        password_hash=hash_password(password) if password else None,
        password_changed_at=utcnow() if password else None,
    )
    db.session.add(user)
    db.session.flush()
    return user


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == normalize_email(email)))


# --------------------------------------------------------------------------- password login


def authenticate_password(email: str, password: str, ip_address: str | None) -> User:
    """Return the user whose credentials these are, or raise; failures are throttled.

    The same message answers an unknown email and a wrong password.
    """
    email = normalize_email(email)
    ip_key = ip_address or "unknown"
    if ratelimit.is_limited("login:account", email, PASSWORD_LIMITS["login:account"]) or (
        ratelimit.is_limited("login:ip", ip_key, PASSWORD_LIMITS["login:ip"])
    ):
        audit.record("accounts:login:rate_limited", after={"email": email})
        raise TooManyAttempts("Too many sign-in attempts. Wait 15 minutes and try again.")
    user = find_user_by_email(email)
    ok = False
    try:
        ok = password_hasher().verify(
            user.password_hash if user and user.password_hash else dummy_hash(),
            password,
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or not user.is_active or user.password_hash is None:
        ratelimit.record("login:account", email)
        ratelimit.record("login:ip", ip_key)
        audit.record(
            "accounts:login:failed",
            actor_user_id=user.id if user else None,
            after={"email": email, "reason": "bad_credentials"},
        )
        raise InvalidInput("That email and password do not match an account.")
    if password_hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def change_password(user: User, new_password: str) -> None:
    """Set a new password and sign out every session (each must sign in again)."""
    check_password_rules(new_password, user.email)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    revoke_sessions(user, reason="password_changed")
    audit.record(
        "accounts:password:changed", actor_user_id=user.id, object_type="user", object_id=user.id
    )


# --------------------------------------------------------------------------- sessions


def start_session(
    user: User,
    *,
    remember: bool,
    ip_address: str | None,
    user_agent: str | None,
    sso_issuer: str | None = None,
    sso_subject: str | None = None,
) -> str:
    """Record a new signed-in session; return its key (for the cookie)."""
    key = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(
        UserSession(
            user_id=user.id,
            key_hash=hash_token(key),
            created_at=now,
            last_seen_at=now,
            expires_at=now + (REMEMBER_LIFETIME if remember else SESSION_LIFETIME),
            remember=remember,
            ip_address=ip_address,
            user_agent=clean_text((user_agent or "")[:400]) or None,
            sso_issuer=sso_issuer,
            sso_subject=sso_subject,
        )
    )
    user.current_session_key = key
    user.step_up_failures = 0
    audit.record(
        "accounts:login:succeeded",
        actor_user_id=user.id,
        object_type="user",
        object_id=user.id,
        after={"remember": remember, "sso": sso_issuer is not None},
        actor_sso=(sso_issuer, sso_subject) if sso_issuer and sso_subject else None,
    )
    return key


def load_session_user(
    cookie_id: str, *options: ExecutableOption
) -> tuple[User, UserSession] | None:
    """Resolve a flask-login id (``user_id:session_key``) to a live session, or None.
    ``options`` load more with the user in the same statement (the request's memberships)."""
    user_id, _, key = cookie_id.partition(":")
    if not is_ascii_digits(user_id) or not key:
        return None
    row = (
        db.session.execute(
            sa.select(User, UserSession)
            .join(UserSession, UserSession.user_id == User.id)
            .where(
                User.id == int(user_id),
                UserSession.key_hash == hash_token(key),
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > utcnow(),
                User.is_active.is_(True),
            )
            .options(*options)
        )
        .unique()
        .first()
    )
    if row is None:
        return None
    user, session_row = row
    user.current_session_key = key
    return user, session_row


ACTIVITY_INTERVAL = timedelta(minutes=1)


def idle_too_long(session_row: UserSession, *, holds_a_role: bool, limit: timedelta) -> bool:
    """A payments user's session ends after ``limit`` without a request."""
    return holds_a_role and utcnow() - session_row.last_seen_at > limit


def end_idle_session(session_row: UserSession) -> None:
    session_row.revoked_at = utcnow()
    audit.record(
        "accounts:session:idle_timeout",
        actor_user_id=session_row.user_id,
        object_type="user",
        object_id=session_row.user_id,
    )


def activity_due(session_row: UserSession) -> bool:
    """Activity is noted at most once a minute (not a write per request)."""
    return utcnow() - session_row.last_seen_at > ACTIVITY_INTERVAL


def note_activity(session_id: int) -> None:
    """Record that the session was used just now."""
    db.session.execute(
        sa.update(UserSession).where(UserSession.id == session_id).values(last_seen_at=utcnow())
    )


def end_session(user: User) -> None:
    """Sign out this browser: its session key stops working at once."""
    if user.current_session_key:
        db.session.execute(
            sa.update(UserSession)
            .where(UserSession.key_hash == hash_token(user.current_session_key))
            .values(revoked_at=utcnow())
        )
    audit.record(
        "accounts:logout:succeeded", actor_user_id=user.id, object_type="user", object_id=user.id
    )


def revoke_sessions(
    user: User, *, reason: str, actor_user_id: int | None = None, keep_current: bool = False
) -> int:
    """Sign the user out everywhere (or everywhere else); return how many sessions ended."""
    stmt = sa.update(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
    )
    if keep_current and user.current_session_key:
        stmt = stmt.where(UserSession.key_hash != hash_token(user.current_session_key))
    result = db.session.execute(stmt.values(revoked_at=utcnow()))
    audit.record(
        "accounts:sessions:revoked",
        actor_user_id=actor_user_id if actor_user_id is not None else user.id,
        object_type="user",
        object_id=user.id,
        after={"reason": reason, "count": result.rowcount},
    )
    return result.rowcount


# --------------------------------------------------------------------------- TOTP


class CodeResult(enum.StrEnum):
    OK = "ok"
    INVALID = "invalid"
    REUSED = "reused"
    OUT_OF_SYNC = "out_of_sync"


CODE_MESSAGES = {
    CodeResult.INVALID: "That code is not right. Enter the 6-digit code your app shows now.",
    CodeResult.REUSED: "That code was already used. Wait for your app to show a new one.",
    CodeResult.OUT_OF_SYNC: (
        "That code would be right a few minutes from now or ago: your device's clock is out "
        "of sync. Set it to update automatically, then try a new code."
    ),
}


def totp_for(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=6, interval=TOTP_INTERVAL)


def normalize_code(code: str) -> str:
    return "".join(code.split()).replace("-", "")


def match_step(secret: str, code: str, at: datetime, window: int) -> int | None:
    """Return the time step within ±``window`` whose code equals ``code``, nearest first."""
    totp = totp_for(secret)
    current = totp.timecode(at)
    for distance in range(window + 1):
        for step in {current - distance, current + distance}:
            if hmac.compare_digest(totp.generate_otp(step), code):
                return step
    return None


def check_totp(
    user: User,
    code: str,
    *,
    secret: str | None = None,
    at: datetime | None = None,
    new_secret: bool = False,
) -> CodeResult:
    """Check a code (±1 step) and consume its time step with a compare-and-set.

    Two requests with one code cannot both pass: the UPDATE only succeeds for a step above
    the last accepted one, and the database serialises the two updates.
    """
    code = normalize_code(code)
    secret = secret or user.totp_secret
    if secret is None or len(code) != 6 or not is_ascii_digits(code):
        return CodeResult.INVALID
    at = at or utcnow()
    step = match_step(secret, code, at, window=1)
    if step is None:
        if match_step(secret, code, at, window=TOTP_DRIFT_STEPS) is not None:
            return CodeResult.OUT_OF_SYNC
        return CodeResult.INVALID
    # A new secret starts its own history: steps used with the old one say nothing about it.
    unused = (
        sa.true()
        if new_secret
        else sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step)
    )
    consumed = db.session.execute(
        sa.update(User)
        .where(User.id == user.id, unused)
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount != 1:
        return CodeResult.REUSED
    user.totp_last_step = step
    return CodeResult.OK


def ensure_not_mfa_limited(user: User, ip_address: str | None) -> None:
    """Refuse (before looking at the code) when this user or IP has failed too often."""
    if ratelimit.is_limited("mfa:user", str(user.id), MFA_LIMITS["mfa:user"]) or (
        ratelimit.is_limited("mfa:ip", ip_address or "unknown", MFA_LIMITS["mfa:ip"])
    ):
        audit.record(
            "accounts:mfa:rate_limited",
            actor_user_id=user.id,
            object_type="user",
            object_id=user.id,
        )
        raise TooManyAttempts("Too many incorrect codes. Wait a few minutes before trying again.")


def record_mfa_failure(
    user: User, ip_address: str | None, result: CodeResult, purpose: str
) -> None:
    ratelimit.record("mfa:user", str(user.id))
    ratelimit.record("mfa:ip", ip_address or "unknown")
    audit.record(
        "accounts:mfa:failed",
        actor_user_id=user.id,
        object_type="user",
        object_id=user.id,
        after={"reason": result.value, "purpose": purpose},
    )


def verify_second_factor(user: User, code: str, ip_address: str | None, purpose: str) -> None:
    """Check a TOTP code for sign-in or step-up; raise with the message to show on failure."""
    ensure_not_mfa_limited(user, ip_address)
    result = check_totp(user, code)
    if result is not CodeResult.OK:
        record_mfa_failure(user, ip_address, result, purpose)
        raise InvalidInput(CODE_MESSAGES[result], field="code")


def enrollment_secret(user: User, nonce: str) -> str:
    """The secret a setup page shows, derived from the user and the page's nonce.

    Nothing is stored until a code from it is confirmed: the nonce lives in the session of
    the browser the page was shown to, and the secret is a keyed hash of it (the key derived
    from the newest encryption key). Any other browser has another nonce and sees another
    secret, so nobody who merely knows the password can plant a secret for the real user.
    """
    digest = crypto.keyed_digest("totp_enrollment", f"{user.id}:{nonce}")
    return base64.b32encode(digest[:20]).decode()  # 160 bits, as RFC 4226 recommends


def provisioning_uri(user: User, secret: str) -> str:
    return totp_for(secret).provisioning_uri(name=user.email, issuer_name="Trestle")


def confirm_enrollment(
    user: User, code: str, ip_address: str | None, nonce: str | None
) -> list[str]:
    """Turn the page's secret on once a code from it checks out; return new recovery codes."""
    if not nonce:
        raise DomainError(
            "This setup page is out of date (it was opened again elsewhere). Scan the new "
            "QR code below and enter a code from it."
        )
    ensure_not_mfa_limited(user, ip_address)
    secret = enrollment_secret(user, nonce)
    result = check_totp(user, code, secret=secret, new_secret=True)
    if result is not CodeResult.OK:
        record_mfa_failure(user, ip_address, result, "enroll")
        raise InvalidInput(CODE_MESSAGES[result], field="code")
    user.totp_secret = secret
    user.totp_enrolled_at = utcnow()
    audit.record(
        "accounts:mfa:enrolled", actor_user_id=user.id, object_type="user", object_id=user.id
    )
    return regenerate_recovery_codes(user, reason="enrolled")


def generate_recovery_code() -> str:
    raw = secrets.token_hex(8)  # 64 random bits
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def regenerate_recovery_codes(user: User, *, reason: str) -> list[str]:
    """Replace the user's recovery codes; keep the new ones (encrypted) until shown."""
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [generate_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=hash_token(c)) for c in codes)
    user.recovery_codes_to_show = "\n".join(codes)
    if reason != "enrolled":
        audit.record(
            "accounts:mfa:recovery_codes_regenerated",
            actor_user_id=user.id,
            object_type="user",
            object_id=user.id,
        )
    return codes


def confirm_recovery_codes_saved(user: User) -> None:
    user.recovery_codes_to_show = None


def use_recovery_code(user: User, code: str, ip_address: str | None) -> int:
    """Burn one recovery code atomically; return how many remain. Raise if it is not valid."""
    ensure_not_mfa_limited(user, ip_address)
    normalized = normalize_code(code).lower()
    formatted = "-".join(normalized[i : i + 4] for i in range(0, len(normalized), 4))
    burned = db.session.execute(
        sa.update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == hash_token(formatted),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if burned.rowcount != 1:
        record_mfa_failure(user, ip_address, CodeResult.INVALID, "recovery_code")
        raise InvalidInput("That recovery code is not valid or was already used.", field="code")
    remaining = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    audit.record(
        "accounts:mfa:recovery_code_used",
        actor_user_id=user.id,
        object_type="user",
        object_id=user.id,
        after={"remaining": remaining},
    )
    return remaining


def record_step_up_failure(user: User) -> bool:
    """Count a failed step-up; return True when the user must now be signed out."""
    user.step_up_failures += 1
    if user.step_up_failures >= MAX_STEP_UP_FAILURES:
        user.step_up_failures = 0
        revoke_sessions(user, reason="step_up_failures")
        return True
    return False


def reset_mfa(user: User, *, actor_user_id: int, company_id: int | None) -> None:
    """Remove a user's authenticator and recovery codes; they enroll again at next sign-in."""
    user.totp_secret = None
    user.totp_enrolled_at = None
    user.recovery_codes_to_show = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    revoke_sessions(user, reason="mfa_reset", actor_user_id=actor_user_id)
    audit.record(
        "accounts:mfa:reset",
        actor_user_id=actor_user_id,
        company_id=company_id,
        object_type="user",
        object_id=user.id,
    )
    queue_email(user.email, "mfa_reset", name=user.name)


# --------------------------------------------------------------------------- password reset


@dataclass(frozen=True)
class ResetLink:
    user: User
    token: str


def request_password_reset(email: str, ip_address: str | None) -> ResetLink | None:
    """Email a reset link if the account exists (the caller says the same thing either way)."""
    email = normalize_email(email)
    if ratelimit.is_limited(
        "reset:ip", ip_address or "unknown", (ratelimit.Limit(10, timedelta(hours=1)),)
    ):
        raise TooManyAttempts("Too many reset requests. Try again in an hour.")
    ratelimit.record("reset:ip", ip_address or "unknown")
    user = find_user_by_email(email)
    if user is None or not user.is_active:
        return None
    token = issue_password_link(user, RESET_TOKEN_LIFETIME)
    audit.record(
        "accounts:password:reset_requested",
        actor_user_id=user.id,
        object_type="user",
        object_id=user.id,
    )
    return ResetLink(user, token)


def issue_password_link(user: User, lifetime: timedelta) -> str:
    """A single-use link token for choosing a password (new accounts, resets)."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        PasswordResetToken(
            user_id=user.id, token_hash=hash_token(token), expires_at=utcnow() + lifetime
        )
    )
    return token


def find_reset_token(token: str) -> PasswordResetToken:
    row = db.session.scalar(
        sa.select(PasswordResetToken).where(PasswordResetToken.token_hash == hash_token(token))
    )
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise NotFound("This reset link has expired or was already used. Ask for a new one.")
    return row


def reset_password(token: str, new_password: str) -> User:
    """Use a reset link once: set the password and sign out every session."""
    row = find_reset_token(token)
    user = db.session.get(User, row.user_id)
    check_password_rules(new_password, user.email)
    used = db.session.execute(
        sa.update(PasswordResetToken)
        .where(PasswordResetToken.id == row.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        raise NotFound("This reset link has expired or was already used. Ask for a new one.")
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    revoke_sessions(user, reason="password_reset")
    audit.record(
        "accounts:password:reset", actor_user_id=user.id, object_type="user", object_id=user.id
    )
    queue_email(user.email, "password_changed", name=user.name)
    return user
