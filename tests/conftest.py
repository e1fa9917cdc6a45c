"""Test-wide settings: Airflow reads its home at import, so it is pointed at a scratch folder."""

from __future__ import annotations

import os
import tempfile

# set before any test imports airflow; never the developer's ~/airflow
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="gospulse-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# the emulators serve a simulated calendar, so runs for their (past) dates are legitimate; the
# guard against recording today's counts under a past day is tested on its own
os.environ.setdefault("GOSPULSE_SNAPSHOT_MAX_LAG_DAYS", "none")
