"""The arithmetic of a pay application: the G703 continuation sheet line by line and the G702
summary computed from it. Pure and exact: integer cents, retainage rates in basis points,
rounded per line to the cent (half away from zero), so the sheet and the summary always
agree to the cent.

The columns follow AIA G703: A item, B description, C scheduled value, D work completed
from previous applications, E work completed this period, F materials presently stored (not
in D or E), G total completed and stored to date (D + E + F), G/C percent, H balance to
finish (C - G), I retainage.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.core.money import BPS_PER_WHOLE, format_cents, share_of


@dataclass(frozen=True)
class SheetLine:
    """One line of the continuation sheet (amounts in cents)."""

    item: int  # A
    description: str  # B
    scheduled_value: int  # C
    previous_completed: int  # D
    this_period: int  # E
    stored: int  # F
    retainage_bps: int

    @property
    def completed_to_date(self) -> int:
        """Work completed to date, without stored materials (D + E)."""
        return self.previous_completed + self.this_period

    @property
    def completed_and_stored(self) -> int:  # G
        return self.previous_completed + self.this_period + self.stored

    @property
    def percent_bps(self) -> int:
        """G / C in basis points, rounded down (a line is 100% only when it is whole)."""
        if self.scheduled_value == 0:
            return 0
        return self.completed_and_stored * BPS_PER_WHOLE // self.scheduled_value

    @property
    def balance_to_finish(self) -> int:  # H
        return self.scheduled_value - self.completed_and_stored

    @property
    def retainage_on_completed(self) -> int:
        return share_of(self.completed_to_date, self.retainage_bps)

    @property
    def retainage_on_stored(self) -> int:
        return share_of(self.stored, self.retainage_bps)

    @property
    def retainage(self) -> int:  # I
        return self.retainage_on_completed + self.retainage_on_stored

    def problems(self) -> list[str]:
        """Why this line cannot be billed as it is (empty when it can)."""
        found = []
        if self.this_period < 0 or self.stored < 0:
            found.append(f"Line {self.item}: amounts billed cannot be negative.")
        if self.completed_and_stored > self.scheduled_value:
            over = self.completed_and_stored - self.scheduled_value
            found.append(
                f"Line {self.item} ({self.description}) would be billed beyond 100%: "
                f"{format_cents(self.completed_and_stored)} to date of a scheduled "
                f"{format_cents(self.scheduled_value)}, {format_cents(over)} over."
            )
        return found


@dataclass(frozen=True)
class PayApplication:
    """The G702 summary of one pay application, from its sheet."""

    original_contract_sum: int  # 1
    net_change_by_change_orders: int  # 2
    lines: tuple[SheetLine, ...]
    previous_certificates: int  # 7: what the previous applications certified (their line 6)

    @property
    def contract_sum_to_date(self) -> int:  # 3
        return self.original_contract_sum + self.net_change_by_change_orders

    @property
    def scheduled_total(self) -> int:
        return sum(line.scheduled_value for line in self.lines)

    @property
    def previous_completed(self) -> int:
        return sum(line.previous_completed for line in self.lines)

    @property
    def this_period(self) -> int:
        return sum(line.this_period for line in self.lines)

    @property
    def stored(self) -> int:
        return sum(line.stored for line in self.lines)

    @property
    def total_completed_and_stored(self) -> int:  # 4
        return sum(line.completed_and_stored for line in self.lines)

    @property
    def retainage_on_completed(self) -> int:  # 5a
        return sum(line.retainage_on_completed for line in self.lines)

    @property
    def retainage_on_stored(self) -> int:  # 5b
        return sum(line.retainage_on_stored for line in self.lines)

    @property
    def total_retainage(self) -> int:  # 5
        return self.retainage_on_completed + self.retainage_on_stored

    @property
    def total_earned_less_retainage(self) -> int:  # 6
        return self.total_completed_and_stored - self.total_retainage

    @property
    def current_payment_due(self) -> int:  # 8
        return self.total_earned_less_retainage - self.previous_certificates

    @property
    def balance_to_finish_including_retainage(self) -> int:  # 9
        return self.contract_sum_to_date - self.total_earned_less_retainage

    @property
    def balance_to_finish(self) -> int:
        return sum(line.balance_to_finish for line in self.lines)

    @property
    def percent_bps(self) -> int:
        if self.scheduled_total == 0:
            return 0
        return self.total_completed_and_stored * BPS_PER_WHOLE // self.scheduled_total

    def problems(self) -> list[str]:
        """Why this application cannot be submitted as it is (empty when it can)."""
        found = [problem for line in self.lines for problem in line.problems()]
        if self.scheduled_total != self.contract_sum_to_date:
            found.append(
                "The schedule of values no longer adds up to the contract sum to date; "
                "ask the general contractor to check the commitment."
            )
        return found
