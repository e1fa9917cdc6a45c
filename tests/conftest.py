"""Test-wide settings: Airflow reads its home at import, so it is pointed at a scratch folder."""

from __future__ import annotations

import os
import tempfile

# set before any test imports airflow; never the developer's ~/airflow
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="gospulse-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
