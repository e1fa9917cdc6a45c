"""Unique audience per audience date, scope and network: the union of the pages' HLL sketches.

A dbt Python model, so DuckDB-only (dbt-duckdb runs it in-process): SQL has no portable way to
merge DataSketches blobs. Each page counts with the sketch int_audience_page_dates chose for it.
"""

from collections import defaultdict

import datasketches as ds

from gospulse.audience.sketches import HLL_LG_K, HLL_TYPE, estimate, hll_from_bytes, merge_hll
from gospulse.audience.tables import temp_table

COLUMNS = [
    ("audience_date", "date"),
    ("scope_type", "varchar"),
    ("scope_value", "varchar"),
    ("region_code", "integer"),
    ("network", "varchar"),
    ("pages_unioned", "bigint"),
    ("unique_estimate", "double"),
    ("unique_lower", "double"),
    ("unique_upper", "double"),
    ("hll_lg_k", "integer"),
    ("union_hll_sketch", "blob"),
]

SKETCHES_SQL = """
    select distinct
        scope_pages.network,
        scope_pages.page_ref,
        member_lists.hll_sketch
    from _audience_scope_pages as scope_pages
    inner join _audience_member_lists as member_lists
        on member_lists.network = scope_pages.network
        and member_lists.page_ref = scope_pages.page_ref
        and member_lists.snapshot_date = scope_pages.sketch_date
    where scope_pages.audience_date = ? and scope_pages.has_sketch
    order by scope_pages.network, scope_pages.page_ref
"""

SCOPES_SQL = """
    select scope_type, scope_value, region_code, network, page_ref
    from _audience_scope_pages
    where audience_date = ? and has_sketch
    order by scope_type, scope_value, region_code, network, page_ref
"""


def union_rows(session, audience_date):
    """Result rows of one audience date; only region unions keep their serialized sketch."""
    sketches = {
        (network, page_ref): hll_from_bytes(blob)
        for network, page_ref, blob in session.execute(SKETCHES_SQL, [audience_date]).fetchall()
    }
    scopes = defaultdict(list)
    for scope_type, scope_value, region_code, network, page_ref in session.execute(
        SCOPES_SQL, [audience_date]
    ).fetchall():
        scopes[(scope_type, scope_value, region_code, network)].append(page_ref)
    for (scope_type, scope_value, region_code, network), page_refs in sorted(scopes.items()):
        union = ds.hll_union(HLL_LG_K)
        for page_ref in page_refs:
            merge_hll(union, sketches[(network, page_ref)])
        result = union.get_result(HLL_TYPE)
        unique = estimate(result)
        blob = bytes(result.serialize_compact()) if scope_type == "region" else None
        yield (
            audience_date,
            scope_type,
            scope_value,
            region_code,
            network,
            len(page_refs),
            unique.value,
            unique.lower,
            unique.upper,
            result.lg_config_k,
            blob,
        )


def model(dbt, session):
    dbt.config(materialized="table")
    session.register("_audience_scope_pages", dbt.ref("int_audience_scope_pages"))
    session.register("_audience_member_lists", dbt.ref("stg_raw__member_sketches"))
    try:
        dates = [
            d
            for (d,) in session.execute(
                "select distinct audience_date from _audience_scope_pages order by 1"
            ).fetchall()
        ]
        rows = [row for d in dates for row in union_rows(session, d)]
    finally:
        session.unregister("_audience_scope_pages")
        session.unregister("_audience_member_lists")
    return temp_table(session, "_int_audience_unions", COLUMNS, rows)
