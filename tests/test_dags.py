"""The DAG files: they parse with no secrets, and a real `airflow dags test` run loads data."""

from __future__ import annotations

import json
import socket
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from emulators.vk.server import VkEmulator
from emulators.vk.world import World
from gospulse.airflow_local import DAGS_FOLDER, run_dag
from gospulse.serving.layout import bundle_root, latest_bundle, published_path
from gospulse.serving.publish import open_published, read_publication
from tests.pg_fixtures import pg_database, pg_query  # noqa: F401 (pg is a fixture)

TOKEN = "dag-test-token"


def test_dags_parse_without_secrets_or_services(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

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
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    assert "gospulse_daily" in bag.dags
    for dag_id, dag in bag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md, dag_id
        for t in dag.tasks:
            # the summary only reports what was stored; everything else may meet a transient error
            if t.task_id != "log_summary":
                assert t.retries >= 1, f"{dag_id}.{t.task_id} has no retries"
            assert t.execution_timeout is not None, f"{dag_id}.{t.task_id} has no timeout"
    daily = bag.dags["gospulse_daily"]
    per_network = {
        f"{n}.{step}"
        for n in ("vk", "tg", "ok")
        for step in ("plan_batches", "batches_t0", "fetch_batch_t0", "load_snapshots")
    }
    assert {t.task_id for t in daily.tasks} == per_network | {
        "validate_registry",
        "collect_vk_audience",
        "build_marts",
        "send_incident_alerts",
        "publish_marts",
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
    assert daily.get_task("build_marts").trigger_rule == "all_done"
    assert daily.get_task("log_summary").trigger_rule == "all_done"
    # the marts that were built are published even if alerting failed; one process at a time
    # opens the warehouse: alerts write to it before publication reads it
    assert daily.get_task("publish_marts").trigger_rule == "all_done"
    assert daily.get_task("publish_marts").upstream_task_ids == {"send_incident_alerts"}
    assert daily.get_task("send_incident_alerts").upstream_task_ids == {"build_marts"}
    for step in ("write_export_bundle", "publish_postgres"):
        assert daily.get_task(step).upstream_task_ids == {"publish_marts"}


@pytest.mark.slow
def test_daily_dag_run_against_the_emulator(tmp_path, pg):
    start = date(2026, 3, 1)
    world = World(seed=11, start=start, n_pages=120)
    registry = tmp_path / "42_dag.csv"
    world.write_registry(registry)
    warehouse = tmp_path / "warehouse" / "gospulse.duckdb"
    # 20:00 UTC on 9 March is 03:00 on 10 March in Novokuznetsk: the run records 10 March
    logical = datetime(2026, 3, 9, 20, 0, tzinfo=UTC)
    with VkEmulator(world, rate_limit=3.0, tokens={TOKEN}) as emulator:
        emulator.set_date(date(2026, 3, 10))
        env = {
            "GOSPULSE_WAREHOUSE": str(warehouse),
            "GOSPULSE_REGISTRY": str(registry),
            "GOSPULSE_VK_API_URL": emulator.base_url,
            "VK_TOKEN": TOKEN,
            "GOSPULSE_AUDIENCE_SECRET": "dag-test-audience-secret",
            "GOSPULSE_PG_PUBLISH": "1",
            "GOSPULSE_PG_DBNAME": pg.dbname,
        }
        output = run_dag("gospulse_daily", logical, tmp_path / "airflow", env)
        assert emulator.stats.requests_total >= 1
    assert TOKEN not in output  # secrets never reach the task logs
    assert "dag-test-audience-secret" not in output
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        dates = con.execute(
            "select snapshot_date, count(*) from raw.page_snapshots group by 1"
        ).fetchall()
        assert dates == [(date(2026, 3, 10), len(world.pages))]
        run = con.execute("select status, pages_requested from raw.extract_runs").fetchall()
        assert run == [("success", len(world.pages))]
        daily = con.execute(
            "select count(*) from marts.mart_page_daily where snapshot_date = date '2026-03-10'"
        ).fetchone()[0]
        assert daily == len(world.pages)
        sketched = con.execute(
            "select count(*) from raw.member_sketches where status = 'ok'"
        ).fetchone()[0]
        readable = sum(world.members_readable(p, date(2026, 3, 10)) for p in world.pages)
        assert sketched == readable
        region = con.execute(
            "select pages_with_sketch, unique_estimate, duplication_factor "
            "from marts.mart_audience "
            "where scope_type = 'region' and network = 'vk'"
        ).fetchall()
        assert len(region) == 1 and region[0][0] == readable and region[0][1] > 0
    finally:
        con.close()
    # served three ways: the read-only copy, the export bundle, the marts on Postgres
    published = open_published(published_path(warehouse))
    try:
        assert read_publication(published)["snapshot_date"] == date(2026, 3, 10)
        assert published.execute(
            "select count(*) from marts.mart_page_daily where snapshot_date = date '2026-03-10'"
        ).fetchone() == (len(world.pages),)
    finally:
        published.close()
    bundle = latest_bundle(bundle_root(warehouse), 42)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["snapshot_date"] == "2026-03-10" and manifest["region"]["code"] == 42
    assert pg_query(
        pg, "select count(*) from marts.mart_page_daily where snapshot_date = '2026-03-10'"
    ) == [(len(world.pages),)]
    assert "serving: published copy" in output and "export bundle" in output
    assert not (warehouse.parent / "staging" / "vk" / "2026-03-10").exists() or not any(
        Path(warehouse.parent / "staging" / "vk" / "2026-03-10").rglob("batch-*.json")
    )


@pytest.mark.slow
def test_daily_dag_with_one_network_down_loads_the_others(tmp_path):
    """VK and Telegram emulated, Odnoklassniki unreachable: two networks load, marts build,
    and the run ends failed with a summary naming the dead network."""
    from emulators.networld import NetworkWorld, write_registry
    from emulators.telegram.server import TelegramEmulator
    from gospulse.airflow_local import DagRunFailed

    day = date(2026, 3, 10)
    world = World(seed=11, start=date(2026, 3, 1), n_pages=120)
    tg_world, ok_world = NetworkWorld(world, "tg"), NetworkWorld(world, "ok")
    registry = tmp_path / "42_all.csv"
    write_registry(world, registry, ("vk", "tg", "ok"))
    warehouse = tmp_path / "warehouse" / "gospulse.duckdb"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    with (
        VkEmulator(world, rate_limit=3.0, tokens={TOKEN}) as vk,
        TelegramEmulator(tg_world) as tg,
    ):
        vk.set_date(day)
        tg.set_date(day)
        env = {
            "GOSPULSE_WAREHOUSE": str(warehouse),
            "GOSPULSE_REGISTRY": str(registry),
            "GOSPULSE_VK_API_URL": vk.base_url,
            "VK_TOKEN": TOKEN,
            "GOSPULSE_TG_API_URL": tg.base_url,
            "GOSPULSE_TG_RPS": "20",
            "GOSPULSE_OK_API_URL": f"http://127.0.0.1:{dead_port}/fb.do",
            "GOSPULSE_OK_MAX_RETRIES": "1",
            "OK_APP_KEY": "CBAFAKEKEY",
            "OK_ACCESS_TOKEN": "ok-dag-test-token",
            "OK_APP_SECRET": "ok-dag-test-app-secret",
        }
        home = tmp_path / "airflow"
        with pytest.raises(DagRunFailed):
            run_dag("gospulse_daily", datetime(2026, 3, 9, 20, 0, tzinfo=UTC), home, env)
        output = (home / "gospulse_daily.log").read_text()
    for secret in (TOKEN, "ok-dag-test-token", "ok-dag-test-app-secret"):
        assert secret not in output
    assert "no usable data from Odnoklassniki" in output
    assert "incomplete networks: Odnoklassniki" in output
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        runs = dict(con.execute("select network, status from raw.extract_runs").fetchall())
        assert runs == {"vk": "success", "tg": "success", "ok": "failed"}
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
        tg_members = dict(
            con.execute(
                "select page_ref, members_count from raw.page_snapshots "
                "where network = 'tg' and status = 'ok'"
            ).fetchall()
        )
        for page in tg_world.pages:
            state = tg_world.state_on(page, day)
            if state.status == "ok":
                assert tg_members[str(page.id)] == state.members_count
        # the marts were built from the two networks that answered
        daily = dict(
            con.execute(
                "select network, count(*) filter (where is_known) from marts.mart_page_daily "
                "where snapshot_date = ? group by 1",
                [day],
            ).fetchall()
        )
        assert daily["vk"] > 0 and daily["tg"] > 0 and daily.get("ok", 0) == 0
    finally:
        con.close()
    assert len(ok_world.pages) > 0
