"""Bodies of the Airflow tasks: plain functions taking and returning JSON-able values.

The DAG file only wires these together; each can be called (and tested) without Airflow.
Secrets come from the environment or the Airflow connection `vk_api` (password = token).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

from gospulse.dates import snapshot_date_for
from gospulse.regions import get_region
from gospulse.registry import ValidationResult
from gospulse.warehouse import warehouse_path

log = logging.getLogger(__name__)


def _registry() -> ValidationResult:
    from gospulse.pipeline import read_registry

    return read_registry()


def region_for(registry: ValidationResult) -> int:
    """The region whose calendar the run follows: GOSPULSE_REGION, or the registry's only zone."""
    if os.environ.get("GOSPULSE_REGION"):
        return int(os.environ["GOSPULSE_REGION"])
    codes = sorted({p.region_code for p in registry.pages})
    if not codes:
        raise ValueError("the registry has no valid pages")
    zones = {get_region(c).timezone for c in codes}
    if len(zones) > 1:
        raise ValueError(
            f"registry spans regions in {len(zones)} time zones ({', '.join(sorted(zones))}); "
            "set GOSPULSE_REGION to the region whose calendar date the run records"
        )
    return codes[0]


def vk_token() -> str:
    """VK_TOKEN from the environment, else the password of the Airflow connection `vk_api`."""
    token = os.environ.get("VK_TOKEN")
    if token:
        return token
    try:
        from airflow.sdk import Connection

        return Connection.get("vk_api").password or ""
    except Exception as exc:  # noqa: BLE001 — a missing connection is reported as missing token
        log.warning("no VK_TOKEN and no usable `vk_api` connection (%s)", type(exc).__name__)
        return ""


def check_registry() -> dict:
    """Validate the registry; fail only when no page at all is usable."""
    registry = _registry()
    for err in registry.errors[:50]:
        log.warning("registry %s", err)
    if not registry.pages:
        raise ValueError(f"registry has no valid pages ({len(registry.errors)} bad rows)")
    return {
        "pages": len(registry.pages),
        "bad_rows": len(registry.errors),
        "region_code": region_for(registry),
    }


def plan_vk(logical_date: str) -> list[dict]:
    """Resolve new screen names and batch the VK ids; one entry per mapped fetch task."""
    from gospulse.pipeline import plan_vk_extract, vk_client_from_env

    registry = _registry()
    snapshot_date = snapshot_date_for(datetime.fromisoformat(logical_date), region_for(registry))
    log.info("logical date %s → snapshot date %s", logical_date, snapshot_date)
    plan = plan_vk_extract(
        snapshot_date, registry, warehouse_path(), vk_client_from_env(vk_token())
    )
    return [{"plan": str(plan.plan_file), "index": i} for i in range(len(plan.batches))] or [
        {"plan": str(plan.plan_file), "index": -1}
    ]


def fetch_vk(ref: dict) -> str | None:
    """Fetch one batch of the plan into its staging file."""
    from gospulse.pipeline import ExtractPlan, fetch_vk_batch, vk_client_from_env

    if ref["index"] < 0:
        return None
    plan = ExtractPlan.load(ref["plan"])
    return str(fetch_vk_batch(plan, ref["index"], vk_client_from_env(vk_token())))


def load_vk(plan_refs: list[dict]) -> dict:
    """Load every batch of the plan into the warehouse; fails the task if the network failed."""
    from dataclasses import asdict

    from gospulse.pipeline import ExtractPlan, load_vk_batches

    plan = ExtractPlan.load(plan_refs[0]["plan"])
    summary = load_vk_batches(plan)
    log.info("%s", summary.describe())
    if summary.status == "failed":
        raise RuntimeError(f"VK extraction failed for every page: {summary.message}")
    return {**asdict(summary), "snapshot_date": str(summary.snapshot_date)}


def collect_audience(extract: dict) -> dict:
    """Read the day's due VK member lists into sketches; off when no hashing secret is set."""
    from dataclasses import asdict
    from datetime import date

    from gospulse.audience.collect import collect_vk_audience
    from gospulse.audience.sketches import SECRET_ENV, hasher_from_env
    from gospulse.pipeline import vk_client_from_env

    if not os.environ.get(SECRET_ENV):
        log.warning("audience sketches are off: %s is not set", SECRET_ENV)
        return {"enabled": False, "reason": f"{SECRET_ENV} not set"}
    summary = collect_vk_audience(
        date.fromisoformat(extract["snapshot_date"]),
        registry=_registry(),
        warehouse=warehouse_path(),
        client=vk_client_from_env(vk_token()),
        hasher=hasher_from_env(),
    )
    return {"enabled": True, **asdict(summary), "snapshot_date": str(summary.snapshot_date)}


def build_marts() -> dict:
    """Load the current registry and run dbt build."""
    from gospulse.pipeline import load_registry_into_warehouse
    from gospulse.transform import build

    registry = _registry()
    load_registry_into_warehouse(registry, warehouse_path())
    result = build(Path(warehouse_path()))
    return {"summary": result.describe()}


def summarize(extract: dict, audience: dict, build: dict) -> str:
    """One readable paragraph for the task log: what was fetched and built."""
    if audience.get("enabled"):
        heard = (
            f"audience: {audience['pages_ok']} lists read, {audience['pages_hidden']} hidden, "
            f"{audience['pages_over_budget']} over budget, {audience['pages_failed']} failed. "
        )
    else:
        heard = f"audience: off ({audience.get('reason')}). "
    text = (
        f"gospulse daily {extract['snapshot_date']}: VK {extract['status']}: "
        f"{extract['pages_ok']} ok, {extract['pages_unavailable']} unavailable, "
        f"{extract['pages_failed']} failed, {extract['unresolved']} unresolved; "
        f"{extract['requests']} requests, {extract['retries']} retries. "
        f"{heard}dbt: {build['summary']}"
    )
    log.info("%s", text)
    return text
