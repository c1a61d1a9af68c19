"""A waiver form filled in, as a PDF (ReportLab): the statute's lines in the statute's order,
each blank with its fact, and the type-size rules honoured. Every notice is printed bold in
the form's largest type (California §§ 8134 and 8138, Texas § 53.284(c) and (e), Arizona
§ 33-1008(D)(2) and (4): at least as large as any other type; Texas: not smaller than 10
point, at the top, nothing above it), and Georgia's whole form is at least 12 point."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from portal.waivers.forms import StatutoryForm, fill_line

# Every page's foot names the document; the tests read it out before comparing the text.
FOOTER_PREFIX = "Trestle lien waiver"
SECTION_HEADINGS = {
    "Identifying Information",
    "Conditional Waiver and Release",
    "Unconditional Waiver and Release",
    "Exceptions",
    "Signature",
}


def type_sizes(form: StatutoryForm) -> tuple[float, float]:
    """The body's type size and the largest (titles and notices) for this form."""
    body = float(max(10, form.min_points))
    return body, body + 2


def render(form: StatutoryForm, facts: dict[str, str], *, reference: str) -> bytes:
    """The filled form as PDF bytes. ``reference`` names the document in each page's foot."""
    body_size, top_size = type_sizes(form)
    body = ParagraphStyle(
        "body", fontName="Helvetica", fontSize=body_size, leading=body_size * 1.3, spaceAfter=4
    )
    section = ParagraphStyle("section", parent=body, fontName="Helvetica-Bold", spaceBefore=6)
    title = ParagraphStyle(
        "title",
        parent=body,
        fontName="Helvetica-Bold",
        fontSize=top_size,
        leading=top_size * 1.25,
        alignment=1,
        spaceAfter=2,
    )
    notice = ParagraphStyle(
        "notice",
        parent=title,
        alignment=0,
        spaceBefore=4,
        spaceAfter=8,
    )
    story = []
    for line in form.lines:
        text = escape(fill_line(line, facts))
        if line.notice:
            style = notice
        elif line.heading:
            style = title
        elif line.text.strip() in SECTION_HEADINGS:
            style = section
        else:
            style = body
        story.append(Paragraph(text or "&nbsp;", style))
    story.append(Spacer(1, 0.2 * inch))

    def foot(canvas, document) -> None:
        canvas.saveState()
        # Georgia's whole document is at least 12 point: its foot too.
        canvas.setFont("Helvetica", 7 if form.min_points <= 10 else form.min_points)
        canvas.drawString(
            document.leftMargin,
            0.5 * inch,
            f"{FOOTER_PREFIX} {reference} · form {form.key} ({form.citation}) · "
            f"page {document.page}",
        )
        canvas.restoreState()

    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=LETTER,
        leftMargin=0.9 * inch,
        rightMargin=0.9 * inch,
        topMargin=0.8 * inch,
        bottomMargin=0.9 * inch,
        title=form.title,
        author="Trestle",
        subject=f"{form.citation}; {reference}",
    )
    document.build(story, onFirstPage=foot, onLaterPages=foot)
    return out.getvalue()
