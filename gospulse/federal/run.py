"""A federal pull as one step: pull, verify and load the regions' bundles, then build the
federal marts (the federal DAG and `gospulse federal pull` run it)."""

from __future__ import annotations

from pathlib import Path

from gospulse.config import settings
from gospulse.config.task_results import FederalPull

FEDERAL_WAREHOUSE_ENV = "GOSPULSE_FEDERAL_WAREHOUSE"


def federal_warehouse_path() -> Path:
    """$GOSPULSE_FEDERAL_WAREHOUSE, else data/federal.duckdb."""
    return Path(settings.read(FEDERAL_WAREHOUSE_ENV))


def run_federal_pull(sources: list[str], warehouse: Path) -> FederalPull:
    """Pull, load and rebuild the federal marts; what happened (for the DAG and the CLI)."""
    from gospulse.federal.marts import build_federal_marts
    from gospulse.federal.pull import pull

    results = pull(sources, warehouse)
    build = build_federal_marts(warehouse)
    return FederalPull(
        loaded=tuple(r.region_code for r in results if r.status == "loaded"),
        unchanged=tuple(r.region_code for r in results if r.status == "unchanged"),
        rejected={str(r.region_code): r.reason or "" for r in results if r.status == "rejected"},
        marts=dict(build.rows),
        lines=(*(r.describe() for r in results), build.describe()),
    )
