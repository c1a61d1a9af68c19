import shutil
import subprocess
import time
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from flask import Flask, current_app
from rq import Queue

from portal.core import diagnostics, outbox
from portal.core.db import db, utcnow
from portal.core.models import OutboxMessage
from tests.conftest import TIER, free_port, require_peer, wait_until

pytestmark = pytest.mark.usefixtures("database")


def messages() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def test_rolled_back_side_effects_are_never_sent() -> None:
    diagnostics.send_ping("rolled-back")
    db.session.flush()
    assert db.session().info.get("outbox_ids"), "flushed messages wait for the commit"
    db.session.rollback()
    assert "outbox_ids" not in db.session().info, "a rollback forgets them"
    db.session.commit()
    outbox_relay = current_app.extensions["trestle.outbox"]
    outbox_relay.relay()
    assert messages() == []
    assert diagnostics.ping_count("rolled-back") == 0


@pytest.mark.skipif(
    TIER == "real", reason="tier split: the real tier runs jobs in worker processes"
)
def test_committed_side_effects_run_exactly_once_in_process() -> None:
    diagnostics.send_ping("committed")
    db.session.commit()
    assert diagnostics.ping_count("committed") == 1
    [message] = messages()
    assert message.completed_at is not None
    # A later sweep, or a duplicate delivery, does not run it again.
    current_app.extensions["trestle.outbox"].relay()
    assert outbox.execute(message.id) is False
    assert diagnostics.ping_count("committed") == 1


def test_enqueue_validates_job_and_queue() -> None:
    with pytest.raises(ValueError, match="dotted path"):
        outbox.enqueue("portal.core.diagnostics.record_ping", "x")
    with pytest.raises(ValueError, match="unknown queue"):
        outbox.enqueue("jobs.diagnostics.ping", "x", queue="urgent")


def test_a_failed_job_is_recorded_and_retried_later() -> None:
    message = outbox.enqueue("jobs.diagnostics.no_such_job")
    db.session.commit()  # the fast tier runs it in-process, right here
    if TIER == "real":
        with pytest.raises(ImportError):
            outbox.execute(message.id)
    [message] = messages()
    assert message.completed_at is None
    assert message.attempts == 1
    assert "no_such_job" in message.last_error
    assert message.relayed_at is None
    assert message.available_at > utcnow() + timedelta(seconds=10)


def test_retry_delay_backs_off_and_is_capped() -> None:
    delays = [outbox.retry_delay(n).total_seconds() for n in range(1, 12)]
    assert delays[:4] == [15, 30, 60, 120]
    assert delays == sorted(delays)
    assert max(delays) == 3600


def test_delayed_messages_wait_until_due() -> None:
    outbox.enqueue("jobs.diagnostics.ping", "later", delay=timedelta(hours=1))
    db.session.commit()
    assert diagnostics.ping_count("later") == 0
    [message] = messages()
    if TIER == "real":
        # Relayed at once into RQ's scheduled-job registry, to run when due.
        assert message.relayed_at is not None and message.completed_at is None
    else:
        assert message.relayed_at is None


@pytest.mark.real
@pytest.mark.committed
def test_worker_process_runs_a_committed_job_exactly_once(rq_worker, app: Flask) -> None:
    diagnostics.send_ping("worker")
    db.session.commit()
    wait_until(lambda: (db.session.rollback(), diagnostics.ping_count("worker"))[1])
    [message] = messages()
    assert message.relayed_at is not None and message.completed_at is not None
    # Deliver the same message again, as a relay that crashed before recording would.
    connection = app.extensions["trestle.outbox"].connection()
    job = Queue("default", connection=connection).enqueue(outbox.RUNNER, message.id)
    wait_until(lambda: job.get_status(refresh=True) == "finished")
    assert job.return_value() is False
    db.session.rollback()
    assert diagnostics.ping_count("worker") == 1


@pytest.mark.real
@pytest.mark.committed
def test_with_redis_down_the_job_waits_and_is_relayed_when_redis_returns(app: Flask) -> None:
    require_peer(shutil.which("redis-server") is not None, "redis-server binary")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    relay = outbox.OutboxRelay(app=app, redis_url=url, stale_after=timedelta(minutes=15))
    saved = app.extensions["trestle.outbox"]
    app.extensions["trestle.outbox"] = relay
    server = None
    try:
        diagnostics.send_ping("outage")
        db.session.commit()  # the after-commit relay fails: nothing listens on that port
        [message] = messages()
        assert message.relayed_at is None and message.completed_at is None

        server = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(url)
        wait_until(lambda: _pings(client))
        assert relay.relay() == 1
        [message] = messages()
        assert message.relayed_at is not None
        queued = Queue("default", connection=client).jobs
        assert [(j.func_name, j.args) for j in queued] == [(outbox.RUNNER, (message.id,))]
        assert relay.relay() == 0, "a relayed message is not sent twice"
    finally:
        app.extensions["trestle.outbox"] = saved
        if server:
            server.terminate()
            server.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.mark.real
@pytest.mark.committed
def test_delayed_jobs_wait_in_rqs_scheduler_then_run(rq_worker, app: Flask) -> None:
    outbox.enqueue("jobs.diagnostics.ping", "delayed", delay=timedelta(seconds=2))
    db.session.commit()
    [message] = messages()
    assert message.relayed_at is not None, "relayed at once, into RQ's scheduled registry"
    connection = app.extensions["trestle.outbox"].connection()
    assert Queue("default", connection=connection).scheduled_job_registry.count == 1
    assert diagnostics.ping_count("delayed") == 0
    wait_until(lambda: (db.session.rollback(), diagnostics.ping_count("delayed"))[1], timeout=30)


@pytest.mark.real
@pytest.mark.committed
def test_ping_command_goes_through_the_whole_pipeline(rq_worker, runner) -> None:
    result = runner.invoke(args=["jobs", "ping", "--wait", "30"])
    assert result.exit_code == 0, result.output
    assert "ran" in result.output


@pytest.mark.real
def test_periodic_jobs_are_registered_with_rqs_cron(app: Flask) -> None:
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=app.extensions["trestle.outbox"].connection())
    scheduler.load_config_from_file("jobs.schedule")
    assert sorted(job.func_name for job in scheduler.get_jobs()) == [
        "jobs.compliance.remind_expiring_documents",
        "jobs.maintenance.prune_held_actions",
        "jobs.maintenance.prune_outbox",
        "jobs.maintenance.prune_sent_emails",
        "jobs.maintenance.prune_throttle_events",
        "jobs.maintenance.sweep_orphan_files",
        "jobs.onboarding.send_review_digests",
        "jobs.waivers.remind_unsigned_waivers",
    ]


def test_prune_deletes_only_old_completed_messages() -> None:
    now = utcnow()
    old = OutboxMessage(
        job="jobs.diagnostics.ping", args=["a"], completed_at=now - timedelta(days=40)
    )
    recent = OutboxMessage(
        job="jobs.diagnostics.ping", args=["b"], completed_at=now - timedelta(days=1)
    )
    pending = OutboxMessage(
        job="jobs.diagnostics.ping",
        args=["c"],
        relayed_at=now,
        available_at=now + timedelta(days=1),
    )
    db.session.add_all([old, recent, pending])
    db.session.flush()
    assert outbox.prune_completed(30) == 1
    assert {m.args[0] for m in messages()} == {"b", "c"}


@pytest.mark.skipif(
    TIER == "real", reason="tier split: the real tier runs jobs in worker processes"
)
def test_in_process_jobs_run_as_the_system_not_as_the_request() -> None:
    from portal.core import audit, tenancy
    from portal.core.models import AuditEvent

    context = audit.RequestContext(request_id="req-1", ip_address="203.0.113.9")
    with tenancy.scoped(42), audit.request_context(context):
        diagnostics.send_ping("as-system")
        db.session.commit()
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.object_id == "as-system"))
    assert (event.ip_address, event.request_id) == (None, None)


@pytest.mark.real
@pytest.mark.committed
def test_a_worker_killed_mid_job_loses_nothing_and_doubles_nothing(app: Flask, test_env) -> None:
    import os
    import signal
    import sys

    from tests.conftest import ROOT, subprocess_env

    url = test_env["REDIS_URL"].rsplit("/", 1)[0] + "/15"
    redis.Redis.from_url(url).flushdb()
    relay = outbox.OutboxRelay(app=app, redis_url=url, stale_after=timedelta(seconds=1))
    saved = app.extensions["trestle.outbox"]
    app.extensions["trestle.outbox"] = relay

    def start_worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "worker"],
            cwd=ROOT,
            env=subprocess_env(test_env, REDIS_URL=url),
            start_new_session=True,
        )

    worker = start_worker()
    try:
        diagnostics.send_ping("killed", 30)
        db.session.commit()
        # Mid-job means the work horse holds the message's row lock (RQ marks the job started
        # before it forks the horse: killing then would miss the horse, which runs the job).
        wait_until(_message_locked_elsewhere, timeout=30)
        # Kill the work horse (RQ puts it in its own process group) and the worker, mid-job.
        for pid in [*_children(worker.pid), worker.pid]:
            os.kill(pid, signal.SIGKILL)
        worker.wait(timeout=10)
        db.session.rollback()
        [message] = messages()
        assert message.completed_at is None and diagnostics.ping_count("killed") == 0

        # Hold the message as stale, then sweep: it goes back to the queue, once.
        db.session.execute(sa.update(OutboxMessage).values(args=["killed", 0]))
        db.session.commit()
        time.sleep(1.5)
        # Sweep until it is claimed: under a loaded suite the first sweep has been seen to
        # claim nothing (a row still locked is skipped, not waited for). Once claimed it is
        # not claimed again: the job runs exactly once below.
        assert wait_until(relay.relay, timeout=30) == 1
        worker = start_worker()
        wait_until(lambda: (db.session.rollback(), diagnostics.ping_count("killed"))[1], 30)
        time.sleep(1)
        db.session.rollback()
        assert diagnostics.ping_count("killed") == 1
        [message] = messages()
        assert message.completed_at is not None
    finally:
        app.extensions["trestle.outbox"] = saved
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)


def _message_locked_elsewhere() -> bool:
    """Whether another session holds the only outbox message's row lock."""
    try:
        db.session.execute(sa.select(OutboxMessage.id).with_for_update(nowait=True)).all()
    except sa.exc.OperationalError:
        return True
    finally:
        db.session.rollback()
    return False


def _children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (from /proc)."""
    from pathlib import Path

    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.real
@pytest.mark.committed
def test_jobs_work_supervises_relay_workers_and_cron_and_stops_cleanly(
    app: Flask, test_env
) -> None:
    """`make worker` (flask jobs work): its processes run a job end to end, and SIGTERM stops
    them all with a clean exit."""
    import os
    import signal
    import sys

    from tests.conftest import ROOT, subprocess_env

    url = test_env["REDIS_URL"].rsplit("/", 1)[0] + "/14"
    redis.Redis.from_url(url).flushdb()
    saved = app.extensions["trestle.outbox"]
    app.extensions["trestle.outbox"] = outbox.OutboxRelay(
        app=app, redis_url=url, stale_after=timedelta(seconds=900)
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "work", "--workers", "1"],
        cwd=ROOT,
        env=subprocess_env(test_env, REDIS_URL=url),
        start_new_session=True,
    )
    try:
        diagnostics.send_ping("supervised")
        db.session.commit()
        wait_until(lambda: (db.session.rollback(), diagnostics.ping_count("supervised"))[1], 60)
        children = _children(supervisor.pid)
        assert len(children) == 3, "relay, cron and one worker"
        os.kill(supervisor.pid, signal.SIGTERM)
        assert supervisor.wait(timeout=60) == 0
        assert not [pid for pid in children if os.path.exists(f"/proc/{pid}/stat")]
    finally:
        app.extensions["trestle.outbox"] = saved
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait(timeout=30)
