import pytest

from portal.core.money import MAX_CENTS, InvalidAmount, format_cents, parse_amount


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("0.01", 1),
        ("1", 100),
        ("1.5", 150),
        ("1.50", 150),
        (".75", 75),
        ("$12.34", 1234),
        ("1,234.56", 123456),
        ("1,234,567", 123456700),
        ("  42.00  ", 4200),
        ("999,999,999.99", MAX_CENTS),
    ],
)
def test_parses_exact_amounts(text: str, cents: int) -> None:
    assert parse_amount(text) == cents


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter an amount"),
        ("   ", "Enter an amount"),
        (None, "Enter an amount"),
        ("NaN", "dollars and cents"),
        ("nan", "dollars and cents"),
        ("inf", "dollars and cents"),
        ("-Infinity", "dollars and cents"),
        ("1e3", "exponent"),
        ("1E-2", "exponent"),
        ("1.234", "two decimal places"),
        ("0.001", "two decimal places"),
        ("1,234.567", "two decimal places"),
        ("-5", "negative"),
        ("-$5.00", "negative"),
        ("0", "more than zero"),
        ("0.00", "more than zero"),
        ("1,23.45", "commas"),
        ("12,34", "commas"),
        ("1,2345", "commas"),
        (",123", "commas"),
        ("1.", "dollars and cents"),
        ("1.2.3", "dollars and cents"),
        ("+5", "dollars and cents"),
        ("0x10", "dollars and cents"),
        ("１２", "dollars and cents"),  # noqa: RUF001 - full-width digits are the point
        ("١٢", "dollars and cents"),  # Arabic-Indic digits
        ("5 000", "dollars and cents"),
        ("1000000000.00", "cannot be more than"),
        ("99999999999999999999", "cannot be more than"),
        ("1" * 40, "too long"),
        ("12abc", "dollars and cents"),
    ],
)
def test_rejects_bad_amounts_with_a_clear_message(text: str | None, message: str) -> None:
    with pytest.raises(InvalidAmount) as excinfo:
        parse_amount(text)
    assert message in excinfo.value.message


def test_negative_and_zero_only_when_allowed() -> None:
    assert parse_amount("-5.25", allow_negative=True) == -525
    assert parse_amount("0", allow_zero=True) == 0


def test_custom_ceiling() -> None:
    assert parse_amount("100.00", max_cents=10_000) == 10_000
    with pytest.raises(InvalidAmount, match=r"\$100\.00"):
        parse_amount("100.01", max_cents=10_000)


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "$0.00"),
        (5, "$0.05"),
        (123456, "$1,234.56"),
        (-5, "-$0.05"),
        (MAX_CENTS, "$999,999,999.99"),
    ],
)
def test_formats_cents(cents: int, text: str) -> None:
    assert format_cents(cents) == text


@pytest.mark.parametrize("value", [1.5, "100", True])
def test_format_refuses_non_integers(value: object) -> None:
    with pytest.raises(TypeError):
        format_cents(value)  # type: ignore[arg-type]


def test_parse_and_format_round_trip() -> None:
    for cents in (1, 99, 100, 101, 123456789, MAX_CENTS):
        assert parse_amount(format_cents(cents)) == cents
