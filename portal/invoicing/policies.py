"""What a project's settings leave unable to work, and what day billing periods count."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from portal.core.db import utcnow
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


# A billing period stays open through its due date in every US time zone: the day that
# counts is the day in Hawaii, the last of them to end.
BILLING_ZONE = ZoneInfo("Pacific/Honolulu")


def billing_date(now: datetime | None = None) -> date:
    """Today, as billing periods count it."""
    return (now or utcnow()).astimezone(BILLING_ZONE).date()
