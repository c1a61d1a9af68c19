"""The CSV import of commitments: the template imports as it is documented; any bad row is
reported by line and column and nothing is imported; a big file runs as a job."""

import csv
import io
import re

import pytest
import sqlalchemy as sa

from portal.companies.models import Role
from portal.core import tenancy
from portal.core.db import db
from portal.invoicing import imports
from portal.invoicing.models import (
    Commitment,
    CommitmentImport,
    CommitmentStatus,
    ImportStatus,
    SovLine,
)
from portal.onboarding.models import PayeeRelationship
from tests.conftest import TIER, wait_until
from tests.factories import add_project, make_invoicing_payor, sign_in_fresh

# In the real tier the import job runs in a worker process: it reads committed rows.
pytestmark = [pytest.mark.usefixtures("database")] + (
    [pytest.mark.committed] if TIER == "real" else []
)
PATH = "/commitments/import"


@pytest.fixture
def payor():
    return make_invoicing_payor()


@pytest.fixture
def admin(request, client, payor):
    if TIER == "real":  # the import runs in a worker process there
        request.getfixturevalue("rq_worker")
    user = sign_in_fresh(client, payor, (Role.INVOICE_ADMINISTRATOR,))[0]
    with tenancy.unscoped():
        add_project(payor, "SB-2101", actor_user_id=user.id)
    db.session.commit()
    return user


def rows_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=imports.NAMES)
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode()


def example(**changes) -> dict[str, str]:
    return {column.name: column.example for column in imports.COLUMNS} | changes


def upload(client, data: bytes, name: str = "commitments.csv"):
    response = client.submit(
        PATH,
        {"file": (io.BytesIO(data), name)},
        token_from=PATH,
        content_type="multipart/form-data",
    )
    # Werkzeug's test client spools a large body to a temporary file; the test closes it.
    response.request.environ["wsgi.input"].close()
    return response


def runs() -> list[CommitmentImport]:
    db.session.expire_all()
    with tenancy.unscoped():
        return list(db.session.scalars(sa.select(CommitmentImport).order_by(CommitmentImport.id)))


def count(model) -> int:
    with tenancy.unscoped():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def finished(client, run) -> CommitmentImport:
    wait_until(lambda: runs()[-1].finished, timeout=60)
    return runs()[-1]


def test_the_template_imports_as_documented(client, admin) -> None:
    template = client.get(f"{PATH}/template.csv")
    assert template.headers["Content-Type"].startswith("text/csv")
    response = upload(client, template.data)
    assert response.status_code == 303
    run = finished(client, runs()[-1])
    assert run.status is ImportStatus.SUCCEEDED and run.commitments_created == 1
    with tenancy.unscoped():
        (commitment,) = db.session.scalars(sa.select(Commitment))
        relationship = db.session.get(PayeeRelationship, commitment.relationship_id)
    assert (commitment.number, commitment.original_sum_cents) == ("SC-301", 8_400_000)
    assert commitment.status is CommitmentStatus.APPROVED
    assert [(x.description, x.scheduled_value_cents) for x in commitment.lines] == [
        ("Sprinkler piping", 6_000_000),
        ("Heads and trim", 2_400_000),
    ]
    assert relationship.contact_email == "office@aquafire.example.com"
    page = client.get(f"{PATH}/{run.id}").get_data(as_text=True)
    assert "1 commitment imported" in page
    # Importing it again: SC-301 exists now, so nothing is imported.
    upload(client, template.data)
    run = finished(client, runs()[-1])
    assert run.status is ImportStatus.FAILED
    assert any("SC-301 already exists on project SB-2101" in e for e in run.errors)
    assert count(Commitment) == 1


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"contract_sum": "84000.5x"}, "Line 4, contract_sum: Enter an amount"),
        ({"line_value": "-5"}, "Line 4, line_value: The amount cannot be negative"),
        ({"line_retainage": "120"}, "Line 4, line_retainage: The percentage cannot be more"),
        ({"project_number": "NOPE-1"}, "Line 4, project_number: no project NOPE-1"),
        ({"kind": "lease"}, "Line 4, kind: write subcontract or purchase_order"),
        ({"payee_email": "not-an-email"}, "Line 4, payee_email: not a valid email address"),
        ({"line_description": ""}, "Line 4, line_description: empty; it is required"),
        ({"title": "Another title"}, "Line 4, title: differs from line 3"),
    ],
)
def test_one_broken_row_imports_nothing(client, admin, bad, message) -> None:
    rows = [
        example(commitment_number="SC-1", contract_sum="100", line_value="100"),
        example(commitment_number="SC-2", contract_sum="100", line_value="60"),
        example(**({"commitment_number": "SC-2", "contract_sum": "100", "line_value": "40"} | bad)),
    ]
    upload(client, rows_csv(rows))
    run = finished(client, runs()[-1])
    assert run.status is ImportStatus.FAILED
    assert any(message in error for error in run.errors), run.errors
    assert count(Commitment) == 0 and count(SovLine) == 0 and count(PayeeRelationship) == 0
    page = client.get(f"{PATH}/{run.id}").get_data(as_text=True)
    assert "Nothing was imported" in page


def test_a_header_without_rows_is_no_import(client, admin) -> None:
    upload(client, rows_csv([]))
    run = finished(client, runs()[-1])
    assert run.status is ImportStatus.FAILED
    assert run.errors == ["The file has no rows to import under its header."]


def test_lines_that_do_not_add_up_import_nothing(client, admin) -> None:
    rows = [
        example(commitment_number="SC-1", contract_sum="100", line_value="60"),
        example(commitment_number="SC-1", contract_sum="100", line_value="39.99"),
    ]
    upload(client, rows_csv(rows))
    run = finished(client, runs()[-1])
    assert any("add up to 99.99, not 100.00" in e for e in run.errors)
    assert count(Commitment) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not a CSV file"),
        (b"project_number,title\nSB-1,x\n", "missing columns: commitment_number"),
        (
            b"project_number,commitment_number,kind,title,payee_name,payee_email,contract_sum,"
            b"line_description,line_value,colour\n",
            "unknown columns: colour",
        ),
        (b"\xff\xfeproject_number", "not UTF-8"),
    ],
)
def test_a_file_that_is_no_import_is_refused_at_once(client, admin, data, message) -> None:
    response = upload(client, data)
    page = response.get_data(as_text=True)
    assert message in page and "Nothing was imported" in page
    assert runs() == []


@pytest.mark.real
@pytest.mark.committed
def test_ten_thousand_lines_import_in_a_worker(client, admin) -> None:
    rows = [
        example(
            commitment_number=f"SC-{n // 20}",
            contract_sum="2000",
            line_value="100",
            line_description=f"Line {n}",
            line_code=f"{n:05d}",
        )
        for n in range(10_000)
    ]
    assert upload(client, rows_csv(rows)).status_code == 303
    run = runs()[-1]
    # The page is left and come back to while the worker runs: it polls while running.
    fragment = client.get(f"{PATH}/{run.id}", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert "<html" not in body
    # While the worker runs, the fragment tells how far it has come (from Redis: the job's
    # own transaction commits only at its end).
    seen: set[tuple[str, int, int]] = set()

    def watch():
        page = client.get(f"{PATH}/{run.id}", headers={"HX-Request": "true"})
        text = page.get_data(as_text=True)
        for step, done, total in re.findall(
            r"(Checking rows|Writing commitments): ([\d,]+) of ([\d,]+)", text
        ):
            seen.add((step, int(done.replace(",", "")), int(total.replace(",", ""))))
        return runs()[-1] if runs()[-1].finished else None

    run = wait_until(watch, timeout=120)
    assert seen, "the page showed the import's progress while it ran"
    assert all(0 <= done < total for _, done, total in seen)
    assert {total for step, _, total in seen if step == "Checking rows"} <= {10_000}
    assert run.status is ImportStatus.SUCCEEDED, run.errors
    assert (run.commitments_created, run.total_rows, run.percent) == (500, 10_000, 100)
    assert count(SovLine) == 10_000
    done = client.get(f"{PATH}/{run.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in done  # a finished import stops polling
