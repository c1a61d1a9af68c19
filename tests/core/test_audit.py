import threading

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.core import audit
from portal.core.db import db
from portal.core.models import AuditEvent

pytestmark = pytest.mark.usefixtures("database")


def append(n: int, company_id: int = 1) -> None:
    for i in range(n):
        audit.record(
            "core:test:happened",
            actor_user_id=7,
            company_id=company_id,
            object_type="thing",
            object_id=i,
            before={"status": "old"},
            after={"status": "new", "amount_cents": 12345},
        )
    db.session.commit()


def tamper(statement: str, **params: object) -> None:
    """Change audit rows the way only a database superuser could: around the append-only guard."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
        db.session.execute(sa.text(statement), params)
    else:
        db.session.execute(sa.text("DROP TRIGGER IF EXISTS audit_event_no_update"))
        db.session.execute(sa.text("DROP TRIGGER IF EXISTS audit_event_no_delete"))
        db.session.execute(sa.text(statement), params)
    db.session.commit()


def breaks() -> list[audit.ChainBreak]:
    db.session.expire_all()
    return list(audit.verify_chain())


def ids() -> list[int]:
    return list(db.session.scalars(sa.select(AuditEvent.id).order_by(AuditEvent.id)))


def test_events_are_chained_in_order() -> None:
    append(3)
    events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert events[0].prev_hash == audit.GENESIS_HASH
    assert breaks() == []


def test_nothing_is_written_when_the_transaction_rolls_back() -> None:
    audit.record("core:test:happened", actor_user_id=1)
    db.session.rollback()
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_action_tags_are_enforced() -> None:
    with pytest.raises(ValueError, match="feature:subject:verb"):
        audit.record("loggedin")


def test_detects_an_edited_row() -> None:
    append(4)
    tamper(
        "UPDATE audit_event SET after = :after WHERE id = :id",
        after='{"status": "forged"}',
        id=ids()[1],
    )
    assert [b.event_id for b in breaks()] == [ids()[1]]
    assert "edited" in breaks()[0].reason


def test_detects_a_deleted_row() -> None:
    append(4)
    victim = ids()[1]
    tamper("DELETE FROM audit_event WHERE id = :id", id=victim)
    found = breaks()
    assert [b.event_id for b in found] == [victim + 1]
    assert "deleted" in found[0].reason


def test_detects_reordered_rows() -> None:
    append(4)
    first, second = ids()[1:3]
    # Swap two rows' places in the log, hashes and all.
    tamper("UPDATE audit_event SET id = -1 WHERE id = :a", a=first)
    tamper("UPDATE audit_event SET id = :a WHERE id = :b", a=first, b=second)
    tamper("UPDATE audit_event SET id = :b WHERE id = -1", b=second)
    assert breaks(), "a reordered log must not verify"


def test_the_database_refuses_updates_and_deletes() -> None:
    append(1)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        db.session.execute(sa.text("UPDATE audit_event SET action = 'x:y:z'"))
    db.session.rollback()
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        db.session.execute(sa.text("DELETE FROM audit_event"))
    db.session.rollback()


def test_verify_command_exit_codes(runner) -> None:
    append(3)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    tamper("UPDATE audit_event SET action = 'core:test:forged' WHERE id = :id", id=ids()[0])
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"audit event {ids()[0]}" in result.output


@pytest.mark.real
@pytest.mark.committed
def test_concurrent_appenders_keep_one_chain(app: Flask) -> None:
    """Eight threads appending at once must still produce a single unbroken chain."""
    errors: list[BaseException] = []

    def worker(company_id: int) -> None:
        try:
            with app.app_context():
                for _ in range(5):
                    append(2, company_id=company_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 80
    assert breaks() == []


def test_a_checkpoint_catches_a_log_cut_short(runner) -> None:
    append(3)
    result = runner.invoke(args=["audit", "verify"])
    head = result.output.strip().rsplit("head ", 1)[1]
    assert runner.invoke(args=["audit", "verify", "--checkpoint", head]).exit_code == 0
    tamper("DELETE FROM audit_event WHERE id = :id", id=ids()[-1])
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0, "the tail alone looks fine"
    result = runner.invoke(args=["audit", "verify", "--checkpoint", head])
    assert result.exit_code == 1 and "cut short" in result.output
