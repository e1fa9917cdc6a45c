"""Which calendar date a run measures: the region's local date of its logical date."""

from __future__ import annotations

from datetime import UTC, date, datetime

from gospulse.config import settings
from gospulse.config.regions import get_region


def snapshot_date_for(logical_date: datetime, region_code: int) -> date:
    """The region's local calendar date at the run's logical date (an aware datetime)."""
    if logical_date.tzinfo is None:
        raise ValueError("logical_date must be timezone-aware (Airflow passes UTC)")
    return logical_date.astimezone(get_region(region_code).tz).date()


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


# a live API only answers today's counts: a run this many days after its snapshot date is
# refused instead of recording today's numbers under a past day ("none": the source's clock
# is simulated, as with the emulators)
MAX_LAG_ENV = "GOSPULSE_SNAPSHOT_MAX_LAG_DAYS"


class PastSnapshotError(ValueError):
    """A run asked for a snapshot date the networks can no longer answer for."""


def max_snapshot_lag(env: dict[str, str] | None = None) -> int | None:
    """Days a snapshot date may lie behind the region's today (None: no limit)."""
    days = settings.read(MAX_LAG_ENV, env)
    return None if days is settings.OFF else days


def check_snapshot_lag(
    network: str, snapshot_date: date, region_code: int, now: datetime | None = None
) -> None:
    """Refuse to extract for a day further back than the allowed lag (backfills, old reruns).

    Networks report current subscriber counts only; past days come from
    `gospulse import-snapshots`, never from re-extraction.
    """
    limit = max_snapshot_lag()
    if limit is None:
        return
    today = (now or datetime.now(UTC)).astimezone(get_region(region_code).tz).date()
    lag = (today - snapshot_date).days
    if lag > limit:
        raise PastSnapshotError(
            f"{network}: snapshot date {snapshot_date} is {lag} days before today ({today}) in "
            f"region {region_code}; the network only answers today's counts, so extracting now "
            f"would record them under a past day. Load past days with `gospulse import-snapshots`"
            f" (or raise {MAX_LAG_ENV}, now {limit}, if a late run is acceptable)"
        )
