"""Federal roll-up of the regions' export bundles.

pull → build: every region's latest bundle is fetched from the sources in
$GOSPULSE_FEDERAL_SOURCES (local paths, http(s)://, s3:// — comma-separated), verified
against its manifest (schema version, size, sha256 and row count of every file) and loaded
into the federal DuckDB ($GOSPULSE_FEDERAL_WAREHOUSE); then the federal marts are rebuilt:
national and per-federal-district growth, cross-region rankings and the national unique
audience merged from the regions' sketches.

A rejected bundle keeps that region's previous data and its reason is in the summary and in
bundles.pulls; the run then fails at the end so somebody looks, after the others loaded.

Schedule: whenever a region's bundle lands (the `gospulse_export_bundle` Asset, updated by
gospulse_daily here or by a remote region through `POST /api/v2/assets/events`, see
docs/operations.md), and at 09:00 regardless, so a region that did not report is still pulled.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from gospulse.orchestration.assets import gospulse_export_bundle
from gospulse.orchestration.dag_defaults import DEFAULT_ARGS, REGION_TZ, START_DATE


@dag(
    dag_id="gospulse_federal",
    # a region's new bundle, or 09:00: after the regions' daily runs (03:00 in each region's
    # time) should have written theirs
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 9 * * *", timezone=REGION_TZ),
        assets=gospulse_export_bundle,
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["gospulse", "federal"],
    doc_md=__doc__,
)
def gospulse_federal():
    @task
    def pull_and_build() -> dict:
        from gospulse.config import settings
        from gospulse.federal.pull import SOURCES_ENV, parse_sources
        from gospulse.federal.run import federal_warehouse_path, run_federal_pull

        summary = run_federal_pull(
            parse_sources(settings.read(SOURCES_ENV)), federal_warehouse_path()
        )
        return summary.to_xcom()

    @task
    def report(value: dict) -> None:
        from gospulse.config.task_results import FederalPull

        summary = FederalPull.from_xcom(value)
        for line in summary.lines:
            print(line)
        if summary.rejected:
            raise RuntimeError(
                "bundles rejected (previous data kept): " + "; ".join(summary.rejected.values())
            )

    report(pull_and_build())


gospulse_federal()
