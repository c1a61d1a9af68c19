"""Invoice management's jobs."""

from __future__ import annotations


def import_commitments(run_id: int) -> None:
    """Check and import the commitments of CSV import ``run_id`` (all or nothing)."""
    from portal.invoicing import imports

    # Counts between the start and the end are not reported yet: a second connection from
    # the forked work horse conflicted with the job's own (see the issue note).
    imports.run_import(run_id, lambda run_id, checked: None)
