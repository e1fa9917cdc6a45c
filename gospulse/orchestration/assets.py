"""The Airflow Assets gospulse produces: the published marts and the region's export bundle.

Defined once here so the producing tasks (outlets) and the consuming DAGs (schedules) name
the same objects. The `x-` URI scheme marks them as our own: Airflow keeps such URIs as they
are, and one name serves every region, so a federal Airflow reacts to any region's bundle.
Each event's extra says which region, snapshot date and path it is about.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset

from gospulse.config.task_results import ExportBundles, PublishOutcome, XComResult

# the read-only copy of the marts that BI and the HTTP API open (serving/publish.py)
gospulse_marts = Asset(name="gospulse_marts", uri="x-gospulse://marts/published", group="gospulse")
# the region's export bundle for federal aggregators (serving/bundle.py); remote regions
# report theirs to a federal Airflow with POST /api/v2/assets/events (docs/operations.md)
gospulse_export_bundle = Asset(
    name="gospulse_export_bundle", uri="x-gospulse://export-bundle", group="gospulse"
)


def announce_or_skip(
    result: XComResult,
    *,
    done: bool,
    why_not: str | None,
    asset: Asset,
    extra: dict[str, Any],
    ti: Any,
    outlet_events: Any,
) -> dict[str, Any]:
    """Attach `extra` to the task's asset event, or skip the task when nothing was produced;
    the result goes to XCom either way.

    Airflow records an outlet event for every successful task and none for a skipped one. A
    no-op (marts held back by the raw gate, nothing to bundle) must not wake the federal DAG,
    so the result is pushed as the task's XCom first (the summary still reads why) and the task
    ends skipped.
    """
    value = result.to_xcom()
    if done:
        outlet_events[asset].extra = extra
        return value
    from airflow.sdk.exceptions import AirflowSkipException

    ti.xcom_push(key="return_value", value=value)
    raise AirflowSkipException(f"no {asset.name} event: {why_not or 'nothing was produced'}")


def announce_marts(result: PublishOutcome, ti: Any, outlet_events: Any) -> dict[str, Any]:
    """publish_marts' event: which snapshot date and run the published copy holds."""
    extra = {
        "snapshot_date": result.snapshot_date,
        "run_id": result.run_id,
        "tables": result.tables,
        "rows": result.rows,
    }
    return announce_or_skip(
        result,
        done=result.published,
        why_not=result.reason,
        asset=gospulse_marts,
        extra=extra,
        ti=ti,
        outlet_events=outlet_events,
    )


def announce_bundle(result: ExportBundles, ti: Any, outlet_events: Any) -> dict[str, Any]:
    """write_export_bundle's event: the regions, snapshot date and where the bundles lie."""
    extra = {
        "regions": list(result.regions),
        "snapshot_date": result.snapshot_date,
        "paths": list(result.paths),
        "files": result.files,
    }
    return announce_or_skip(
        result,
        done=result.written,
        why_not=result.reason,
        asset=gospulse_export_bundle,
        extra=extra,
        ti=ti,
        outlet_events=outlet_events,
    )
