"""The DAG files: they parse with no secrets, and a real `airflow dags test` run loads data."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections import deque
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from emulators.vk.server import VkEmulator
from emulators.vk.world import World
from gospulse.orchestration.local import DAGS_FOLDER, run_dag
from gospulse.serving.layout import bundle_root, latest_bundle, published_path
from gospulse.serving.publish import open_published, read_publication
from tests.network_checks import assert_counts_as_emulated
from tests.pg_fixtures import pg_database, pg_query  # noqa: F401 (pg is a fixture)

TOKEN = "dag-test-token"
VK_TOKENS = ("vk-token-alpha-0001", "vk-token-bravo-0002")
# 20:00 UTC on 9 March is 03:00 on 10 March in Novokuznetsk: the runs record 10 March
LOGICAL = datetime(2026, 3, 9, 20, 0, tzinfo=UTC)
# a run on a machine busy with other work
DAG_RUN_TIMEOUT = 1200


def _dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_dags_parse_without_secrets_or_services(monkeypatch):
    for var in (
        "VK_TOKEN",
        "GOSPULSE_WAREHOUSE",
        "GOSPULSE_REGISTRY",
        "GOSPULSE_VK_API_URL",
        "GOSPULSE_VK_TOKEN_COUNT",
        "GOSPULSE_TG_SESSION_COUNT",
        "GOSPULSE_OK_TOKEN_COUNT",
    ):
        monkeypatch.delenv(var, raising=False)
    bag = _dag_bag()
    assert bag.import_errors == {}
    assert "gospulse_daily" in bag.dags
    for dag_id, dag in bag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md, dag_id
        for t in dag.tasks:
            # the summary only reports what was stored, the dbt build and its sensors only
            # judge the data just built; everything else may meet a transient error
            if t.task_id != "log_summary" and not t.task_id.startswith("dbt."):
                assert t.retries >= 1, f"{dag_id}.{t.task_id} has no retries"
            assert t.execution_timeout is not None, f"{dag_id}.{t.task_id} has no timeout"
    daily = bag.dags["gospulse_daily"]
    per_network = {
        f"{n}.{step}"
        for n in ("vk", "tg", "ok")
        for step in ("plan_batches", "batches_t0", "fetch_batch_t0", "load_snapshots")
    }
    assert {t.task_id for t in daily.tasks if not t.task_id.startswith("dbt.")} == per_network | {
        "validate_registry",
        "collect_vk_audience",
        "load_registry",
        "build_marts",
        "send_incident_alerts",
        "publish_marts",
        "write_monthly_reports",
        "write_export_bundle",
        "publish_postgres",
        "log_summary",
    }
    for network in ("vk", "tg", "ok"):
        # one token per network by default: its batches are fetched one at a time, in its pool
        fetch = daily.get_task(f"{network}.fetch_batch_t0")
        assert fetch.max_active_tis_per_dag == 1
        assert fetch.pool == {"vk": "vk_token_0", "tg": "tg_session_0", "ok": "ok_token_0"}[network]
        # a failed batch must not keep the network's other counts out of the warehouse
        assert daily.get_task(f"{network}.load_snapshots").trigger_rule == "all_done"
        # networks do not wait for each other
        assert daily.get_task(f"{network}.plan_batches").upstream_task_ids == {"validate_registry"}
    # a failed network or audience step must not keep the day's counts out of the marts
    assert daily.get_task("load_registry").trigger_rule == "all_done"
    assert daily.get_task("load_registry").upstream_task_ids == {
        "collect_vk_audience",
        "tg.load_snapshots",
        "ok.load_snapshots",
    }
    # the verdict of the dbt tasks is taken whatever they did
    assert daily.get_task("build_marts").trigger_rule == "all_done"
    assert daily.get_task("log_summary").trigger_rule == "all_done"
    # the marts that were built are published even if alerting failed; one process at a time
    # opens the warehouse: the dbt tasks, then alerts write to it, then publication reads it
    assert daily.get_task("publish_marts").trigger_rule == "all_done"
    assert daily.get_task("publish_marts").upstream_task_ids == {"send_incident_alerts"}
    assert daily.get_task("send_incident_alerts").upstream_task_ids == {"build_marts"}
    for step in ("write_monthly_reports", "publish_postgres"):
        assert daily.get_task(step).upstream_task_ids == {"publish_marts"}
    # a closed month's reports go into the bundle written after them
    assert daily.get_task("write_export_bundle").upstream_task_ids == {"write_monthly_reports"}


def _manifest_models(kind: str) -> dict[str, dict]:
    from gospulse.transform.dbt_manifest import manifest_path

    data = json.loads(manifest_path().read_text())
    return {
        n["name"]: n
        for n in data["nodes"].values()
        if n["resource_type"] == kind and n["package_name"] == "gospulse"
    }


def _tested_models() -> set[str]:
    from gospulse.transform.dbt_manifest import manifest_path

    data = json.loads(manifest_path().read_text())
    return {
        parent.split(".")[-1]
        for n in data["nodes"].values()
        if n["resource_type"] == "test"
        for parent in n["depends_on"]["nodes"]
        if parent.startswith("model.gospulse.")
    }


def test_every_dbt_model_is_a_task_followed_by_its_tests_after_one_build_in_the_pool():
    from cosmos.operators.watcher import DbtProducerWatcherOperator

    from gospulse.orchestration.dbt_group import NODE_POOL
    from gospulse.orchestration.pools import WAREHOUSE_POOL

    daily = _dag_bag().dags["gospulse_daily"]
    tasks = {t.task_id: t for t in daily.tasks}
    models, snapshots = _manifest_models("model"), _manifest_models("snapshot")
    # both Python models (DataSketches unions and overlaps) and the SCD2 registry history
    assert {"int_audience_unions", "int_audience_page_overlaps"} <= set(models)
    assert set(snapshots) == {"snap_registry_pages"}
    tested = _tested_models()
    for name in models:
        if name in tested:
            run, test = tasks[f"dbt.{name}.run"], tasks[f"dbt.{name}.test"]
            assert test.upstream_task_ids == {run.task_id}, name
        else:
            run = tasks[f"dbt.{name}_run"]
        # a model runs after the tests of every model it reads
        for parent in models[name]["depends_on"]["nodes"]:
            kind, parent_name = parent.split(".")[0], parent.split(".")[-1]
            if kind == "model" and parent_name in tested:
                assert f"dbt.{parent_name}.test" in run.upstream_task_ids, (name, parent)
    assert "dbt.snap_registry_pages_snapshot" in tasks
    # one dbt process per run: the build task runs `dbt build` (without the unit tests, which
    # CI runs), every other dbt task reads its result for one node
    build = tasks["dbt.dbt_producer_watcher"]
    assert isinstance(build, DbtProducerWatcherOperator)
    assert build.upstream_task_ids == {"load_registry"}
    assert build.dbt_cmd_flags == ["--exclude-resource-type", "unit_test"]
    nodes = [t for t in daily.tasks if t.task_id.startswith("dbt.") and t is not build]
    nodes = [t for t in nodes if t.task_id != "dbt.dbt_producer_watcher_done"]
    assert len(nodes) == len(models) + len(tested & set(models)) + len(snapshots)
    # the node tasks with no dbt parent start beside the build and poke for their results,
    # giving their slot back in between, so that a run of one task at a time (`airflow dags
    # test`) runs the build between their pokes
    roots = [t for t in nodes if not t.upstream_task_ids & {n.task_id for n in nodes}]
    assert roots and all(t.upstream_task_ids == {"load_registry"} for t in roots)
    assert all(t.mode == "reschedule" and not t.deferrable for t in nodes)
    assert all(t.retries == 0 for t in [build, *nodes])
    # one task at a time opens the DuckDB file: the build and every other task that opens it
    # (the stack test saw two networks' plans collide on it before this pool). A node task
    # only reads the build's result, so it waits in the default pool; the dbt run cosmos has
    # it make for its own node after a clear takes the warehouse's writer lock instead
    assert build.pool == WAREHOUSE_POOL
    assert {t.pool for t in nodes} == {NODE_POOL}
    for node in nodes:
        cosmos_class = type(node).__mro__[1]
        assert type(node).__name__ == cosmos_class.__name__, node.task_id
        assert cosmos_class.__module__.startswith("cosmos."), node.task_id
        assert type(node)._fallback_to_non_watcher_run is not (
            cosmos_class._fallback_to_non_watcher_run
        )
    opens_warehouse = {
        *(f"{n}.{step}" for n in ("vk", "tg", "ok") for step in ("plan_batches", "load_snapshots")),
        "collect_vk_audience",
        "load_registry",
        "send_incident_alerts",
        "publish_marts",
        "publish_postgres",
    }
    for task_id in opens_warehouse:
        assert daily.get_task(task_id).pool == WAREHOUSE_POOL, task_id
    leaves = {t.task_id for t in [build, *nodes] if not t.downstream_task_ids}
    assert leaves <= set(daily.get_task("build_marts").upstream_task_ids)


def test_dag_parse_never_runs_dbt(tmp_path):
    """A parse in a fresh interpreter where dbt can be neither run nor imported still renders
    every dbt task: it reads the manifest and nothing else."""
    script = f"""
import os, sys
sys.modules["dbt.cli.main"] = None  # any dbtRunner use (cosmos' in-process `dbt ls`) fails
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={str(DAGS_FOLDER)!r})
assert bag.import_errors == {{}}, bag.import_errors
print(sum(t.task_id.startswith("dbt.") for t in bag.dags["gospulse_daily"].tasks))
"""
    env = _parse_env(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) > 40


def _parse_env(tmp_path: Path) -> dict[str, str]:
    # no dbt executable on PATH and no secrets or warehouse in the environment
    path = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "dbt").exists()
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOSPULSE_", "VK_", "TG_", "OK_", "AIRFLOW_CONN_"))
    }
    return {**env, "PATH": path, "AIRFLOW_HOME": str(tmp_path / "airflow")}


def test_the_dbt_verdict_names_the_failed_task_and_nothing_is_published(tmp_path):
    from gospulse.config.task_results import BuildVerdict, NetworkLoad, PublishOutcome, ServingSteps
    from gospulse.orchestration.tasks import (
        dbt_verdict,
        publish_postgres,
        summarize,
        write_export_bundle,
        write_monthly_reports,
    )
    from gospulse.serving.publish import publish_after_build

    extracts: dict[str, NetworkLoad | None] = {
        "vk": NetworkLoad(
            "vk", status="success", snapshot_date="2026-03-10", pages_ok=3, requests=1
        )
    }
    states = {
        "load_registry": "success",
        "dbt.dbt_producer_watcher": "success",
        "dbt.dbt_producer_watcher_done": "success",
        "dbt.stg_a.run": "success",
        "dbt.stg_a.test": "success",
        "dbt.stg_b_run": "success",
        "dbt.snap_registry_pages_snapshot": "success",
    }
    assert dbt_verdict(extracts, states) == BuildVerdict(
        summary="dbt tasks: 2 models, 1 snapshots, 1 test tasks, all succeeded"
    )
    build_failed = {
        "dbt.dbt_producer_watcher": "failed",
        "dbt.dbt_producer_watcher_done": "upstream_failed",
    }
    broken = dbt_verdict(
        extracts,
        {**states, **build_failed, "dbt.stg_a.test": "failed", "dbt.stg_b_run": "upstream_failed"},
    )
    assert not broken.built
    assert broken.failed == "dbt task(s) failed: dbt.stg_a.test; 1 not run (dbt.stg_b_run)"
    # the verdict crosses XCom as JSON and comes back the same
    assert BuildVerdict.from_xcom(json.loads(json.dumps(broken.to_xcom()))) == broken
    # a build that failed before any node did (dbt could not start) names the build task
    assert dbt_verdict(extracts, {**states, **build_failed}).failed == (
        "dbt task(s) failed: dbt.dbt_producer_watcher"
    )
    published = publish_after_build(
        broken, tmp_path / "gospulse.duckdb", run_id="r", snapshot_date=date(2026, 3, 10)
    )
    assert published == PublishOutcome(published=False, reason=broken.failed)
    # and the steps after publication have nothing to serve
    served = ServingSteps(
        published=published,
        bundle=write_export_bundle(published, "r", "2026-03-09T20:00:00+00:00"),
        reports=write_monthly_reports(published),
        postgres=publish_postgres(published, "2026-03-09T20:00:00+00:00"),
    )
    with pytest.raises(RuntimeError, match="dbt failed for 2026-03-10: .*dbt.stg_a.test") as err:
        summarize(extracts, None, broken, serving=served)
    assert (
        "serving: published copy kept from an earlier run (dbt task(s) failed: dbt.stg_a.test; "
        "1 not run (dbt.stg_b_run)); no export bundle; postgres: not published "
    ) in str(err.value)


def test_a_missing_manifest_names_the_command_that_writes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GOSPULSE_DBT_MANIFEST", str(tmp_path / "nowhere" / "manifest.json"))
    errors = _dag_bag().import_errors
    (message,) = [m for path, m in errors.items() if path.endswith("gospulse_daily.py")]
    assert "gospulse dbt manifest" in message and str(tmp_path / "nowhere") in message


@pytest.mark.slow
def test_the_manifest_matches_the_dbt_project(tmp_path):
    """`make env` rewrites the manifest; this catches one that lags behind the models anyway
    (a model, snapshot or test added or removed since): a fresh `dbt parse` must agree."""
    from gospulse.transform.dbt_manifest import manifest_nodes, manifest_path, write_manifest

    kinds = ("model", "snapshot", "seed", "test", "unit_test")
    fresh = write_manifest(tmp_path / "manifest.json")
    assert manifest_nodes(manifest_path(), kinds) == manifest_nodes(fresh, kinds), (
        f"{manifest_path()} is stale: run `gospulse dbt manifest`"
    )


class CountingVkEmulator(VkEmulator):
    """The VK emulator, also keeping when each token's requests arrived."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.arrivals: dict[str, list[float]] = {}

    def handle(self, method, params):
        self.arrivals.setdefault(params.get("access_token", ""), []).append(time.monotonic())
        return super().handle(method, params)


def max_per_window(times: list[float], window: float = 1.0) -> int:
    """The most requests that arrived within any `window` seconds."""
    recent: deque[float] = deque()
    most = 0
    for t in sorted(times):
        recent.append(t)
        while recent[0] <= t - window:
            recent.popleft()
        most = max(most, len(recent))
    return most


@pytest.mark.slow
@pytest.mark.timeout(DAG_RUN_TIMEOUT)
def test_daily_dag_run_serves_the_networks_that_answer(tmp_path, pg, airflow_metadata):
    """The daily run with VK and Telegram emulated and Odnoklassniki unreachable: VK's two
    tokens come from the Airflow connection only, each token's batches in its own pool and
    neither over VK's 3 requests a second; the two networks that answered load, the marts are
    built and served three ways, and the run ends failed with a summary naming the dead one."""
    from emulators.networld import NetworkWorld, write_registry
    from emulators.telegram.server import TelegramEmulator
    from gospulse.orchestration.local import DagRunFailed

    day = date(2026, 3, 10)
    world = World(seed=11, start=date(2026, 3, 1), n_pages=120)
    tg_world, ok_world = NetworkWorld(world, "tg"), NetworkWorld(world, "ok")
    registry = tmp_path / "42_all.csv"
    write_registry(world, registry, ("vk", "tg", "ok"))
    warehouse = tmp_path / "warehouse" / "gospulse.duckdb"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    home = tmp_path / "airflow"
    with (
        CountingVkEmulator(world, rate_limit=3.0, tokens=set(VK_TOKENS)) as vk,
        TelegramEmulator(tg_world) as tg,
    ):
        vk.set_date(day)
        tg.set_date(day)
        env = {
            "GOSPULSE_WAREHOUSE": str(warehouse),
            "GOSPULSE_REGISTRY": str(registry),
            "GOSPULSE_VK_API_URL": vk.base_url,
            # the tokens come from the connection only
            "VK_TOKEN": "",
            "AIRFLOW_CONN_VK_API": json.dumps(
                {"conn_type": "generic", "password": ",".join(VK_TOKENS)}
            ),
            "GOSPULSE_VK_TOKEN_COUNT": "2",
            "GOSPULSE_TG_API_URL": tg.base_url,
            "GOSPULSE_TG_RPS": "20",
            "GOSPULSE_OK_API_URL": f"http://127.0.0.1:{dead_port}/fb.do",
            "GOSPULSE_OK_MAX_RETRIES": "1",
            "OK_APP_KEY": "CBAFAKEKEY",
            "OK_ACCESS_TOKEN": "ok-dag-test-token",
            "OK_APP_SECRET": "ok-dag-test-app-secret",
            "GOSPULSE_AUDIENCE_SECRET": "dag-test-audience-secret",
            "GOSPULSE_PG_PUBLISH": "1",
            "GOSPULSE_PG_DBNAME": pg.dbname,
        }
        with pytest.raises(DagRunFailed):
            run_dag("gospulse_daily", LOGICAL, home, env, metadata_from=airflow_metadata)
        stats = vk.stats
    output = (home / "gospulse_daily.log").read_text()
    secrets = (*VK_TOKENS, "ok-dag-test-token", "ok-dag-test-app-secret")
    for secret in (*secrets, "dag-test-audience-secret"):
        assert secret not in output  # secrets never reach the task logs
    assert "no usable data from Odnoklassniki" in output
    assert "incomplete networks: Odnoklassniki" in output
    # both tokens did a share of the fetching, and neither ever went over 3 requests a second
    by_token = dict(stats.by_token)
    assert set(by_token) == set(VK_TOKENS), by_token
    assert all(n >= 1 for n in by_token.values())
    assert stats.rate_limited == 0
    for token, times in vk.arrivals.items():
        assert max_per_window(times) <= 3, f"{token[:8]}… exceeded 3 requests/s"
    assert "vk.fetch_batch_t0" in output and "vk.fetch_batch_t1" in output

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        runs = con.execute(
            "select network, status, pages_requested from raw.extract_runs order by 1"
        ).fetchall()
        assert [(n, s) for n, s, _ in runs] == [
            ("ok", "failed"),
            ("tg", "success"),
            ("vk", "success"),
        ]
        assert runs[2][2] == len(world.pages)
        counts = dict(
            con.execute(
                "select network, count(*) filter (where status <> 'error') "
                "from raw.page_snapshots where snapshot_date = ? group by 1",
                [day],
            ).fetchall()
        )
        assert counts["vk"] == len(world.pages)
        assert counts["tg"] == len(tg_world.pages)
        assert counts.get("ok", 0) == 0  # OK pages registered by id are recorded as errors
        assert con.execute("select distinct snapshot_date from raw.page_snapshots").fetchall() == [
            (day,)
        ]
        assert_counts_as_emulated(con, tg_world, "tg", day)
        # the marts were built from the two networks that answered
        daily = {
            network: (rows, known)
            for network, rows, known in con.execute(
                "select network, count(*), count(*) filter (where is_known) "
                "from marts.mart_page_daily where snapshot_date = ? group by 1",
                [day],
            ).fetchall()
        }
        assert daily["vk"][0] == len(world.pages) and daily["tg"][1] > 0
        assert daily.get("ok", (0, 0))[1] == 0
        sketched = con.execute(
            "select count(*) from raw.member_sketches where status = 'ok'"
        ).fetchone()[0]
        readable = sum(world.members_readable(p, day) for p in world.pages)
        assert sketched == readable
        # read as user objects: every list's members counted by deactivation and city
        (counted, elsewhere) = con.execute(
            "select count(*), sum(members_elsewhere) from raw.member_attributes"
        ).fetchone()
        assert counted == readable and elsewhere > 0
        region = con.execute(
            "select pages_with_sketch, unique_estimate, duplication_factor "
            "from marts.mart_audience "
            "where scope_type = 'region' and network = 'vk'"
        ).fetchall()
        assert len(region) == 1 and region[0][0] == readable and region[0][1] > 0
        (rows_of_day,) = con.execute(
            "select count(*) from marts.mart_page_daily where snapshot_date = ?", [day]
        ).fetchone()
    finally:
        con.close()
    assert len(ok_world.pages) > 0
    # served three ways: the read-only copy, the export bundle, the marts on Postgres
    published = open_published(published_path(warehouse))
    try:
        assert read_publication(published)["snapshot_date"] == day
        assert published.execute(
            "select count(*) from marts.mart_page_daily where snapshot_date = ?", [day]
        ).fetchone() == (rows_of_day,)
    finally:
        published.close()
    bundle = latest_bundle(bundle_root(warehouse), 42)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["snapshot_date"] == "2026-03-10" and manifest["region"]["code"] == 42
    assert pg_query(
        pg, "select count(*) from marts.mart_page_daily where snapshot_date = '2026-03-10'"
    ) == [(rows_of_day,)]
    assert "serving: published copy" in output and "export bundle" in output
    staged = warehouse.parent / "staging" / "vk" / "2026-03-10"
    assert not staged.exists() or not any(staged.rglob("batch-*.json"))
    db = sqlite3.connect(home / "airflow.db")
    try:
        pools = dict(db.execute("select pool, slots from slot_pool").fetchall())
        events = db.execute(
            "select a.name, e.extra from asset_event e join asset a on a.id = e.asset_id "
            "order by e.id"
        ).fetchall()
    finally:
        db.close()
    assert {"vk_token_0": 1, "vk_token_1": 1, "gospulse_warehouse": 1}.items() <= pools.items()
    # one event per asset, saying which day and (for the bundle) which region and path
    assert [name for name, _ in events] == ["gospulse_marts", "gospulse_export_bundle"]
    marts_extra, bundle_extra = (json.loads(extra) for _, extra in events)
    assert marts_extra["snapshot_date"] == "2026-03-10" and marts_extra["rows"] > 0
    assert bundle_extra["regions"] == [42] and bundle_extra["snapshot_date"] == "2026-03-10"
    [path] = bundle_extra["paths"]
    assert path.startswith(str(warehouse.parent))


@pytest.mark.slow
@pytest.mark.timeout(DAG_RUN_TIMEOUT)
def test_a_failing_dbt_test_skips_downstream_models_and_nothing_is_published(
    tmp_path, airflow_metadata
):
    """A real raw row that breaks a dbt data test: one screen name stored in two spellings in
    raw.page_refs (distinct keys there, one key after staging lowercases it), so the
    uniqueness test of stg_raw__page_refs fails. Every model reading it is skipped, the
    published marts are not written, and the failed run names the dbt task."""
    import sqlite3

    from gospulse.orchestration.local import DagRunFailed
    from gospulse.raw.warehouse import connect

    world = World(seed=5, start=date(2026, 3, 1), n_pages=20)
    registry = tmp_path / "42_dag.csv"
    world.write_registry(registry)
    warehouse = tmp_path / "warehouse" / "gospulse.duckdb"
    warehouse.parent.mkdir()
    with connect(warehouse) as con:
        con.executemany(
            "insert into raw.page_refs (network, ref_kind, ref_value, page_ref, status, "
            "resolved_at) values ('vk', 'screen_name', ?, '999999', 'ok', now())",
            [["Ghost_Page"], ["ghost_page"]],
        )
    home = tmp_path / "airflow"
    with VkEmulator(world, rate_limit=3.0, tokens={TOKEN}) as emulator:
        emulator.set_date(date(2026, 3, 10))
        env = {
            "GOSPULSE_WAREHOUSE": str(warehouse),
            "GOSPULSE_REGISTRY": str(registry),
            "GOSPULSE_VK_API_URL": emulator.base_url,
            "VK_TOKEN": TOKEN,
        }
        with pytest.raises(DagRunFailed):
            run_dag(
                "gospulse_daily",
                LOGICAL,
                home,
                env,
                metadata_from=airflow_metadata,
            )
    output = (home / "gospulse_daily.log").read_text()
    with sqlite3.connect(home / "airflow.db") as meta:
        states = dict(meta.execute("select task_id, state from task_instance").fetchall())
    assert states["dbt.stg_raw__page_refs.test"] == "failed"
    # what reads the broken model is skipped, what does not is still built
    # (a model with no test of its own is a task, not a group: mart_page_daily_run)
    for task in ("int_registry_pages_resolved.run", "mart_page_daily_run", "mart_audience.run"):
        assert states[f"dbt.{task}"] == "upstream_failed", task
    assert states["dbt.stg_raw__page_snapshots.run"] == "success"
    assert states["load_registry"] == "success" and states["build_marts"] == "success"
    assert states["log_summary"] == "failed"
    assert "dbt task(s) failed: dbt.stg_raw__page_refs.test" in output
    assert "published copy kept from an earlier run" in output
    assert not published_path(warehouse).exists()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        marts = con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
        # only the mart that reads neither the registry nor the pages' days: the growth
        # quality of member lists (none were read here)
        assert marts == [("mart_growth_quality",)]
        # the day itself was loaded: only the marts were held back
        assert con.execute("select count(*) from raw.page_snapshots").fetchone() == (
            len(world.pages),
        )
    finally:
        con.close()
    assert TOKEN not in output


def test_a_node_tasks_own_dbt_run_holds_the_warehouse_lock(tmp_path):
    """After a clear, cosmos has each node's task run dbt for its node; those tasks wait in no
    warehouse pool, so the run holds the warehouse's writer lock: a second one waits for it."""
    import fcntl
    import inspect

    from gospulse.orchestration.dbt_group import WAREHOUSE_ENV, _locking_fallback

    warehouse = tmp_path / "gospulse.duckdb"
    seen = []

    class CosmosNodeTask:  # the one method of cosmos' sensor the wrapper calls
        def __init__(self):
            self.env = {WAREHOUSE_ENV: str(warehouse)}

        def _fallback_to_non_watcher_run(self, try_number, context):
            with (tmp_path / "gospulse.duckdb.lock").open("a") as other:
                try:
                    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    seen.append("free")
                except BlockingIOError:
                    seen.append("held")
            return (try_number, context)

    # the method wrapped is the one cosmos' sensors call when the build never reported a node
    # or after a clear: a cosmos upgrade that renames it fails here, not silently in a run
    from cosmos.operators._watcher.base import BaseConsumerSensor

    for caller in (BaseConsumerSensor._handle_retry, BaseConsumerSensor._handle_no_dbt_node_status):
        assert "self._fallback_to_non_watcher_run(" in inspect.getsource(caller)

    node = _locking_fallback(CosmosNodeTask)()
    assert node._fallback_to_non_watcher_run(2, {"ti": None}) == (2, {"ti": None})
    assert seen == ["held"]
    assert _locking_fallback(CosmosNodeTask) is type(node)
