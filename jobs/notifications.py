"""Email delivery."""

from __future__ import annotations


def deliver_email(email_id: int) -> None:
    """Send queued email ``email_id`` over SMTP."""
    from portal.notifications import services

    services.deliver_email(email_id)
