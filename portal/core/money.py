"""Money as integer cents: one strict parser for people's input and one formatter for display."""

from __future__ import annotations

import re

from portal.core.errors import InvalidInput

# One billion dollars: far above any single construction invoice, far below overflow.
MAX_CENTS = 100_000_000_000 - 1

# ASCII digits only (str.isdigit accepts other scripts), either plain or grouped by
# commas in threes, then an optional fraction of one or two digits.
_AMOUNT = re.compile(
    r"""
    (?P<sign>-)?
    \$?
    (?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)?
    (?:\.(?P<fraction>[0-9]{1,2}))?
    """,
    re.VERBOSE,
)


class InvalidAmount(InvalidInput):
    """An amount a person typed that is not an exact, sensible number of dollars and cents."""


def parse_amount(
    text: str | None,
    *,
    allow_zero: bool = False,
    allow_negative: bool = False,
    max_cents: int = MAX_CENTS,
) -> int:
    """Parse a dollar amount such as ``1,234.56`` or ``$12`` into integer cents.

    Rejects, with a message fit for the form: empty input, NaN and infinities, exponents,
    more than two decimals, misplaced thousands separators, non-ASCII digits, negatives
    (unless allowed), zero (unless allowed) and amounts above ``max_cents``.
    """
    if text is None or not text.strip():
        raise InvalidAmount("Enter an amount.")
    raw = text.strip()
    if len(raw) > 32:
        raise InvalidAmount("That amount is too long to be a real amount.")
    lowered = raw.lower()
    if any(word in lowered for word in ("nan", "inf")):
        raise InvalidAmount("Enter an amount in dollars and cents, for example 1,250.00.")
    if "e" in lowered:
        raise InvalidAmount("Write the amount out in full, without an exponent.")
    match = _AMOUNT.fullmatch(raw)
    if match is None or (match["whole"] is None and match["fraction"] is None):
        if re.fullmatch(r"-?\$?[0-9,]*\.[0-9]{3,}", raw):
            raise InvalidAmount("Amounts have at most two decimal places (cents).")
        if "," in raw:
            raise InvalidAmount("Use commas only between groups of three digits, like 1,234.56.")
        raise InvalidAmount("Enter an amount in dollars and cents, for example 1,250.00.")
    whole = int((match["whole"] or "0").replace(",", ""))
    fraction = int((match["fraction"] or "0").ljust(2, "0"))
    cents = whole * 100 + fraction
    if match["sign"]:
        if not allow_negative:
            raise InvalidAmount("The amount cannot be negative.")
        cents = -cents
    if cents == 0 and not allow_zero:
        raise InvalidAmount("The amount must be more than zero.")
    if abs(cents) > max_cents:
        raise InvalidAmount(f"The amount cannot be more than {format_cents(max_cents)}.")
    return cents


def format_cents(cents: int, *, currency_symbol: str = "$") -> str:
    """Format integer cents for people: ``123456`` → ``$1,234.56``, ``-5`` → ``-$0.05``."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise TypeError(f"money is integer cents, not {type(cents).__name__}")
    sign = "-" if cents < 0 else ""
    dollars, remainder = divmod(abs(cents), 100)
    return f"{sign}{currency_symbol}{dollars:,}.{remainder:02d}"


def cents_for_input(cents: int) -> str:
    """Cents as a form field's value: ``123456`` → ``1234.56``, and zero as empty."""
    return cents_to_decimal_string(cents) if cents else ""


def cents_to_decimal_string(cents: int) -> str:
    """Render cents as a plain decimal for files and form values: ``123456`` → ``1234.56``."""
    sign = "-" if cents < 0 else ""
    dollars, remainder = divmod(abs(cents), 100)
    return f"{sign}{dollars}.{remainder:02d}"


# Percentages are integer basis points: 10% is 1000, 7.5% is 750. Retainage and billing
# progress are percentages of cents, so they too stay exact.
BPS_PER_WHOLE = 10_000

_PERCENT = re.compile(r"(?P<whole>[0-9]{1,3})?(?:\.(?P<fraction>[0-9]{1,2}))?\s*%?")


def parse_percent(text: str | None, *, allow_zero: bool = True) -> int:
    """Parse a percentage such as ``10``, ``7.5`` or ``5.25%`` into basis points (0 to 10,000).

    Rejects, with a message fit for the form: empty input, signs, exponents, more than two
    decimals, non-ASCII digits and anything above 100%.
    """
    if text is None or not text.strip():
        raise InvalidAmount("Enter a percentage.")
    raw = text.strip()
    match = _PERCENT.fullmatch(raw) if len(raw) <= 12 else None
    if match is None or (match["whole"] is None and match["fraction"] is None):
        if re.fullmatch(r"[0-9]*\.[0-9]{3,}\s*%?", raw):
            raise InvalidAmount("Percentages have at most two decimal places.")
        if raw.startswith("-"):
            raise InvalidAmount("The percentage cannot be negative.")
        raise InvalidAmount("Enter a percentage between 0 and 100, for example 10 or 7.5.")
    bps = int(match["whole"] or "0") * 100 + int((match["fraction"] or "0").ljust(2, "0"))
    if bps > BPS_PER_WHOLE:
        raise InvalidAmount("The percentage cannot be more than 100.")
    if bps == 0 and not allow_zero:
        raise InvalidAmount("The percentage must be more than zero.")
    return bps


def format_bps(bps: int) -> str:
    """Format basis points for people: ``1000`` → ``10%``, ``750`` → ``7.5%``, ``525`` →
    ``5.25%``."""
    if isinstance(bps, bool) or not isinstance(bps, int):
        raise TypeError(f"percentages are integer basis points, not {type(bps).__name__}")
    whole, fraction = divmod(bps, 100)
    return f"{whole}.{fraction:02d}".rstrip("0").rstrip(".") + "%"


def share_of(cents: int, bps: int) -> int:
    """``bps`` basis points of ``cents``, rounded half away from zero to the cent."""
    product = abs(cents) * bps
    rounded = (product + BPS_PER_WHOLE // 2) // BPS_PER_WHOLE
    return rounded if cents >= 0 else -rounded
