"""Daily snapshot of every registered page on VK, Telegram and Odnoklassniki.

validate registry → per network (task groups vk, tg, ok): plan batches → fetch each batch
(mapped) → load → VK member-list sketches (when a hashing secret is configured) → registry into
the warehouse → dbt (task group `dbt`: one task per model and snapshot, each model followed by
its tests; marts and data-quality incidents) → build_marts (the dbt tasks' verdict) → alerts
for new incidents, and publication: a read-only copy of the marts swapped in for BI and the
API, the region's export bundle for federal aggregators, and (GOSPULSE_PG_PUBLISH=1) the
marts on Postgres → summary.

A network that is down or rate-limited records its failure and does not hold back the others;
the marts are built from whatever was loaded, and the summary names the incomplete
networks (the run fails if a network got no data at all). Each network's batch passes a Great
Expectations gate before it is loaded; a rejected batch is kept out of the warehouse and the
marts are not rebuilt that day (the previous marts stay), with the reasons in the summary.
A failed dbt model or test skips what depends on it, keeps the previous published marts, and
fails the run with the failing dbt task named in the summary.

The dbt tasks are rendered from the manifest written by `gospulse dbt manifest`.
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, TaskGroup, dag, task

from gospulse.airflow_dbt import DBT_POOL, dbt_task_group
from gospulse.dag_defaults import DEFAULT_ARGS, REGION_TZ, START_DATE

NETWORKS = ("vk", "tg", "ok")


@dag(
    dag_id="gospulse_daily",
    schedule=CronTriggerTimetable("0 3 * * *", timezone=REGION_TZ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["gospulse", "vk", "tg", "ok", "daily"],
    doc_md=__doc__,
)
def gospulse_daily():
    @task
    def validate_registry() -> dict:
        from gospulse.tasks import check_registry

        return check_registry()

    @task
    def plan_batches(network: str, logical_date=None) -> list[dict]:
        from gospulse.tasks import plan_network

        return plan_network(network, logical_date.isoformat())

    # one token per network: its batches run one at a time so the token's rate limit holds
    @task(max_active_tis_per_dag=1)
    def fetch_batch(ref: dict) -> str | None:
        from gospulse.tasks import fetch_network

        return fetch_network(ref)

    # a batch task that failed for good leaves its pages recorded as failed, not the run
    @task(trigger_rule="all_done")
    def load_snapshots(refs: list[dict]) -> dict:
        from gospulse.tasks import load_network

        return load_network(refs)

    @task
    def collect_vk_audience(extract: dict) -> dict:
        from gospulse.tasks import collect_audience

        return collect_audience(extract)

    # marts rebuild from whatever raw data is stored even if a network or the audience step
    # failed: the day's counts must not wait for them; the summary says what is missing
    @task(trigger_rule="all_done", pool=DBT_POOL)
    def load_registry(ti=None) -> dict:
        from airflow.exceptions import AirflowSkipException

        from gospulse.tasks import prepare_dbt

        prepared = prepare_dbt({n: ti.xcom_pull(task_ids=f"{n}.load_snapshots") for n in NETWORKS})
        if "held" in prepared:
            # skipping here skips every dbt task: the previous marts stay untouched
            raise AirflowSkipException(f"marts held: {prepared['held']}")
        return prepared

    # the dbt tasks' verdict in build_marts' old shape, for alerts, publication and the summary
    @task(trigger_rule="all_done")
    def build_marts(ti=None, run_id=None) -> dict:
        from gospulse.tasks import dbt_verdict

        states = ti.get_task_states(
            dag_id=ti.dag_id, run_ids=[run_id], task_ids=["load_registry"], task_group_id="dbt"
        ).get(run_id, {})
        return dbt_verdict(
            {n: ti.xcom_pull(task_ids=f"{n}.load_snapshots") for n in NETWORKS}, states
        )

    # new data-quality incidents go out even when a network failed: that is when they matter
    @task(trigger_rule="all_done")
    def send_incident_alerts(ti=None) -> dict:
        from gospulse.tasks import notify_incidents

        return notify_incidents(ti.xcom_pull(task_ids="build_marts"))

    # readers (BI, the API) open this copy, never the warehouse the next run writes
    @task(trigger_rule="all_done")
    def publish_marts(ti=None, run_id=None, logical_date=None) -> dict:
        from gospulse.tasks import publish_marts as publish

        return publish(ti.xcom_pull(task_ids="build_marts"), run_id, logical_date.isoformat())

    @task
    def write_export_bundle(published: dict, run_id=None, logical_date=None) -> dict:
        from gospulse.tasks import write_export_bundle as write

        return write(published, run_id, logical_date.isoformat())

    @task
    def publish_postgres(published: dict, logical_date=None) -> dict:
        from gospulse.tasks import publish_postgres as publish

        return publish(published, logical_date.isoformat())

    # the verdict is a pure function of what the run stored: a retry cannot change it
    @task(trigger_rule="all_done", retries=0)
    def log_summary(ti=None) -> str:
        from gospulse.tasks import summarize

        return summarize(
            {n: ti.xcom_pull(task_ids=f"{n}.load_snapshots") for n in NETWORKS},
            ti.xcom_pull(task_ids="collect_vk_audience"),
            ti.xcom_pull(task_ids="build_marts"),
            ti.xcom_pull(task_ids="send_incident_alerts"),
            {
                "published": ti.xcom_pull(task_ids="publish_marts"),
                "bundle": ti.xcom_pull(task_ids="write_export_bundle"),
                "postgres": ti.xcom_pull(task_ids="publish_postgres"),
            },
        )

    registry = validate_registry()
    loads = {}
    for network in NETWORKS:
        with TaskGroup(group_id=network, tooltip=f"daily counts of {network} pages"):
            refs = plan_batches(network)
            registry >> refs
            fetched = fetch_batch.expand(ref=refs)
            loads[network] = load_snapshots(refs)
            fetched >> loads[network]
    audience = collect_vk_audience(loads["vk"])
    prepared = load_registry()
    [audience, loads["tg"], loads["ok"]] >> prepared
    dbt = dbt_task_group("dbt", "{{ ti.xcom_pull(task_ids='load_registry')['warehouse'] }}")
    built = build_marts()
    prepared >> dbt >> built
    # One process at a time opens the warehouse file (DuckDB: a writer and a reader in two
    # processes exclude each other). The chain orders the registry load, the dbt tasks, alerts
    # (which write) and publication (which reads); inside the dbt group, models on parallel
    # branches would run at once on Celery workers, so every dbt task holds the one slot of
    # pool DBT_POOL; max_active_runs=1 keeps a second run out.
    alerts = send_incident_alerts()
    published = publish_marts()
    built >> alerts >> published
    [alerts, write_export_bundle(published), publish_postgres(published)] >> log_summary()


gospulse_daily()
