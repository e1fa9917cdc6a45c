"""`gospulse_daily` under a real Airflow deployment: Postgres metadata, Redis broker, Celery,
`gospulse_federal` started by the scheduler when the daily run's export bundle lands, and the
daily run's deadline, missed, alerting through the webhook.

The api-server, scheduler, dag-processor and a Celery worker run as separate processes, the
way docker-compose runs them; the DAG fetches VK, Telegram and OK from loopback emulators,
with the VK and OK credentials in Airflow connections given as environment variables.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.util import find_spec

import duckdb
import pytest

from emulators.networld import NetworkWorld, write_registry
from emulators.ok.server import DEFAULT_APP_KEY, DEFAULT_APP_SECRET, OkEmulator
from emulators.telegram.server import TelegramEmulator
from emulators.vk.server import VkEmulator
from emulators.vk.world import World
from gospulse.serving.layout import bundle_root, latest_bundle, published_path
from gospulse.serving.publish import open_published, read_publication
from tests.airflow_stack import AirflowStack
from tests.alert_receivers import HttpReceiver
from tests.network_checks import assert_counts_as_emulated
from tests.pg_fixtures import pg_database  # noqa: F401 (pg is a fixture)

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# run after `airflow db migrate`, as the compose init service does: the pools the DAGs use,
# once `gospulse airflow pools` exists (gospulse/orchestration/pools.py)
SETUP_COMMANDS = (
    [["gospulse", "airflow", "pools"]]
    if find_spec("gospulse.orchestration.pools") is not None
    else []
)
VK_TOKEN = "celery-stack-vk-token"
OK_TOKEN = "celery-stack-ok-token"
DAY = date(2026, 3, 10)
# 20:00 UTC on 9 March is 03:00 on 10 March in Novokuznetsk: the run records 10 March
LOGICAL = datetime(2026, 3, 9, 20, 0, tzinfo=UTC)
# the daily run's deadline, in hours after it was queued: a run this size outlives it
DEADLINE_HOURS = 15 / 3600


@dataclass(frozen=True)
class RedisBroker:
    """The local Redis as Celery broker, with a key prefix of this test's own."""

    url: str
    prefix: str
    client: object


@pytest.fixture(name="redis_broker")
def redis_broker_with_prefix():
    """The local Redis and a fresh key prefix; every key under it is deleted afterwards."""
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=3)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        # .ci/run starts Redis: in CI an unreachable server is a failure, not a skip
        if os.environ.get("CI"):
            where = f"{REDIS_HOST}:{REDIS_PORT}"
            raise RuntimeError(f"CI: Redis at {where} is unreachable: {exc}") from exc
        pytest.skip(f"Redis at {REDIS_HOST}:{REDIS_PORT} is unreachable: {exc}")
    prefix = f"gospulse-test-{uuid.uuid4().hex[:10]}:"
    try:
        yield RedisBroker(f"redis://{REDIS_HOST}:{REDIS_PORT}/0", prefix, client)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def _conn(**fields) -> str:
    """An Airflow connection in its JSON env-var form."""
    return json.dumps({"conn_type": "generic", **fields})


# about 60 dbt model and test tasks read the one build's results, as the dbt graph allows
@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_daily_dag_runs_on_celery_workers_against_the_emulators(tmp_path, pg, redis_broker):
    world = World(seed=11, start=date(2026, 3, 1), n_pages=60)
    tg_world, ok_world = NetworkWorld(world, "tg"), NetworkWorld(world, "ok")
    registry = tmp_path / "42_all.csv"
    write_registry(world, registry, ("vk", "tg", "ok"))
    warehouse = tmp_path / "warehouse" / "gospulse.duckdb"
    federal_warehouse = tmp_path / "federal" / "federal.duckdb"
    federal_warehouse.parent.mkdir()
    queue = f"gospulse_{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    hook = HttpReceiver()
    with (
        VkEmulator(world, rate_limit=20.0, tokens={VK_TOKEN}) as vk,
        TelegramEmulator(tg_world) as tg,
        OkEmulator(ok_world, rate_limit=20.0, tokens={OK_TOKEN}) as ok,
    ):
        for emulator in (vk, tg, ok):
            emulator.set_date(DAY)
        stack = AirflowStack(
            home=tmp_path / "airflow",
            sql_alchemy_conn=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{pg.dbname}",
            broker_url=redis_broker.url,
            queue=queue,
            redis_prefix=redis_broker.prefix,
            setup_commands=SETUP_COMMANDS,
            extra_env={
                "GOSPULSE_WAREHOUSE": str(warehouse),
                "GOSPULSE_REGISTRY": str(registry),
                "GOSPULSE_VK_API_URL": vk.base_url,
                "GOSPULSE_VK_RPS": "20",
                "GOSPULSE_TG_API_URL": tg.base_url,
                "GOSPULSE_TG_RPS": "20",
                "GOSPULSE_OK_API_URL": ok.base_url,
                "GOSPULSE_OK_RPS": "20",
                "GOSPULSE_AUDIENCE_SECRET": "celery-stack-audience-secret",
                # lists of ids: this run checks the executor; the daily DAG test
                # (tests/test_dags.py) reads them as user objects
                "GOSPULSE_AUDIENCE_MEMBER_FIELDS": "0",
                # the federal roll-up of this one region, fed by the bundles the daily run writes
                "GOSPULSE_FEDERAL_SOURCES": str(bundle_root(warehouse)),
                "GOSPULSE_FEDERAL_WAREHOUSE": str(federal_warehouse),
                # the scheduler finds the deadline missed and a worker runs the callback
                "GOSPULSE_DAILY_DEADLINE_HOURS": str(DEADLINE_HOURS),
                "GOSPULSE_ALERT_WEBHOOK_URL": hook.url + "/alerts",
                "GOSPULSE_ALERT_TG_BOT_TOKEN": "",
                "GOSPULSE_ALERT_EMAIL_TO": "",
                # secrets only as Airflow connections: the tasks must read them from there
                "AIRFLOW_CONN_VK_API": _conn(password=VK_TOKEN),
                "AIRFLOW_CONN_OK_API": _conn(
                    login=DEFAULT_APP_KEY,
                    password=OK_TOKEN,
                    extra={"application_secret_key": DEFAULT_APP_SECRET},
                ),
            },
            # the caller's env must not hand the tasks a token the connections should supply
            drop_env=("VK_TOKEN", "OK_ACCESS_TOKEN", "OK_APP_KEY", "OK_APP_SECRET", "TG_SESSION"),
        )
        stack.migrate()
        try:
            stack.start()
            stack.wait_dag("gospulse_daily")
            stack.wait_dag("gospulse_federal")
            # unpaused before the bundle lands, so its asset event queues a federal run
            stack.api("PATCH", "/api/v2/dags/gospulse_federal", {"is_paused": False})
            run_id = stack.trigger("gospulse_daily", LOGICAL.isoformat(), f"celery_{queue}")
            tis = stack.wait_run("gospulse_daily", run_id, timeout=1800)
            # the scheduler ran with scheduling off (only the triggered run); switched on now,
            # the daily DAG paused so no run of "today" starts, it must create the federal run
            # the bundle's asset event queued
            stack.api("PATCH", "/api/v2/dags/gospulse_daily", {"is_paused": True})
            stack.restart("scheduler", {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True"})
            federal_run = stack.wait_new_run("gospulse_federal", "asset_triggered", timeout=300)
            federal_tis = stack.wait_run("gospulse_federal", federal_run, timeout=600)
            # Celery's keys live under our prefix only: other deployments on this Redis never
            # see our queue, and the fixture can remove everything we wrote
            keys = [k.decode() for k in redis_broker.client.scan_iter(match=f"*{queue}*")]
            assert keys and all(k.startswith(redis_broker.prefix) for k in keys), keys
        finally:
            stack.stop()
            hook.close()
        assert vk.stats.requests_total >= 1 and tg.stats.requests_total >= 1
        assert ok.stats.requests_total >= 1
    print(f"\ncelery stack timings: {stack.timings}, total {time.monotonic() - started:.0f} s")

    # the deadline passed while the run was going: one late message, naming the run
    late = [
        p for _, p in hook.requests if p.get("subject", "").startswith("gospulse daily run late")
    ]
    assert len(late) == 1, hook.requests
    assert f"gospulse_daily run {run_id}" in late[0]["subject"], late[0]
    assert "is still running" in late[0]["subject"], late[0]

    # every task ran on the Celery worker of our queue, not in the scheduler's process
    ran = [ti for ti in tis if ti["state"] == "success"]
    assert ran == tis, [(ti["task_id"], ti["map_index"], ti["state"]) for ti in tis]
    assert {ti["queue"] for ti in tis} == {queue}
    assert {t["task_id"] for t in ran} >= {"validate_registry", "build_marts", "publish_marts"}
    worker_log = stack.log_path("celery-worker").read_text(errors="replace")
    # the scheduler itself marks an EmptyOperator done (cosmos' gate after the dbt build)
    executed = [ti for ti in ran if ti["operator"] != "EmptyOperator"]
    assert len(executed) >= len(ran) - 1
    for ti in executed:
        # the worker logs each workload it executes, naming the task instance
        assert ti["task_id"] in worker_log, f"{ti['task_id']} not in the worker's log"
    task_logs = [stack.task_log("gospulse_daily", run_id, ti) for ti in executed]
    assert all(log is not None for log in task_logs), "a successful task left no log"
    all_logs = "\n".join(log.read_text(errors="replace") for log in task_logs)
    all_logs += worker_log
    for secret in (VK_TOKEN, OK_TOKEN, DEFAULT_APP_SECRET, "celery-stack-audience-secret"):
        assert secret not in all_logs, "a secret reached the logs"

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        runs = dict(con.execute("select network, status from raw.extract_runs").fetchall())
        assert runs == {"vk": "success", "tg": "success", "ok": "success"}
        per_network = dict(
            con.execute(
                "select network, count(*) from raw.page_snapshots where snapshot_date = ? "
                "group by 1",
                [DAY],
            ).fetchall()
        )
        expected = {"vk": len(world.pages), "tg": len(tg_world.pages), "ok": len(ok_world.pages)}
        assert per_network == expected
        keys = con.execute(
            "select count(*), count(distinct (network, page_ref)) from raw.page_snapshots"
        ).fetchone()
        assert keys[0] == keys[1] == sum(expected.values())  # one row per page and day
        daily = dict(
            con.execute(
                "select network, count(*) from marts.mart_page_daily where snapshot_date = ? "
                "group by 1",
                [DAY],
            ).fetchall()
        )
        assert daily == expected
        assert_counts_as_emulated(con, tg_world, "tg", DAY)
    finally:
        con.close()
    published = open_published(published_path(warehouse))
    try:
        assert read_publication(published)["snapshot_date"] == DAY
        assert published.execute(
            "select count(*) from marts.mart_page_daily where snapshot_date = ?", [DAY]
        ).fetchone() == (sum(expected.values()),)
    finally:
        published.close()
    manifest = json.loads((latest_bundle(bundle_root(warehouse), 42) / "manifest.json").read_text())
    assert manifest["snapshot_date"] == DAY.isoformat() and manifest["region"]["code"] == 42
    # the federal DAG ran because the bundle landed, on the worker, and loaded that bundle
    assert {ti["queue"] for ti in federal_tis} == {queue}
    assert all(ti["state"] == "success" for ti in federal_tis), federal_tis
    federal = duckdb.connect(str(federal_warehouse), read_only=True)
    try:
        loaded = federal.execute(
            "select region_code, bundle_id, snapshot_date from bundles.loaded"
        ).fetchall()
    finally:
        federal.close()
    assert loaded == [(42, manifest["bundle_id"], DAY)]
    # tasks of the three networks run at once on the worker and may collide on the DuckDB
    # file; a retry recovers, so this is reported (the pools that serialise them are the fix)
    retried = {
        f"{ti['task_id']}[{ti['map_index']}]": ti["try_number"]
        for ti in tis
        if ti["try_number"] > 1
    }
    print(f"tasks retried: {retried or 'none'}")
    print(f"DuckDB lock conflicts: {stack.lock_conflicts('gospulse_daily', run_id, tis) or 'none'}")
