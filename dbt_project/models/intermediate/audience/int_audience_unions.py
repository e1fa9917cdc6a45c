"""Unique audience per audience date, scope and network: the union of the pages' HLL sketches.

A dbt Python model, so DuckDB-only (dbt-duckdb runs it in-process): SQL has no portable way to
merge DataSketches blobs. Each page counts with the sketch int_audience_page_dates chose for it.

Incremental by audience date: a date is merged again only when its inputs changed — the set of
(scope, page, sketch date) it unions, a sketch re-read (its loaded_at), or the HLL settings — as
told by a fingerprint stored on each row. At federal size one date's unions take 35-40 s, so
re-merging years of dates every day is what this avoids. A date left with no sketched page loses
its rows (strategy replace_days, markers NULL in scope_type).

Only dates int_audience_scope_pages rebuilt since the last merge (page_dates_built_at newer than
the newest built_at here) are fingerprinted: lists are read every day, so hashing every date's
scope pages each day would grow with the years kept. A build that merges nothing leaves that
mark where it was, so the same dates are fingerprinted again next time (their hashes only). Every
date is checked on a first build and when stored rows were merged with other HLL settings
(hll_settings).
"""

from collections import defaultdict
from datetime import UTC, datetime

import datasketches as ds

from gospulse.audience.tables import temp_table
from gospulse.raw.sketches import HLL_LG_K, HLL_TYPE, estimate, hll_from_bytes, merge_hll

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
    ("inputs_fingerprint", "bigint"),
    ("hll_settings", "varchar"),
    ("built_at", "timestamp"),
]
# what a union's sketches depend on besides its inputs: a change re-merges every date
HLL_SETTINGS = f"{HLL_LG_K}:{HLL_TYPE.name}"

# per audience date: what its unions depend on, hashed; equal fingerprints, equal unions
FINGERPRINTS_SQL = """
    select
        scope_pages.audience_date,
        (hash(
            bit_xor(hash(
                scope_pages.scope_type, scope_pages.scope_value, scope_pages.region_code,
                scope_pages.network, scope_pages.page_ref, scope_pages.sketch_date,
                member_lists.loaded_at
            )),
            count(*),
            ?,
            ?
        ) >> 1)::bigint as inputs_fingerprint
    from _audience_scope_pages as scope_pages
    inner join _audience_member_lists as member_lists
        on member_lists.network = scope_pages.network
        and member_lists.page_ref = scope_pages.page_ref
        and member_lists.snapshot_date = scope_pages.sketch_date
    where scope_pages.has_sketch
        and scope_pages.audience_date in (select unnest(?::date[]))
    group by scope_pages.audience_date
"""

ALL_DATES_SQL = "select distinct audience_date from _audience_scope_pages order by audience_date"

# audience dates whose scope pages were rebuilt after the given time
REBUILT_DATES_SQL = """
    select distinct audience_date
    from _audience_scope_pages
    where page_dates_built_at > ?
    order by audience_date
"""

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


def union_rows(session, audience_date, fingerprint, built_at):
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
            fingerprint,
            HLL_SETTINGS,
            built_at,
        )


def dates_to_check(session, this) -> list | None:
    """Audience dates whose inputs may have changed since the last merge: those whose scope
    pages were rebuilt since; None for every date (nothing merged yet, or other HLL settings)."""
    other_settings, last_merge = session.execute(
        f"select coalesce(bool_or(hll_settings is distinct from ?), false), max(built_at) "
        f"from {this}",
        [HLL_SETTINGS],
    ).fetchone()
    if other_settings or last_merge is None:
        return None
    return [d for (d,) in session.execute(REBUILT_DATES_SQL, [last_merge]).fetchall()]


def dates_to_merge(session, this, checked: list, fingerprints: dict) -> tuple[list, list]:
    """(checked dates whose fingerprint is new or changed, stored dates no longer sketched at
    all: checked ones without a fingerprint, and any int_audience_scope_pages no longer holds)."""
    stored = dict(
        session.execute(
            f"select audience_date, min(inputs_fingerprint) from {this} "
            "where audience_date in (select unnest(?::date[])) group by audience_date",
            [checked],
        ).fetchall()
    )
    changed = sorted(d for d, f in fingerprints.items() if stored.get(d) != f)
    gone = {d for d in stored if d not in fingerprints}
    gone.update(
        d
        for (d,) in session.execute(
            f"select distinct audience_date from {this} where audience_date not in "
            "(select distinct audience_date from _audience_scope_pages)"
        ).fetchall()
    )
    return changed, sorted(gone)


def marker(audience_date):
    """A row replace_days reads as "this date was recomputed": every column NULL but the date."""
    return (audience_date, *([None] * (len(COLUMNS) - 1)))


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="replace_days",
        unique_key="audience_date",
        day_marker_column="scope_type",
        on_schema_change="fail",
    )
    session.register("_audience_scope_pages", dbt.ref("int_audience_scope_pages"))
    session.register("_audience_member_lists", dbt.ref("stg_raw__member_sketches"))
    try:
        checked = dates_to_check(session, dbt.this) if dbt.is_incremental else None
        if checked is None:
            checked = [d for (d,) in session.execute(ALL_DATES_SQL).fetchall()]
        fingerprints = dict(
            session.execute(FINGERPRINTS_SQL, [HLL_LG_K, HLL_TYPE.name, checked]).fetchall()
        )
        if dbt.is_incremental:
            dates, gone = dates_to_merge(session, dbt.this, checked, fingerprints)
        else:
            dates, gone = sorted(fingerprints), []
        built_at = datetime.now(UTC).replace(tzinfo=None)
        rows = [row for d in dates for row in union_rows(session, d, fingerprints[d], built_at)]
        if dbt.is_incremental:
            rows += [marker(d) for d in (*dates, *gone)]
    finally:
        session.unregister("_audience_scope_pages")
        session.unregister("_audience_member_lists")
    return temp_table(session, "_int_audience_unions", COLUMNS, rows)
