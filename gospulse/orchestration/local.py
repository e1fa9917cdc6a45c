"""Run a gospulse DAG for real on this machine: `airflow dags test` against its own SQLite DB.

Used by the demo and the tests; production runs the same DAG files under a scheduler.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
DEADLINE_ENV = "GOSPULSE_DAILY_DEADLINE_HOURS"
METADATA_DB = "airflow.db"


class DagRunFailed(RuntimeError):
    """`airflow dags test` (or the metadata DB set-up before it) exited non-zero."""


def airflow_env(
    home: Path, extra: dict[str, str] | None = None, dags_folder: Path = DAGS_FOLDER
) -> dict[str, str]:
    """Environment for an Airflow child process with its metadata DB under `home`."""
    return {
        # cosmos reports usage to a third party from every dbt task unless told not to
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        # `dags test` runs every task in one process, where an in-process dbt would leave its
        # DuckDB handle open for the tasks after it (see
        # gospulse.orchestration.dbt_group.invocation_mode)
        "GOSPULSE_DBT_INVOCATION": "subprocess",
        **os.environ,
        **(extra or {}),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # cosmos keeps dbt's partial-parse state per DAG id; runs of the same DAG from other
        # checkouts or tests must not share it
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / METADATA_DB}",
    }


def _airflow(
    args: list[str], env: dict[str, str], log: Path, timeout: float, command: str = "airflow"
) -> str:
    program = Path(sys.executable).parent / command
    proc = subprocess.run(
        [str(program), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    output = proc.stdout + proc.stderr
    log.write_text(output)
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-30:])
        # `airflow dags test` exits non-zero when the DAG run ends failed
        raise DagRunFailed(f"{command} {' '.join(args)} failed (log {log}):\n{tail}")
    return output


def prepare_metadata(
    home: Path, env: dict[str, str] | None = None, *, timeout: float = 600
) -> None:
    """Migrate the metadata DB under `home` and create the pools the DAGs use."""
    home.mkdir(parents=True, exist_ok=True)
    full_env = airflow_env(home, env)
    _airflow(["db", "migrate"], full_env, home / "db-migrate.log", timeout)
    # the fetch tasks run in one pool per token, warehouse tasks in gospulse_warehouse
    _airflow(["airflow", "pools"], full_env, home / "pools.log", timeout, command="gospulse")


def run_dag(
    dag_id: str,
    logical_date: datetime,
    home: Path,
    env: dict[str, str] | None = None,
    *,
    timeout: float = 1800,
    dags_folder: Path = DAGS_FOLDER,
    metadata_from: Path | None = None,
) -> str:
    """Run the DAG once with `airflow dags test`; returns Airflow's output.

    The metadata DB under `home` is migrated and given the pools first (prepare_metadata), or,
    with metadata_from, copied from a home prepared so for at least as many tokens (a run
    with fewer uses the first pools).
    """
    home.mkdir(parents=True, exist_ok=True)
    if metadata_from is not None:
        shutil.copyfile(metadata_from / METADATA_DB, home / METADATA_DB)
    else:
        prepare_metadata(home, env, timeout=timeout)
    # `airflow dags test` in 3.3.2 crashes at the end of a successful run of a DAG that has a
    # deadline (gospulse.orchestration.deadlines explains); the scheduler, which evaluates it,
    # is unaffected
    full_env = airflow_env(home, {**(env or {}), DEADLINE_ENV: "off"}, dags_folder)
    return _airflow(
        ["dags", "test", dag_id, logical_date.isoformat()],
        full_env,
        home / f"{dag_id}.log",
        timeout,
    )
