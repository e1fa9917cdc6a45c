"""Federal pull + build time for 85 simulated regions (target: under 5 minutes).

Each region gets a warehouse with synthesized marts the size of the demo region (2,884 VK
pages) over --days days: mart_page_daily (pages x days), mart_page_growth (pages x (days +
weeks + months)), mart_growth_ranking (pages x months x 2 scopes), mart_region_growth and
mart_audience_region_sketches with a real HLL sketch of --members members per region (IDs
overlapping with the next region). Bundles are written with the real write_bundle into a
local root (not timed); then `pull` + `build_federal_marts` run on them (timed), the path
`gospulse federal pull` takes.

    .venv/bin/python bench/bench_federal_pull.py [--regions 85] [--pages 2884] [--days 90]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from gospulse.config.regions import REGIONS  # noqa: E402
from gospulse.federal.marts import build_federal_marts  # noqa: E402
from gospulse.federal.pull import pull  # noqa: E402
from gospulse.raw.sketches import MemberHasher, PageAudience  # noqa: E402
from gospulse.serving.bundle import write_bundle  # noqa: E402

TARGET_SECONDS = 300
LAST = date(2026, 3, 31)

TEMPLATE_SQL = """
create schema marts;
create table marts.mart_page_daily as
select 'vk' as network, p::varchar as page_ref, d::date as snapshot_date,
       (1000 + p * 7 + datediff('day', date '2025-01-01', d) * (p % 5))::bigint as members_count,
       d::date as value_date, false as is_carried, 'ok' as status, true as is_known
from range($pages) t(p), range($first, $last + interval 1 day, interval 1 day) s(d);

create table marts.mart_page_growth as
select 0 as region_code, network, page_ref, period_type, period_start, period_end,
       members_count - (p_slope) as members_start, members_count as members_end,
       p_slope as growth, p_slope / nullif(members_count - p_slope, 0) as growth_pct
from (
    select network, page_ref, 'day' as period_type, snapshot_date as period_start,
           snapshot_date as period_end, members_count, (page_ref::int % 5) as p_slope
    from marts.mart_page_daily
    union all
    select network, page_ref, 'week', date_trunc('week', snapshot_date),
           max(snapshot_date), max(members_count), 7 * (page_ref::int % 5)
    from marts.mart_page_daily group by all
    union all
    select network, page_ref, 'month', date_trunc('month', snapshot_date),
           max(snapshot_date), max(members_count), 30 * (page_ref::int % 5)
    from marts.mart_page_daily group by all
);

create table marts.mart_growth_ranking as
select period_type, period_start, period_end, true as is_complete, scope as scope_type,
       'x' as scope_value, network as ranking_network, network, region_code, page_ref,
       page_ref as registry_ref, 'title ' || page_ref as title, 'org' as organization,
       'city' as municipality, 'health' as sector, false as is_flagship, members_start,
       members_end, growth, growth_pct, true as is_ranked, null::varchar as exclusion_reason,
       rank() over (partition by period_start, scope order by growth desc) as rank_abs,
       true as is_pct_ranked, null::varchar as pct_exclusion_reason,
       rank() over (partition by period_start, scope order by growth_pct desc) as rank_pct
from marts.mart_page_growth, (values ('region'), ('sector')) v(scope)
where period_type = 'month';

create table marts.mart_region_growth as
select 0 as region_code, network, period_start as month_start,
       max(period_end) as month_end, true as is_complete,
       count(*) as pages_total, count(*) as pages_known, count(*) as pages_comparable,
       sum(members_end)::bigint as members_total,
       sum(members_start)::bigint as comparable_members_start,
       sum(growth)::bigint as growth, sum(growth) / sum(members_start) as growth_pct,
       null::bigint as prev_month_growth, null::bigint as growth_change
from marts.mart_page_growth where period_type = 'month' group by all;
"""


def make_region(template: Path, path: Path, code: int, index: int, members: int) -> None:
    """A region's warehouse: the template marts with its code, and a real union sketch."""
    audience = PageAudience(MemberHasher(b"bench-federal-secret"))
    audience.add(range(index * members // 2, index * members // 2 + members))
    con = duckdb.connect(str(path))
    try:
        con.execute(f"attach '{template}' as t (read_only)")
        con.execute("create schema marts")
        for (table,) in con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = 't' and table_schema = 'marts'"
        ).fetchall():
            cols = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_catalog = 't' "
                "and table_name = ?", [table]).fetchall()]  # fmt: skip
            replace = f" replace ({code} as region_code)" if "region_code" in cols else ""
            con.execute(f"create table marts.{table} as select *{replace} from t.marts.{table}")
        con.execute(
            "create table marts.mart_audience_region_sketches as select ?::date as "
            "audience_date, ?::integer as region_code, 'vk' as network, 2884::bigint as "
            "pages_unioned, ?::double as unique_estimate, ?::double as unique_lower, "
            "?::double as unique_upper, 14 as hll_lg_k, ?::blob as union_hll_sketch",
            [LAST, code, members, members, members, audience.hll_bytes()],
        )
    finally:
        con.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=85)
    parser.add_argument("--pages", type=int, default=2884)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--members", type=int, default=50_000)
    args = parser.parse_args()
    codes = sorted(REGIONS)[: args.regions]
    with tempfile.TemporaryDirectory(prefix="bench-federal-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        template = tmp / "template.duckdb"
        with duckdb.connect(str(template)) as con:
            con.execute(
                TEMPLATE_SQL.replace("$pages", str(args.pages))
                .replace("$first", f"date '{LAST - timedelta(days=args.days - 1)}'")
                .replace("$last", f"date '{LAST}'")
            )
        root = tmp / "bundles"
        sizes = 0
        for index, code in enumerate(codes):
            wh = tmp / f"r{code}.duckdb"
            make_region(template, wh, code, index, args.members)
            info = write_bundle(wh, root, region_code=code, snapshot_date=LAST, run_id="bench")
            sizes += sum(f["bytes"] for f in info.manifest["files"])
            wh.unlink()
        rows = sum(f["rows"] for f in info.manifest["files"] if f["kind"] == "mart")
        print(f"generated {len(codes)} bundles in {time.perf_counter() - t0:.1f} s: "
              f"{rows:,} mart rows and {sizes / len(codes) / 1e6:.1f} MB per region, "
              f"{sizes / 1e6:.0f} MB in all")  # fmt: skip

        federal = tmp / "federal" / "federal.duckdb"
        t1 = time.perf_counter()
        results = pull([str(root)], federal)
        t2 = time.perf_counter()
        build = build_federal_marts(federal)
        t3 = time.perf_counter()
        loaded = sum(r.status == "loaded" for r in results)
        with duckdb.connect(str(federal), read_only=True) as con:
            (est, lo, hi) = con.execute(
                "select unique_estimate, unique_lower, unique_upper "
                "from marts.mart_national_audience where scope_type = 'national'"
            ).fetchone()
        exact = (len(codes) - 1) * args.members // 2 + args.members
        total = t3 - t1
        print(f"pull + verify + load: {t2 - t1:.1f} s ({loaded}/{len(codes)} regions loaded)")
        print(f"federal marts:        {t3 - t2:.1f} s ({build.describe()})")
        print(f"national unique: {est:,.0f} [{lo:,.0f}, {hi:,.0f}], exact {exact:,}")
        verdict = "OK" if total < TARGET_SECONDS and loaded == len(codes) else "MISSED"
        print(f"total {total:.1f} s vs target {TARGET_SECONDS} s: {verdict}")
        return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    raise SystemExit(main())
