"""Defaults shared by every gospulse DAG: retries, timeouts, schedule time zone."""

from __future__ import annotations

from datetime import timedelta

import pendulum

from gospulse.config import settings

DEFAULT_ARGS = {
    "owner": "gospulse",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(hours=2),
}

# the region's time zone decides when "a day" starts; reading an env var costs nothing at parse
REGION_TZ = settings.read("GOSPULSE_TIMEZONE")
START_DATE = pendulum.datetime(2026, 1, 1, tz=REGION_TZ)
