"""A pay application as a PDF in the layout payors and payees already read: the summary
(G702-style application for payment) and the continuation sheet (G703-style), drawn with
ReportLab from the same figures as the screen. Not an AIA document, and not branded as one."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from reportlab.lib import colors
from reportlab.lib.pagesizes import landscape, letter
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import (
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from portal.core.money import format_bps, format_cents
from portal.invoicing.payapp import PayApplication


@dataclass(frozen=True)
class Heading:
    """Who bills whom for what, as the form's header names them."""

    payor: str
    payee: str
    project: str
    project_address: str
    commitment: str
    application_number: int
    period: str
    period_to: date
    billing_type: str
    status: str


_STYLES = getSampleStyleSheet()
_SMALL = ParagraphStyle("small", parent=_STYLES["Normal"], fontSize=8, leading=10)
_TITLE = ParagraphStyle("title", parent=_STYLES["Title"], fontSize=15, spaceAfter=4)
_GRID = colors.HexColor("#8a8f98")


def render(heading: Heading, sheet: PayApplication) -> bytes:
    """The summary page, then the continuation sheet, as PDF bytes."""
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=landscape(letter),
        leftMargin=0.5 * inch,
        rightMargin=0.5 * inch,
        topMargin=0.5 * inch,
        bottomMargin=0.5 * inch,
        title=f"Application {heading.application_number} · {heading.commitment}",
        author=heading.payee,
        subject=f"Pay application for {heading.period}",
        creator="Trestle",
    )
    story = [*_summary(heading, sheet), PageBreak(), *_continuation(heading, sheet)]
    document.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return out.getvalue()


def _summary(heading: Heading, sheet: PayApplication) -> list:
    parties = Table(
        [
            [
                "To (owner of the contract):",
                heading.payor,
                "Application no.:",
                str(heading.application_number),
            ],
            ["From (contractor):", heading.payee, "Period to:", f"{heading.period_to:%B %-d, %Y}"],
            ["Project:", heading.project, "Billing period:", heading.period],
            ["", heading.project_address, "Billing type:", heading.billing_type],
            ["Contract:", heading.commitment, "Status:", heading.status],
        ],
        colWidths=[1.7 * inch, 4.2 * inch, 1.3 * inch, 2.8 * inch],
    )
    parties.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold"),
                ("FONTNAME", (2, 0), (2, -1), "Helvetica-Bold"),
                ("FONTSIZE", (0, 0), (-1, -1), 9),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    figures = [
        ("1.", "Original contract sum", sheet.original_contract_sum),
        ("2.", "Net change by change orders", sheet.net_change_by_change_orders),
        ("3.", "Contract sum to date (line 1 + 2)", sheet.contract_sum_to_date),
        ("4.", "Total completed and stored to date (column G)", sheet.total_completed_and_stored),
        ("5.", "Retainage:", None),
        ("", "a. on completed work (columns D + E)", sheet.retainage_on_completed),
        ("", "b. on stored material (column F)", sheet.retainage_on_stored),
        ("", "Total retainage (line 5a + 5b)", sheet.total_retainage),
        (
            "6.",
            "Total earned less retainage (line 4 - line 5 total)",
            sheet.total_earned_less_retainage,
        ),
        (
            "7.",
            "Less previous certificates for payment (line 6 of prior application)",
            sheet.previous_certificates,
        ),
        ("8.", "Current payment due", sheet.current_payment_due),
        (
            "9.",
            "Balance to finish, including retainage (line 3 - line 6)",
            sheet.balance_to_finish_including_retainage,
        ),
    ]
    table = Table(
        [
            [number, label, "" if cents is None else format_cents(cents)]
            for number, label, cents in figures
        ],
        colWidths=[0.4 * inch, 6.2 * inch, 2.2 * inch],
        hAlign="LEFT",
    )
    due_row = 10
    table.setStyle(
        TableStyle(
            [
                ("FONTSIZE", (0, 0), (-1, -1), 10),
                ("ALIGN", (2, 0), (2, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, _GRID),
                ("FONTNAME", (0, due_row), (-1, due_row), "Helvetica-Bold"),
                ("BACKGROUND", (0, due_row), (-1, due_row), colors.HexColor("#eef2f7")),
            ]
        )
    )
    return [
        Paragraph("Application and Certificate for Payment", _TITLE),
        Paragraph("Summary of the pay application; the continuation sheet follows.", _SMALL),
        Spacer(1, 8),
        parties,
        Spacer(1, 12),
        KeepTogether(table),
        Spacer(1, 12),
        Paragraph(
            "The amounts are computed by Trestle from the continuation sheet: each line's "
            "retainage is rounded to the cent, and the totals are the sums of the lines.",
            _SMALL,
        ),
    ]


def _continuation(heading: Heading, sheet: PayApplication) -> list:
    header = [
        "A\nItem",
        "B\nDescription of work",
        "C\nScheduled\nvalue",
        "D\nFrom previous\napplication",
        "E\nThis period",
        "F\nMaterials\npresently stored",
        "G\nCompleted and\nstored to date",
        "G/C",
        "H\nBalance to\nfinish",
        "I\nRetainage",
    ]
    rows = [header]
    for line in sheet.lines:
        rows.append(
            [
                str(line.item),
                Paragraph(
                    f"{line.description} ({format_bps(line.retainage_bps)} retained)", _SMALL
                ),
                format_cents(line.scheduled_value),
                format_cents(line.previous_completed),
                format_cents(line.this_period),
                format_cents(line.stored),
                format_cents(line.completed_and_stored),
                format_bps(line.percent_bps),
                format_cents(line.balance_to_finish),
                format_cents(line.retainage),
            ]
        )
    rows.append(
        [
            "",
            "Totals",
            format_cents(sheet.scheduled_total),
            format_cents(sheet.previous_completed),
            format_cents(sheet.this_period),
            format_cents(sheet.stored),
            format_cents(sheet.total_completed_and_stored),
            format_bps(sheet.percent_bps),
            format_cents(sheet.balance_to_finish),
            format_cents(sheet.total_retainage),
        ]
    )
    widths = [0.45, 2.35, 0.95, 0.95, 0.9, 0.95, 0.95, 0.55, 0.9, 0.85]
    table = Table(rows, colWidths=[w * inch for w in widths], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTSIZE", (0, 0), (-1, -1), 7.5),
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
                ("ALIGN", (2, 1), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("GRID", (0, 0), (-1, -1), 0.25, _GRID),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f7")),
            ]
        )
    )
    return [
        Paragraph("Continuation Sheet", _TITLE),
        Paragraph(
            f"Application no. {heading.application_number} · {heading.commitment} · "
            f"{heading.project} · period to {heading.period_to:%B %-d, %Y}",
            _SMALL,
        ),
        Spacer(1, 8),
        table,
    ]


def _footer(canvas, document) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 7)
    canvas.drawString(0.5 * inch, 0.3 * inch, "Generated by Trestle. Not an AIA document.")
    canvas.drawRightString(landscape(letter)[0] - 0.5 * inch, 0.3 * inch, f"Page {document.page}")
    canvas.restoreState()
