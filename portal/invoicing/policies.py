"""What a project's settings leave unable to work."""

from __future__ import annotations

from portal.invoicing.models import Project
from portal.payment_settings.models import FundingAccountMode, PaymentControls


def funding_gap(project: Project, controls: PaymentControls) -> str | None:
    """Why this project's invoices could not be funded, if they could not: Pay is on, the
    payor funds each project from a fixed account, and none is fixed for this one."""
    if (
        project.pay_enabled
        and project.archived_at is None
        and controls.funding_account_mode is FundingAccountMode.FIXED_PER_PROJECT
        and project.funding_account_id is None
    ):
        return (
            "Pay is on, but no funding account is fixed for this project: its approved "
            "invoices cannot be paid until a Payments Admin chooses one."
        )
    return None
