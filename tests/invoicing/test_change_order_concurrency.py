"""Change orders approved at the same moment all land on the contract sum, and none takes a
line below zero that another one already reduced."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from portal.companies import services as company_services
from portal.companies.models import Feature, Role
from portal.core import tenancy
from portal.core.db import db
from portal.invoicing import services
from portal.invoicing.models import ChangeOrder, ChangeOrderStatus, Commitment, CommitmentKind
from portal.onboarding import services as onboarding
from tests.factories import add_project, csrf_of, http_sign_in, make_paying_payor, make_user

pytestmark = [pytest.mark.real, pytest.mark.committed]


def approved_commitment_with_drafts(user, payor, amounts: list[str]):
    with tenancy.unscoped():
        company_services.set_feature(payor, Feature.INVOICE_MANAGEMENT, True, actor_user_id=None)
        project = add_project(payor, "P-9", actor_user_id=user.id)
        relationship = onboarding.add_to_directory(
            payor, onboarding.Invitee("Racing Steel", "racing@example.com"), actor_user_id=None
        )
        commitment = services.create_commitment(
            project,
            relationship=relationship,
            kind=CommitmentKind.SUBCONTRACT,
            number="SC-1",
            title="Steel",
            contract_sum="40,000",
            default_retainage="10",
            actor_user_id=user.id,
        )
        services.save_schedule(
            commitment, [services.LineInput("", "Steel", "40,000", "")], actor_user_id=user.id
        )
        services.approve_commitment(commitment, actor_user_id=user.id)
        line = commitment.lines[0]
        orders = [
            services.create_change_order(
                commitment,
                number=f"CO-{n}",
                title="Change",
                rows=[services.ChangeInput(line.id, "", "", amount, "")],
                actor_user_id=user.id,
            )
            for n, amount in enumerate(amounts, start=1)
        ]
        db.session.commit()
        return commitment.id, [order.id for order in orders]


def approve_all_at_once(live_server, user, phone, commitment_id, order_ids) -> list[int]:
    signed_in = http_sign_in(live_server, user, phone)
    base = f"{live_server}/commitments/{commitment_id}/change-orders"
    token = csrf_of(signed_in, f"{base}/{order_ids[0]}")

    def approve(order_id: int) -> int:
        return signed_in.post(
            f"{base}/{order_id}/approve",
            data={"csrf_token": token},
            headers={"Referer": f"{base}/{order_id}"},
            timeout=120,
            allow_redirects=False,
        ).status_code

    with ThreadPoolExecutor(max_workers=len(order_ids)) as pool:
        return list(pool.map(approve, order_ids))


def outcome(commitment_id: int) -> tuple[Commitment, list[ChangeOrderStatus]]:
    db.session.rollback()
    db.session.expire_all()
    with tenancy.unscoped():
        commitment = db.session.get(Commitment, commitment_id)
        statuses = list(
            db.session.scalars(
                sa.select(ChangeOrder.status)
                .where(ChangeOrder.commitment_id == commitment_id)
                .order_by(ChangeOrder.id)
            )
        )
        return commitment, statuses


def test_six_concurrent_approvals_all_add_to_the_contract_sum(live_server) -> None:
    payor = make_paying_payor()
    user, phone = make_user(payor, (Role.INVOICE_ADMINISTRATOR,))
    commitment_id, order_ids = approved_commitment_with_drafts(user, payor, ["1,000"] * 6)
    statuses = approve_all_at_once(live_server, user, phone, commitment_id, order_ids)
    assert 500 not in statuses, statuses
    commitment, states = outcome(commitment_id)
    assert states == [ChangeOrderStatus.APPROVED] * 6
    assert commitment.approved_changes_cents == 600_000
    assert commitment.lines[0].scheduled_value_cents == 4_600_000
    assert commitment.scheduled_total_cents == commitment.contract_sum_cents


def test_two_concurrent_reductions_cannot_both_take_the_same_value(live_server) -> None:
    payor = make_paying_payor()
    user, phone = make_user(payor, (Role.INVOICE_ADMINISTRATOR,))
    commitment_id, order_ids = approved_commitment_with_drafts(user, payor, ["-30,000"] * 2)
    statuses = approve_all_at_once(live_server, user, phone, commitment_id, order_ids)
    assert 500 not in statuses, statuses
    commitment, states = outcome(commitment_id)
    assert sorted(states) == [ChangeOrderStatus.APPROVED, ChangeOrderStatus.DRAFT]
    assert commitment.lines[0].scheduled_value_cents == 1_000_000
    assert commitment.contract_sum_cents == 1_000_000
