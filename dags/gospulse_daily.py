"""Daily snapshot of every registered page on VK, Telegram and Odnoklassniki.

validate registry → per network (task groups vk, tg, ok): plan batches → fetch each batch
(mapped) → load → VK member-list sketches (when a hashing secret is configured) → registry into
the warehouse → dbt (task group `dbt`: one `dbt build`, then one task per model and snapshot,
each model followed by its tests, reporting that build's result; marts and data-quality
incidents) → build_marts (the dbt tasks' verdict) → alerts
for new incidents, and publication: a read-only copy of the marts swapped in for BI and the
API, the region's export bundle for federal aggregators, and (GOSPULSE_PG_PUBLISH=1) the
marts on Postgres → summary.

A network that is down or rate-limited records its failure and does not hold back the others;
the marts are built from whatever was loaded, and the summary names the incomplete
networks (the run fails if a network got no data at all). Each network's batch passes a Great
Expectations gate before it is loaded; a rejected batch is kept out of the warehouse and the
marts are not rebuilt that day (the previous marts stay), with the reasons in the summary.

Tokens: each network fetches with one task per token (`vk.fetch_batch_t0`, `…_t1`, …, counts
from GOSPULSE_VK_TOKEN_COUNT / GOSPULSE_TG_SESSION_COUNT / GOSPULSE_OK_TOKEN_COUNT), each in
its own one-slot pool (`vk_token_<i>`, `tg_session_<i>`, `ok_token_<i>`; create them with
`gospulse airflow pools`). Secrets live in the connections `vk_api`, `telegram`, `ok_api`.

Assets: `publish_marts` updates `gospulse_marts`, `write_export_bundle` updates
`gospulse_export_bundle` (which schedules gospulse_federal); a step that produced nothing is
skipped and emits no event. Deadline: if the run is not done GOSPULSE_DAILY_DEADLINE_HOURS
(default 4) after it was queued, a "daily run late" alert goes to the GOSPULSE_ALERT_* channels.

A run only extracts for today (or yesterday): a backfill of older dates fails in plan_batches,
since the networks only answer current counts; past days come from `gospulse import-snapshots`.
Operations (rerun a day, backfill, rotate a token, add a region): docs/operations.md.

A failed dbt model or test skips what depends on it, keeps the previous published marts, and
fails the run with the failing dbt task named in the summary.

The dbt tasks are rendered from the manifest written by `gospulse dbt manifest`.
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, TaskGroup, dag, task

from gospulse.orchestration.assets import gospulse_export_bundle, gospulse_marts
from gospulse.orchestration.dag_defaults import DEFAULT_ARGS, REGION_TZ, START_DATE
from gospulse.orchestration.dbt_group import dbt_task_group
from gospulse.orchestration.deadlines import daily_deadline
from gospulse.orchestration.pools import WAREHOUSE_POOL
from gospulse.orchestration.token_slots import fetch_task_id, pool_name, share_task_id, token_count

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
    deadline=daily_deadline(),
)
def gospulse_daily():
    @task
    def validate_registry() -> dict:
        from gospulse.orchestration.tasks import check_registry

        return check_registry().to_xcom()

    # every task that opens the warehouse file holds the one slot of WAREHOUSE_POOL: DuckDB
    # allows one process at a time, and Celery workers would otherwise run them at once
    @task(pool=WAREHOUSE_POOL)
    def plan_batches(network: str, tokens: int, logical_date=None) -> list[dict]:
        from gospulse.orchestration.tasks import plan_network

        return [ref.to_xcom() for ref in plan_network(network, logical_date.isoformat(), tokens)]

    # Airflow maps only over a whole task result, so each token's share is its own small task
    @task
    def batches_of_token(refs: list[dict], token: int) -> list[dict]:
        from gospulse.config.task_results import BatchRef
        from gospulse.orchestration.tasks import batches_of_token as share

        return [mine.to_xcom() for mine in share([BatchRef.from_xcom(r) for r in refs], token)]

    # each token's batches run in its one-slot pool (see gospulse/orchestration/pools.py for why
    # one slot); max_active_tis_per_dag keeps that true even if a pool was given more slots
    @task(max_active_tis_per_dag=1)
    def fetch_batch(ref: dict, token: int, tokens: int) -> str | None:
        from gospulse.config.task_results import BatchRef
        from gospulse.orchestration.tasks import fetch_network

        return fetch_network(BatchRef.from_xcom(ref), token, tokens)

    # a batch task that failed for good leaves its pages recorded as failed, not the run
    @task(trigger_rule="all_done", pool=WAREHOUSE_POOL)
    def load_snapshots(refs: list[dict]) -> dict:
        from gospulse.config.task_results import BatchRef
        from gospulse.orchestration.tasks import load_network

        return load_network([BatchRef.from_xcom(r) for r in refs]).to_xcom()

    @task(pool=WAREHOUSE_POOL)
    def collect_vk_audience(extract: dict) -> dict:
        from gospulse.config.task_results import NetworkLoad
        from gospulse.orchestration.tasks import collect_audience

        return collect_audience(NetworkLoad.from_xcom(extract)).to_xcom()

    # marts rebuild from whatever raw data is stored even if a network or the audience step
    # failed: the day's counts must not wait for them; the summary says what is missing
    @task(trigger_rule="all_done", pool=WAREHOUSE_POOL)
    def load_registry(ti=None) -> dict:
        from airflow.exceptions import AirflowSkipException

        from gospulse.orchestration.tasks import network_loads, prepare_dbt

        prepared = prepare_dbt(network_loads(ti, NETWORKS))
        if prepared.held:
            # skipping here skips every dbt task: the previous marts stay untouched
            raise AirflowSkipException(f"marts held: {prepared.held}")
        return prepared.to_xcom()

    # the dbt tasks' verdict (a BuildVerdict), for alerts, publication and the summary
    @task(trigger_rule="all_done")
    def build_marts(ti=None, run_id=None) -> dict:
        from gospulse.orchestration.tasks import dbt_verdict, network_loads

        states = ti.get_task_states(
            dag_id=ti.dag_id, run_ids=[run_id], task_ids=["load_registry"], task_group_id="dbt"
        ).get(run_id, {})
        return dbt_verdict(network_loads(ti, NETWORKS), states).to_xcom()

    # new data-quality incidents go out even when a network failed: that is when they matter
    @task(trigger_rule="all_done", pool=WAREHOUSE_POOL)
    def send_incident_alerts(ti=None) -> dict:
        from gospulse.config.task_results import BuildVerdict
        from gospulse.orchestration.tasks import notify_incidents

        build = BuildVerdict.from_xcom(ti.xcom_pull(task_ids="build_marts"))
        return notify_incidents(build).to_xcom()

    # readers (BI, the API) open this copy, never the warehouse the next run writes
    @task(trigger_rule="all_done", outlets=[gospulse_marts], pool=WAREHOUSE_POOL)
    def publish_marts(ti=None, run_id=None, logical_date=None, outlet_events=None) -> dict:
        from gospulse.config.task_results import BuildVerdict
        from gospulse.orchestration.assets import announce_marts
        from gospulse.orchestration.tasks import publish_marts as publish

        build = BuildVerdict.from_xcom(ti.xcom_pull(task_ids="build_marts"))
        result = publish(build, run_id, logical_date.isoformat())
        return announce_marts(result, ti, outlet_events)

    # a closed month's reports, from the copy just published, before the bundle that carries
    # them; it only reads the published copy, so it holds no warehouse slot
    @task(trigger_rule="none_failed")
    def write_monthly_reports(ti=None) -> dict:
        from gospulse.config.task_results import PublishOutcome
        from gospulse.orchestration.tasks import write_monthly_reports as write

        return write(PublishOutcome.from_xcom(ti.xcom_pull(task_ids="publish_marts"))).to_xcom()

    # publish_marts is skipped when it published nothing: the bundle step still runs and says so
    @task(trigger_rule="none_failed", outlets=[gospulse_export_bundle])
    def write_export_bundle(ti=None, run_id=None, logical_date=None, outlet_events=None) -> dict:
        from gospulse.config.task_results import PublishOutcome
        from gospulse.orchestration.assets import announce_bundle
        from gospulse.orchestration.tasks import write_export_bundle as write

        published = PublishOutcome.from_xcom(ti.xcom_pull(task_ids="publish_marts"))
        result = write(published, run_id, logical_date.isoformat())
        return announce_bundle(result, ti, outlet_events)

    @task(trigger_rule="none_failed", pool=WAREHOUSE_POOL)
    def publish_postgres(ti=None, logical_date=None) -> dict:
        from gospulse.config.task_results import PublishOutcome
        from gospulse.orchestration.tasks import publish_postgres as publish

        published = PublishOutcome.from_xcom(ti.xcom_pull(task_ids="publish_marts"))
        return publish(published, logical_date.isoformat()).to_xcom()

    # the verdict is a pure function of what the run stored: a retry cannot change it
    @task(trigger_rule="all_done", retries=0)
    def log_summary(ti=None) -> str:
        from gospulse.config.task_results import (
            AudienceOutcome,
            BuildVerdict,
            ExportBundles,
            IncidentAlerts,
            MonthlyReports,
            PostgresOutcome,
            PublishOutcome,
            ServingSteps,
        )
        from gospulse.orchestration.tasks import network_loads, summarize

        return summarize(
            network_loads(ti, NETWORKS),
            AudienceOutcome.from_xcom(ti.xcom_pull(task_ids="collect_vk_audience")),
            BuildVerdict.from_xcom(ti.xcom_pull(task_ids="build_marts")),
            IncidentAlerts.from_xcom(ti.xcom_pull(task_ids="send_incident_alerts")),
            ServingSteps(
                published=PublishOutcome.from_xcom(ti.xcom_pull(task_ids="publish_marts")),
                bundle=ExportBundles.from_xcom(ti.xcom_pull(task_ids="write_export_bundle")),
                reports=MonthlyReports.from_xcom(ti.xcom_pull(task_ids="write_monthly_reports")),
                postgres=PostgresOutcome.from_xcom(ti.xcom_pull(task_ids="publish_postgres")),
            ),
        )

    registry = validate_registry()
    loads = {}
    for network in NETWORKS:
        with TaskGroup(group_id=network, tooltip=f"daily counts of {network} pages"):
            tokens = token_count(network)
            refs = plan_batches(network, tokens)
            registry >> refs
            loads[network] = load_snapshots(refs)
            for i in range(tokens):
                share = batches_of_token.override(task_id=share_task_id(i))(refs, i)
                fetched = (
                    fetch_batch.override(task_id=fetch_task_id(i), pool=pool_name(network, i))
                    .partial(token=i, tokens=tokens)
                    .expand(ref=share)
                )
                fetched >> loads[network]
    audience = collect_vk_audience(loads["vk"])
    prepared = load_registry()
    [audience, loads["tg"], loads["ok"]] >> prepared
    dbt = dbt_task_group("dbt", "{{ ti.xcom_pull(task_ids='load_registry')['warehouse'] }}")
    built = build_marts()
    prepared >> dbt >> built
    # One process at a time opens the warehouse file (DuckDB: a writer and a reader in two
    # processes exclude each other). The chain orders the registry load, the dbt tasks, alerts
    # (which write) and publication (which reads); the networks' plans and loads and the dbt
    # models on parallel branches would run at once on Celery workers, so each of them holds
    # the one slot of WAREHOUSE_POOL; max_active_runs=1 keeps a second run out.
    alerts = send_incident_alerts()
    published = publish_marts()
    built >> alerts >> published
    reports, bundle, postgres = write_monthly_reports(), write_export_bundle(), publish_postgres()
    published >> [reports, postgres]
    reports >> bundle
    [alerts, bundle, postgres] >> log_summary()


gospulse_daily()
