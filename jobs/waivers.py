"""Lien waivers' jobs."""

from __future__ import annotations

from jobs import app_context


def remind_unsigned_waivers() -> int:
    """Remind payees of unconditional waivers waiting for their signature after payment."""
    from portal.waivers import services

    with app_context():
        return services.remind_unsigned()
