"""Test-wide settings and fixtures.

Tiers: a test that starts dbt, Airflow, Celery or talks to Postgres is marked `slow` (module
`pytestmark` or per test); `make test-fast` runs the rest and the guard below fails any test of
that tier that starts one of them anyway. Worlds built with dbt are built once per session and
copied by the tests that change them (`built_world`, `copy_warehouse`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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

# programs a test of the fast tier may not start
SLOW_PROGRAMS = frozenset({"dbt", "airflow", "celery"})


class SlowTierOnly(RuntimeError):
    """A test outside the slow tier started dbt, Airflow, Celery or a Postgres connection."""


def _program(args: object) -> tuple[str, list[str]]:
    argv = [str(a) for a in args] if isinstance(args, list | tuple) else str(args).split()
    if argv[1:3] == ["-m", "gospulse.transform.dbt_child"]:
        return "dbt", argv  # dbt's CLI, run in-process by gospulse.transform.run's child
    return (Path(argv[0]).name if argv else ""), argv


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Outside the slow tier, starting dbt/Airflow/Celery or connecting to Postgres fails the
    test, fixtures of any scope included: the fast tier stays fast by construction."""
    if item.get_closest_marker("slow") is not None:
        yield
        return
    import psycopg2

    popen_init, pg_connect = subprocess.Popen.__init__, psycopg2.connect

    def guarded_popen(self, args, *rest, **kwargs):
        name, argv = _program(args)
        if name in SLOW_PROGRAMS or (name == "gospulse" and argv[1:2] == ["airflow"]):
            raise SlowTierOnly(f"{item.nodeid} starts {name}: mark it `slow`")
        return popen_init(self, args, *rest, **kwargs)

    def guarded_connect(*args, **kwargs):
        raise SlowTierOnly(f"{item.nodeid} connects to Postgres: mark it `slow`")

    subprocess.Popen.__init__ = guarded_popen
    psycopg2.connect = guarded_connect
    try:
        yield
    finally:
        subprocess.Popen.__init__ = popen_init
        psycopg2.connect = pg_connect


# Modules whose every test makes a world of its own (a warehouse, an Airflow home): pytest-xdist
# may run their tests on different workers. Every other module's tests run on one worker, in
# order, as their module fixtures (and a few tests that build on the one before) expect.
SPREAD_MODULES = frozenset({"test_dags", "test_incremental_models", "test_airflow_ops_runs"})


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """A test of a SPREAD_MODULES module is a unit of work of its own; any other module is one
    unit. (pytest-xdist's `loadgroup` would say so with markers, but its group names never
    reach the nodeids under pytest 9: every test was scheduled alone.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleUnlessSpread(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return nodeid if Path(module).stem in SPREAD_MODULES else module

    return ModuleUnlessSpread(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules with slow tests first (the scheduler keeps this order), so that the longest
    units start early and the workers finish together; a module's tests stay together."""
    slow_modules = {i.module.__name__ for i in items if i.get_closest_marker("slow")}
    items.sort(key=lambda i: i.module.__name__ not in slow_modules)


def copy_warehouse(source: Path, folder: Path, name: str = "gospulse.duckdb") -> Path:
    """A file copy of a built warehouse, with dbt's saved parse of the project: dbt runs on the
    copy skip the full parse (gospulse.transform.run opens a warehouse by its name from its
    folder, so copies of one name share the profile dbt keys its partial parsing on)."""
    from gospulse.transform.run import dbt_state_dir

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    shutil.copyfile(source, target)
    wal, target_wal = source.with_name(source.name + ".wal"), target.with_name(name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, target_wal)
    else:
        target_wal.unlink(missing_ok=True)
    parse = dbt_state_dir(source) / "target" / "partial_parse.msgpack"
    if parse.exists():
        copied = dbt_state_dir(target) / "target"
        copied.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(parse, copied / parse.name)
    return target


def published_contents(path: Path) -> dict[str, list[tuple]]:
    """Every mart of a published copy, its rows sorted: two copies compare equal row for row."""
    from gospulse.serving.publish import open_published

    con = open_published(path)
    try:
        names = [
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where database_name = 'published' "
                "and schema_name = 'marts' order by 1"
            ).fetchall()
        ]
        return {
            name: sorted(con.execute(f'from marts."{name}"').fetchall(), key=repr) for name in names
        }
    finally:
        con.close()


def _shared_root(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder every xdist worker of this run sees (the workers' base temp's parent)."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


def shared_warehouse(
    tmp_path_factory: pytest.TempPathFactory,
    worker_id: str,
    name: str,
    make: Callable[[Path], str],
    file_name: str = "gospulse.duckdb",
) -> Path:
    """A warehouse made once per run for every xdist worker: the first worker to ask runs
    make(path) (which returns a line describing what it built), the others wait on a file lock.
    Never written after: a test reads it read-only or works on `copy_warehouse` of it."""
    from filelock import FileLock

    root = _shared_root(tmp_path_factory, worker_id) / name
    root.mkdir(exist_ok=True)
    warehouse, done = root / file_name, root / "built"
    with FileLock(str(root / "lock")):
        if not done.exists():
            warehouse.unlink(missing_ok=True)
            done.write_text(make(warehouse))
    return warehouse


@pytest.fixture(scope="session")
def built_world(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The fixture world of tests/warehouse_fixtures.py after one `gospulse.transform.run.build`,
    made once per run (`shared_warehouse`)."""

    def make(warehouse: Path) -> str:
        from gospulse.transform import run as transform
        from tests.warehouse_fixtures import build_world

        result = transform.build(build_world(warehouse))
        assert result.success and result.tests_failed == 0, result.describe()
        return result.describe()

    return shared_warehouse(tmp_path_factory, worker_id, "built_world", make)


@pytest.fixture(scope="session")
def airflow_metadata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Airflow home with a migrated metadata DB and the pools of two VK tokens (a run with
    one token uses the first), made once per worker; `run_dag(..., metadata_from=...)` copies
    its DB instead of migrating again."""
    from gospulse.orchestration.local import prepare_metadata

    home = tmp_path_factory.mktemp("airflow_metadata")
    prepare_metadata(home, {"GOSPULSE_VK_TOKEN_COUNT": "2"})
    return home
