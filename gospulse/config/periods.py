"""What a period is, the one meaning every number of gospulse uses.

A period is a run of whole days, first..last, both included. Its growth is
members_on(last) − members_on(the day before first): for a month, members_on of its last day
minus members_on of the previous month's last day. `gospulse top`, `gospulse report`,
mart_growth_ranking and mart_region_growth all count a month this way, so their numbers agree.
The day before `first` is the period's base day.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class Period:
    """Days first..last, both included; `is_month` when it is one calendar month."""

    first: date
    last: date
    is_month: bool = False

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise ValueError(f"a period starts ({self.first}) on or before it ends ({self.last})")

    @property
    def base_day(self) -> date:
        """The day growth is counted from: the day before the first."""
        return self.first - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period before: the previous calendar month for a month, else as many days."""
        if self.is_month:
            return month_period(self.base_day.year, self.base_day.month)
        return Period(self.first - timedelta(days=self.days), self.base_day)

    def each_day(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]


def month_period(year: int, month: int) -> Period:
    last = calendar.monthrange(year, month)[1]
    return Period(date(year, month, 1), date(year, month, last), is_month=True)


def parse_month(text: str) -> Period:
    """'2026-11' as that calendar month; ValueError naming the expected form otherwise."""
    match = _MONTH.fullmatch(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month {text!r} is not YYYY-MM (e.g. 2026-11)")
    return month_period(int(match.group(1)), int(match.group(2)))
