"""The CSV import of commitments and their schedules of values: the layout, the checks of
every row, and the all-or-nothing write. Run by a job (``jobs.invoicing.import_commitments``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from portal.core import audit, progress, storage
from portal.core.db import db, utcnow
from portal.core.errors import InvalidInput
from portal.core.money import parse_amount, parse_percent
from portal.core.text import clean_text, one_line
from portal.invoicing.models import (
    Commitment,
    CommitmentImport,
    CommitmentKind,
    CommitmentStatus,
    ImportStatus,
    Project,
    SovLine,
)
from portal.onboarding.models import PayeeRelationship

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
MAX_ERRORS = 200
PROGRESS_EVERY = 500
CHECKING, WRITING = "Checking rows", "Writing commitments"


def progress_name(run_id: int) -> str:
    return f"commitment-import:{run_id}"


@dataclass(frozen=True)
class ImportColumn:
    name: str
    required: bool
    explains: str
    example: str


COLUMNS = (
    ImportColumn("project_number", True, "The project's number in Trestle.", "SB-2101"),
    ImportColumn("commitment_number", True, "Unique on the project.", "SC-301"),
    ImportColumn("kind", True, "subcontract or purchase_order.", "subcontract"),
    ImportColumn("title", True, "The commitment's title.", "Fire sprinklers"),
    ImportColumn("payee_name", True, "Your name for the payee.", "Aqua Fire Protection"),
    ImportColumn(
        "payee_email",
        True,
        "Its contact: an existing payee with this contact is used, else it is added to "
        "your payees (to invite later).",
        "office@aquafire.example.com",
    ),
    ImportColumn("contract_sum", True, "Dollars and cents; the lines add up to it.", "84000.00"),
    ImportColumn("default_retainage", False, "Percent; 10 when empty.", "10"),
    ImportColumn("approved", False, "yes to approve it on import; no (or empty): a draft.", "yes"),
    ImportColumn("line_code", False, "The line's cost code.", "21 13 13"),
    ImportColumn("line_description", True, "One schedule line per row.", "Sprinkler piping"),
    ImportColumn("line_value", True, "The line's scheduled value.", "60000.00"),
    ImportColumn("line_retainage", False, "Percent; the default when empty.", "10"),
)
NAMES = [column.name for column in COLUMNS]
# The columns that describe the commitment: every row of one commitment must agree on them.
COMMITMENT_COLUMNS = (
    "kind",
    "title",
    "payee_name",
    "payee_email",
    "contract_sum",
    "default_retainage",
    "approved",
)


def template_csv() -> str:
    """The layout as a CSV file with an example commitment of two lines."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(NAMES)
    example = {column.name: column.example for column in COLUMNS}
    writer.writerow([example[name] for name in NAMES])
    second = {
        **example,
        "line_code": "21 13 16",
        "line_description": "Heads and trim",
        "line_value": "24000.00",
    }
    writer.writerow([second[name] for name in NAMES])
    return out.getvalue()


def start_import(company_id: int, stream, filename: str, *, actor_user_id: int) -> CommitmentImport:
    """Keep the uploaded file and queue its import (the job checks every row)."""
    from portal.core import outbox

    data = stream.read(MAX_BYTES + 1)
    if not data:
        raise InvalidInput("The file is empty.", field="file")
    if len(data) > MAX_BYTES:
        raise InvalidInput("The file is larger than 5 MB.", field="file")
    text = _decode(data)
    header = next(csv.reader(io.StringIO(text)), [])
    _check_header([h.strip().lower() for h in header])
    record = storage.keep_bytes(
        data,
        original_name=filename,
        kind="commitment_import",
        content_type="text/csv",
        extension=".csv",
        company_id=company_id,
        uploaded_by_user_id=actor_user_id,
    )
    run = CommitmentImport(company_id=company_id, file=record, created_by_user_id=actor_user_id)
    db.session.add(run)
    db.session.flush()
    audit.record(
        "invoicing:import:started",
        actor_user_id=actor_user_id,
        company_id=company_id,
        object_type="commitment_import",
        object_id=run.id,
        after={"file": record.original_name, "sha256": record.sha256},
    )
    outbox.enqueue("jobs.invoicing.import_commitments", run.id)
    return run


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise InvalidInput("That is not a CSV file: save the sheet as CSV (UTF-8).", field="file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "The file is not UTF-8 text: save the sheet as CSV (UTF-8).", field="file"
        ) from None


def _check_header(header: list[str]) -> None:
    missing = [c.name for c in COLUMNS if c.required and c.name not in header]
    unknown = [h for h in header if h and h not in NAMES]
    if missing or unknown:
        parts = []
        if missing:
            parts.append("missing columns: " + ", ".join(missing))
        if unknown:
            parts.append("unknown columns: " + ", ".join(unknown[:10]))
        raise InvalidInput(
            "Line 1 (the header): " + "; ".join(parts) + ". Start from the template.",
            field="file",
        )


@dataclass
class _Commitment:
    line: int  # the first row's line number
    project: Project
    values: dict[str, str]
    lines: list[tuple[str, str, int, int | None]] = field(default_factory=list)


def run_import(run_id: int) -> None:
    """Check every row of the run's file, then write every commitment in this transaction,
    or (any bad row) write none and keep the errors. Safe to run twice. How far it has come
    is reported as it goes (portal.core.progress), outside this transaction."""
    run = db.session.get(CommitmentImport, run_id)
    if run is None or run.finished:
        return
    with storage.open_file(run.file) as stream:
        rows = list(csv.reader(io.StringIO(_decode(stream.read()))))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    body = [
        (number, row) for number, row in enumerate(rows[1:], start=2) if any(c.strip() for c in row)
    ]
    run.status = ImportStatus.RUNNING
    run.total_rows = len(body)
    errors: list[str] = []
    if not body:
        errors.append("The file has no rows to import under its header.")
    if len(body) > MAX_ROWS:
        errors.append(f"The file has {len(body):,} rows; import at most {MAX_ROWS:,} at once.")
    projects = {
        p.number: p
        for p in db.session.scalars(sa.select(Project).where(Project.company_id == run.company_id))
    }
    taken = set(
        db.session.execute(
            sa.select(Project.number, Commitment.number)
            .join(Project, Project.id == Commitment.project_id)
            .where(Commitment.company_id == run.company_id)
        ).all()
    )
    found: dict[tuple[str, str], _Commitment] = {}
    for done, (number, raw) in enumerate(body if not errors else [], start=1):
        row = dict(zip(header, (clean_text(c).strip() for c in raw), strict=False))
        if len(raw) > len(header):
            errors.append(f"Line {number}: more cells than the header has columns.")
        _check_row(number, row, projects, taken, found, errors)
        if len(errors) >= MAX_ERRORS:
            errors.append(f"Stopped after {MAX_ERRORS} errors; fix these and import again.")
            break
        if done % PROGRESS_EVERY == 0:
            progress.report(progress_name(run.id), CHECKING, done, len(body))
    for key, commitment in found.items():
        total = sum(value for _, _, value, _ in commitment.lines)
        sum_cents = _amount(commitment.values["contract_sum"])
        if sum_cents is not None and total != sum_cents and len(errors) < MAX_ERRORS:
            errors.append(
                f"Line {commitment.line}, contract_sum: the lines of {key[1]} on {key[0]} "
                f"add up to {total / 100:,.2f}, not {sum_cents / 100:,.2f}."
            )
    run.checked_rows = len(body)
    run.finished_at = utcnow()
    if errors:
        run.status, run.errors = ImportStatus.FAILED, errors[: MAX_ERRORS + 1]
        audit.record(
            "invoicing:import:failed",
            company_id=run.company_id,
            object_type="commitment_import",
            object_id=run.id,
            after={"errors": len(errors)},
        )
        return
    progress.report(progress_name(run.id), WRITING, 0, len(found))
    created = _write(run, found)
    run.status, run.commitments_created = ImportStatus.SUCCEEDED, created
    audit.record(
        "invoicing:import:succeeded",
        company_id=run.company_id,
        object_type="commitment_import",
        object_id=run.id,
        after={"commitments": created, "lines": len(body)},
    )


def _check_row(number, row, projects, taken, found, errors) -> None:
    def bad(column: str, message: str) -> None:
        errors.append(f"Line {number}, {column}: {message}")

    for column in COLUMNS:
        if column.required and not row.get(column.name):
            bad(column.name, "empty; it is required.")
    project = projects.get(row.get("project_number", ""))
    if row.get("project_number") and project is None:
        bad("project_number", f"no project {row['project_number'][:40]} in Trestle.")
    if project is not None and project.archived_at is not None:
        bad("project_number", f"project {project.number} is archived.")
    if row.get("kind") and row["kind"] not in {k.value for k in CommitmentKind}:
        bad("kind", "write subcontract or purchase_order.")
    if row.get("payee_email"):
        try:
            validate_email(row["payee_email"], check_deliverability=False)
        except EmailNotValidError:
            bad("payee_email", "not a valid email address.")
    if row.get("approved", "").lower() not in ("", "yes", "no"):
        bad("approved", "write yes or no.")
    for column, limit in (
        ("commitment_number", 40),
        ("title", 200),
        ("payee_name", 200),
        ("line_code", 40),
        ("line_description", 200),
    ):
        if len(row.get(column, "")) > limit:
            bad(column, f"at most {limit} characters.")
    value = None
    for column in ("contract_sum", "line_value"):
        if row.get(column):
            try:
                cents = parse_amount(row[column], allow_zero=column == "line_value")
            except InvalidInput as error:
                bad(column, error.message)
            else:
                value = cents if column == "line_value" else value
    retainage = None
    for column in ("default_retainage", "line_retainage"):
        if row.get(column):
            try:
                bps = parse_percent(row[column])
            except InvalidInput as error:
                bad(column, error.message)
            else:
                retainage = bps if column == "line_retainage" else retainage
    if project is None or not row.get("commitment_number"):
        return
    key = (project.number, row["commitment_number"])
    if key in taken:
        bad("commitment_number", f"{key[1]} already exists on project {key[0]}.")
        return
    commitment = found.get(key)
    if commitment is None:
        commitment = found[key] = _Commitment(
            number, project, {c: row.get(c, "") for c in COMMITMENT_COLUMNS}
        )
    else:
        for column in COMMITMENT_COLUMNS:
            if row.get(column, "") != commitment.values[column]:
                bad(column, f"differs from line {commitment.line}, the first row of {key[1]}.")
    if value is not None:
        commitment.lines.append(
            (row.get("line_code", ""), one_line(row.get("line_description", "")), value, retainage)
        )


def _amount(text: str) -> int | None:
    try:
        return parse_amount(text)
    except InvalidInput:
        return None


def _write(run: CommitmentImport, found: dict[tuple[str, str], _Commitment]) -> int:
    payees = {
        r.contact_email: r
        for r in db.session.scalars(
            sa.select(PayeeRelationship).where(PayeeRelationship.payor_id == run.company_id)
        )
    }
    now = utcnow()
    for written, ((_, number), commitment) in enumerate(found.items()):
        if written and written % (PROGRESS_EVERY // 10) == 0:
            progress.report(progress_name(run.id), WRITING, written, len(found))
        values = commitment.values
        email = values["payee_email"].strip().lower()
        relationship = payees.get(email)
        if relationship is None:
            relationship = payees[email] = PayeeRelationship(
                payor_id=run.company_id,
                directory_name=one_line(values["payee_name"]),
                contact_email=email,
                created_by_user_id=run.created_by_user_id,
            )
            db.session.add(relationship)
            db.session.flush()
            audit.record(
                "onboarding:payee:added",
                actor_user_id=run.created_by_user_id,
                company_id=run.company_id,
                object_type="payee_relationship",
                object_id=relationship.id,
                after={"directory_name": relationship.directory_name, "contact_email": email},
            )
        default = (
            parse_percent(values["default_retainage"]) if values["default_retainage"] else 1000
        )
        approved = values["approved"].lower() == "yes"
        row = Commitment(
            company_id=run.company_id,
            project_id=commitment.project.id,
            relationship_id=relationship.id,
            payee_company_id=relationship.payee_id,
            kind=CommitmentKind(values["kind"]),
            number=number,
            title=one_line(values["title"]),
            original_sum_cents=parse_amount(values["contract_sum"]),
            default_retainage_bps=default,
            status=CommitmentStatus.APPROVED if approved else CommitmentStatus.DRAFT,
            approved_at=now if approved else None,
            approved_by_user_id=run.created_by_user_id if approved else None,
            created_by_user_id=run.created_by_user_id,
        )
        row.lines = [
            SovLine(
                position=position,
                code=one_line(code),
                description=description,
                original_value_cents=value,
                scheduled_value_cents=value,
                retainage_bps=default if bps is None else bps,
            )
            for position, (code, description, value, bps) in enumerate(commitment.lines, start=1)
        ]
        db.session.add(row)
    db.session.flush()
    return len(found)
