"""Federal marts over the loaded bundles: national and district growth, region rankings by
growth and by reach, national and district unique audience.

Plain DuckDB SQL over the `bundles` tables, rebuilt whole in one transaction after each pull
(85 regions' monthly rows are small), so a reader of the federal file sees either the old or
the new set. The audience merge needs HLL unions, which SQL cannot do, so it runs in Python
with gospulse.audience.federal.national_unique and writes its result table in the same
transaction. The federal marts live in DuckDB only; a dbt project for them was not needed
for this size and is noted as a follow-up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb

from gospulse.audience.federal import RegionSketch, national_unique
from gospulse.config.regions import FEDERAL_DISTRICTS, REGIONS
from gospulse.federal.pull import PULLS_DDL

FEDERAL_MARTS = (
    "mart_national_growth",
    "mart_district_growth",
    "mart_region_ranking",
    "mart_region_reach_ranking",
    "mart_national_audience",
)

# Each region's own reach (its mart_reach row of level region), ranked among the regions that
# reported the same audience date: by the unique people's share of the residents, and by
# subscriptions per resident (the measure that exists for every network).
_REACH_RANKING = """
    create or replace table marts.mart_region_reach_ranking as
    select
        reach.audience_date, reach.network,
        reach.bundle_region_code as region_code, region.region_name, region.federal_district,
        reach.population, reach.population_year, reach.coverage, reach.subscriptions,
        reach.subscriptions_per_resident, reach.unique_estimate, reach.unique_lower,
        reach.unique_upper, reach.reach, reach.reach_lower, reach.reach_upper,
        case when reach.reach is not null then
            rank() over (partition by reach.audience_date, reach.network, reach.reach is null
                         order by reach.reach desc) end as rank_reach,
        case when reach.subscriptions_per_resident is not null then
            rank() over (partition by reach.audience_date, reach.network,
                         reach.subscriptions_per_resident is null
                         order by reach.subscriptions_per_resident desc) end
            as rank_subscriptions
    from bundles.mart_reach as reach
    join marts.dim_region as region on region.region_code = reach.bundle_region_code
    where reach.territory_level = 'region'
"""

# Sums over regions' mart_region_growth rows; growth_pct is recomputed from the summed
# comparable base, never averaged over regions (a small region would weigh as much as Moscow).
_GROWTH_SELECT = """
    select {keys}
        g.network, g.month_start, g.month_end,
        bool_and(g.is_complete) as is_complete,
        count(distinct g.bundle_region_code) as regions,
        sum(g.pages_total)::bigint as pages_total,
        sum(g.pages_comparable)::bigint as pages_comparable,
        sum(g.members_total)::bigint as members_total,
        sum(g.comparable_members_start)::bigint as comparable_members_start,
        sum(g.growth)::bigint as growth,
        case when sum(g.comparable_members_start) > 0
             then sum(g.growth)::double / sum(g.comparable_members_start) end as growth_pct
    from bundles.mart_region_growth g
    join marts.dim_region r on r.region_code = g.bundle_region_code
    group by {keys} g.network, g.month_start, g.month_end
"""


@dataclass(frozen=True)
class FederalBuild:
    """Row counts of the rebuilt federal marts."""

    rows: dict[str, int]

    def describe(self) -> str:
        return "federal marts: " + ", ".join(f"{k} {v}" for k, v in self.rows.items())


def build_federal_marts(federal_warehouse: Path | str) -> FederalBuild:
    """Rebuild every federal mart from the loaded bundles."""
    con = duckdb.connect(str(federal_warehouse))
    try:
        con.execute(PULLS_DDL)
        has_growth = _has_table(con, "mart_region_growth")
        con.execute("begin transaction")
        try:
            con.execute("create or replace table marts.dim_region (region_code integer "
                        "primary key, region_name varchar, federal_district varchar, "
                        "federal_district_name varchar)")  # fmt: skip
            con.executemany(
                "insert into marts.dim_region values (?,?,?,?)",
                [(r.code, r.name, r.federal_district, FEDERAL_DISTRICTS[r.federal_district])
                 for r in REGIONS.values()],
            )  # fmt: skip
            if has_growth:
                con.execute(
                    "create or replace table marts.mart_national_growth as "
                    + _GROWTH_SELECT.format(keys="")
                )
                con.execute(
                    "create or replace table marts.mart_district_growth as "
                    + _GROWTH_SELECT.format(keys="r.federal_district,")
                )
                con.execute(
                    """
                    create or replace table marts.mart_region_ranking as
                    select
                        g.network, g.month_start, g.month_end, g.is_complete,
                        g.bundle_region_code as region_code, r.region_name,
                        r.federal_district, g.pages_total, g.members_total,
                        g.comparable_members_start, g.growth, g.growth_pct,
                        rank() over (partition by g.network, g.month_start
                                     order by g.growth desc nulls last) as rank_abs,
                        case when g.growth_pct is not null then
                            rank() over (partition by g.network, g.month_start,
                                         g.growth_pct is null
                                         order by g.growth_pct desc) end as rank_pct
                    from bundles.mart_region_growth g
                    join marts.dim_region r on r.region_code = g.bundle_region_code
                    """
                )
            if _has_table(con, "mart_reach"):
                con.execute(_REACH_RANKING)
            _build_audience(con)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        rows = {
            m: _row_count(con, f"marts.{m}")
            for m in FEDERAL_MARTS
            if _has_table(con, m, schema="marts")
        }
    finally:
        con.close()
    return FederalBuild(rows)


def _row_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"select count(*) from {table}").fetchone()
    assert row is not None
    return row[0]


def _has_table(con: duckdb.DuckDBPyConnection, name: str, *, schema: str = "bundles") -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    assert row is not None
    return bool(row[0])


def _build_audience(con: duckdb.DuckDBPyConnection) -> None:
    """National and per-district unique audience per network and audience date.

    Each region contributes the sketch of its latest audience date; regions are merged per
    date, so a region whose run lagged adds to its own date rather than being dropped.
    """
    rows = con.execute(
        "select s.bundle_region_code, s.network, s.audience_date, s.hll_lg_k, s.sketch, "
        "r.federal_district from bundles.region_sketches s "
        "join marts.dim_region r on r.region_code = s.bundle_region_code"
    ).fetchall()
    groups: dict[tuple[str, str, str, object], list[RegionSketch]] = defaultdict(list)
    for code, network, day, lg_k, blob, district in rows:
        sketch = RegionSketch(code, network, day, lg_k, bytes(blob))
        groups[("national", "RU", network, day)].append(sketch)
        groups[("district", district, network, day)].append(sketch)
    out = []
    for (scope_type, scope, network, day), sketches in sorted(groups.items(), key=repr):
        est = national_unique(sketches)
        out.append(
            (scope_type, scope, network, day, len(sketches),
             sum(s.estimate().value for s in sketches),
             est.value, est.lower, est.upper)
        )  # fmt: skip
    con.execute(
        """
        create or replace table marts.mart_national_audience (
            scope_type varchar not null,     -- national | district
            scope_value varchar not null,    -- RU, or the federal district code
            network varchar not null,
            audience_date date not null,
            regions integer not null,
            sum_of_regions double not null,  -- what adding regions up would claim
            unique_estimate double not null,
            unique_lower double not null,
            unique_upper double not null
        )
        """
    )
    if out:
        con.executemany("insert into marts.mart_national_audience values (?,?,?,?,?,?,?,?,?)", out)
