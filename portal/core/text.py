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
