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
    roles = {line.split()[1] for line in first.output.splitlines() if line.startswith("LOGIN ")}
    assert {"operator", "payments_admin", "disburser", "payee_admin", "invoice_contact"} <= roles
    companies = {line.split()[4] for line in first.output.splitlines()}
    assert {
        "summit-builders",
        "harbor-construction",
        "ironline-steel",
        "brightwire-electric",
    } <= companies


def test_demo_has_a_payor_part_way_through_implementation(runner) -> None:
    from portal.companies.queries import company_by_slug
    from portal.core import tenancy
    from portal.operations.queries import implementation_checklist, project_for

    runner.invoke(args=["demo", "seed"])
    with tenancy.unscoped():
        summit = company_by_slug("summit-builders")
        steps = implementation_checklist(summit, project_for(summit.id))
    met = {item.key for step in steps for item in step.items if item.met}
    assert {
        "deposit_account",
        "sso",
        "admins",
        "business_entity",
        "training_payments_overview",
    } <= met
    assert "features" not in met and "project_closed" not in met


def test_generate_key_prints_a_fernet_key(runner) -> None:
    from cryptography.fernet import Fernet

    result = runner.invoke(args=["crypto", "generate-key"])
    Fernet(result.output.strip())
