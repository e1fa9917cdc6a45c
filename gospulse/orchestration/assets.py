"""The Airflow Assets gospulse produces: the published marts and the region's export bundle.

Defined once here so the producing tasks (outlets) and the consuming DAGs (schedules) name
the same objects. The `x-` URI scheme marks them as our own: Airflow keeps such URIs as they
are, and one name serves every region, so a federal Airflow reacts to any region's bundle.
Each event's extra says which region, snapshot date and path it is about.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset

# the read-only copy of the marts that BI and the HTTP API open (serving/publish.py)
gospulse_marts = Asset(name="gospulse_marts", uri="x-gospulse://marts/published", group="gospulse")
# the region's export bundle for federal aggregators (serving/bundle.py); remote regions
# report theirs to a federal Airflow with POST /api/v2/assets/events (docs/operations.md)
gospulse_export_bundle = Asset(
    name="gospulse_export_bundle", uri="x-gospulse://export-bundle", group="gospulse"
)


def announce_or_skip(
    result: dict, *, done: bool, asset: Asset, extra: dict[str, Any], ti: Any, outlet_events: Any
) -> dict:
    """Attach `extra` to the task's asset event, or skip the task when nothing was produced.

    Airflow records an outlet event for every successful task and none for a skipped one. A
    no-op (marts held back by the raw gate, nothing to bundle) must not wake the federal DAG,
    so the result is pushed as the task's XCom first (the summary still reads why) and the task
    ends skipped.
    """
    if done:
        outlet_events[asset].extra = extra
        return result
    from airflow.sdk.exceptions import AirflowSkipException

    ti.xcom_push(key="return_value", value=result)
    reason = result.get("reason") or "nothing was produced"
    raise AirflowSkipException(f"no {asset.name} event: {reason}")


def announce_marts(result: dict, ti: Any, outlet_events: Any) -> dict:
    """publish_marts' event: which snapshot date and run the published copy holds."""
    extra = {k: result.get(k) for k in ("snapshot_date", "run_id", "tables", "rows")}
    return announce_or_skip(
        result,
        done=bool(result.get("published")),
        asset=gospulse_marts,
        extra=extra,
        ti=ti,
        outlet_events=outlet_events,
    )


def announce_bundle(result: dict, ti: Any, outlet_events: Any) -> dict:
    """write_export_bundle's event: the regions, snapshot date and where the bundles lie."""
    extra = {k: result.get(k) for k in ("regions", "snapshot_date", "paths", "files")}
    return announce_or_skip(
        result,
        done=bool(result.get("written")),
        asset=gospulse_export_bundle,
        extra=extra,
        ti=ti,
        outlet_events=outlet_events,
    )
