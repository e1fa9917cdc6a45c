"""Incremental dbt models equal a --full-refresh build row for row after every kind of change.

A small world built in code (real DuckDB file, real dbt): 40 days of seven pages, then a new day,
a rerun of an old day with different counts (one page gone that day, one status changed), a
history import of older days (CSV, through the real importer) and a registry change (a page
added with its history, one removed, one re-attributed). After each, the warehouse built
incrementally by `gospulse.transform.run.build` is copied and rebuilt with --full-refresh; every
incremental model must hold exactly the same rows in both.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from gospulse.raw.history_import import import_history
from gospulse.raw.warehouse import SnapshotRow, connect, replace_snapshots
from gospulse.transform.run import (
    BUCKET_MODELS,
    DbtError,
    DbtRunResult,
    build,
    build_in_page_buckets,
    run_dbt,
)
from tests.conftest import copy_warehouse, shared_warehouse

FIRST_DAY = date(2026, 3, 1)
DAYS = 40
INCREMENTAL_MODELS = (
    "intermediate.int_page_first_snapshots",
    "intermediate.int_page_days_filled",
    "intermediate.int_dq_change_state",
    "intermediate.int_dq_page_days",
    "intermediate.int_dq_region_days",
    "intermediate.int_dq_page_signals",
    "intermediate.int_dq_incidents",
    "marts.mart_page_daily",
    "marts.mart_page_growth",
    "marts.mart_region_growth",
    "marts.mart_organization_growth",
)
# views over an incremental model: compared with a full refresh like the models themselves
VIEWS = {"marts.mart_page_daily"}
# stepped or replayed, never a full refresh in an incremental build: its mode says which
STATE_MODEL = "intermediate.int_dq_change_state"
# page_ref -> (region, base members, daily slope)
PAGES = {
    "201": (42, 5000, 12),
    "202": (42, 800, 1),
    "203": (42, 12000, -5),
    "204": (54, 300, 0),
    "205": (54, 2500, 7),
    "206": (42, 1500, 3),
    "208": (54, 700, 1),  # deleted from day 5 on: its state comes from before any window
}
LATE_PAGE = ("207", 42, 900, 2)  # registered only in the last step, with older history


def members(page_ref: str, d: date, base: int, slope: int) -> int:
    """A line with a weekly wiggle and a little per-page noise: deterministic, never flat."""
    n = (d - FIRST_DAY).days
    return base + slope * n + (n % 7) * 3 + (int(page_ref) * 7 + n * 13) % 11


def day_rows(d: date, pages: dict[str, tuple[int, int, int]], shift: int = 0) -> list[SnapshotRow]:
    """One daily extraction: 204 fails every 9th day, 205 has no row for four days (a gap),
    208 is deleted from day 5 on."""
    rows = []
    n = (d - FIRST_DAY).days
    for ref, (_, base, slope) in pages.items():
        if ref == "205" and 12 <= n <= 15:
            continue
        status = "error" if ref == "204" and n % 9 == 4 else "ok"
        if ref == "208" and n >= 5:
            status = "deleted"
        count = members(ref, d, base, slope) + shift if status == "ok" else None
        rows.append(SnapshotRow("vk", ref, d, count, status, source="api", run_id=f"vk-{d}"))
    return rows


def dipped(rows: list[SnapshotRow], page_ref: str) -> list[SnapshotRow]:
    """The same extraction with one page 5,000 subscribers down (a drop signal that day)."""
    return [
        SnapshotRow("vk", r.page_ref, r.snapshot_date, r.members_count - 5000, "ok", source="api")
        if r.page_ref == page_ref
        else r
        for r in rows
    ]


def write_registry(
    warehouse: Path,
    pages: dict[str, int],
    flagships: set[str],
    loaded_at: datetime | None = None,
) -> None:
    """raw.registry_pages as a registry load would leave it (pages by id, region per page);
    loaded_at dates the registry versions it brings (now by default)."""
    loaded_at = loaded_at or datetime.now()
    with connect(warehouse) as con:
        con.execute("delete from raw.registry_pages")
        for line, (ref, region) in enumerate(sorted(pages.items()), start=2):
            con.execute(
                "insert into raw.registry_pages values "
                "(?, ?, 'id', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null)",
                [
                    "vk",
                    ref,
                    ref,
                    f"Страница {ref}",
                    f"org-{ref}",
                    region,
                    f"{region}-m",
                    "administration",
                    ref in flagships,
                    "registry.csv",
                    line,
                    loaded_at,
                ],
            )


def add_screen_name_entry(warehouse: Path, name: str, region: int) -> None:
    """One more registry row that names its page by screen name (resolved later, or never)."""
    with connect(warehouse) as con:
        con.execute(
            "insert into raw.registry_pages values "
            "('vk', ?, 'screen_name', ?, ?, ?, ?, ?, 'administration', false, 'registry.csv', "
            "99, ?, null)",
            [name, name, f"Страница {name}", f"org-{name}", region, f"{region}-m", datetime.now()],
        )


def extract_day(warehouse: Path, rows: list[SnapshotRow], d: date) -> None:
    """Store a day as the pipeline does: that day's partition replaced by the new rows."""
    with connect(warehouse) as con:
        replace_snapshots(con, rows, replace_dates=[d])


# what a build saw, not what it computed: rows a build did not rewrite keep an older value
BUILD_STATE_COLUMNS = {
    "intermediate.int_page_first_snapshots": (
        "first_changed_at, loaded_through, seen_through, built_at"
    ),
    "intermediate.int_page_days_filled": "built_at",
    "intermediate.int_dq_change_state": "filled_built_at",
    "intermediate.int_dq_page_days": "registry_seen_at, filled_built_at, built_at",
    "intermediate.int_dq_region_days": "page_days_built_at",
    "intermediate.int_dq_page_signals": "page_days_built_at",
    "intermediate.int_dq_incidents": "page_days_built_at",
    "marts.mart_page_growth": "filled_built_at, built_at",
    "marts.mart_page_daily": "built_at",
    "marts.mart_region_growth": "growth_built_at, registry_seen_at, built_at",
    "marts.mart_organization_growth": "growth_built_at, registry_seen_at, built_at",
}


def model_rows(warehouse: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = {}
        for m in INCREMENTAL_MODELS:
            columns = f"* exclude ({BUILD_STATE_COLUMNS[m]})" if m in BUILD_STATE_COLUMNS else "*"
            rows[m] = [
                # the state's lists as tuples, so that rows compare as sets
                tuple(tuple(v) if isinstance(v, list) else v for v in row)
                for row in con.execute(f"select {columns} from {m} order by all").fetchall()
            ]
        return rows
    finally:
        con.close()


def signal_days(warehouse: Path, page_ref: str) -> set[date]:
    """The days on which any data-quality rule fired for the page."""
    with connect(warehouse, read_only=True) as con:
        rows = con.execute(
            "select distinct signal_date from intermediate.int_dq_page_signals where page_ref = ?",
            [page_ref],
        ).fetchall()
    return {d for (d,) in rows}


def assert_equals_full_refresh(
    warehouse: Path, tmp_path: Path, step: str, state: str = "replay"
) -> None:
    """Build incrementally, then compare with a --full-refresh build of a copy of the file;
    the change-score state moved as `state` says."""
    result = build(warehouse)
    assert_was_incremental(result, step)
    assert state_mode(result) == state, step
    assert_same_rows_as_full_refresh(warehouse, tmp_path, step)


def state_mode(result: DbtRunResult) -> str:
    """How the build moved int_dq_change_state: step, replay, kept or skipped."""
    node = next(n for n in result.nodes if n.unique_id.endswith(".int_dq_change_state"))
    return node.compiled_code.split("-- mode: ", 1)[1].split()[0]


def assert_was_incremental(result: DbtRunResult, step: str) -> None:
    models = (m for m in INCREMENTAL_MODELS if m not in VIEWS and m != STATE_MODEL)
    for name in (m.split(".")[1] for m in models):
        node = next(n for n in result.nodes if n.unique_id.endswith(f".{name}"))
        # the incremental branch really ran (not a silent full rebuild)
        assert "high_water" in (node.compiled_code or ""), f"{step}: {name} was not incremental"


def assert_same_rows_as_full_refresh(warehouse: Path, tmp_path: Path, step: str) -> None:
    """Every incremental model holds what a --full-refresh build of a copy of the file does."""
    # one path for every step's copy: dbt keeps its parse of the project next to it
    copy = tmp_path / "full-refresh" / "w.duckdb"
    copy.parent.mkdir(exist_ok=True)
    copy.with_name(copy.name + ".wal").unlink(missing_ok=True)
    shutil.copy2(warehouse, copy)
    run_dbt(
        [
            "run",
            "--full-refresh",
            "--select",
            "+mart_page_daily",
            "+mart_page_growth",
            "+int_dq_page_signals",
            "+int_dq_incidents",
            "+mart_region_growth",
            "+mart_organization_growth",
        ],
        warehouse=copy,
    )
    incremental, full = model_rows(warehouse), model_rows(copy)
    for model in INCREMENTAL_MODELS:
        assert full[model], f"{step}: {model} is empty"
        missing = set(full[model]) - set(incremental[model])
        extra = set(incremental[model]) - set(full[model])
        assert not missing and not extra, (
            f"{step}: {model} differs from --full-refresh: "
            f"{len(missing)} rows missing (e.g. {sorted(missing)[:3]}), "
            f"{len(extra)} extra (e.g. {sorted(extra)[:3]})"
        )
        assert len(incremental[model]) == len(full[model]), f"{step}: {model} has duplicates"


@pytest.mark.slow
def test_incremental_models_equal_a_full_refresh_after_each_change(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    regions = {ref: region for ref, (region, _, _) in PAGES.items()}
    write_registry(warehouse, regions, flagships={"201"})
    for n in range(DAYS):
        d = FIRST_DAY + timedelta(n)
        extract_day(warehouse, day_rows(d, PAGES), d)
    build(warehouse)  # the first build is a full one: nothing to compare yet
    last = FIRST_DAY + timedelta(DAYS - 1)

    # 1. a new day, and a rerun of day 2 in which 203 loses 5,000 subscribers: a drop on day 2
    # and a jump back on day 3, the only signals of those days (208 is deleted only from day 5)
    new_day = last + timedelta(1)
    extract_day(warehouse, day_rows(new_day, PAGES), new_day)
    dip_day = FIRST_DAY + timedelta(2)
    extract_day(warehouse, dipped(day_rows(dip_day, PAGES), "203"), dip_day)
    assert_equals_full_refresh(warehouse, tmp_path, "new-day")
    assert signal_days(warehouse, "203") >= {dip_day, dip_day + timedelta(1)}

    # 2. a rerun of an old day: other counts, 202 deleted that day, 206 no longer returned;
    # the day before 205's gap and 204's error, so the new counts are carried into later days
    rerun_day = FIRST_DAY + timedelta(11)
    rerun = [r for r in day_rows(rerun_day, PAGES, shift=400) if r.page_ref != "206"]
    rerun = [
        SnapshotRow("vk", "202", rerun_day, None, "deleted", source="api")
        if r.page_ref == "202"
        else r
        for r in rerun
    ]
    extract_day(warehouse, rerun, rerun_day)
    # day 2 rerun again with the right counts: days 2 and 3 are left without any signal
    extract_day(warehouse, day_rows(dip_day, PAGES), dip_day)
    assert_equals_full_refresh(warehouse, tmp_path, "rerun-old-day")
    assert not signal_days(warehouse, "203") & {dip_day, dip_day + timedelta(1)}

    # 3. history imported from CSV: ten days before the first for 201 and 203, a day inside
    # 205's gap, and one day long before everything (the calendar grows backwards)
    csv = tmp_path / "history.csv"
    lines = ["network,page_ref,snapshot_date,members_count,status"]
    for n in range(1, 11):
        d = FIRST_DAY - timedelta(n)
        lines += [f"vk,201,{d},{4900 - n},ok", f"vk,203,{d},{12100 + n},ok"]
    lines += [f"vk,205,{FIRST_DAY + timedelta(13)},2600,ok", "vk,202,2026-01-15,700,ok"]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # 207's history, loaded before the registry lists it (step 4) and before the import below,
    # so no row of it is newer than what the next builds read: no model shows it yet
    late_ref, late_region, late_base, late_slope = LATE_PAGE
    history = [
        SnapshotRow(
            "vk", late_ref, d, members(late_ref, d, late_base, late_slope), "ok", source="import"
        )
        for d in (FIRST_DAY + timedelta(n) for n in range(25, DAYS + 1))
    ]
    with connect(warehouse) as con:
        replace_snapshots(con, history)
    imported = import_history(csv, warehouse)
    assert not imported.errors, imported.errors
    assert_equals_full_refresh(warehouse, tmp_path, "history-import")

    # 4. a registry change: 207 added (its history was loaded before, nothing of it since),
    # 206 removed, 204 moved to another region and made a flagship, and a page listed by
    # screen name, unresolved at first (listed in every period, unranked); then the next day
    # is extracted
    regions = {ref: region for ref, region in regions.items() if ref != "206"}
    regions["204"] = 42
    regions[late_ref] = late_region
    write_registry(warehouse, regions, flagships={"201", "204"})
    add_screen_name_entry(warehouse, "late-name", 42)
    next_day = new_day + timedelta(1)
    pages = {ref: PAGES.get(ref, LATE_PAGE[1:]) for ref in regions}
    extract_day(warehouse, day_rows(next_day, pages), next_day)
    assert_equals_full_refresh(warehouse, tmp_path, "registry-change")

    # 5. a later run resolves the screen name to 209 and loads its last days: its page_ref
    # changes everywhere
    with connect(warehouse) as con:
        con.execute(
            "insert into raw.page_refs values "
            "('vk', 'screen_name', 'late-name', '209', 'ok', ?, null)",
            [datetime.now()],
        )
    last_day = next_day + timedelta(1)
    resolved = dict(pages, **{"209": (42, 400, 1)})
    with connect(warehouse) as con:
        replace_snapshots(
            con,
            [
                SnapshotRow("vk", "209", d, members("209", d, 400, 1), "ok", source="api")
                for d in (last_day - timedelta(n) for n in range(1, 4))
            ],
        )
    # 203 loses 5,000 subscribers that day: a drop the next day does not continue
    extract_day(warehouse, dipped(day_rows(last_day, resolved), "203"), last_day)
    assert_equals_full_refresh(warehouse, tmp_path, "screen-name-resolved")

    # 6. one more plain day: the monthly marts rewrite only the current month, whose
    # prev_month_growth comes from the month before (read, not rewritten; 201 and 203 have
    # February history, so it is not NULL)
    plain_day = last_day + timedelta(1)
    extract_day(warehouse, day_rows(plain_day, resolved), plain_day)
    assert_equals_full_refresh(warehouse, tmp_path, "plain-day", state="step")
    with connect(warehouse, read_only=True) as con:
        (april_prev,) = con.execute(
            "select prev_month_growth from marts.mart_region_growth "
            "where region_code = 42 and network = 'vk' and month_start = ?",
            [date(2026, 4, 1)],
        ).fetchone()
    assert april_prev is not None
    # the open incidents of the day before continue (208's deletion) or close (203's drop)
    with connect(warehouse, read_only=True) as con:
        incidents = con.execute(
            "select page_ref, rule, first_seen, last_seen, status from marts.mart_dq_incidents "
            "where page_ref in ('203', '208') and rule in ('drop_dod', 'status_change') "
            "and last_seen >= ?",
            [last_day],
        ).fetchall()
    assert ("203", "drop_dod", last_day, last_day, "closed") in incidents
    assert ("208", "status_change", FIRST_DAY + timedelta(5), plain_day, "open") in incidents

    # 7. the screen name resolved again, to another page (a renamed page gave its name up):
    # 209 leaves every day it had, 210 comes with two days of its own and the next day
    with connect(warehouse) as con:
        con.execute(
            "update raw.page_refs set page_ref = '210', resolved_at = ? "
            "where ref_value = 'late-name'",
            [datetime.now()],
        )
        replace_snapshots(
            con,
            [
                SnapshotRow("vk", "210", d, members("210", d, 300, 2), "ok", source="api")
                for d in (plain_day - timedelta(n) for n in range(2))
            ],
        )
    moved_day = plain_day + timedelta(1)
    moved = {ref: page for ref, page in resolved.items() if ref != "209"} | {"210": (42, 300, 2)}
    extract_day(warehouse, day_rows(moved_day, moved), moved_day)
    assert_equals_full_refresh(warehouse, tmp_path, "screen-name-re-resolved")
    with connect(warehouse, read_only=True) as con:
        (left_rows,) = con.execute(
            "select count(*) from intermediate.int_page_days_filled where page_ref = '209'"
        ).fetchone()
    assert left_rows == 0


@pytest.mark.slow
def test_a_first_build_in_page_buckets_equals_one_full_build(tmp_path):
    """gospulse build --full-refresh --page-buckets: the page-grain models one bucket of pages
    at a time, each with whole histories, then a plain build of everything. A page whose
    history starts late, a gap (205's days 12-15), a deleted page's state (208); the first
    days are loaded last (history backfilled after the daily runs began)."""
    warehouse = tmp_path / "w.duckdb"
    late_ref, late_region, late_base, late_slope = LATE_PAGE
    regions = {ref: region for ref, (region, _, _) in PAGES.items()} | {late_ref: late_region}
    write_registry(warehouse, regions, flagships={"201"})
    for n in [*range(14, DAYS), *range(14)]:
        d = FIRST_DAY + timedelta(n)
        rows = day_rows(d, PAGES)
        if n >= 20:
            count = members(late_ref, d, late_base, late_slope)
            rows.append(SnapshotRow("vk", late_ref, d, count, "ok", source="api"))
        extract_day(warehouse, rows, d)
    with connect(warehouse, read_only=True) as con:
        buckets_used = con.execute(
            "select count(distinct hash(network, page_ref) % 3) from raw.page_snapshots"
        ).fetchone()[0]
    assert buckets_used >= 2  # the pages really are split

    steps = build_in_page_buckets(warehouse, buckets=3)

    assert len(steps) == 4
    # one model at a time in every step: the memory limit is never shared by two big models
    assert all("Concurrency: 1 threads" in step.output for step in steps)
    for bucket, step in enumerate(steps[:-1]):
        filled = next(n for n in step.nodes if n.unique_id.endswith(".int_page_days_filled"))
        # each bucket computes its pages' whole histories, as a full build does
        assert "high_water" not in filled.compiled_code, f"bucket {bucket}"
        assert f"% 3 = {bucket}" in filled.compiled_code, f"bucket {bucket}"
    assert state_mode(steps[0]) == "skipped"
    models_of_a_later_bucket = {
        n.unique_id.split(".")[-1] for n in steps[1].nodes if n.unique_id.startswith("model.")
    }
    assert models_of_a_later_bucket == set(BUCKET_MODELS)
    # after the buckets, every other model is built afresh from their rows and the state is
    # replayed; the page-grain models and the pages' first days are left as the buckets wrote
    built_last = {n.unique_id.split(".")[-1] for n in steps[-1].nodes}
    assert built_last.isdisjoint({*BUCKET_MODELS, "int_page_first_snapshots"})
    assert {"int_dq_page_signals", "mart_region_growth", "mart_audience"} <= built_last
    assert state_mode(steps[-1]) == "replay"
    with connect(warehouse, read_only=True) as con:
        for table in ("intermediate.int_page_days_filled", "intermediate.int_dq_page_days"):
            # one write per bucket with pages
            assert con.execute(
                f"select count(distinct built_at), count(distinct hash(network, page_ref) % 3) "
                f"from {table}"
            ).fetchone() == (buckets_used, buckets_used), table
    assert_same_rows_as_full_refresh(warehouse, tmp_path, "bucketed")

    # the next day's build after it is a plain day: that day's rows only, from the state
    next_day = FIRST_DAY + timedelta(DAYS)
    rows = day_rows(next_day, PAGES)
    rows.append(
        SnapshotRow(
            "vk", late_ref, next_day, members(late_ref, next_day, late_base, late_slope), "ok"
        )
    )
    extract_day(warehouse, rows, next_day)
    day = build(warehouse)
    assert state_mode(day) == "step"
    with connect(warehouse, read_only=True) as con:
        for table in ("intermediate.int_page_days_filled", "intermediate.int_dq_page_days"):
            assert con.execute(
                f"select distinct snapshot_date from {table} "
                f"where built_at = (select max(built_at) from {table})"
            ).fetchall() == [(next_day,)], table


def test_page_buckets_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="at least 1, got 0"):
        build_in_page_buckets(tmp_path / "w.duckdb", buckets=0)


@pytest.mark.slow
def test_full_refresh_build_upgrades_a_warehouse_whose_incremental_model_lost_a_column(
    a_built_day, tmp_path
):
    """A warehouse built by an older release (int_dq_page_days without registry_seen_at):
    the plain build refuses the schema change and names the model; build(full_refresh=True)
    rebuilds it from raw and keeps the registry's history (snapshots are never refreshed)."""
    warehouse = copied(a_built_day, tmp_path)
    regions = {ref: region for ref, (region, _, _) in PAGES.items()}
    write_registry(warehouse, regions, flagships={"201"})  # a second registry version
    with connect(warehouse) as con:
        con.execute("alter table intermediate.int_dq_page_days drop column registry_seen_at")
    with pytest.raises(DbtError) as failed:
        build(warehouse)  # the registry's snapshot, upstream of the failing model, ran
    assert any("int_dq_page_days" in f for f in failed.value.failures), failed.value.failures
    with connect(warehouse, read_only=True) as con:
        versions = con.execute("select count(*) from snapshots.snap_registry_pages").fetchone()[0]
    assert versions == len(PAGES) + 1  # 201's first version closed, its second open
    build(warehouse, full_refresh=True)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute(
            "select count(*) from intermediate.int_dq_page_days where registry_seen_at is not null"
        ).fetchone()[0] == (BUILT_DAYS + 1) * len(PAGES)
        assert (
            con.execute("select count(*) from snapshots.snap_registry_pages").fetchone()[0]
            == versions
        )
    finally:
        con.close()


@pytest.mark.slow
def test_a_page_listed_again_after_a_gap_carries_from_its_history_before_the_window(tmp_path):
    """A page unlisted for a week and listed again: the last build holds no row of it on the
    day before the rebuilt days, so int_dq_page_days carries its history from int_page_days_filled
    (its first day, last ok day and screen name, long before the z-score window), and must
    still equal a --full-refresh build. The registry's versions are dated inside the data's
    days by their loads' loaded_at; a removal is dated by the snapshot run that noticed it,
    so that one is moved back to its load."""
    warehouse = tmp_path / "w.duckdb"
    regions = {ref: region for ref, (region, _, _) in PAGES.items()}
    gone_from, back_on = FIRST_DAY + timedelta(26), FIRST_DAY + timedelta(58)
    write_registry(warehouse, regions, set(), loaded_at=datetime(2026, 2, 1, 6))
    for n in range(70):
        d = FIRST_DAY + timedelta(n)
        rows = day_rows(d, PAGES)
        if gone_from <= d < back_on:  # 202 not returned: its last ok day is before the window
            rows = [r for r in rows if r.page_ref != "202"]
        extract_day(warehouse, rows, d)
    build(warehouse)

    unlisted_at = datetime.combine(FIRST_DAY + timedelta(50), datetime.min.time()).replace(hour=6)
    write_registry(
        warehouse, {k: v for k, v in regions.items() if k != "202"}, set(), loaded_at=unlisted_at
    )
    run_dbt(["snapshot"], warehouse=warehouse)
    with connect(warehouse) as con:
        closed = con.execute(
            "update snapshots.snap_registry_pages set dbt_valid_to = ? "
            "where ref_value = '202' and dbt_valid_to is not null",
            [unlisted_at],
        ).fetchall()
    assert closed == [(1,)]
    assert_equals_full_refresh(warehouse, tmp_path, "unlisted", state="kept")

    write_registry(
        warehouse,
        regions,
        set(),
        loaded_at=datetime.combine(back_on, datetime.min.time()).replace(hour=6),
    )
    assert_equals_full_refresh(warehouse, tmp_path, "listed-again", state="kept")
    with connect(warehouse, read_only=True) as con:
        back = con.execute(
            "select previous_ok_date, last_ok_date, effective_status "
            "from intermediate.int_dq_page_days where page_ref = '202' and snapshot_date = ?",
            [back_on],
        ).fetchone()
        gap_days = con.execute(
            "select count(*) from intermediate.int_dq_page_days where page_ref = '202' "
            "and snapshot_date between ? and ?",
            [FIRST_DAY + timedelta(50), back_on - timedelta(1)],
        ).fetchone()[0]
    assert back == (gone_from - timedelta(1), back_on, "ok")
    assert gap_days == 0


SCOPED_UNIQUENESS = {
    # model: its rows of one day (a build rewrites whole days, and whole periods of growth)
    "intermediate.int_page_days_filled": "snapshot_date = ?",
    "intermediate.int_dq_page_days": "snapshot_date = ?",
    "marts.mart_page_growth": "period_type = 'week' and period_start = date_trunc('week', ?)",
}


# the registered pages' first BUILT_DAYS days (March and four days of April: older months
# stay) built, then one more day extracted and built incrementally
BUILT_DAYS = 35
NEW_DAY = FIRST_DAY + timedelta(BUILT_DAYS)


@pytest.fixture(scope="session")
def a_built_day(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A warehouse after a first build and one incremental day, made once per run: a test
    changes a `copy_warehouse` of it."""

    def make(warehouse: Path) -> str:
        write_registry(warehouse, {ref: region for ref, (region, _, _) in PAGES.items()}, set())
        for n in range(BUILT_DAYS):
            d = FIRST_DAY + timedelta(n)
            extract_day(warehouse, day_rows(d, PAGES), d)
        build(warehouse)
        extract_day(warehouse, day_rows(NEW_DAY, PAGES), NEW_DAY)
        return build(warehouse).describe()

    return shared_warehouse(tmp_path_factory, worker_id, "a_built_day", make, file_name="w.duckdb")


def copied(a_built_day: Path, folder: Path) -> Path:
    return copy_warehouse(a_built_day, folder, name=a_built_day.name)


def duplicate_a_row(warehouse: Path, d: date, *, older_build: bool) -> None:
    """Insert a second copy of one row of day d in each model; older_build dates the copy a
    day before its build, as a row an incremental delete had missed would be."""
    shift = " replace (built_at - interval 1 day as built_at)" if older_build else ""
    with connect(warehouse) as con:
        for model, where in SCOPED_UNIQUENESS.items():
            con.execute(
                f"insert into {model} select *{shift} from {model} where {where} limit 1", [d]
            )


# model: the column its written-rows test checks, the value that test refuses, and the test
WRITTEN_VALUES = {
    "intermediate.int_page_days_filled": ("status", "'bogus'", "accepted_values_written"),
    "marts.mart_page_growth": ("period_type", "'bogus'", "accepted_values_written"),
    "marts.mart_region_growth": ("network", "'bogus'", "accepted_values_written"),
    "marts.mart_organization_growth": ("network", "'bogus'", "accepted_values_written"),
    "intermediate.int_dq_page_days": ("page_ref", "null", "not_null_written"),
}


def spoil_a_value(warehouse: Path, *, latest: bool) -> None:
    """One row of each model gets a value its test refuses: a row the latest build wrote, or
    one an earlier build wrote."""
    with connect(warehouse) as con:
        for model, (column, value, _) in WRITTEN_VALUES.items():
            built = "=" if latest else "<"
            con.execute(
                f"update {model} set {column} = {value} where rowid = (select min(rowid) "
                f"from {model} where built_at {built} (select max(built_at) from {model}))"
            )
            spoiled = f"{column} is null" if value == "null" else f"{column} = {value}"
            assert con.execute(f"select count(*) from {model} where {spoiled}").fetchone() == (
                1,
            ), model


RAW_TESTS = (
    "test_name:unique_combination,stg_raw__page_snapshots",
    "source:raw.page_snapshots,test_name:accepted_values_written",
)
# a status raw's status test refuses, on one row of the latest load or of an earlier one
SPOIL_STATUS = (
    "update raw.page_snapshots set status = 'bogus' where rowid = (select min(rowid) "
    "from raw.page_snapshots where loaded_at {} (select max(loaded_at) from raw.page_snapshots))"
)


def keyless_raw(warehouse: Path) -> None:
    """Raw's primary key refuses a duplicate on insert: its table swapped for a copy without
    the key, as a store without it would hold."""
    with connect(warehouse) as con:
        con.execute("create table raw.keyless as select * from raw.page_snapshots")
        con.execute("drop table raw.page_snapshots")
        con.execute("alter table raw.keyless rename to page_snapshots")


def spoil_raw(warehouse: Path, *, latest: bool) -> None:
    """A second row of a page (loaded a day before the latest load) on the first day or on the
    latest load's day, and a refused status on a row of an earlier load or of the latest."""
    with connect(warehouse) as con:
        con.execute(
            "insert into raw.page_snapshots select * replace (loaded_at - interval 1 day "
            "as loaded_at) from raw.page_snapshots where snapshot_date = ? limit 1",
            [NEW_DAY if latest else FIRST_DAY],
        )
        con.execute(SPOIL_STATUS.format("=" if latest else "<"))


def written_rows_tests(warehouse: Path, vars: dict | None = None) -> None:
    """The uniqueness, accepted-values and not-null tests of the incremental models and raw,
    in one dbt run."""
    uniqueness = [
        f"test_name:unique_combination,{model.split('.')[1]}" for model in SCOPED_UNIQUENESS
    ]
    values = [
        f"test_name:{test},{model.split('.')[1]}" for model, (_, _, test) in WRITTEN_VALUES.items()
    ]
    run_dbt(["test", "--select", *uniqueness, *values, *RAW_TESTS], warehouse=warehouse, vars=vars)


def assert_every_written_rows_test_failed(error: DbtError) -> None:
    failures = error.failures
    for model in SCOPED_UNIQUENESS:
        name = model.split(".")[1]
        assert any("unique_combination" in f and name in f for f in failures), (model, failures)
    for model, (_, _, test) in WRITTEN_VALUES.items():
        name = model.split(".")[1]
        assert any(test in f and name in f for f in failures), (model, failures)
    for name in ("stg_raw__page_snapshots", "written_raw_page_snapshots"):
        assert any(name in f for f in failures), (name, failures)


@pytest.mark.slow
def test_written_rows_tests_check_the_latest_build_or_all_history_on_request(a_built_day, tmp_path):
    """The incremental models' uniqueness tests group only the days (periods) the latest build
    rewrote, old and new rows of them alike; their accepted-values and not-null tests read only
    the rows it wrote (a row changes only when a build rewrites it); raw's uniqueness test
    groups the days the latest load wrote and its status test reads that load's rows. Var
    test_all_history makes each of them read everything."""
    earlier = copied(a_built_day, tmp_path / "earlier")
    latest = copied(a_built_day, tmp_path / "latest")
    for warehouse in (earlier, latest):
        keyless_raw(warehouse)

    # a refused value and a duplicate in rows an earlier build (load) wrote: the tests of the
    # builds after it owned them
    spoil_a_value(earlier, latest=False)
    duplicate_a_row(earlier, FIRST_DAY + timedelta(2), older_build=False)
    spoil_raw(earlier, latest=False)
    written_rows_tests(earlier)
    with pytest.raises(DbtError) as audit:
        written_rows_tests(earlier, vars={"test_all_history": True})
    assert_every_written_rows_test_failed(audit.value)

    # a refused value the latest build wrote, an older row left beside its day's rows (a
    # delete that missed it), and raw's like them: caught
    spoil_a_value(latest, latest=True)
    duplicate_a_row(latest, NEW_DAY, older_build=True)
    spoil_raw(latest, latest=True)
    with pytest.raises(DbtError) as caught:
        written_rows_tests(latest)
    assert_every_written_rows_test_failed(caught.value)
