"""Benchmark: the dbt transform at federal scale — a full build, then one incremental day.

A synthetic federal warehouse (bench/synthetic_federal.py: 200,000 pages over every region,
730 days of daily snapshots, ~146 M rows) is built with a full `dbt build` (snapshot, every
model, every test), timed, with the peak memory of the dbt process; then one more day is
appended to raw (as a daily extraction would) and `dbt build` runs again, now incremental.
Each figure is printed with its target and ratio. Finally the marts of a smaller warehouse
(`--pg-pages`) are published as the daily DAG does it: the read-only copy
(gospulse.serving.publish), then that copy to Postgres (gospulse.serving.postgres, COPY into
marts__next and a swap), once into an empty database and once more after an incremental day.

    .venv/bin/python bench/bench_transform.py            # 200,000 pages (~146 M rows)
    .venv/bin/python bench/bench_transform.py --quick    # 20,000 pages (~14.6 M rows)

DuckDB runs with its default threads (one per core) and GOSPULSE_DUCKDB_MEMORY_LIMIT
(`--memory-limit`, default 5GB): DuckDB's limit bounds its buffer manager, not the whole
process, so a dbt process held under 6 GB needs a limit below that; the rest spills to disk.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import psycopg2
from synthetic_federal import (  # bench/ is on sys.path
    END,
    raw_counts,
    write_federal_raw,
    write_snapshots,
)

from gospulse.serving.postgres import PgConfig, publish_to_postgres
from gospulse.serving.publish import publish_marts
from gospulse.transform.run import NO_UNIT_TESTS, DbtRunResult, build_in_page_buckets, run_dbt

# issue 32's targets: at 200,000 pages x 730 days, and for a 3,000-page region's whole day
FULL_TARGET_S = 300
INCREMENTAL_TARGET_S = 20
REGION_DAY_TARGET_S = 10
REGION_PAGES = 3_000
MEMORY_TARGET_BYTES = 6 * 1024**3

# The hand-written floor of a full build: every page's day-over-day change and its rolling
# 28-day z-score over all of raw, month-end growth per page, and the last month ranked per
# region, written out. What the models do beyond it (gap fill, carry, registry as of, same-
# weekday robust z, data tests) is what the ratio measures.
# each page's day-over-day change over the ok days `{days}` picks
CHANGES = """
select network, page_ref, snapshot_date, members_count,
    members_count - lag(members_count) over page_days as change
from src.raw.page_snapshots
where status = 'ok' and {days}
window page_days as (partition by network, page_ref order by snapshot_date)
"""

FLOOR_FULL = f"""
create table floor.page_days as
with changes as ({CHANGES.format(days="true")})
select *,
    (change - avg(change) over training) / nullif(stddev_samp(change) over training, 0) as z
from changes
window training as (
    partition by network, page_ref order by snapshot_date
    rows between 28 preceding and 1 preceding
);
create table floor.month_growth as
select network, page_ref, month_start,
    month_end_members - lag(month_end_members) over (
        partition by network, page_ref order by month_start) as growth
from (
    select network, page_ref, date_trunc('month', snapshot_date) as month_start,
        arg_max(members_count, snapshot_date) as month_end_members
    from floor.page_days group by all
);
create table floor.last_month_ranked as
select growth.*, pages.region_code,
    row_number() over (partition by pages.region_code order by growth.growth desc) as rank_abs
from floor.month_growth as growth
join (
    select distinct network, ref_value as page_ref, region_code from src.raw.registry_pages
) as pages
    using (network, page_ref)
where growth.month_start = (select max(month_start) from floor.month_growth);
"""

# The floor of one day: that day's change and z-score for every page from the 29 days before
# it, and the running month's growth, written out.
FLOOR_DAY = f"""
create table floor.day as
with recent as ({CHANGES.format(days="snapshot_date between $day - interval 30 day and $day")}),
scored as (
    select *,
        (change - avg(change) over training) / nullif(stddev_samp(change) over training, 0)
            as z
    from recent
    window training as (
        partition by network, page_ref order by snapshot_date
        rows between 28 preceding and 1 preceding
    )
    qualify snapshot_date = $day
)
select scored.*, scored.members_count - month_base.members_count as month_growth
from scored
left join src.raw.page_snapshots as month_base
    on month_base.network = scored.network and month_base.page_ref = scored.page_ref
    and month_base.snapshot_date = date_trunc('month', $day::date) - interval 1 day;
"""
SEED = 8
INCREMENTAL_MODELS = (
    "int_page_days_filled",
    "int_dq_page_days",
    "mart_page_daily",
    "mart_page_growth",
)


@dataclass(frozen=True)
class Measured:
    """One dbt invocation: wall seconds, peak RSS of the dbt process tree, and its result."""

    seconds: float
    peak_bytes: int
    result: DbtRunResult
    # the peak of each process the bench started (one per dbt invocation: per step of a bucketed
    # build), in start order
    invocation_peaks: tuple[int, ...] = ()

    def models_named(self, names: tuple[str, ...]) -> str:
        """The execution time of the named models, e.g. the incremental ones."""
        return "; ".join(
            f"{x.unique_id.split('.')[-1]} {x.execution_time:.1f} s"
            for x in self.result.nodes
            if x.unique_id.split(".")[-1] in names
        )

    def slowest(self, n: int = 5) -> str:
        """The n slowest models, for the notes: where the time goes."""
        return slowest(self.result, n)


def slowest(result: DbtRunResult, n: int = 5) -> str:
    """The n slowest models of one dbt invocation."""
    models = [x for x in result.nodes if x.resource_type == "model"]
    models.sort(key=lambda x: -x.execution_time)
    return "; ".join(f"{x.unique_id.split('.')[-1]} {x.execution_time:.1f} s" for x in models[:n])


def _descendants(pid: int) -> dict[int, int]:
    """Every process below pid and its parent, from /proc (dbt may start helpers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        children.setdefault(ppid, []).append(int(entry.name))
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child in children.get(parent, []):
            found[child] = parent
            todo.append(child)
    return found


def _peak_rss(pid: int) -> int:
    """VmHWM (peak resident set) of one process in bytes; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measured(run: Callable[[], DbtRunResult]) -> Measured:
    """Run dbt invocations, sampling the peak RSS of every process they start (4 times a
    second; VmHWM is each process's own high-water mark, so a short peak is not missed). The
    peak is the largest sum over processes alive at the same sample: one after another (the
    steps of a bucketed build) they do not add up."""
    peaks: dict[int, int] = {}
    together = [0]
    # per process the bench started itself: the peak of the tree while it was alive
    invocations: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        me = os.getpid()
        while not done.wait(0.25):
            alive = _descendants(me)
            for pid in alive:
                peaks[pid] = max(peaks.get(pid, 0), _peak_rss(pid))
            now = sum(peaks.get(pid, 0) for pid in alive)
            together[0] = max(together[0], now)
            for pid, parent in alive.items():
                if parent == me:
                    invocations[pid] = max(invocations.get(pid, 0), now)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        result = run()
    finally:
        done.set()
        sampler.join()
    return Measured(time.perf_counter() - t0, together[0], result, tuple(invocations.values()))


def append_day(warehouse: Path, pages: int, days: int) -> date:
    """The next day's snapshots of every page, continuing the synthetic series; its date."""
    con = duckdb.connect(str(warehouse))
    try:
        (last,) = con.execute("select max(snapshot_date) from raw.page_snapshots").fetchone()
        appended = (last - END).days
        write_snapshots(con, pages, days, END, SEED, append_days=1, appended=appended)
        con.execute("checkpoint")
    finally:
        con.close()
    return last + timedelta(days=1)


def dbt_build(warehouse: Path, **kwargs) -> Measured:
    """The build a daily run makes (gospulse.transform.run.build: unit tests run in CI only)."""
    return measured(lambda: run_dbt(["build", *NO_UNIT_TESTS], warehouse=warehouse, **kwargs))


def floor_seconds(warehouse: Path, sql: str, params: dict | None = None) -> float:
    """Wall time of the hand-written floor, reading the warehouse read-only and writing its
    tables into a scratch file beside it (deleted afterwards)."""
    scratch = warehouse.with_name("hand_written_floor.duckdb")
    scratch.unlink(missing_ok=True)
    limit = os.environ.get("GOSPULSE_DUCKDB_MEMORY_LIMIT")
    con = duckdb.connect(str(scratch), config={"memory_limit": limit} if limit else {})
    try:
        con.execute(f"attach '{warehouse.as_posix()}' as src (read_only)")
        con.execute("create schema floor")
        t0 = time.perf_counter()
        for statement in filter(str.strip, sql.split(";")):
            con.execute(statement, params or {}) if "$" in statement else con.execute(statement)
        con.execute("checkpoint")
        return time.perf_counter() - t0
    finally:
        con.close()
        scratch.unlink(missing_ok=True)
        scratch.with_name(scratch.name + ".wal").unlink(missing_ok=True)


def beside_floor(seconds: float, floor: float) -> str:
    return f"floor {floor:.1f} s in the same run, {seconds / floor:.1f}x the floor"


def line(name: str, seconds: float, target: float) -> str:
    return f"{name}: {seconds:.1f} s; target < {target:.0f} s, ratio {seconds / target:.2f}"


def bench_incremental_only(
    warehouse: Path, pages: int, days: int, select: list[str], pg: PgConfig | None
) -> None:
    """One more day on an already built synthetic warehouse (--reuse), only `select`ed models:
    the incremental models' own day, without the full-table models downstream of them; with
    pg (--reuse-pg, any database the publisher may write), the marts as they then stand are
    published there too."""
    day = append_day(warehouse, pages, days)
    if select == ["all"]:  # the daily build itself, every model and data test
        run, name = dbt_build(warehouse), "the daily dbt build"
        target = INCREMENTAL_TARGET_S if pages > REGION_PAGES else REGION_DAY_TARGET_S
    else:
        run = measured(lambda: run_dbt(["build", "--select", *select], warehouse=warehouse))
        name, target = f"dbt build --select {' '.join(select)}", 60
    print(
        line(f"incremental day {day}, {name}", run.seconds, target)
        + f" ({run.result.summary()}); peak {run.peak_bytes / 1024**3:.2f} GiB"
    )
    if select == ["all"]:
        print(f"  slowest models: {run.slowest(8)}")
        print(f"  dbt's own time: {dbt_overhead(run)}")
        return
    print(f"  models: {run.models_named(tuple(run_models(run)))}")
    if pg is not None:
        publish_timed(warehouse, pg, day, f"publication of {day}")


def dbt_overhead(run: Measured) -> str:
    """How the wall time splits: the nodes' own execution (summed over dbt's threads) and the
    rest (start-up, parsing, scheduling)."""
    by_kind: dict[str, float] = {}
    for node in run.result.nodes:
        by_kind[node.resource_type] = by_kind.get(node.resource_type, 0.0) + node.execution_time
    nodes = ", ".join(f"{kind} {seconds:.1f} s" for kind, seconds in sorted(by_kind.items()))
    return f"{len(run.result.nodes)} nodes ({nodes}) in {run.seconds:.1f} s of wall time"


def run_models(run: Measured) -> list[str]:
    return [x.unique_id.split(".")[-1] for x in run.result.nodes if x.resource_type == "model"]


def copy_raw(source: Path, warehouse: Path) -> dict:
    """A raw warehouse written earlier by synthetic_federal.py, copied (not built on in place,
    so it serves again); its counts as write_federal_raw reports them."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    shutil.copyfile(source, warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        counts = raw_counts(con)
    return {**counts, "seconds": time.perf_counter() - t0}


def bench_duckdb(
    root: Path, pages: int, days: int, from_raw: Path | None = None, page_buckets: int | None = None
) -> None:
    """Full build, then one incremental day, on DuckDB at the chosen size."""
    warehouse = root / "duckdb" / "gospulse.duckdb"
    if from_raw is not None:
        raw = copy_raw(from_raw, warehouse)
    else:
        raw = write_federal_raw(warehouse, pages=pages, days=days, seed=SEED)
    print(
        f"synthetic warehouse: {pages:,} pages x {days} days = {raw['rows']:,} snapshot rows, "
        f"{raw['subscriptions_last_day']:,} subscriptions on the last day "
        f"({'copied' if from_raw else 'generated'} in {raw['seconds']:.0f} s, not timed)"
    )
    if page_buckets:
        steps: list[DbtRunResult] = []

        def bucketed() -> DbtRunResult:
            steps.extend(build_in_page_buckets(warehouse, buckets=page_buckets))
            return steps[-1]

        full = measured(bucketed)
        name = f"full build in {page_buckets} buckets of pages and a last step (--page-buckets)"
        print(line(name, full.seconds, FULL_TARGET_S) + f" (last step: {full.result.summary()})")
        # a step too short to be sampled has no peak: then none is printed per step
        step_peaks = full.invocation_peaks if len(full.invocation_peaks) == len(steps) else ()
        for i, step in enumerate(steps):
            elapsed = sum(n.execution_time for n in step.nodes)
            peak = f"; peak {step_peaks[i] / 1024**3:.2f} GiB" if step_peaks else ""
            what = f"bucket {i}" if i < len(steps) - 1 else "the build after the buckets"
            print(f"  {what}: node time {elapsed:.0f} s{peak}; slowest {slowest(step)}")
    else:
        full = dbt_build(warehouse)
        print(line("full dbt build", full.seconds, FULL_TARGET_S) + f" ({full.result.summary()})")
    print(f"  {beside_floor(full.seconds, floor_seconds(warehouse, FLOOR_FULL))}")
    print(
        f"peak memory of dbt (RSS): {full.peak_bytes / 1024**3:.2f} GiB; target < 6 GiB, "
        f"ratio {full.peak_bytes / MEMORY_TARGET_BYTES:.2f}"
    )
    print(f"  slowest models: {full.slowest()}")
    # the day before's publication, as the daily DAG leaves it: the day's one updates it
    t0 = time.perf_counter()
    first = publish_marts(warehouse, run_id=uuid.uuid4().hex, snapshot_date=END)
    print(
        f"publication of every mart whole: {time.perf_counter() - t0:.1f} s "
        f"({sum(first.row_counts.values()):,} rows)"
    )
    day = append_day(warehouse, pages, days)
    incremental = dbt_build(warehouse)
    print(
        line(f"incremental dbt build of {day}", incremental.seconds, INCREMENTAL_TARGET_S)
        + f" ({incremental.result.summary()}); peak {incremental.peak_bytes / 1024**3:.2f} GiB"
    )
    day_floor = floor_seconds(warehouse, FLOOR_DAY, {"day": day})
    print(f"  {beside_floor(incremental.seconds, day_floor)}")
    print(f"  slowest models: {incremental.slowest()}")
    print(f"  incremental models: {incremental.models_named(INCREMENTAL_MODELS)}")
    print(f"  dbt's own time: {dbt_overhead(incremental)}")
    t0 = time.perf_counter()
    publication = publish_marts(warehouse, run_id=uuid.uuid4().hex, snapshot_date=day)
    publish_s = time.perf_counter() - t0
    print(f"  the day's publication updated {', '.join(publication.updated) or 'no mart'}")
    whole = incremental.seconds + publish_s
    target = REGION_DAY_TARGET_S if pages <= REGION_PAGES else INCREMENTAL_TARGET_S
    print(
        line(f"the day's build and publication (gospulse build at {pages:,} pages)", whole, target)
        + f"; publication {publish_s:.1f} s; {beside_floor(whole, day_floor)}"
    )


def _fresh_pg_database(name: str) -> PgConfig:
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
            cur.execute(f'create database "{name}"')
    finally:
        admin.close()
    return PgConfig(dbname=name)


def publish_timed(warehouse: Path, pg: PgConfig, day: date, label: str) -> None:
    """Publish the warehouse's marts as the daily DAG does, each half timed: the read-only copy,
    then that copy to Postgres (COPY into marts__next, row counts checked, swap)."""
    t0 = time.perf_counter()
    copy = publish_marts(warehouse, run_id=uuid.uuid4().hex, snapshot_date=day)
    copy_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = publish_to_postgres(copy.path, pg)
    pg_s = time.perf_counter() - t0
    rows = sum(result.mart_rows.values())
    largest = max(result.mart_rows, key=result.mart_rows.get)
    print(
        f"  {label}: read-only copy {copy_s:.1f} s; to Postgres {pg_s:.1f} s for "
        f"{len(result.mart_rows)} marts, {rows:,} rows ({rows / pg_s:,.0f} rows/s; largest "
        f"{largest} {result.mart_rows[largest]:,})"
    )


def bench_postgres(root: Path, pages: int, days: int, database: str) -> None:
    """Publishing the marts to Postgres, over a smaller warehouse: the first publication into
    an empty database, then the one after an incremental day (the daily case)."""
    warehouse = root / "pg" / "gospulse.duckdb"
    raw = write_federal_raw(warehouse, pages=pages, days=days, seed=SEED)
    pg = _fresh_pg_database(database)
    print(f"Postgres publish: {pages:,} pages, {raw['rows']:,} rows, database {database}")
    full = dbt_build(warehouse)
    print(f"  DuckDB full build first (not the measure): {full.seconds:.1f} s")
    publish_timed(warehouse, pg, END, "first publication")
    day = append_day(warehouse, pages, days)
    incremental = dbt_build(warehouse)
    print(f"  DuckDB incremental build of {day} (not the measure): {incremental.seconds:.1f} s")
    publish_timed(warehouse, pg, day, f"publication of {day}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10x smaller: 20,000 pages")
    parser.add_argument("--pages", type=int, help="pages (default 200,000, quick 20,000)")
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument(
        "--pg-pages", type=int, help="pages of the Postgres publish (default pages / 10)"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--only-postgres", action="store_true", help="only the Postgres publish")
    parser.add_argument("--memory-limit", default="5GB", help="DuckDB memory_limit for dbt")
    parser.add_argument("--keep", action="store_true", help="keep the warehouses afterwards")
    parser.add_argument(
        "--reuse", type=Path, help="a warehouse built by an earlier --keep run: only add a day"
    )
    parser.add_argument(
        "--from-raw",
        type=Path,
        help="a raw warehouse from synthetic_federal.py (same --pages/--days): copied, not "
        "generated",
    )
    parser.add_argument(
        "--page-buckets",
        type=int,
        help="the full build in N buckets of pages (gospulse build --page-buckets)",
    )
    parser.add_argument(
        "--reuse-pg", help="with --reuse: also publish the marts to this Postgres database"
    )
    parser.add_argument(
        "--select",
        nargs="+",
        default=["+mart_page_daily"],
        help="models of the --reuse day (default: the incremental ones and their parents; "
        "'all': the daily build, every model and data test)",
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress shows when piped to a file
    pages = args.pages or (20_000 if args.quick else 200_000)
    pg_pages = args.pg_pages or max(pages // 10, 100)
    os.environ["GOSPULSE_DUCKDB_MEMORY_LIMIT"] = args.memory_limit

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GiB RAM, "
        f"load {os.getloadavg()[0]:.1f}; DuckDB memory_limit {args.memory_limit}"
    )
    if args.reuse:
        pg = PgConfig(dbname=args.reuse_pg) if args.reuse_pg else None
        bench_incremental_only(args.reuse, pages, args.days, args.select, pg)
        return
    root = Path(tempfile.mkdtemp(prefix="gospulse-bench-transform-"))
    database = f"gospulse_bench_{os.getpid()}"
    try:
        if not args.only_postgres:
            bench_duckdb(root, pages, args.days, args.from_raw, args.page_buckets)
        if not args.skip_postgres:
            bench_postgres(root, pg_pages, args.days, database)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
            if not args.skip_postgres:
                admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
                admin.autocommit = True
                with admin.cursor() as cur:
                    cur.execute(f'drop database if exists "{database}" with (force)')
                admin.close()
        else:
            print(f"kept: {root}")


if __name__ == "__main__":
    main()
