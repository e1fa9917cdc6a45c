"""The raw batch gate: a Great Expectations suite run on one network's day before it is loaded.

It runs on the rows as a pandas DataFrame (GX's SQL data source returns empty results on
DuckDB, an upstream bug), in an ephemeral context, and writes GX Data Docs under a known
folder. A failed gate means the batch is not loaded and the marts are not rebuilt on it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from gospulse.config import settings
from gospulse.raw.warehouse import STATUSES, SnapshotRow

log = logging.getLogger(__name__)

KEY = ["network", "page_ref", "snapshot_date"]
COLUMNS = ["network", "page_ref", "snapshot_date", "members_count", "status"]


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict, one readable reason per failed expectation, and the Data Docs page."""

    success: bool
    failures: list[str] = field(default_factory=list)
    checked: int = 0
    docs_index: str | None = None

    def describe(self) -> str:
        if self.success:
            return f"raw gate passed ({self.checked} expectations)"
        return "raw gate failed: " + "; ".join(self.failures)


def build_suite(name: str, *, expected_rows: int, max_error_share: float):
    """The expectations of one network's daily batch (GX 1.x ExpectationSuite)."""
    import great_expectations as gx

    expect = gx.expectations
    return gx.ExpectationSuite(
        name=name,
        expectations=[
            # every registered page with a known id comes back as exactly one row
            expect.ExpectTableRowCountToEqual(value=expected_rows),
            expect.ExpectCompoundColumnsToBeUnique(column_list=KEY),
            expect.ExpectColumnValuesToNotBeNull(column="page_ref"),
            expect.ExpectColumnValuesToBeInSet(column="status", value_set=list(STATUSES)),
            expect.ExpectColumnValuesToBeBetween(column="members_count", min_value=0),
            # a half-failed extraction is not a day of data
            expect.ExpectColumnValuesToNotBeInSet(
                column="status", value_set=["error"], mostly=1.0 - max_error_share
            ),
        ],
    )


def configured_max_error_share() -> float:
    """vars.dq.raw_gate.max_error_share of dbt_project.yml, where every DQ threshold lives."""
    import yaml

    from gospulse.config.dbt_project import project_dir

    config = yaml.safe_load((project_dir() / "dbt_project.yml").read_text(encoding="utf-8"))
    try:
        return float(config["vars"]["dq"]["raw_gate"]["max_error_share"])
    except (KeyError, TypeError) as exc:
        raise ValueError(
            "dbt_project.yml has no vars.dq.raw_gate.max_error_share for the raw batch gate"
        ) from exc


def max_error_share_from_env() -> float:
    """GOSPULSE_RAW_GATE_MAX_ERROR_SHARE, else the configured share (0.2 as shipped)."""
    value = settings.read("GOSPULSE_RAW_GATE_MAX_ERROR_SHARE")
    return configured_max_error_share() if value is None else value


def validate_batch(
    rows: Sequence[SnapshotRow],
    *,
    network: str,
    snapshot_date: date,
    expected_rows: int,
    max_error_share: float | None = None,
    docs_dir: Path | None = None,
) -> GateResult:
    """Run the raw batch suite on the rows; Data Docs go to docs_dir when given."""
    import great_expectations as gx
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig

    share = max_error_share_from_env() if max_error_share is None else max_error_share
    frame = pd.DataFrame([{c: getattr(r, c) for c in COLUMNS} for r in rows], columns=COLUMNS)
    frame["members_count"] = frame["members_count"].astype("Float64")
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    actions: list[gx.checkpoint.ValidationAction] = []
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        context.add_data_docs_site(
            site_name="gospulse_raw_gate",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        actions.append(gx.checkpoint.UpdateDataDocsAction(name="data_docs"))
    batch = (
        context.data_sources.add_pandas(f"raw_{network}")
        .add_dataframe_asset(f"page_snapshots_{snapshot_date:%Y%m%d}")
        .add_batch_definition_whole_dataframe("batch")
    )
    suite = context.suites.add(
        build_suite(f"raw_batch_{network}", expected_rows=expected_rows, max_error_share=share)
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"raw_batch_{network}", data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"raw_gate_{network}", validation_definitions=[definition], actions=actions
        )
    )
    outcome = checkpoint.run(batch_parameters={"dataframe": frame})
    failures: list[str] = []
    checked = 0
    for run in outcome.run_results.values():
        for result in run.results:
            checked += 1
            if not result.success:
                failures.append(_reason(result, len(frame)))
    index = docs_dir / "index.html" if docs_dir is not None else None
    gate = GateResult(
        success=bool(outcome.success),
        failures=failures,
        checked=checked,
        docs_index=str(index) if index is not None and index.exists() else None,
    )
    log.info("%s %s: %s", network, snapshot_date, gate.describe())
    return gate


def _reason(result, n_rows: int) -> str:
    """One line a data engineer can act on, from a failed GX expectation result."""
    config = result.expectation_config
    kind, kwargs, details = config.type, config.kwargs, result.result or {}
    unexpected = details.get("unexpected_count")
    sample = details.get("partial_unexpected_list") or []
    if kind == "expect_table_row_count_to_equal":
        return f"{details.get('observed_value')} rows, expected {kwargs['value']} (one per page)"
    if kind == "expect_compound_columns_to_be_unique":
        return f"{unexpected} rows share a (network, page_ref, date) key, e.g. {sample[:2]}"
    if kind == "expect_column_values_to_not_be_in_set":
        share = (unexpected or 0) / n_rows if n_rows else 0.0
        allowed = 1 - kwargs["mostly"]
        return f"{unexpected} of {n_rows} pages failed ({share:.0%}), {allowed:.0%} allowed"
    if kind == "expect_column_values_to_be_between":
        return f"{unexpected} negative {kwargs['column']} values, e.g. {sample[:3]}"
    if kind == "expect_column_values_to_be_in_set":
        return f"{unexpected} rows with an unknown status, e.g. {sample[:3]}"
    keys = ("unexpected_count", "observed_value", "partial_unexpected_list")
    found = {k: details[k] for k in keys if k in details}
    return f"{kind} failed on {kwargs.get('column', 'the batch')}: {found}"
