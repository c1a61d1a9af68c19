"""The statutory lien waiver forms, word for word: each form's text read back from the
generated PDF with pdftotext matches the statute file, with only its blanks filled; the
facts land in their blanks; the state chooses the form; the notices are in the largest type."""

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from portal.waivers import forms, pdf
from portal.waivers.forms import WaiverKind
from tests.conftest import require_peer

STATUTES = Path(forms.__file__).parent / "statutes"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "legal"
FACTS = {
    "claimant": "Ironline Steel, Inc.",
    "customer": "Summit Builders, LLC",
    "owner": "Mission Bay Health Partners",
    "project": "Mission Bay Medical Center",
    "job_number": "SB-2101",
    "job_location": "1800 Owens St, San Francisco, CA 94158",
    "job_description": "Structural steel",
    "county": "San Francisco",
    "city": "San Francisco",
    "through_date": "November 30, 2026",
    "maker": "Summit Builders, LLC",
    "amount": "189,774.00",
    "payable_to": "Ironline Steel, Inc.",
}


def pdftotext(data: bytes, tmp_path: Path) -> str:
    require_peer(shutil.which("pdftotext") is not None, "pdftotext (apt-get install poppler-utils)")
    source = tmp_path / "waiver.pdf"
    source.write_bytes(data)
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(source), "-"], capture_output=True, check=True
    ).stdout.decode()
    # The foot of each page names the document; it is not the form.
    return " ".join(
        line for line in out.splitlines() if not line.strip().startswith(pdf.FOOTER_PREFIX)
    )


def statute_forms(path: Path) -> list[list[str]]:
    """Each form's lines as the statute file has them (read here, not by the product)."""
    return [
        block.split("\n")
        for block in re.findall(
            r"^--- BEGIN FORM TEXT ---\n(.*?)\n--- END FORM TEXT ---$",
            path.read_text(encoding="utf-8"),
            re.S | re.M,
        )
    ]


def pattern_of(lines: list[str]) -> re.Pattern[str]:
    """The form's words exactly, whitespace-insensitive; each blank may hold anything."""
    parts = []
    for line in lines:
        pieces = re.split(r"_{3,}", line.strip())
        line_pattern = r"(.*?)".join(
            r"\s+".join(re.escape(word) for word in piece.split()) for piece in pieces
        )
        if line.rstrip().endswith((":", "$")):  # a label: its value follows it
            line_pattern += r"\s*(.*?)"
        parts.append(line_pattern)
    return re.compile(r"\s*".join(parts) + r"\s*", re.S)


def normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


CASES = [(form.key, form) for form in forms.all_forms()]


@pytest.mark.parametrize(("key", "form"), CASES, ids=[key for key, _ in CASES])
def test_the_pdf_says_the_statute_word_for_word_with_the_blanks_filled(key, form, tmp_path) -> None:
    index = [f for f in forms.all_forms() if f.source == form.source].index(form)
    statute = statute_forms(STATUTES / Path(form.source).name)[index]
    assert form.text == statute, "the product reads the form's lines as the file has them"
    text = normalized(pdftotext(pdf.render(form, FACTS, reference="W-1"), tmp_path))
    found = pattern_of(statute).fullmatch(text)
    assert found, f"{key}: the PDF's text is not the statute's\n{text[:3000]}"
    filled = " ".join(g or "" for g in found.groups())
    for field in form.fields & set(FACTS):
        assert FACTS[field] in filled, f"{key}: {field} is not in its blank"


def test_every_state_has_a_form_of_each_kind_and_others_get_the_generic_one() -> None:
    for state in ("CA", "TX", "GA", "AZ"):
        for kind in WaiverKind:
            assert forms.form_for(state, kind).state == state
    assert forms.form_for("TX", WaiverKind.CONDITIONAL_PROGRESS).key == "TX-53.284(b)"
    assert forms.form_for("ca", WaiverKind.UNCONDITIONAL_FINAL).key == "CA-8138"
    washington = forms.form_for("WA", WaiverKind.CONDITIONAL_PROGRESS)
    assert washington.state is None and washington.key == "GENERIC-GP-1"
    assert forms.statutory_states() == {"CA", "TX", "GA", "AZ"}


def test_only_california_is_confirmed_and_the_others_say_what_is_not() -> None:
    for form in forms.all_forms():
        assert form.verified is (form.state == "CA"), form.key
        if form.state in ("TX", "GA", "AZ"):
            assert "CONFIRMED" in form.status.upper(), form.key  # partly, mostly, un-
        assert form.citation and form.source.startswith("portal/waivers/statutes/")


# The SHA-256 of each statute text as the legal team supplied it (../shared/legal/, read
# 2026-12-07): the project's copies must be those bytes exactly.
SUPPLIED = {
    "ca.txt": (
        "ca-civil-code-8132-8138.txt",
        "ca8816fa91a52f87bac161b3872e02a1420db34fdec6d3cdc8f728e6ae16548e",
    ),
    "tx.txt": (
        "tx-property-code-53.284.txt",
        "242518bacd02824ec4710bf97eec109d642fd291f56d0bf4a4f64357400a04d8",
    ),
    "ga.txt": (
        "ga-44-14-366.txt",
        "f4af904e6529ec7e71fea7a8f2d8925527d20c679551fcd0edb0a266383d81ad",
    ),
    "az.txt": (
        "az-33-1008.txt",
        "3b3755cafc7b3d867b262b6ad6cc9c85a70c6a2fc7b0a1b3f9769680222d87a9",
    ),
}


def test_the_statute_files_are_the_supplied_legal_texts_unchanged() -> None:
    for name, (supplied, digest) in SUPPLIED.items():
        assert hashlib.sha256((STATUTES / name).read_bytes()).hexdigest() == digest, name
        # Where the supplied texts sit beside the project, they are still those bytes.
        if (SHARED / supplied).is_file():
            assert (SHARED / supplied).read_bytes() == (STATUTES / name).read_bytes(), name


def test_a_blank_no_rule_names_is_refused(tmp_path, monkeypatch) -> None:
    odd = tmp_path / "odd.txt"
    odd.write_text(
        "====================\nSection: Test § 1\nForm: CONDITIONAL WAIVER\nStatus: TEST\n\n"
        "--- BEGIN FORM TEXT ---\nCONDITIONAL WAIVER\nThe colour of the van ________ here.\n"
        "--- END FORM TEXT ---\n",
        encoding="utf-8",
    )
    with pytest.raises(forms.UnnamedBlank, match="colour of the van"):
        forms._parse(odd, "ZZ")


@pytest.mark.parametrize(
    "key", ["CA-8134", "CA-8138", "TX-53.284(c)", "TX-53.284(e)", "AZ-33-1008(D)(2)"]
)
def test_a_notice_is_bold_and_in_the_largest_type(key) -> None:
    form = next(f for f in forms.all_forms() if f.key == key)
    reader = PdfReader(__import__("io").BytesIO(pdf.render(form, FACTS, reference="W-1")))
    sizes: dict[str, list[tuple[str, float]]] = {"notice": [], "other": []}
    notice_words = {w for line in form.lines if line.notice for w in line.text.split()}

    first_page: list[tuple[float, str]] = []

    def visit(text, cm, tm, font, size) -> None:
        if not text.strip():
            return
        scale = (tm[0] ** 2 + tm[1] ** 2) ** 0.5 * (cm[0] ** 2 + cm[1] ** 2) ** 0.5
        name = font.get("/BaseFont", "") if font else ""
        kind = "notice" if set(text.split()) <= notice_words and name.endswith("Bold") else "other"
        sizes[kind].append((text, size * scale))
        if on_first_page:
            first_page.append((cm[5] + tm[5], text))

    on_first_page = True
    for page in reader.pages:
        page.extract_text(visitor_text=visit)
        on_first_page = False
    assert sizes["notice"], "the notice is printed bold"
    largest_other = max(size for _, size in sizes["other"])
    assert min(size for _, size in sizes["notice"]) >= largest_other - 0.01
    assert min(size for _, size in sizes["notice"]) >= 10
    if form.state == "TX":  # at the top: nothing above it
        assert max(first_page)[1].startswith("NOTICE")


def test_georgia_is_twelve_point_throughout() -> None:
    form = forms.form_for("GA", WaiverKind.CONDITIONAL_PROGRESS)
    reader = PdfReader(__import__("io").BytesIO(pdf.render(form, FACTS, reference="W-1")))
    seen: list[float] = []

    def visit(text, cm, tm, font, size) -> None:
        if text.strip():
            seen.append(size * (tm[0] ** 2 + tm[1] ** 2) ** 0.5)

    for page in reader.pages:
        page.extract_text(visitor_text=visit)
    assert seen and min(seen) >= 12
