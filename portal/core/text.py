"""Small text rules every feature shares."""

from __future__ import annotations

import re

_ASCII_DIGITS = re.compile(r"[0-9]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def is_ascii_digits(text: str) -> bool:
    """True for 0-9 only: ``str.isdigit`` also takes Arabic-Indic, superscript and other
    digits, which no bank, tax authority or authenticator uses."""
    return _ASCII_DIGITS.fullmatch(text) is not None


def clean_text(text: str) -> str:
    """``text`` without control characters (PostgreSQL refuses a NUL in text and JSON)."""
    return _CONTROL.sub("", text)


_LEGAL_SUFFIXES = re.compile(
    r"\b(incorporated|inc|corporation|corp|company|co|llc|ltd|lp|llp|pllc|the)\b"
)


def plain_name(name: str) -> str:
    """A business name for comparing: lower case, "&" as "and", punctuation as spaces."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower().replace("&", " and ")).split())


def name_core(name: str) -> str:
    """The plain name without legal suffixes (Inc, LLC, …): "Ironline Steel, LLC" and
    "Ironline Steel" have the same core."""
    return " ".join(_LEGAL_SUFFIXES.sub(" ", plain_name(name)).split())


def possessive(name: str) -> str:
    """ "Summit Builders'" and "Ironline's": the possessive of a name, as style guides
    write it for names ending in s."""
    name = name.strip()
    return f"{name}'" if name.endswith(("s", "S")) else f"{name}'s"


def one_line(text: str | None) -> str:
    """A name or title as one line: no control characters, tabs or newlines, single spaces."""
    return " ".join(clean_text(text or "").split())


# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value
