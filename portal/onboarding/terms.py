"""The Pay agreement's terms: one current version, rendered for one payor and one payee.
An accepted agreement keeps the text it was accepted with; a new version is a new file."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from flask import render_template

PAY_AGREEMENT_VERSION = "2026-12"
_TEMPLATE = f"onboarding/terms/pay_agreement_{PAY_AGREEMENT_VERSION}.txt"
_HEADING = re.compile(r"^\d+\. \S")


@dataclass(frozen=True)
class Section:
    heading: str
    paragraphs: list[str]


def pay_agreement_text(payor_name: str, payee_name: str) -> str:
    """The current terms between the two companies, word for word as the payee reads them."""
    text = render_template(
        _TEMPLATE, payor=payor_name, payee=payee_name, version=PAY_AGREEMENT_VERSION
    )
    return "\n".join(line.rstrip() for line in text.strip().splitlines()) + "\n"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sections(text: str) -> tuple[str, list[Section]]:
    """The title and the numbered sections of an agreement's text, for display."""
    blocks = [block.strip() for block in text.strip().split("\n\n") if block.strip()]
    title, sections_ = blocks[0] if blocks else "", []
    for block in blocks[1:]:
        first, _, rest = block.partition("\n")
        if _HEADING.match(first):
            sections_.append(Section(first, [p for p in rest.split("\n") if p.strip()]))
        elif sections_ and not sections_[-1].heading:
            sections_[-1].paragraphs.extend(block.split("\n"))
        else:
            sections_.append(Section("", block.split("\n")))
    return title, sections_
