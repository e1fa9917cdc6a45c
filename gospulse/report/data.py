"""Everything the analyst's report says, read from the published copy of the marts.

One connection, parameterised queries, no dbt. Pages are those registered in the region (and
sector or municipality, when asked) on a period's last day, through mart_registry_versions'
validity intervals. Growth follows gospulse.config.periods: members_on(last day) minus
members_on(the day before the first), summed over the pages known on both days, the rule
mart_region_growth applies to months; totals are subscriptions (a person following three
pages counts three times), never people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from gospulse.config.periods import Period
from gospulse.config.regions import get_region
from gospulse.serving.layout import published_path
from gospulse.serving.publish import is_simulated, open_published
from gospulse.serving.ranking import REGISTERED_ON, top_pages

BROKEN = ("deleted", "banned", "closed", "not_found", "error")
MULTI_NETWORK = "◆"

# the pages asked about, registered on $as_of; every filter a bound parameter
_PAGES = f"""
select network, page_ref, registry_ref, is_resolved, title, organization, municipality,
       sector, is_flagship
from ({REGISTERED_ON})
where region_code = $region_code
  and ($sector is null or sector = $sector)
  and ($municipality is null or municipality = $municipality)
"""

# every split of the period's totals in one pass over the pages: the region, and per
# network, sector and municipality
_GROWTH_BY = f"""
with pages as ({_PAGES}),
counted as (
    select pages.*, base.members_count as members_base, last.members_count as members_last
    from pages
    left join marts.mart_page_daily as base
      on base.network = pages.network and base.page_ref = pages.page_ref
     and base.snapshot_date = $base_day
    left join marts.mart_page_daily as last
      on last.network = pages.network and last.page_ref = pages.page_ref
     and last.snapshot_date = $as_of
)
select case when grouping(network) = 0 then 'network'
            when grouping(sector) = 0 then 'sector'
            when grouping(municipality) = 0 then 'municipality'
            else 'all' end as split,
       case when grouping(network) = 0 then network
            when grouping(sector) = 0 then sector
            when grouping(municipality) = 0 then municipality
            else 'all' end as key,
       count(*) as pages,
       sum(members_last) as members_last,
       sum(members_last - members_base) as growth,
       count(members_last - members_base) as pages_compared
from counted
group by grouping sets ((), (network), (sector), (municipality))
order by split, key nulls last
"""

# the ways the totals are split, in the order the report shows them
SPLITS = ("all", "network", "sector", "municipality")


@dataclass(frozen=True)
class Total:
    """Subscriptions of a group on a period's last day, and their growth over the period."""

    key: str
    pages: int
    members_last: int | None
    growth: int | None
    pages_compared: int


@dataclass(frozen=True)
class Compared:
    """One group's growth in the period and in the previous one."""

    key: str
    current: Total
    previous: Total | None

    @property
    def difference(self) -> int | None:
        if self.previous is None or self.previous.growth is None or self.current.growth is None:
            return None
        return self.current.growth - self.previous.growth


@dataclass
class ReportData:
    region_code: int
    region_name: str
    period: Period
    previous: Period
    sector: str | None
    municipality: str | None
    published_day: date
    simulated: bool
    totals: dict[str, list[Compared]] = field(default_factory=dict)
    daily_current: list[tuple[date, int | None]] = field(default_factory=list)
    daily_previous: list[tuple[date, int | None]] = field(default_factory=list)
    top_flagships: list[dict[str, Any]] = field(default_factory=list)
    top_all: list[dict[str, Any]] = field(default_factory=list)
    flagships_at_risk: list[dict[str, Any]] = field(default_factory=list)
    flagships_total: int = 0
    incidents: list[dict[str, Any]] = field(default_factory=list)
    audience: dict[str, Any] | None = None
    # the region's row first, then its territories by reach (mart_reach, VK)
    reach: list[dict[str, Any]] = field(default_factory=list)
    multi_network_organizations: set[str] = field(default_factory=set)

    @property
    def region_total(self) -> Compared:
        return self.totals["all"][0]

    def organization_label(self, organization: str | None) -> str:
        """The organization, marked when it runs pages on several networks (one organization,
        not several, in a TOP)."""
        if not organization:
            return ""
        marked = organization in self.multi_network_organizations
        return f"{organization} {MULTI_NETWORK}" if marked else organization


def _rows(con: Any, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def read_report(
    warehouse: Path,
    region_code: int,
    period: Period,
    *,
    sector: str | None = None,
    municipality: str | None = None,
    flagship_min_members: int = 500,
    simulated: bool = False,
) -> ReportData:
    """The report's figures for a region and period from the warehouse's published copy."""
    published = published_path(warehouse)
    if not published.exists():
        raise FileNotFoundError(
            f"no published marts at {published}: run `gospulse build` (or the daily DAG) first"
        )
    # the TOPs also check the filters against the registry (UnknownChoice) before anything
    tops = {
        flagship_only: top_pages(
            period.base_day,
            period.last,
            n=10,
            region_code=region_code,
            sector=sector,
            municipality=municipality,
            network="all",
            flagship_only=flagship_only,
            warehouse=warehouse,
            with_quality=True,
        )
        for flagship_only in (True, False)
    }
    from gospulse.registry.pages import normalize_sector

    sector = normalize_sector(sector) if sector is not None else None
    con = open_published(published)
    try:
        row = con.execute("select max(snapshot_date) from meta.publication").fetchone()
        assert row is not None
        (published_day,) = row
        # data from the networks' emulators says so on every report, whoever asks for it
        simulated = simulated or is_simulated(con)
        data = ReportData(
            region_code=region_code,
            region_name=get_region(region_code).name,
            period=period,
            previous=period.previous(),
            sector=sector,
            municipality=municipality,
            published_day=published_day,
            simulated=simulated,
        )
        scope = {"region_code": region_code, "sector": sector, "municipality": municipality}
        pages = _rows(con, _PAGES, {**scope, "as_of": period.last})
        details = {(p["network"], p["registry_ref"]): p for p in pages}
        current, before = _totals(con, period, scope), _totals(con, data.previous, scope)
        for split in SPLITS:
            previous = {t.key: t for t in before.get(split, [])}
            data.totals[split] = [
                Compared(t.key, t, previous.get(t.key)) for t in current.get(split, [])
            ]
        data.daily_current = _daily(con, period, scope)
        data.daily_previous = _daily(con, data.previous, scope)
        data.top_flagships = [_with_details(r, details) for r in tops[True].rows]
        data.top_all = [_with_details(r, details) for r in tops[False].rows]
        flagships = [p for p in pages if p["is_flagship"]]
        data.flagships_total = len(flagships)
        data.flagships_at_risk = _flagships_at_risk(con, period.last, scope, flagship_min_members)
        data.incidents = _rows(
            con,
            "select first_seen, last_seen, severity, rule, scope_type, network, title, detail, "
            "status from marts.mart_dq_incidents "
            "where region_code = $region_code and first_seen between $first and $last "
            "order by case severity when 'critical' then 0 when 'warning' then 1 else 2 end, "
            "first_seen, title",
            {"region_code": region_code, "first": period.first, "last": period.last},
        )
        data.audience = _audience(con, region_code, period.last)
        data.reach = _reach(con, region_code, period.last)
        organizations: dict[str, set[str]] = {}
        for p in pages:
            if p["organization"]:
                organizations.setdefault(p["organization"], set()).add(p["network"])
        data.multi_network_organizations = {o for o, n in organizations.items() if len(n) > 1}
    finally:
        con.close()
    return data


def _with_details(row: dict[str, Any], details: dict) -> dict[str, Any]:
    page = details.get((row["network"], row["page_ref"]), {})
    return {
        **row,
        "organization": page.get("organization"),
        "sector": page.get("sector"),
        "municipality": page.get("municipality"),
    }


def _totals(con: Any, period: Period, scope: dict[str, Any]) -> dict[str, list[Total]]:
    """The period's totals, split by SPLITS: split -> one Total per group."""
    rows = _rows(con, _GROWTH_BY, {**scope, "as_of": period.last, "base_day": period.base_day})
    totals: dict[str, list[Total]] = {}
    for r in rows:
        totals.setdefault(r["split"], []).append(
            Total(
                key=str(r["key"]) if r["key"] is not None else "—",
                pages=r["pages"],
                members_last=r["members_last"],
                growth=r["growth"],
                pages_compared=r["pages_compared"],
            )
        )
    return totals


def _daily(con: Any, period: Period, scope: dict[str, Any]) -> list[tuple[date, int | None]]:
    """Total subscriptions per day of the period, over the pages registered on its last day
    (one page set for the whole line, so a registry change never shows as a jump)."""
    sums = dict(
        con.execute(
            f"""
            with pages as ({_PAGES})
            select daily.snapshot_date, sum(daily.members_count)
            from pages
            join marts.mart_page_daily as daily
              on daily.network = pages.network and daily.page_ref = pages.page_ref
            where daily.snapshot_date between $first and $as_of
            group by 1
            """,
            {**scope, "as_of": period.last, "first": period.first},
        ).fetchall()
    )
    return [(day, sums.get(day)) for day in period.each_day()]


def _flagships_at_risk(
    con: Any, as_of: date, scope: dict[str, Any], minimum: int
) -> list[dict[str, Any]]:
    """Flagships registered on `as_of` that break the rules that day, with the first reason
    that applies (as mart_flagship_compliance says them for its latest day)."""
    return _rows(
        con,
        f"""
        with pages as ({_PAGES})
        select pages.title, pages.network, pages.registry_ref, pages.organization,
               pages.municipality, day.members_count, day.status,
               case
                   when not pages.is_resolved then 'unresolved'
                   when list_contains($broken, day.status) then 'broken'
                   when day.members_count is null then 'unknown'
                   when day.members_count <= $minimum then 'under_min_members'
               end as reason
        from pages
        left join marts.mart_page_daily as day
          on day.network = pages.network and day.page_ref = pages.page_ref
         and day.snapshot_date = $as_of
        where pages.is_flagship and (
            not pages.is_resolved or list_contains($broken, day.status)
            or day.members_count is null or day.members_count <= $minimum)
        order by day.members_count nulls first, pages.title
        """,
        {**scope, "as_of": as_of, "broken": list(BROKEN), "minimum": minimum},
    )


def _audience(con: Any, region_code: int, as_of: date) -> dict[str, Any] | None:
    """The region's unique VK audience on the latest audience date up to `as_of`, if any."""
    rows = _rows(
        con,
        "select audience_date, unique_estimate, unique_lower, unique_upper, subscriptions, "
        "coverage from marts.mart_audience "
        "where scope_type = 'region' and scope_value = $region and network = 'vk' "
        "and audience_date <= $as_of and unique_estimate is not null "
        "order by audience_date desc limit 1",
        {"region": str(region_code), "as_of": as_of},
    )
    return rows[0] if rows else None


def _reach(con: Any, region_code: int, as_of: date) -> list[dict[str, Any]]:
    """The VK reach of the region and its territories on the latest audience date up to
    `as_of` that has the region's; none when no population was imported (or the copy predates
    mart_reach)."""
    (held,) = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'marts' and table_name = 'mart_reach'"
    ).fetchone()
    if not held:
        return []
    return _rows(
        con,
        "with latest as ("
        "    select max(audience_date) as audience_date from marts.mart_reach"
        "    where region_code = $region_code and network = 'vk' and territory_level = 'region'"
        "    and audience_date <= $as_of and reach is not null"
        ") "
        "select reach.audience_date, reach.territory_level, reach.oktmo, reach.territory_name, "
        "reach.population, reach.population_year, reach.pages_total, reach.coverage, "
        "reach.unique_estimate, reach.reach, reach.reach_lower, reach.reach_upper, "
        "reach.subscriptions_per_resident "
        "from marts.mart_reach as reach "
        "join latest on latest.audience_date = reach.audience_date "
        "where reach.region_code = $region_code and reach.network = 'vk' "
        "order by reach.territory_level <> 'region', reach.reach desc nulls last, "
        "reach.territory_name, reach.oktmo",
        {"region_code": region_code, "as_of": as_of},
    )
