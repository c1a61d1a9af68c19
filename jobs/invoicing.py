"""Invoice management's jobs."""

from __future__ import annotations


def import_commitments(run_id: int) -> None:
    """Check and import the commitments of CSV import ``run_id`` (all or nothing)."""
    from portal.invoicing import imports

    imports.run_import(run_id)
