"""Test-wide settings: Airflow reads its home at import, so it is pointed at a scratch folder."""

from __future__ import annotations

import os
import tempfile

# set before any test imports airflow; never the developer's ~/airflow. Each pytest-xdist
# worker inherits the controller's environment, so a worker takes a home of its own: two
# workers on one SQLite metadata DB would lock each other out
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER or "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix=f"gospulse-airflow-{_WORKER or 'main'}-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# the emulators serve a simulated calendar, so runs for their (past) dates are legitimate; the
# guard against recording today's counts under a past day is tested on its own
os.environ.setdefault("GOSPULSE_SNAPSHOT_MAX_LAG_DAYS", "none")
