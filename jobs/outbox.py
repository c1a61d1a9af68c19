"""Run one relayed outbox message."""

from __future__ import annotations

from jobs import app_context


def run_message(message_id: int) -> bool:
    """Run outbox message ``message_id`` unless it has already run."""
    from portal.core import outbox

    with app_context():
        return outbox.execute(message_id)
