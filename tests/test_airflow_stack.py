"""The stack harness itself: what it reports when a run fails, and that it leaves no process."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.airflow_stack import AirflowStack


def _stack(home: Path) -> AirflowStack:
    return AirflowStack(
        home=home,
        sql_alchemy_conn="postgresql+psycopg2://postgres@127.0.0.1:5432/unused",
        broker_url="redis://127.0.0.1:6379/0",
        queue="gospulse_unit",
        redis_prefix="gospulse-unit:",
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_failed_run_names_its_failed_tasks_with_their_latest_logs(tmp_path):
    stack = _stack(tmp_path)
    run = tmp_path / "logs" / "dag_id=gospulse_daily" / "run_id=r1"
    fetch = run / "task_id=vk.fetch_batch" / "map_index=3"
    _write(fetch / "attempt=2.log", "second try: HTTP 500 from the VK emulator\n")
    _write(fetch / "attempt=10.log", "tenth try: token rejected\n")
    plan = run / "task_id=ok.plan_batches"
    _write(
        plan / "attempt=1.log",
        'IO Error: Could not set lock on file "gospulse.duckdb": Conflicting lock is held in '
        "/usr/bin/python3.11 (PID 4242). See also https://duckdb.org/docs\n",
    )
    _write(plan / "attempt=2.log", "planned 1 batch\n")
    _write(stack.log_path("scheduler"), "scheduler line 1\nscheduler: run failed\n")
    tis = [
        {"task_id": "validate_registry", "map_index": -1, "state": "success"},
        {"task_id": "ok.plan_batches", "map_index": -1, "state": "success"},
        {"task_id": "vk.fetch_batch", "map_index": 3, "state": "failed"},
        {"task_id": "build_marts", "map_index": -1, "state": "upstream_failed"},
    ]
    message = stack.describe_failure("gospulse_daily", "r1", "failed", tis)
    assert "ended 'failed'" in message
    assert "not successful: vk.fetch_batch[3]=failed, build_marts[-1]=upstream_failed" in message
    assert "tenth try: token rejected" in message  # the latest attempt, not the first
    assert "second try" not in message
    assert "--- build_marts (None):\n(no log)" in message
    assert "validate_registry" not in message
    assert "scheduler: run failed" in message
    assert "celery-worker.log does not exist" in message
    tis[0]["pid"] = 4242
    assert stack.lock_conflicts("gospulse_daily", "r1", tis) == {
        "ok.plan_batches": ["attempt=1 (held by validate_registry)"]
    }
    assert stack.lock_conflicts("gospulse_daily", "r1") == {
        "ok.plan_batches": ["attempt=1 (held by pid 4242)"]
    }


def test_stop_kills_a_component_and_children_that_ignore_sigterm(tmp_path):
    stack = _stack(tmp_path)
    pid_file = tmp_path / "child.pid"
    # a component whose child ignores SIGTERM, as a stuck task runner would
    proc = subprocess.Popen(
        ["bash", "-c", f"trap '' TERM; sleep 300 & echo $! > {pid_file}; wait"],
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the test component did not start its child"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    stack._procs["scheduler"] = proc
    stack.stop(grace=1)
    assert proc.returncode is not None
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, f"child {child} survived stop()"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())
