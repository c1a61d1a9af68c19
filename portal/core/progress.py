"""Live progress of a long job, kept in Redis beside the job queue.

A job that writes everything in one transaction at its end cannot show its progress in that
transaction, and a second database connection writing the same row would wait on the
job's own lock. So the job reports how far it has come here, and the page that watches it
reads it back. Without Redis (the embedded default runs jobs in the request) there is
nothing to watch: the page sees the job done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from flask import current_app

log = logging.getLogger(__name__)

KEEP_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Progress:
    step: str  # what the job is doing, in words
    done: int
    total: int

    @property
    def percent(self) -> int:
        return min(100, self.done * 100 // self.total) if self.total else 0


def _redis() -> redis.Redis | None:
    relay = current_app.extensions["trestle.outbox"]
    return None if relay.in_process else relay.connection()


def _key(name: str) -> str:
    return f"trestle:progress:{name}"


def report(name: str, step: str, done: int, total: int) -> None:
    """Say how far job ``name`` has come (never raises: progress is only shown)."""
    client = _redis()
    if client is None:
        return
    try:
        with client.pipeline() as pipe:
            pipe.hset(_key(name), mapping={"step": step, "done": done, "total": total})
            pipe.expire(_key(name), KEEP_SECONDS)
            pipe.execute()
    except redis.RedisError as error:
        log.warning("progress of %s not reported: %s", name, error)


def read(name: str) -> Progress | None:
    """How far job ``name`` has come, if it said (None without Redis or when it is down)."""
    client = _redis()
    if client is None:
        return None
    try:
        found = client.hgetall(_key(name))
    except redis.RedisError as error:
        log.warning("progress of %s not read: %s", name, error)
        return None
    if not found:
        return None
    try:
        return Progress(found[b"step"].decode(), int(found[b"done"]), int(found[b"total"]))
    except (KeyError, ValueError):
        return None
