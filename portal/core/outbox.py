"""The transactional outbox: side effects are rows written with the change, relayed after commit.

``enqueue`` adds a row naming a job in ``jobs/`` by dotted path. When the transaction commits
the relay hands the row to RQ (or, with no ``REDIS_URL``, runs it in-process). A rollback
leaves nothing to relay; a Redis outage leaves the row waiting for the next relay sweep.
Each run is marked complete in the job's own transaction, so a message that already ran is
skipped, and a failed run is retried later with backoff.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
import sqlalchemy as sa
from flask import Flask, current_app
from rq import Queue
from sqlalchemy.orm import Session
from werkzeug.utils import import_string

from portal.core import audit, tenancy
from portal.core.db import PortalSession, db, expecting_writes, utcnow
from portal.core.models import OutboxMessage

log = logging.getLogger(__name__)

QUEUES = ("payments", "notifications", "default")
MAX_ATTEMPTS = 8
RUNNER = "jobs.outbox.run_message"


def retry_delay(attempts: int) -> timedelta:
    """Back off exponentially: 15 s, 30 s, 1 min, … capped at one hour."""
    return timedelta(seconds=min(15 * 2 ** max(attempts - 1, 0), 3600))


def enqueue(
    job: str,
    *args: Any,
    queue: str = "default",
    delay: timedelta | None = None,
    session: Session | None = None,
) -> OutboxMessage:
    """Write an outbox row that runs ``job(*args)`` once the current transaction commits.

    ``job`` is a dotted path into ``jobs/``; ``args`` must be JSON (ids, not objects).
    """
    if not job.startswith("jobs."):
        raise ValueError(f"jobs are enqueued by their dotted path in jobs/, not {job!r}")
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; use one of {', '.join(QUEUES)}")
    now = utcnow()
    message = OutboxMessage(
        job=job,
        args=list(args),
        queue=queue,
        created_at=now,
        available_at=now + (delay or timedelta()),
    )
    (session if session is not None else db.session()).add(message)
    return message


@sa.event.listens_for(PortalSession, "after_flush")
def _remember_new_messages(session: Session, flush_context: Any) -> None:
    new_ids = [obj.id for obj in session.new if isinstance(obj, OutboxMessage)]
    if new_ids:
        session.info.setdefault("outbox_ids", []).extend(new_ids)


@sa.event.listens_for(PortalSession, "after_commit")
def _relay_after_commit(session: Session) -> None:
    ids = session.info.pop("outbox_ids", None)
    if ids:
        relay = current_app.extensions["trestle.outbox"]
        relay.relay(ids)


@sa.event.listens_for(PortalSession, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop("outbox_ids", None)


@dataclass
class OutboxRelay:
    """Moves committed outbox rows to the job queue, or runs them here when there is none."""

    app: Flask
    redis_url: str | None
    stale_after: timedelta

    @property
    def in_process(self) -> bool:
        return self.redis_url is None

    def connection(self) -> redis.Redis:
        """Return a Redis client that fails fast, so an outage never hangs a web request."""
        return redis.Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=5)

    def relay(self, ids: list[int] | None = None, limit: int = 500) -> int:
        """Relay the given messages (or, with no ids, every due or stale one); return how many.

        Never raises: a failure is logged and the rows stay for the next sweep.
        """
        try:
            with self.app.app_context(), expecting_writes():
                try:
                    claimed = self._claim(ids, limit)
                finally:
                    db.session.remove()
        except Exception:
            log.warning(
                "outbox relay failed; messages stay queued for the next sweep", exc_info=True
            )
            return 0
        if self.in_process:
            for message_id in claimed:
                # As in a worker process: no company scope, no request to attribute to.
                with (
                    self.app.app_context(),
                    tenancy.unscoped(),
                    audit.request_context(),
                    expecting_writes(),
                ):
                    try:
                        execute(message_id)
                    except Exception:
                        log.exception("in-process job for outbox message %s failed", message_id)
        return len(claimed)

    def _claim(self, ids: list[int] | None, limit: int) -> list[int]:
        now = utcnow()
        pending = sa.and_(
            OutboxMessage.completed_at.is_(None), OutboxMessage.attempts < MAX_ATTEMPTS
        )
        if ids:
            due = sa.and_(OutboxMessage.id.in_(ids), OutboxMessage.relayed_at.is_(None))
        else:
            cutoff = now - self.stale_after
            # Relayed long ago and never completed: Redis lost it, or a worker died.
            stale = sa.and_(OutboxMessage.relayed_at < cutoff, OutboxMessage.available_at < cutoff)
            due = sa.or_(OutboxMessage.relayed_at.is_(None), stale)
        if self.in_process:
            due = sa.and_(due, OutboxMessage.available_at <= now)
        stmt = (
            sa.select(OutboxMessage)
            .where(pending, due)
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        messages = db.session.execute(stmt).scalars().all()
        if not messages:
            db.session.rollback()
            return []
        if not self.in_process:
            connection = self.connection()
            queues: dict[str, Queue] = {}
            for message in messages:
                queue = queues.setdefault(
                    message.queue, Queue(message.queue, connection=connection)
                )
                options = {"job_id": f"outbox-{message.id}-{message.attempts}", "result_ttl": 3600}
                if message.available_at > now:
                    queue.enqueue_at(message.available_at, RUNNER, message.id, **options)
                else:
                    queue.enqueue(RUNNER, message.id, **options)
        for message in messages:
            message.relayed_at = now
        claimed = [message.id for message in messages]
        db.session.commit()
        return claimed

    def run_forever(
        self, interval: float = 1.0, should_stop: Callable[[], bool] = lambda: False
    ) -> None:
        """Sweep the outbox every ``interval`` seconds until ``should_stop`` says so."""
        while not should_stop():
            relayed = self.relay()
            if relayed:
                log.info("relayed %d outbox message(s)", relayed)
            time.sleep(interval)


def execute(message_id: int) -> bool:
    """Run one outbox message inside the current app context; return False if it had run.

    The message row stays locked while its job runs (so a duplicate delivery waits, then
    skips), and is marked complete in the job's transaction.
    """
    try:
        message = db.session.get(OutboxMessage, message_id, with_for_update=True)
        if message is None or message.completed_at is not None:
            db.session.rollback()
            return False
        job, args = message.job, list(message.args)
        try:
            import_string(job)(*args)
        except Exception as exc:
            db.session.rollback()
            _record_failure(message_id, exc)
            raise
        message = db.session.get(OutboxMessage, message_id, with_for_update=True)
        if message is not None:
            message.completed_at = utcnow()
        db.session.commit()
        return True
    finally:
        db.session.remove()


def _record_failure(message_id: int, exc: BaseException) -> None:
    message = db.session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        return
    message.attempts += 1
    message.last_error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
    message.relayed_at = None
    message.available_at = utcnow() + retry_delay(message.attempts)
    db.session.commit()
    log.warning(
        "job %s for outbox message %s failed (attempt %d): %s",
        message.job,
        message_id,
        message.attempts,
        message.last_error,
    )


def queue_health(app: Flask) -> dict[str, Any]:
    """Describe the job queue for /healthz: mode, reachability and the outbox backlog."""
    relay: OutboxRelay = app.extensions["trestle.outbox"]
    backlog = db.session.execute(
        sa.select(sa.func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.completed_at.is_(None), OutboxMessage.attempts < MAX_ATTEMPTS)
    ).scalar_one()
    dead = db.session.execute(
        sa.select(sa.func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.completed_at.is_(None), OutboxMessage.attempts >= MAX_ATTEMPTS)
    ).scalar_one()
    health: dict[str, Any] = {
        "mode": "in-process" if relay.in_process else "rq",
        "outbox_pending": backlog,
        "outbox_dead": dead,
    }
    if relay.in_process:
        health["ok"] = True
        return health
    try:
        relay.connection().ping()
        health["ok"] = True
    except redis.RedisError as exc:
        health["ok"] = False
        health["error"] = f"Redis is not answering: {exc.__class__.__name__}"
    return health


def prune_completed(days: int) -> int:
    """Delete messages completed more than ``days`` ago; return how many went."""
    cutoff = utcnow() - timedelta(days=days)
    result = db.session.execute(sa.delete(OutboxMessage).where(OutboxMessage.completed_at < cutoff))
    db.session.commit()
    return result.rowcount
