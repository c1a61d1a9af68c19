"""The lien waiver forms: the statutory forms of California, Texas, Georgia and Arizona, read
word for word from the statute files kept in ``statutes/`` (each names its sources, the date
they were retrieved, and what in it is not confirmed against an official copy), and
Trestle's best-practice forms for every other state.

A form's text is fixed: only its blanks are filled. Two kinds of blank appear in the
statutes: a label with nothing after it (California: "Name of Claimant:"), and a run of
underscores, usually followed by the statute's caption in parentheses (Texas, Georgia,
Arizona: "________ (maker of check)"). Every blank of every form names one of the facts in
``FIELDS``; a blank no rule names is an error when the forms are read, never a silent gap."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STATUTES = Path(__file__).parent / "statutes"


class WaiverKind(enum.StrEnum):
    CONDITIONAL_PROGRESS = "conditional_progress"
    UNCONDITIONAL_PROGRESS = "unconditional_progress"
    CONDITIONAL_FINAL = "conditional_final"
    UNCONDITIONAL_FINAL = "unconditional_final"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def conditional(self) -> bool:
        return self.value.startswith("conditional")

    @property
    def final(self) -> bool:
        return self.value.endswith("final")


# The facts a waiver is filled with (each blank names one), in the words a payee reads.
FIELDS = {
    "claimant": "Claimant (the payee signing)",
    "claimant_address": "Claimant's address",
    "customer": "Customer (who the claimant contracted with)",
    "owner": "Owner of the property",
    "project": "Project",
    "job_number": "Job number",
    "job_location": "Job location",
    "job_description": "Description of the work",
    "county": "County",
    "city": "City",
    "through_date": "Through date",
    "maker": "Maker of the payment",
    "amount": "Amount of the payment",
    "payable_to": "Payment payable to",
    "disputed": "Disputed claims for extras",
    "unpaid_dates": "Dates of earlier waivers not yet paid",
    "unpaid_amounts": "Amounts of earlier progress payments not yet paid",
    "signature": "Signature",
    "title": "Signer's title",
    "signed_on": "Date of signature",
    "signed_day": "Day of signature",
    "signed_month": "Month of signature",
    "signed_year": "Year of signature",
    "witness": "Witness",
}

# California-style labels: the value is written after the label.
LABELS = {
    "Name of Claimant:": "claimant",
    "Name of Customer:": "customer",
    "Job Location:": "job_location",
    "Owner:": "owner",
    "Through Date:": "through_date",
    "Maker of Check:": "maker",
    "Amount of Check: $": "amount",
    "Check Payable to:": "payable_to",
    "Date(s) of waiver and release:": "unpaid_dates",
    "Amount(s) of unpaid progress payment(s): $": "unpaid_amounts",
    "Disputed claims for extras in the amount of: $": "disputed",
    "Claimant\u2019s Signature:": "signature",  # the statute's typographic apostrophe
    "Claimant\u2019s Title:": "title",
    "Date of Signature:": "signed_on",
}
# A label that ends a sentence of the form rather than standing on its own line.
SENTENCE_LABELS = {"The claimant has received the following progress payment: $": "amount"}

# Underscore blanks, named by the caption that follows them.
CAPTIONS = {
    "(maker of check)": "maker",
    "(amount of check)": "amount",
    "(payee or payees of check)": "payable_to",
    "(owner)": "owner",
    "(location)": "job_location",
    "(job description)": "job_description",
    "(person with whom signer contracted)": "customer",
    "(person with whom undersigned contracted)": "customer",
    "(date)": "through_date",
    "(Company name)": "claimant",
    "(Signature)": "signature",
    "(Title)": "title",
    "(NAME OF CONTRACTOR)": "customer",
    "(DESCRIBE MATERIALS AND/OR LABOR)": "job_description",
    "(TITLE OF THE PROJECT OR BUILDING)": "project",
    "(NAME OF OWNER)": "owner",
    "(DATE)": "through_date",
    "(SEAL)": "signature",
    "(WITNESS)": "witness",
    "(ADDRESS)": "claimant_address",
}
# Underscore blanks without a caption, named by the words just before them.
PRECEDED_BY = (
    (re.compile(r"amount of \$$", re.I), "disputed"),
    (re.compile(r"\$$"), "amount"),
    (re.compile(r"^Project:?$"), "project"),
    (re.compile(r"^Job No\.:?$"), "job_number"),
    (re.compile(r"^Dated?:?$"), "signed_on"),
    (re.compile(r"^By:?$"), "signature"),
    (re.compile(r"COUNTY OF$"), "county"),
    (re.compile(r"CITY OF$"), "city"),
    (re.compile(r"THIS$"), "signed_day"),
    (re.compile(r"DAY OF$"), "signed_month"),
    (re.compile(r",$"), "signed_year"),
    (re.compile(r"FOLLOWS:$"), "job_location"),
    (re.compile(r"^$"), "job_location"),  # Georgia's property description line
)
BLANK = re.compile(r"_{3,}(?P<caption> \([^)]*\))?")


class UnnamedBlank(ValueError):
    """A blank of a form that no rule names: the form would be filled with a gap."""


@dataclass(frozen=True)
class Blank:
    """One blank of a line: where its underscores are, and which fact fills it."""

    start: int
    end: int
    field: str


@dataclass(frozen=True)
class Line:
    text: str
    blanks: tuple[Blank, ...]  # underscore blanks
    label_field: str | None  # a California label's fact, written after the text
    notice: bool  # part of a notice the statute sizes (never smaller than any other type)
    heading: bool  # the form's title


@dataclass(frozen=True)
class StatutoryForm:
    """One form of one state (``state`` None: Trestle's generic form for any other)."""

    key: str  # e.g. "CA-8132"
    state: str | None
    kinds: tuple[WaiverKind, ...]
    citation: str
    title: str
    status: str  # as the statute file says, including what is not confirmed
    verified: bool  # confirmed against an official copy of the statute
    type_rule: str
    source: str  # the statute file, in the project
    lines: tuple[Line, ...]
    min_points: int  # the smallest type the statute allows anywhere on the form

    @property
    def text(self) -> list[str]:
        return [line.text for line in self.lines]

    @property
    def fields(self) -> set[str]:
        named = {b.field for line in self.lines for b in line.blanks}
        return named | {line.label_field for line in self.lines if line.label_field}


def _kinds_of(title: str) -> tuple[WaiverKind, ...]:
    words = title.upper()
    final = "FINAL" in words
    if "UNCONDITIONAL" in words:
        return (WaiverKind.UNCONDITIONAL_FINAL if final else WaiverKind.UNCONDITIONAL_PROGRESS,)
    if "CONDITIONAL" in words:
        return (WaiverKind.CONDITIONAL_FINAL if final else WaiverKind.CONDITIONAL_PROGRESS,)
    # Georgia's one form per stage is conditional on receipt and conclusive after 90 days:
    # it serves both kinds of its stage.
    if final:
        return (WaiverKind.CONDITIONAL_FINAL, WaiverKind.UNCONDITIONAL_FINAL)
    return (WaiverKind.CONDITIONAL_PROGRESS, WaiverKind.UNCONDITIONAL_PROGRESS)


def _blanks_of(text: str, key: str) -> tuple[Blank, ...]:
    blanks = []
    for match in BLANK.finditer(text):
        caption = (match.group("caption") or "").strip()
        field = CAPTIONS.get(caption)
        if field is None:
            before = text[: match.start()].rstrip()
            # Only the words of this clause: back to the last blank or the line's start.
            before = before[before.rfind("_") + 1 :].strip() if "_" in before else before
            field = next((f for pattern, f in PRECEDED_BY if pattern.search(before)), None)
        if field is None:
            raise UnnamedBlank(f"{key}: no fact names the blank in {text[:80]!r}")
        # The underscores are replaced; the statute's caption stays after the value.
        underscores = len(match.group(0)) - len(match.group("caption") or "")
        blanks.append(Blank(match.start(), match.start() + underscores, field))
    return tuple(blanks)


def _key(state: str | None, citation: str, title: str) -> str:
    """A form's lasting name: its state and section ("CA-8132", "TX-53.284(b)")."""
    found = re.search(r"§\s*([0-9A-Za-z.\-]+(?:\([0-9A-Za-z]+\))*)", citation)
    key = f"{state or 'GENERIC'}-{found.group(1) if found else citation.split()[-1]}"
    if state == "GA":  # one section, two forms
        key += "-final" if "FINAL" in title.upper() else "-interim"
    return key


def _parse(path: Path, state: str | None) -> list[StatutoryForm]:
    text = path.read_text(encoding="utf-8")
    forms = []
    for block in re.split(r"\n={20,}\n", text):
        if "\n--- BEGIN FORM TEXT ---\n" not in block:
            continue
        header = dict(
            re.findall(
                r"^(Section|Form|Status|Type-size rule|Notice / type rule|Type rule): (.*)$",
                block,
                re.M,
            )
        )
        body = block.split("--- BEGIN FORM TEXT ---\n", 1)[1].split("\n--- END FORM TEXT ---", 1)[0]
        raw = body.split("\n")
        citation = header["Section"]
        key = _key(state, citation, header["Form"])
        type_rule = (
            header.get("Type-size rule")
            or header.get("Notice / type rule")
            or header.get("Type rule", "")
        )
        whole_form_min = 12 if "12-point" in type_rule else 0
        lines, in_notice = [], False
        for number, line_text in enumerate(raw):
            label = LABELS.get(line_text.strip())
            if label is None:
                label = next(
                    (f for s, f in SENTENCE_LABELS.items() if line_text.rstrip().endswith(s)), None
                )
            starts_notice = bool(re.match(r"NOTICE\b|Notice:", line_text))
            # Texas prints "NOTICE:" alone and its words on the next line.
            notice = starts_notice or in_notice
            in_notice = line_text.strip() == "NOTICE:"
            lines.append(
                Line(
                    text=line_text,
                    blanks=_blanks_of(line_text, key),
                    label_field=label,
                    notice=notice,
                    # The title (Georgia's runs over three lines).
                    heading=number < 4
                    and not notice
                    and bool(line_text.strip())
                    and line_text.strip().lower() in header["Form"].lower(),
                )
            )
        status = header.get("Status", "")
        forms.append(
            StatutoryForm(
                key=key,
                state=state,
                kinds=_kinds_of(header["Form"]),
                citation=citation,
                title=header["Form"],
                status=status,
                verified=status.upper().startswith("COMPLETE"),
                type_rule=type_rule,
                source=f"portal/waivers/statutes/{path.name}",
                lines=tuple(lines),
                min_points=max(10, whole_form_min),
            )
        )
    return forms


# The state each statute file is for (the generic file serves every other state).
FILES = {"CA": "ca.txt", "TX": "tx.txt", "GA": "ga.txt", "AZ": "az.txt", None: "generic.txt"}


@cache
def all_forms() -> tuple[StatutoryForm, ...]:
    return tuple(form for state, name in FILES.items() for form in _parse(STATUTES / name, state))


def by_key(key: str) -> StatutoryForm:
    """The form a waiver was made on, by its key."""
    return next(f for f in all_forms() if f.key == key)


def form_for(state: str, kind: WaiverKind) -> StatutoryForm:
    """The statutory form of the project's state for ``kind``, else the generic one."""
    state = (state or "").upper()
    chosen = [f for f in all_forms() if f.state == state and kind in f.kinds]
    if not chosen:
        chosen = [f for f in all_forms() if f.state is None and kind in f.kinds]
    return chosen[0]


def statutory_states() -> set[str]:
    return {f.state for f in all_forms() if f.state}


def fill_line(line: Line, facts: dict[str, str]) -> str:
    """The line with each blank's fact written in (a blank without its fact stays blank)."""
    text = line.text
    for blank in reversed(line.blanks):
        value = facts.get(blank.field, "")
        if value:
            text = text[: blank.start] + value + text[blank.end :]
    if line.label_field and facts.get(line.label_field):
        value = facts[line.label_field]
        text = text + value if text.endswith("$") else f"{text} {value}"
    return text
