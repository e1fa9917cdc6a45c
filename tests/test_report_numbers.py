"""Russian number and date formatting of the analyst's report (gospulse.report.numbers)."""

from __future__ import annotations

from datetime import date

import pytest

from gospulse.report.numbers import (
    EM_DASH,
    EN_DASH,
    MINUS,
    NBSP,
    plural_ru,
    ru_date,
    ru_decimal,
    ru_int,
    ru_month,
    ru_pct,
    ru_period,
    ru_short,
    ru_signed,
)


def nb(text: str) -> str:
    """Expected values are written with plain spaces and "-"; the functions use NBSP and U+2212."""
    return text.replace(" ", NBSP).replace("-", MINUS)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0"),
        (7, "7"),
        (999, "999"),
        (1000, "1 000"),
        (4647010, "4 647 010"),
        (1_000_000_000, "1 000 000 000"),
        (-1200, "-1 200"),
        (-5, "-5"),
    ],
)
def test_ru_int(n: int, expected: str) -> None:
    assert ru_int(n) == nb(expected)


def test_ru_int_uses_no_break_space_and_real_minus() -> None:
    assert ru_int(-4647010) == "\u22124\u00a0647\u00a0010"
    assert " " not in ru_int(4647010) and "-" not in ru_int(-1)


@pytest.mark.parametrize(
    ("n", "expected"),
    [(35210, "+35 210"), (-1200, "-1 200"), (0, "0"), (1, "+1"), (-1, "-1")],
)
def test_ru_signed(n: int, expected: str) -> None:
    assert ru_signed(n) == nb(expected)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0"),
        (999, "999"),
        (1000, "1 000"),
        (4647, "4 647"),
        (9999, "9 999"),
        # 10 000 is where the units start; ",0" is dropped.
        (10000, "10 тыс."),
        (35000, "35 тыс."),
        (35210, "35,2 тыс."),
        # Half-up, as analysts round by hand: 35,25 -> 35,3 (half-even would give 35,2).
        (35250, "35,3 тыс."),
        (35150, "35,2 тыс."),
        (35249, "35,2 тыс."),
        (999_949, "999,9 тыс."),
        # Rounds to 1000,0 тыс., which is written in the next unit.
        (999_950, "1 млн"),
        (1_000_000, "1 млн"),
        (4_647_010, "4,6 млн"),
        (4_650_000, "4,7 млн"),
        (999_950_000, "1 млрд"),
        (1_234_567_890, "1,2 млрд"),
        (1_234_000_000_000, "1 234 млрд"),
        (-1200, "-1 200"),
        (-35250, "-35,3 тыс."),
        (-4_647_010, "-4,6 млн"),
        # Floats (chart ticks): whole numbers under 10 000, rounded half-up.
        (2500.0, "2 500"),
        (2.5, "3"),
        (9999.5, "10 тыс."),
        (12500.0, "12,5 тыс."),
        (0.4, "0"),
        (-0.4, "0"),
    ],
)
def test_ru_short(n: int | float, expected: str) -> None:
    assert ru_short(n) == nb(expected)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (35210, "+35,2 тыс."),
        (-1200, "-1 200"),
        (4647, "+4 647"),
        (-4_647_010, "-4,6 млн"),
        (0, "0"),
        (-0.4, "0"),
    ],
)
def test_ru_short_signed(n: int | float, expected: str) -> None:
    assert ru_short(n, signed=True) == nb(expected)


def test_ru_short_refuses_nan() -> None:
    with pytest.raises(ValueError, match="nan"):
        ru_short(float("nan"))


@pytest.mark.parametrize(
    ("x", "signed", "expected"),
    [
        (12.3, False, "12,3 %"),
        (12.34, False, "12,3 %"),
        # 0.15 is 0.1499… as a float; the analyst's 0,15 still rounds up.
        (0.15, False, "0,2 %"),
        (0.25, False, "0,3 %"),
        (12.0, False, "12,0 %"),
        (0, False, "0,0 %"),
        (-4.0, False, "-4,0 %"),
        (1234.56, False, "1 234,6 %"),
        (12.3, True, "+12,3 %"),
        (-12.3, True, "-12,3 %"),
        (-0.04, True, "0,0 %"),
        (0.0, True, "0,0 %"),
    ],
)
def test_ru_pct(x: float, signed: bool, expected: str) -> None:
    assert ru_pct(x, signed=signed) == nb(expected)


@pytest.mark.parametrize("x", [None, float("nan"), float("inf")])
def test_ru_pct_unknown_is_a_dash(x: float | None) -> None:
    assert ru_pct(x) == EM_DASH
    assert ru_pct(x, signed=True) == EM_DASH


def test_ru_date() -> None:
    assert ru_date(date(2026, 7, 5)) == "05.07.2026"
    assert ru_date(date(2026, 12, 31)) == "31.12.2026"


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (date(2026, 7, 5), date(2026, 8, 7), "05.07–07.08.2026"),
        (date(2026, 11, 1), date(2026, 11, 30), "01.11–30.11.2026"),
        (date(2025, 12, 28), date(2026, 1, 3), "28.12.2025–03.01.2026"),
        (date(2026, 7, 5), date(2026, 7, 5), "05.07.2026"),
    ],
)
def test_ru_period(first: date, last: date, expected: str) -> None:
    assert ru_period(first, last) == expected
    assert "-" not in ru_period(first, last)


def test_ru_period_uses_en_dash() -> None:
    assert EN_DASH in ru_period(date(2026, 7, 5), date(2026, 8, 7))


def test_ru_period_refuses_reversed_dates() -> None:
    with pytest.raises(ValueError, match="2026-07-04"):
        ru_period(date(2026, 7, 5), date(2026, 7, 4))


@pytest.mark.parametrize(
    ("month", "case", "expected"),
    [
        (11, "nominative", "ноябрь 2026"),
        (11, "genitive", "ноября 2026"),
        (11, "prepositional", "ноябре 2026"),
        (1, "nominative", "январь 2026"),
        (5, "genitive", "мая 2026"),
        (8, "prepositional", "августе 2026"),
        (12, "genitive", "декабря 2026"),
    ],
)
def test_ru_month(month: int, case: str, expected: str) -> None:
    assert ru_month(2026, month, case) == expected


def test_ru_month_defaults_to_nominative() -> None:
    assert ru_month(2026, 3) == "март 2026"


@pytest.mark.parametrize(("month", "case"), [(0, "nominative"), (13, "nominative"), (3, "dative")])
def test_ru_month_refuses_bad_input(month: int, case: str) -> None:
    with pytest.raises(ValueError):
        ru_month(2026, month, case)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "страниц"),
        (1, "страница"),
        (2, "страницы"),
        (4, "страницы"),
        (5, "страниц"),
        (11, "страниц"),
        (12, "страниц"),
        (14, "страниц"),
        (21, "страница"),
        (22, "страницы"),
        (25, "страниц"),
        (101, "страница"),
        (111, "страниц"),
        (112, "страниц"),
        (1001, "страница"),
        (-1, "страница"),
        (-3, "страницы"),
    ],
)
def test_plural_ru(n: int, expected: str) -> None:
    assert plural_ru(n, "страница", "страницы", "страниц") == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.25, "0,25"),
        (0.125, "0,13"),  # half-up, not to even
        (1234.5, "1\u00a0234,50"),
        (0.004, "0,00"),
        (-0.5, "\u22120,50"),
    ],
)
def test_ratios_have_two_decimals_and_a_comma(value, text):
    assert ru_decimal(value) == text
