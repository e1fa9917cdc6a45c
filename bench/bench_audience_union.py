"""Benchmark: unique audience at federal scale — 200,000 page sketches merged into every scope.

A synthetic federal population (46 M people, ~115 M subscriptions, each person following 1–4
pages, page popularity heavy-tailed) is folded into one HLL and one theta sketch per page, as the
audience collector stores them (raw.member_sketches; people are drawn as random 64-bit values,
which is what keyed hashes of member ids look like). The registry spreads the pages over every
region, 40 municipalities and the sectors (bench/synthetic_federal.py). Then, timed:

- `dbt run` of int_audience_unions, the dbt Python model that unions page sketches into every
  scope (region, municipality, sector, flagship, organization) for the day;
- the national unique count from the regions' union sketches (gospulse.audience.federal), as a
  federal aggregator merges them.

Exact unique counts per region, per region x sector and nationally come from the synthetic
ground truth, computed once with numpy.

    .venv/bin/python bench/bench_audience_union.py            # 46 M people, 200,000 pages
    .venv/bin/python bench/bench_audience_union.py --quick    # 4.6 M people, 20,000 pages
    .venv/bin/python bench/bench_audience_union.py --sketch 14:HLL_8 16:HLL_4 16:HLL_8

`--sketch LG_K:TYPE ...` times page sketches of other precisions or types back to back on the same
population and warehouse (the default is the collector's own); what a union costs depends on both,
and only runs on one machine in one sitting compare fairly.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import datasketches as ds
import duckdb
import numpy as np
import pandas as pd
from synthetic_federal import write_registry  # bench/ is on sys.path when run as a script

from gospulse.audience.federal import national_unique
from gospulse.raw.sketches import HLL_LG_K, HLL_TYPE, THETA_LG_K
from gospulse.raw.warehouse import RAW_DDL
from gospulse.transform.run import build, run_dbt

DAY = date(2026, 10, 31)
FOLLOWS_PER_PERSON = 2.5


def distinct(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values by sort + compare: numpy 2's hash-based unique is far slower here."""
    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if a.size else a


def distinct_counts(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and how often each occurs (sorted)."""
    a = np.sort(a)
    starts = np.flatnonzero(np.concatenate(([True], a[1:] != a[:-1])))
    return a[starts], np.diff(np.concatenate((starts, [a.size])))


def follows(people: int, pages: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(person, page) pairs, unique, sorted by page: 1–4 follows per person, heavy-tailed pages."""
    rng = np.random.default_rng(seed)
    per_person = 1 + (rng.random((people, 3)) < 0.5).sum(axis=1)
    person = np.repeat(np.arange(people, dtype=np.int64), per_person)
    weights = 1.0 / (np.arange(pages) + 1) ** 0.8
    order = rng.permutation(pages)  # popular pages are spread over regions and sectors
    page = order[rng.choice(pages, size=person.size, p=weights / weights.sum())]
    pairs = distinct(person * pages + page)
    person, page = pairs // pages, pairs % pages
    by_page = np.argsort(page, kind="stable")
    return person[by_page], page[by_page]


def sketch_setting(text: str) -> tuple[int, ds.tgt_hll_type]:
    """`16:HLL_4` -> (16, tgt_hll_type.HLL_4)."""
    lg_k, _, kind = text.partition(":")
    try:
        return int(lg_k), getattr(ds.tgt_hll_type, kind or "HLL_4")
    except (ValueError, AttributeError):
        raise argparse.ArgumentTypeError(f"{text!r} is not LG_K:HLL_4|HLL_6|HLL_8") from None


def setting_name(setting: tuple[int, ds.tgt_hll_type]) -> str:
    return f"lg_k {setting[0]} {setting[1].name}"


def page_sketches(
    person: np.ndarray, page: np.ndarray, pages: int, values: np.ndarray, settings: list
) -> tuple[list[int], list[bytes], list[list[bytes]]]:
    """Per page: members, theta bytes, and HLL bytes for each of `settings` (one pass)."""
    bounds = np.searchsorted(page, np.arange(pages + 1))
    members_count, thetas, hlls = [], [], [[] for _ in settings]
    for p in range(pages):
        page_hlls = [ds.hll_sketch(lg_k, kind) for lg_k, kind in settings]
        theta = ds.update_theta_sketch(THETA_LG_K)
        members = values[person[bounds[p] : bounds[p + 1]]].tolist()
        for v in members:
            for hll in page_hlls:
                hll.update(v)
            theta.update(v)
        members_count.append(len(members))
        thetas.append(bytes(theta.compact().serialize()))
        for out, hll in zip(hlls, page_hlls, strict=True):
            out.append(bytes(hll.serialize_compact()))
    return members_count, thetas, hlls


def write_warehouse(
    warehouse: Path, pages: int, members_count, thetas, hlls, lg_k: int, seed: int
) -> pd.DataFrame:
    """Registry (all VK), the day's snapshots and member sketches; returns the registry."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(RAW_DDL)
        write_registry(con, pages, seed, all_vk=True)
        registry = con.execute(
            "select ref_value::bigint - 10000000 as page, ref_value as page_ref, region_code, "
            "sector from raw.registry_pages order by page"
        ).df()
        now = datetime.now()
        frame = pd.DataFrame(
            {
                "network": "vk",
                "page_ref": registry["page_ref"],
                "snapshot_date": DAY,
                "status": "ok",
                "members_count": members_count,
                "members_read": members_count,
                "hll_lg_k": lg_k,
                "hll_sketch": hlls,
                "theta_lg_k": THETA_LG_K,
                "theta_sketch": thetas,
                "error": None,
                "run_id": "bench",
                "loaded_at": now,
            }
        )
        con.register("frame", frame)
        con.execute("insert into raw.member_sketches select * from frame")
        con.execute(
            """
            insert into raw.page_snapshots
            select network, page_ref, snapshot_date, members_count, 'ok', 'p' || page_ref,
                'page ' || page_ref, true, null, 'synthetic', 'bench', loaded_at
            from frame
            """
        )
        con.unregister("frame")
        con.execute("checkpoint")
    finally:
        con.close()
    return registry


def replace_hll_sketches(warehouse: Path, hlls: list[bytes], lg_k: int) -> None:
    """Swap the day's page HLL sketches for another setting's (page order as written)."""
    con = duckdb.connect(str(warehouse))
    try:
        frame = pd.DataFrame(
            {"page_ref": [str(10000000 + p) for p in range(len(hlls))], "hll_sketch": hlls}
        )
        con.register("frame", frame)
        con.execute(
            "update raw.member_sketches as m set hll_sketch = frame.hll_sketch, hll_lg_k = ? "
            "from frame where m.page_ref = frame.page_ref",
            [lg_k],
        )
        con.unregister("frame")
        con.execute("checkpoint")
    finally:
        con.close()


def exact_counts(person, page, registry: pd.DataFrame) -> dict:
    """Exact unique people nationally, per region and per (region, sector)."""
    region_of = registry["region_code"].to_numpy(dtype=np.int64)[page]
    sector_codes, sector_index = np.unique(registry["sector"].to_numpy(), return_inverse=True)
    sector_of = sector_index.astype(np.int64)[page]
    out = {"national": int(distinct(person).size)}
    keys = distinct(person * 100 + region_of)
    regions, counts = distinct_counts(keys % 100)
    out["region"] = {str(int(r)): int(c) for r, c in zip(regions, counts, strict=True)}
    n_sectors = len(sector_codes)
    keys = distinct((person * 100 + region_of) * n_sectors + sector_of)
    pairs, counts = distinct_counts(keys % (100 * n_sectors))
    out["sector"] = {
        (str(int(k // n_sectors)), str(sector_codes[k % n_sectors])): int(c)
        for k, c in zip(pairs, counts, strict=True)
    }
    return out


def relative_errors(estimates: dict, exact: dict) -> list[float]:
    return [abs(estimates[k] - v) / v for k, v in exact.items() if v >= 1000]


def model_time(result) -> float:
    """The union model's own seconds (a run's nodes also hold the on-run-start hook)."""
    (seconds,) = [
        n.execution_time
        for n in result.nodes
        if n.unique_id == "model.gospulse.int_audience_unions"
    ]
    return seconds


def time_unions(warehouse: Path, pages: int, exact: dict, label: str) -> None:
    """Three timed `dbt run`s of int_audience_unions merging every scope (a full refresh: the
    model is incremental by date), one that finds nothing changed, then the errors."""
    walls, model_seconds = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        result = run_dbt(
            ["run", "--select", "int_audience_unions", "--full-refresh"], warehouse=warehouse
        )
        walls.append(time.perf_counter() - t0)
        model_seconds.append(model_time(result))
    t0 = time.perf_counter()
    unchanged = run_dbt(["run", "--select", "int_audience_unions"], warehouse=warehouse)
    unchanged_wall = time.perf_counter() - t0

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "select scope_type, scope_value, region_code, unique_estimate, union_hll_sketch "
            "from intermediate.int_audience_unions where network = 'vk'"
        ).fetchall()
    finally:
        con.close()
    regions = {v: est for t, v, _, est, _ in rows if t == "region"}
    sectors = {(str(r), v): est for t, v, r, est, _ in rows if t == "sector"}
    blobs = [bytes(b) for t, _, _, _, b in rows if t == "region"]
    t0 = time.perf_counter()
    national = national_unique(blobs)
    merge = time.perf_counter() - t0

    union_s = statistics.median(walls)
    print(f"--- page sketches {label}")
    print(
        f"int_audience_unions: {len(rows):,} scopes from {pages:,} page sketches in "
        f"{statistics.median(model_seconds):.1f} s (dbt run {union_s:.1f} s, runs "
        f"{', '.join(f'{w:.1f}' for w in walls)}); target < 60 s, ratio {union_s / 60:.2f}"
    )
    print(
        f"incremental run, no input changed: {model_time(unchanged):.1f} s in the "
        f"model (dbt run {unchanged_wall:.1f} s)"
    )
    err = (national.value - exact["national"]) / exact["national"]
    print(
        f"national unique from {len(blobs)} region sketches: {national.value:,.0f} vs exact "
        f"{exact['national']:,} ({err:+.2%}; target |error| <= 2%, exact inside the 95% bounds "
        f"{national.lower <= exact['national'] <= national.upper}); merge {merge:.3f} s"
    )
    for name, estimates, truth in (
        ("region", regions, exact["region"]),
        ("region x sector", sectors, exact["sector"]),
    ):
        errors = relative_errors(estimates, truth)
        print(
            f"{name} scopes ({len(errors)} with >= 1,000 people): |error| median "
            f"{statistics.median(errors):.2%}, max {max(errors):.2%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10x smaller")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--sketch",
        type=sketch_setting,
        nargs="+",
        default=[(HLL_LG_K, HLL_TYPE)],
        metavar="LG_K:TYPE",
        help=f"page HLL settings to time in turn (default {HLL_LG_K}:{HLL_TYPE.name})",
    )
    args = parser.parse_args()
    people, pages = (4_600_000, 20_000) if args.quick else (46_000_000, 200_000)

    t0 = time.perf_counter()
    person, page = follows(people, pages, args.seed)
    values = np.random.default_rng(args.seed + 1).integers(1, 2**63 - 1, size=people)
    members_count, thetas, hlls = page_sketches(person, page, pages, values, args.sketch)
    warehouse = Path(tempfile.mkdtemp(prefix="gospulse-bench-audience-")) / "w.duckdb"
    try:
        first_lg_k = args.sketch[0][0]
        registry = write_warehouse(
            warehouse, pages, members_count, thetas, hlls[0], first_lg_k, args.seed
        )
        exact = exact_counts(person, page, registry)
        print(
            f"{people:,} people, {person.size:,} subscriptions, {pages:,} page sketches "
            f"({len(args.sketch)} HLL settings); setup {time.perf_counter() - t0:.0f} s"
        )
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"{platform.python_implementation()} {platform.python_version()}"
        )
        del person, page, thetas

        t0 = time.perf_counter()
        build(warehouse)  # every model once, so the timed runs below find their parents built
        print(f"first full dbt build (not timed for the target): {time.perf_counter() - t0:.0f} s")
        for i, setting in enumerate(args.sketch):
            if i:
                replace_hll_sketches(warehouse, hlls[i], setting[0])
            hlls[i] = None  # free each setting's blobs once written
            time_unions(warehouse, pages, exact, setting_name(setting))
    finally:
        # 1.5 GB at the full size: a benchmark leaves nothing behind
        shutil.rmtree(warehouse.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
