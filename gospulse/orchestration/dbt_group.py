"""The dbt project as Airflow tasks (astronomer-cosmos), rendered from the prebuilt manifest.

cosmos' watcher execution mode: one task (`dbt.dbt_producer_watcher`) runs a single `dbt build`
of the whole project, and one sensor per model and snapshot, each model followed by a sensor of
its tests, reads that build's result for its node, so the Airflow UI still shows which model or
test broke and everything downstream of it is skipped. Parsing reads only the manifest
(`gospulse dbt manifest`): no dbt process, no warehouse, no secrets at parse time.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from gospulse.config import settings
from gospulse.config.dbt_project import project_dir
from gospulse.orchestration.pools import WAREHOUSE_POOL
from gospulse.transform.dbt_manifest import require_manifest

DBT_PROFILE = "gospulse"
DBT_TARGET = "duckdb"
# how often a node's task looks for its result while the build runs
NODE_POKE_SECONDS = 5
# where a node's task waits for its result: it opens the warehouse only under its lock
NODE_POOL = "default_pool"
WAREHOUSE_ENV = "GOSPULSE_WAREHOUSE"
# `runner` (dbt inside the task's process) or `subprocess` (a dbt process per task)
INVOCATION_ENV = "GOSPULSE_DBT_INVOCATION"


def invocation_mode():
    """How each dbt task invokes dbt: $GOSPULSE_DBT_INVOCATION, default in-process (runner).

    In-process saves the interpreter start-up and dbt import of every task; it is safe where
    each task instance has a process of its own (every executor). `airflow dags test` runs all
    tasks in one process, where dbt-duckdb's cached database handle would outlive the dbt task
    and clash with the read-only connections after it: gospulse.orchestration.local picks
    subprocess.
    """
    from cosmos.constants import InvocationMode

    modes = {"runner": InvocationMode.DBT_RUNNER, "subprocess": InvocationMode.SUBPROCESS}
    return modes[settings.read(INVOCATION_ENV)]


def dbt_task_group(group_id: str, warehouse: str):
    """A cosmos DbtTaskGroup of the whole project on the DuckDB target.

    `warehouse` (usually a template) becomes GOSPULSE_WAREHOUSE for every dbt task: the
    profile's default path is relative and cosmos runs dbt in a temporary copy of the project,
    so the absolute path has to be handed over explicitly.
    """
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, LoadMode, TestBehavior
    from cosmos.operators.watcher import DbtConsumerWatcherSensor

    project = project_dir()
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=project,
            manifest_path=require_manifest(),
            # no packages.yml: skipping `dbt deps` saves a dbt invocation per task
            install_dbt_deps=False,
            env_vars={WAREHOUSE_ENV: warehouse},
        ),
        profile_config=ProfileConfig(
            profile_name=DBT_PROFILE,
            target_name=DBT_TARGET,
            profiles_yml_filepath=project / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            invocation_mode=invocation_mode(),
            dbt_executable_path=Path(sys.executable).parent / "dbt",
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            # the Assets readers may use are the published marts and the export bundle; the
            # warehouse's own tables are never read while the pipeline writes them
            emit_datasets=False,
        ),
        operator_args={
            # the build never opens the warehouse beside a backfill's build or any other task
            # that opens it; the node tasks move to the default pool below
            "pool": WAREHOUSE_POOL,
            "execution_timeout": timedelta(minutes=30),
            # the unit tests pin the models' arithmetic on fixed rows: CI runs them, the daily
            # build only tests the data it wrote
            "dbt_cmd_flags": ["--exclude-resource-type", "unit_test"],
            # a model's or data test's verdict is a function of the build: a retry only
            # delays the failure (and the skip of everything downstream); cosmos' producer
            # skips itself on a retry, and a retried sensor would run dbt on its own
            "retries": 0,
        },
    )
    for task in group.iter_tasks():
        if isinstance(task, DbtConsumerWatcherSensor):
            # A node's task pokes for its result and, while the build runs, gives its slot back
            # until the next poke (reschedule mode) rather than waiting in a trigger: a run of
            # one task at a time (`airflow dags test`) then runs the build in between.
            task.deferrable = False
            task.mode = "reschedule"
            task.poke_interval = NODE_POKE_SECONDS
            # A node's task only reads the build's result from XCom, so it waits in no pool
            # of the warehouse: the node tasks run beside the build and each other. After a
            # clear, cosmos has a node's task run dbt for its node itself (the build's task
            # skips a second try): that run takes the warehouse's writer lock first, so the
            # cleared node tasks open the file one at a time (max_active_runs=1 keeps other
            # runs' writers out).
            task.pool = NODE_POOL
            # a bare `type`: mypy takes no type[Any] for the cache's Hashable (python/mypy#11470)
            sensor: type = type(task)
            task.__class__ = _locking_fallback(sensor)
    return group


@cache
def _locking_fallback(cls: type[Any]) -> type:
    """`cls` (a cosmos node task) whose own dbt run for its node holds the warehouse's lock."""
    from gospulse.raw.warehouse import writer_lock

    def _fallback_to_non_watcher_run(self, try_number: int, context) -> bool:
        with writer_lock(Path(self.env[WAREHOUSE_ENV])):
            return cls._fallback_to_non_watcher_run(self, try_number, context)

    # the same name: the UI and the serialized DAG show cosmos' operator
    return type(
        cls.__name__, (cls,), {"_fallback_to_non_watcher_run": _fallback_to_non_watcher_run}
    )
