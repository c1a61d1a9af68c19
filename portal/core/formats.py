"""How dates, times and masked numbers read on every page (money: portal.core.money)."""

from __future__ import annotations

from datetime import date, datetime


def format_date(value: date | datetime | None) -> str:
    """``March 4, 2026``; an em dash when there is no date."""
    if value is None:
        return "—"
    return f"{value:%B} {value.day}, {value.year}"


def format_datetime(value: datetime | None) -> str:
    """``March 4, 2026 14:05 UTC`` (times are stored in UTC)."""
    if value is None:
        return "—"
    return f"{format_date(value)} {value:%H:%M} UTC"


def mask(last_digits: str | None, prefix: str = "••••") -> str:
    """Show only the last digits a person needs to recognise a number."""
    return f"{prefix}{last_digits}" if last_digits else "—"
