"""Daily snapshot of every registered page.

validate registry → plan VK batches → fetch each batch (mapped) → load → member-list sketches
(when a hashing secret is configured) → dbt build → summary.
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag, task

from gospulse.dag_defaults import DEFAULT_ARGS, REGION_TZ, START_DATE


@dag(
    dag_id="gospulse_daily",
    schedule=CronTriggerTimetable("0 3 * * *", timezone=REGION_TZ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["gospulse", "vk", "daily"],
    doc_md=__doc__,
)
def gospulse_daily():
    @task
    def validate_registry() -> dict:
        from gospulse.tasks import check_registry

        return check_registry()

    @task
    def plan_vk_batches(logical_date=None) -> list[dict]:
        from gospulse.tasks import plan_vk

        return plan_vk(logical_date.isoformat())

    # one token: batches run one at a time so the token's rate limit holds
    @task(max_active_tis_per_dag=1)
    def fetch_vk_batch(ref: dict) -> str | None:
        from gospulse.tasks import fetch_vk

        return fetch_vk(ref)

    # a batch task that failed for good leaves its pages recorded as failed, not the run
    @task(trigger_rule="all_done")
    def load_vk_snapshots(refs: list[dict]) -> dict:
        from gospulse.tasks import load_vk

        return load_vk(refs)

    @task
    def collect_vk_audience(extract: dict) -> dict:
        from gospulse.tasks import collect_audience

        return collect_audience(extract)

    # marts rebuild from whatever raw data is stored even if the audience step failed: the
    # day's counts must not wait for member lists; the run still ends failed and says why
    @task(trigger_rule="all_done")
    def build_marts() -> dict:
        from gospulse.tasks import build_marts as build

        return build()

    @task
    def log_summary(extract: dict, audience: dict, build: dict) -> str:
        from gospulse.tasks import summarize

        return summarize(extract, audience, build)

    registry = validate_registry()
    refs = plan_vk_batches()
    registry >> refs
    fetched = fetch_vk_batch.expand(ref=refs)
    loaded = load_vk_snapshots(refs)
    fetched >> loaded
    audience = collect_vk_audience(loaded)
    built = build_marts()
    audience >> built
    log_summary(loaded, audience, built)


gospulse_daily()
