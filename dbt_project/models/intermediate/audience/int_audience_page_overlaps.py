"""Pairwise audience overlaps of the pages in int_audience_overlap_pages, from theta sketches.

A dbt Python model, so DuckDB-only (dbt-duckdb runs it in-process): SQL cannot intersect
DataSketches blobs. Page A of a pair is the larger page (lower size_rank).
"""

from collections import defaultdict
from itertools import combinations

from gospulse.audience.overlap import sketch_overlap
from gospulse.audience.tables import temp_table
from gospulse.raw.sketches import theta_from_bytes

COLUMNS = [
    ("audience_date", "date"),
    ("region_code", "integer"),
    ("network", "varchar"),
    ("page_ref_a", "varchar"),
    ("page_ref_b", "varchar"),
    ("audience_a", "double"),
    ("audience_b", "double"),
    ("shared_estimate", "double"),
    ("shared_lower", "double"),
    ("shared_upper", "double"),
]

PAGES_SQL = """
    select
        overlap_pages.audience_date,
        overlap_pages.region_code,
        overlap_pages.network,
        overlap_pages.page_ref,
        member_lists.theta_sketch
    from _audience_overlap_pages as overlap_pages
    inner join _audience_member_lists as member_lists
        on member_lists.network = overlap_pages.network
        and member_lists.page_ref = overlap_pages.page_ref
        and member_lists.snapshot_date = overlap_pages.sketch_date
    where member_lists.theta_sketch is not null
    order by overlap_pages.region_code, overlap_pages.network, overlap_pages.size_rank
"""


def pair_rows(pages):
    """One row per pair of (audience_date, region_code, network, page_ref, theta blob) rows."""
    groups = defaultdict(list)
    for audience_date, region_code, network, page_ref, blob in pages:
        groups[(audience_date, region_code, network)].append((page_ref, theta_from_bytes(blob)))
    for (audience_date, region_code, network), members in groups.items():
        for (ref_a, sketch_a), (ref_b, sketch_b) in combinations(members, 2):
            pair = sketch_overlap(sketch_a, sketch_b)
            yield (
                audience_date,
                region_code,
                network,
                ref_a,
                ref_b,
                pair.audience_a.value,
                pair.audience_b.value,
                pair.shared.value,
                pair.shared.lower,
                pair.shared.upper,
            )


def model(dbt, session):
    dbt.config(materialized="table")
    session.register("_audience_overlap_pages", dbt.ref("int_audience_overlap_pages"))
    session.register("_audience_member_lists", dbt.ref("stg_raw__member_sketches"))
    try:
        rows = list(pair_rows(session.execute(PAGES_SQL).fetchall()))
    finally:
        session.unregister("_audience_overlap_pages")
        session.unregister("_audience_member_lists")
    return temp_table(session, "_int_audience_page_overlaps", COLUMNS, rows)
