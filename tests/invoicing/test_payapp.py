"""The pay application arithmetic (G702 from G703), against a worked example computed by
hand and over random schedules of values and billing sequences."""

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.invoicing.payapp import PayApplication, SheetLine

# The worked example: SC-7, $100,000.00 as signed (steel $60,000 at 10%, erection $40,000
# at 5%); change order CO-1 added a canopy line of $10,000.50 at 7.5% and took $2,500 off
# erection, a net change of $7,500.50.


def application(lines, previous_certificates):
    return PayApplication(
        original_contract_sum=10_000_000,
        net_change_by_change_orders=750_050,
        lines=tuple(lines),
        previous_certificates=previous_certificates,
    )


def test_the_first_application_with_stored_materials() -> None:
    first = application(
        [
            SheetLine(1, "Steel", 6_000_000, 0, 3_000_000, 500_000, 1000),
            SheetLine(2, "Erection", 3_750_000, 0, 1_000_000, 0, 500),
            SheetLine(3, "Canopy", 1_000_050, 0, 0, 0, 750),
        ],
        previous_certificates=0,
    )
    assert first.problems() == []
    assert first.contract_sum_to_date == 10_750_050  # $107,500.50
    assert first.total_completed_and_stored == 4_500_000  # $45,000.00
    # 10% of $30,000 + 5% of $10,000 on work; 10% of $5,000 on stored steel.
    assert first.retainage_on_completed == 350_000
    assert first.retainage_on_stored == 50_000
    assert first.total_retainage == 400_000
    assert first.total_earned_less_retainage == 4_100_000
    assert first.current_payment_due == 4_100_000
    assert first.balance_to_finish_including_retainage == 6_650_050  # $66,500.50


def test_the_second_application_installs_the_stored_steel_and_rounds_per_line() -> None:
    second = application(
        [
            # The $5,000 stored last time is installed: it is billed as work this period.
            SheetLine(1, "Steel", 6_000_000, 3_000_000, 2_000_000, 0, 1000),
            SheetLine(2, "Erection", 3_750_000, 1_000_000, 1_250_000, 200_000, 500),
            SheetLine(3, "Canopy", 1_000_050, 0, 333_333, 0, 750),
        ],
        previous_certificates=4_100_000,  # line 6 of the first application
    )
    steel, erection, canopy = second.lines
    assert [x.completed_and_stored for x in second.lines] == [5_000_000, 2_450_000, 333_333]
    assert [x.balance_to_finish for x in second.lines] == [1_000_000, 1_300_000, 666_717]
    # 7.5% of $3,333.33 is $249.99975: $250.00 to the cent.
    assert canopy.retainage == 25_000
    assert (steel.retainage, erection.retainage) == (500_000, 122_500)
    assert second.retainage_on_completed == 500_000 + 112_500 + 25_000
    assert second.retainage_on_stored == 10_000
    assert second.total_retainage == 647_500  # $6,475.00
    assert second.total_completed_and_stored == 7_783_333  # $77,833.33
    assert second.total_earned_less_retainage == 7_135_833  # $71,358.33
    assert second.current_payment_due == 3_035_833  # $30,358.33
    assert second.balance_to_finish_including_retainage == 3_614_217  # $36,142.17
    assert steel.percent_bps == 8333  # 83.33%, rounded down


def test_billing_beyond_a_line_or_negative_is_a_problem() -> None:
    over = application([SheetLine(1, "Steel", 6_000_000, 5_000_000, 900_000, 100_001, 1000)], 0)
    assert any("beyond 100%" in p and "$0.01 over" in p for p in over.problems())
    negative = application([SheetLine(1, "Steel", 6_000_000, 0, -1, 0, 1000)], 0)
    assert any("cannot be negative" in p for p in negative.problems())


@st.composite
def billing_sequences(draw):
    """A schedule of values and a sequence of applications that never bill a line past its
    scheduled value (the portal refuses those)."""
    lines = draw(
        st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 10_000)), min_size=1, max_size=12)
    )
    count = draw(st.integers(1, 8))
    steps = []
    completed = [0] * len(lines)
    for _ in range(count):
        step = []
        for i, (value, _) in enumerate(lines):
            room = value - completed[i]
            work = draw(st.integers(0, room))
            stored = draw(st.integers(0, room - work))
            step.append((work, stored))
            completed[i] += work
        steps.append(step)
    return lines, steps


@settings(max_examples=300, deadline=None)
@given(billing_sequences())
def test_any_billing_sequence_adds_up(sequence) -> None:
    lines, steps = sequence
    total = sum(value for value, _ in lines)
    previous_certificates = 0
    previous = [0] * len(lines)
    paid = 0
    for step in steps:
        sheet = tuple(
            SheetLine(i + 1, f"Line {i + 1}", value, previous[i], work, stored, bps)
            for i, ((value, bps), (work, stored)) in enumerate(zip(lines, step, strict=True))
        )
        app = PayApplication(total, 0, sheet, previous_certificates)
        assert app.problems() == []
        for line in app.lines:
            assert 0 <= line.completed_and_stored <= line.scheduled_value
            assert 0 <= line.retainage <= line.completed_and_stored
            assert line.percent_bps <= 10_000
        assert app.current_payment_due == (
            app.total_earned_less_retainage - app.previous_certificates
        )
        assert app.total_retainage == sum(line.retainage for line in app.lines)
        assert app.balance_to_finish_including_retainage == (
            app.balance_to_finish + app.total_retainage
        )
        paid += app.current_payment_due
        # What was certified so far is exactly what was earned less what is retained.
        assert paid == app.total_earned_less_retainage
        previous_certificates = app.total_earned_less_retainage
        previous = [line.completed_to_date for line in app.lines]
