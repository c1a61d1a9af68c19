"""Compliance documents' jobs."""

from __future__ import annotations

from jobs import app_context


def remind_expiring_documents() -> int:
    """Email the payees whose accepted documents expire within 14 days (each document once)."""
    from portal.compliance import services

    with app_context():
        return services.remind_all()
