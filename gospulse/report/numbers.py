"""Russian number and date formatting for the analyst's report (its HTML, XLSX text and charts).

Pure functions of their arguments; they import nothing from gospulse. Spaces inside a number and
between a number and its unit are NO-BREAK SPACEs, so a figure never wraps across lines; a
negative number carries the real minus sign; every rounding is half-up, as analysts round by hand.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

NBSP = "\u00a0"
MINUS = "\u2212"
EN_DASH = "\u2013"
EM_DASH = "\u2014"

_SHORT_UNITS = ((10**3, "тыс."), (10**6, "млн"), (10**9, "млрд"))

_MONTHS = {
    "nominative": (
        "январь",
        "февраль",
        "март",
        "апрель",
        "май",
        "июнь",
        "июль",
        "август",
        "сентябрь",
        "октябрь",
        "ноябрь",
        "декабрь",
    ),
    "genitive": (
        "января",
        "февраля",
        "марта",
        "апреля",
        "мая",
        "июня",
        "июля",
        "августа",
        "сентября",
        "октября",
        "ноября",
        "декабря",
    ),
    "prepositional": (
        "январе",
        "феврале",
        "марте",
        "апреле",
        "мае",
        "июне",
        "июле",
        "августе",
        "сентябре",
        "октябре",
        "ноябре",
        "декабре",
    ),
}


def _round1(x: float | int | Decimal) -> Decimal:
    # Through str(): Decimal(0.15) is 0.1499…, and the analyst expects 0,15 to round to 0,2.
    return Decimal(str(x)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _round0(x: float | int) -> int:
    if isinstance(x, int):
        return x
    return int(Decimal(str(x)).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _group(n: int) -> str:
    """Digits of a non-negative integer in groups of three, NBSP between them."""
    return f"{n:,}".replace(",", NBSP)


def _sign(negative: bool, zero: bool, signed: bool) -> str:
    # A value that rounds to zero shows no sign: "−0" and "+0" read as errors in a table.
    if zero:
        return ""
    if negative:
        return MINUS
    return "+" if signed else ""


def _decimal_text(value: Decimal, keep_zero_fraction: bool) -> str:
    """A non-negative one-decimal value as "1 234,5" (or "35" when the fraction is dropped)."""
    whole, fraction = divmod(value, 1)
    text = _group(int(whole))
    if fraction or keep_zero_fraction:
        text += "," + str(int(fraction * 10))
    return text


def _require_finite(x: float | int, what: str) -> None:
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"{what}: cannot format {x!r}")


def ru_int(n: int) -> str:
    """An integer as "4 647 010" (NBSP between groups), a negative one as "−1 200"."""
    return _sign(n < 0, n == 0, False) + _group(abs(n))


def ru_signed(n: int) -> str:
    """An integer with its sign always shown: "+35 210", "−1 200", "0"."""
    return _sign(n < 0, n == 0, True) + _group(abs(n))


def ru_short(n: int | float, signed: bool = False) -> str:
    """A compact figure: "4 647", "35,2 тыс.", "4,6 млн", "1,2 млрд"; signed adds "+" to gains.

    Under 10 000 the whole number is shown; above, one decimal, half-up, with ",0" dropped. A value
    that rounds up to the next unit is shown in it ("1 млн", not "1000 тыс.").
    """
    _require_finite(n, "ru_short")
    magnitude = abs(n)
    if _round0(magnitude) < 10_000:
        whole = _round0(magnitude)
        return _sign(n < 0, whole == 0, signed) + _group(whole)
    # The unit is chosen after rounding: 999 950 rounds to 1000,0 тыс., which reads "1 млн".
    for size, unit in _SHORT_UNITS:
        scaled = _round1(Decimal(str(magnitude)) / size)
        if scaled < 1000 or unit == _SHORT_UNITS[-1][1]:
            break
    return _sign(n < 0, False, signed) + _decimal_text(scaled, False) + NBSP + unit


def ru_pct(x: float | None, signed: bool = False) -> str:
    """Percent points as "12,3 %" (one decimal, half-up, NBSP before %); None or NaN gives "—".

    The fraction is kept even when zero ("12,0 %") so a column of percentages lines up.
    """
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return EM_DASH
    value = _round1(abs(x))
    return _sign(x < 0, value == 0, signed) + _decimal_text(value, True) + NBSP + "%"


def ru_decimal(x: float) -> str:
    """A ratio as "0,25" or "1 234,50": two decimals, half-up, comma, NBSP between groups."""
    _require_finite(x, "ru_decimal")
    value = Decimal(str(abs(x))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    whole, fraction = divmod(value, 1)
    return _sign(x < 0, value == 0, False) + f"{_group(int(whole))},{int(fraction * 100):02d}"


def ru_date(d: date) -> str:
    """A date as "05.07.2026"."""
    return f"{d.day:02d}.{d.month:02d}.{d.year:04d}"


def ru_period(first: date, last: date) -> str:
    """A period as "05.07–07.08.2026", or "28.12.2025–03.01.2026" when it crosses a year.

    A one-day period is just its date.
    """
    if last < first:
        raise ValueError(f"ru_period: period ends {last} before it starts {first}")
    if first == last:
        return ru_date(first)
    if first.year == last.year:
        return f"{first.day:02d}.{first.month:02d}{EN_DASH}{ru_date(last)}"
    return f"{ru_date(first)}{EN_DASH}{ru_date(last)}"


def ru_month(year: int, month: int, case: str = "nominative") -> str:
    """A month and year as "ноябрь 2026"; case "genitive" gives "ноября 2026", "prepositional"
    "ноябре 2026"."""
    names = _MONTHS.get(case)
    if names is None:
        raise ValueError(f"ru_month: unknown case {case!r}; expected one of {', '.join(_MONTHS)}")
    if not 1 <= month <= 12:
        raise ValueError(f"ru_month: month {month} is not in 1..12")
    return f"{names[month - 1]} {year}"


def plural_ru(n: int, one: str, few: str, many: str) -> str:
    """The Russian plural form for n: 1 страница, 2 страницы, 5 страниц, 11 страниц, 21 страница.

    Returns only the word; the caller writes the number as it likes (ru_int, ru_short).
    """
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many
