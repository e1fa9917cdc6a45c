"""Who a page's month brought, from its member lists' theta sketches: the new members (in the
read that closes the month, not in the one that opens it: a set difference) and, of them, the
ones whose accounts VK had deactivated by the page's latest read (an intersection with that
read's sketch of deactivated members), each with bounds at about 95 %.

A dbt Python model, so DuckDB-only: SQL has no way to operate on DataSketches blobs. Rebuilt
whole on every build from int_growth_quality_reads (one row per page and month that has both
reads); at federal size this is a pass over every page's months (docs/perf-notes/audience.md).
"""

from datetime import UTC, datetime

import datasketches as ds

from gospulse.audience.tables import temp_table
from gospulse.raw.sketches import estimate, theta_from_bytes

COLUMNS = [
    ("network", "varchar"),
    ("page_ref", "varchar"),
    ("period_start", "date"),
    ("new_members", "double"),
    ("new_members_lower", "double"),
    ("new_members_upper", "double"),
    ("new_deactivated", "double"),
    ("new_deactivated_lower", "double"),
    ("new_deactivated_upper", "double"),
    ("built_at", "timestamp"),
]

READS_SQL = """
    select
        reads.network,
        reads.page_ref,
        reads.period_start,
        opening.theta_sketch,
        closing.theta_sketch,
        latest.deactivated_theta
    from _growth_quality_reads as reads
    inner join _member_lists as opening
        on opening.network = reads.network and opening.page_ref = reads.page_ref
        and opening.snapshot_date = reads.read_start_date
    inner join _member_lists as closing
        on closing.network = reads.network and closing.page_ref = reads.page_ref
        and closing.snapshot_date = reads.read_end_date
    inner join _member_attributes as latest
        on latest.network = reads.network and latest.page_ref = reads.page_ref
        and latest.snapshot_date = reads.read_latest_date
    order by reads.network, reads.page_ref, reads.period_start
"""


def new_members(opening: bytes, closing: bytes, deactivated: bytes):
    """(new members, new members deactivated since), each an Estimate."""
    new = ds.theta_a_not_b().compute(theta_from_bytes(closing), theta_from_bytes(opening))
    both = ds.theta_intersection()
    both.update(new)
    both.update(theta_from_bytes(deactivated))
    return estimate(new), estimate(both.get_result())


def model(dbt, session):
    dbt.config(materialized="table")
    session.register("_growth_quality_reads", dbt.ref("int_growth_quality_reads"))
    session.register("_member_lists", dbt.ref("stg_raw__member_sketches"))
    session.register("_member_attributes", dbt.ref("stg_raw__member_attributes"))
    try:
        built_at = datetime.now(UTC).replace(tzinfo=None)
        rows = []
        for network, page_ref, period_start, opening, closing, deactivated in session.execute(
            READS_SQL
        ).fetchall():
            new, gone = new_members(opening, closing, deactivated)
            rows.append(
                (network, page_ref, period_start, new.value, new.lower, new.upper, gone.value,
                 gone.lower, gone.upper, built_at)
            )  # fmt: skip
    finally:
        for name in ("_growth_quality_reads", "_member_lists", "_member_attributes"):
            session.unregister(name)
    return temp_table(session, "_int_growth_quality_sets", COLUMNS, rows)
