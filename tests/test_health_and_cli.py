from datetime import timedelta

from flask import Flask

from portal.core.outbox import OutboxRelay


def test_healthz_reports_database_and_queue(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["queue"]["ok"] is True
    assert body["checks"]["queue"]["mode"] in {"in-process", "rq"}


def test_healthz_says_when_redis_is_down(app: Flask, client) -> None:
    saved = app.extensions["trestle.outbox"]
    app.extensions["trestle.outbox"] = OutboxRelay(
        app=app, redis_url="redis://127.0.0.1:1/0", stale_after=timedelta(minutes=15)
    )
    try:
        response = client.get("/healthz")
    finally:
        app.extensions["trestle.outbox"] = saved
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["queue"]["ok"] is False
    assert "Redis is not answering" in body["checks"]["queue"]["error"]


def test_demo_seed_is_idempotent(runner) -> None:
    first = runner.invoke(args=["demo", "seed"])
    second = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0 and second.exit_code == 0
    assert first.output == second.output


def test_generate_key_prints_a_fernet_key(runner) -> None:
    from cryptography.fernet import Fernet

    result = runner.invoke(args=["crypto", "generate-key"])
    Fernet(result.output.strip())
