"""US postal addresses: the state codes and ZIP codes every address form accepts."""

from __future__ import annotations

from portal.core.errors import InvalidInput
from portal.core.text import is_ascii_digits

US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "PR",
        "GU",
        "VI",
        "AS",
        "MP",
    ]
)


def validate_state(value: str, field: str) -> str:
    code = value.strip().upper()
    if code not in US_STATES:
        raise InvalidInput("Choose a US state.", field=field)
    return code


def validate_postal_code(value: str) -> str:
    postal = value.strip()
    five, _, four = postal.partition("-")
    if not (
        len(five) == 5
        and is_ascii_digits(five)
        and (not four or (len(four) == 4 and is_ascii_digits(four)))
    ):
        raise InvalidInput("Enter a ZIP code like 94107 or 94107-1234.", field="postal_code")
    return postal
