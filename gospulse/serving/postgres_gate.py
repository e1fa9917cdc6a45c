"""The raw batch gate on Postgres: the same GX suite as expectations/raw_batch.py, run by GX's
SQL (Postgres) data source on the day that publish_to_postgres just synced into schema raw.

The suite comes from expectations.raw_batch.build_suite (one definition of the rules); only the
data source differs. The expected row count per network is the warehouse's own count for that
day, so a partial copy fails the gate as well as a bad batch does.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from urllib.parse import quote

from expectations.raw_batch import GateResult, _reason, build_suite, max_error_share_from_env
from gospulse.serving.postgres import PgConfig
from gospulse.warehouse import connect

log = logging.getLogger(__name__)

COLUMNS = "network, page_ref, snapshot_date, members_count, status"


def sqlalchemy_url(config: PgConfig) -> str:
    """The SQLAlchemy URL GX connects with (psycopg2 driver)."""
    auth = quote(config.user, safe="")
    if config.password:
        auth += ":" + quote(config.password, safe="")
    return f"postgresql+psycopg2://{auth}@{config.host}:{config.port}/{config.dbname}"


def expected_rows(warehouse: Path, snapshot_date: date) -> dict[str, int]:
    """Rows per network of the day in the DuckDB warehouse: what Postgres must now hold."""
    with connect(warehouse, read_only=True) as con:
        rows = con.execute(
            "select network, count(*) from raw.page_snapshots where snapshot_date = ? "
            "group by network order by network",
            [snapshot_date],
        ).fetchall()
    return dict(rows)


def validate_synced_day(
    config: PgConfig,
    snapshot_date: date,
    expected: dict[str, int],
    *,
    max_error_share: float | None = None,
) -> dict[str, GateResult]:
    """Run the raw batch suite on raw.page_snapshots in Postgres, per network of `expected`."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    share = max_error_share_from_env() if max_error_share is None else max_error_share
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_postgres(
        "gospulse_pg", connection_string=sqlalchemy_url(config)
    )
    results: dict[str, GateResult] = {}
    for network, rows in sorted(expected.items()):
        if not network.isalnum():
            raise ValueError(f"network name {network!r} is not a plain identifier")
        # values are checked above (network) or typed (date): no request text reaches the SQL
        asset = source.add_query_asset(
            f"page_snapshots_{network}_{snapshot_date:%Y%m%d}",
            query=(
                f"select {COLUMNS} from raw.page_snapshots "
                f"where network = '{network}' "
                f"and snapshot_date = date '{snapshot_date.isoformat()}'"
            ),
        )
        suite = context.suites.add(
            build_suite(f"raw_batch_pg_{network}", expected_rows=rows, max_error_share=share)
        )
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(
                name=f"raw_batch_pg_{network}",
                data=asset.add_batch_definition_whole_table("batch"),
                suite=suite,
            )
        )
        outcome = definition.run()
        failures = [_reason(r, rows) for r in outcome.results if not r.success]
        gate = GateResult(
            success=bool(outcome.success), failures=failures, checked=len(outcome.results)
        )
        log.info("postgres %s %s: %s", network, snapshot_date, gate.describe())
        results[network] = gate
    return results
