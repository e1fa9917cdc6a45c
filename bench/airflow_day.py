"""Where an Airflow run of `gospulse_daily` spends its time, beside its own dbt build.

Reads the task instances of a DAG run from an Airflow metadata DB (SQLite: the one
`gospulse demo` leaves under warehouse/demo/airflow/, or any `airflow dags test` home) and
splits the run's wall time (first task's start to last task's end) into:
- API-paced: the fetch tasks and the member-list reads, which wait on the networks' rate limits;
- build: the one `dbt build` (cosmos' producer task), the floor this bench compares against;
- node tasks: the dbt model and test tasks that read the build's result;
- the rest: registry checks, planning, loading, publication, reports, bundle, gaps between
  tasks.
Target (issue 32): the day without its API waits at most 2× its build.

    .venv/bin/gospulse demo     # or any run of the DAG
    .venv/bin/python bench/airflow_day.py [--db warehouse/demo/airflow/airflow.db]
"""

from __future__ import annotations

import argparse
import sqlite3
from datetime import datetime
from pathlib import Path

TARGET_RATIO = 2.0
BUILD_TASK = "dbt.dbt_producer_watcher"


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def kind_of(task_id: str) -> str:
    if task_id == BUILD_TASK:
        return "build"
    if ".fetch_batch" in task_id or task_id == "collect_vk_audience":
        return "API-paced"
    if task_id.startswith("dbt."):
        return "node tasks"
    return "the rest"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("warehouse/demo/airflow/airflow.db"))
    parser.add_argument("--dag", default="gospulse_daily")
    args = parser.parse_args()
    if not args.db.exists():
        raise SystemExit(f"{args.db}: no Airflow metadata DB (run `gospulse demo` first)")
    con = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    try:
        (run_id,) = con.execute(
            "select run_id from dag_run where dag_id = ? order by start_date desc limit 1",
            [args.dag],
        ).fetchone()
        rows = con.execute(
            "select task_id, start_date, end_date, state from task_instance "
            "where dag_id = ? and run_id = ? and start_date is not null",
            [args.dag, run_id],
        ).fetchall()
    finally:
        con.close()
    if any(state != "success" for _, _, _, state in rows):
        raise SystemExit(f"run {run_id} has tasks that did not succeed")
    start = min(_when(s) for _, s, _, _ in rows)
    end = max(_when(e) for _, _, e, _ in rows)
    wall = (end - start).total_seconds()
    spent: dict[str, float] = {}
    counts: dict[str, int] = {}
    for task_id, started, ended, _ in rows:
        kind = kind_of(task_id)
        spent[kind] = spent.get(kind, 0.0) + (_when(ended) - _when(started)).total_seconds()
        counts[kind] = counts.get(kind, 0) + 1
    build = spent["build"]
    api = spent.get("API-paced", 0.0)
    print(f"{args.dag} run {run_id}: {len(rows)} tasks, {wall:.1f} s first start to last end")
    for kind in ("API-paced", "build", "node tasks", "the rest"):
        print(f"  {kind:10s} {counts.get(kind, 0):3d} tasks {spent.get(kind, 0.0):7.1f} s")
    print(f"  gaps between tasks (scheduling) {wall - sum(spent.values()):7.1f} s")
    ratio = (wall - api) / build
    print(
        f"the day without API waits {wall - api:.1f} s = {ratio:.2f}× the build "
        f"(target ≤ {TARGET_RATIO}): " + ("PASS" if ratio <= TARGET_RATIO else "FAIL")
    )


if __name__ == "__main__":
    main()
