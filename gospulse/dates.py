"""Which calendar date a run measures: the region's local date of its logical date."""

from __future__ import annotations

from datetime import UTC, date, datetime

from gospulse.regions import get_region


def snapshot_date_for(logical_date: datetime, region_code: int) -> date:
    """The region's local calendar date at the run's logical date (an aware datetime)."""
    if logical_date.tzinfo is None:
        raise ValueError("logical_date must be timezone-aware (Airflow passes UTC)")
    return logical_date.astimezone(get_region(region_code).tz).date()


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)
