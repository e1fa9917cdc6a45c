"""TOP-N pages by growth over any date range, read from the published copy of the marts.

One parameterised query over marts.mart_page_daily (members_on of every registered page and
day) and marts.mart_registry_versions (the registry through its validity intervals): no dbt
process runs, and the published copy is what BI, the API and the report read too. The ranking
rules (exclusion reasons, the minimums in dbt_project.yml's vars) are serving.read_views', shared
with the published view mart_growth_ranking; tests/test_ranking.py checks that a calendar month
gives that view's ranks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

from gospulse.raw.warehouse import warehouse_path
from gospulse.serving.layout import published_path
from gospulse.serving.publish import open_published
from gospulse.serving.read_views import ABS_EXCLUSION, PCT_EXCLUSION

RANK_KEYS = (
    "rank",
    "network",
    "page_ref",
    "title",
    "members_start",
    "members_end",
    "growth",
    "growth_pct",
)
EXCLUDED_KEYS = ("network", "page_ref", "title", "members_start", "members_end", "reason")

# The registry as registered on $as_of, through mart_registry_versions' validity intervals; a
# page listed twice (by id and by screen name) counts once, as its id entry. Every read-time
# query of the published copy takes its pages from here (the TOP, the report, the monthly run).
REGISTERED_ON = """
select *
from marts.mart_registry_versions as version
where version.valid_from <= $as_of and (version.valid_to is null or $as_of < version.valid_to)
qualify row_number() over (
    partition by version.network, version.page_key order by version.ref_kind, version.ref_value
) = 1
"""

# Every value is a bound parameter: filters, dates and minimums never become SQL text.
# $network: NULL (every network, ranked per network), 'all' (ranked together) or one network.
RANKING_SQL = f"""
with registered as ({REGISTERED_ON}),

selected as (
    select *
    from registered
    where ($region_code is null or region_code = $region_code)
      and ($sector is null or sector = $sector)
      and ($municipality is null or municipality = $municipality)
      and ($network is null or $network = 'all' or network = $network)
      and (not $flagship_only or is_flagship)
),

candidates as (
    select
        selected.network,
        selected.registry_ref,
        selected.page_ref,
        selected.is_resolved,
        selected.title,
        start_day.members_count as members_start,
        end_day.members_count as members_end,
        end_day.members_count - start_day.members_count as growth,
        case
            when start_day.members_count <> 0
                then cast(100.0 * (end_day.members_count - start_day.members_count) as double)
                    / start_day.members_count
        end as growth_pct
    from selected
    left join marts.mart_page_daily as start_day
        on start_day.network = selected.network
        and start_day.page_ref = selected.page_ref
        and start_day.snapshot_date = $start_date
    left join marts.mart_page_daily as end_day
        on end_day.network = selected.network
        and end_day.page_ref = selected.page_ref
        and end_day.snapshot_date = $end_date
),

flagged as (
    select
        candidates.*,
        {ABS_EXCLUSION.format(min_abs="$min_members_for_abs")} as abs_reason
    from candidates
),

judged as (
    select
        flagged.*,
        {PCT_EXCLUSION.format(abs_reason="abs_reason", min_pct="$min_members_for_pct")}
            as pct_reason
    from flagged
),

ranked as (
    select
        judged.*,
        case when $by = 'abs' then abs_reason else pct_reason end as exclusion_reason,
        case
            when (case when $by = 'abs' then abs_reason else pct_reason end) is null
                then row_number() over (
                    partition by
                        case when $network = 'all' then '' else network end,
                        (case when $by = 'abs' then abs_reason else pct_reason end) is null
                    order by
                        case when $by = 'abs' then growth else growth_pct end desc nulls last,
                        case when $by = 'abs' then growth_pct else growth end desc nulls last,
                        page_ref asc
                )
        end as rank
    from judged
)

select rank, network, page_ref, registry_ref, title, members_start, members_end, growth, growth_pct,
       exclusion_reason
from ranked
where rank <= $n or exclusion_reason is not null
order by rank is null, case when $network = 'all' then '' else network end, rank,
    network, registry_ref
"""


# The growth-quality months (mart_growth_quality) a period touches, of the ranked VK pages;
# the worst mark wins: suspect_growth, then nonresident_growth, then ok
QUALITY_SQL = """
select page_ref, period_start, quality_mark, new_members, new_deactivated,
       deactivated_share_of_new, nonresidents_growth, nonresident_share_of_growth
from marts.mart_growth_quality
where network = 'vk' and page_ref in (select unnest($refs::varchar[]))
  and period_start between $first_month and $last_month
qualify row_number() over (
    partition by page_ref
    order by case quality_mark when 'suspect_growth' then 0
                               when 'nonresident_growth' then 1 else 2 end,
             period_start desc
) = 1
"""


@dataclass(frozen=True)
class TopResult:
    """Ranked pages (best first, per network) and the pages left out, with the reason."""

    start: date
    end: date
    by: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)


def top_pages(
    start: date,
    end: date,
    *,
    n: int = 10,
    region_code: int | None = None,
    sector: str | None = None,
    municipality: str | None = None,
    network: str | None = None,
    flagship_only: bool = False,
    by: Literal["abs", "pct"] = "abs",
    warehouse: Path | None = None,
    with_quality: bool = False,
) -> TopResult:
    """TOP-n pages by growth = members_on(end) - members_on(start), ranked per network.

    network='all' ranks pages of every network together; another value keeps one network.
    Registry attributes are those registered on `end`. Reads the published copy of the
    warehouse's marts (written by every build).

    page_ref in the rows is the reference as written in the registry. Pages whose start or end
    is unknown (or, for by='pct', whose start is under min_members_for_pct) are in `excluded`.
    with_quality adds each row's `quality`: the worst growth-quality month the period touches
    (mart_growth_quality, VK pages whose member lists are read with fields), or None.
    """
    _validate(start, end, n, by, region_code)
    warehouse = Path(warehouse) if warehouse is not None else warehouse_path()
    published = published_path(warehouse)
    if not published.exists():
        raise FileNotFoundError(
            f"no published marts at {published}: run `gospulse build` (or the daily DAG) first"
        )
    con = open_published(published)
    try:
        newest = con.execute("select max(snapshot_date) from meta.publication").fetchone()
        assert newest is not None
        (last_day,) = newest
        if last_day is not None and end > last_day:
            raise ValueError(
                f"end ({end}) is after the last day of the published marts ({last_day}): "
                "nobody's count is known yet"
            )
        sector, municipality = _known_filters(con, region_code, sector, municipality)
        settings = ranking_settings()
        cursor = con.execute(
            RANKING_SQL,
            {
                "start_date": start,
                "end_date": end,
                "as_of": end,
                "region_code": region_code,
                "sector": sector,
                "municipality": municipality,
                "network": network,
                "flagship_only": flagship_only,
                "by": by,
                "n": n,
                "min_members_for_abs": settings["min_members_for_abs"],
                "min_members_for_pct": settings["min_members_for_pct"],
            },
        )
        found = _as_dicts(cursor.description, cursor.fetchall())
        if with_quality:
            quality = _growth_quality(con, start, end, found)
            for row in found:
                row["quality"] = quality.get(row["page_ref"]) if row["network"] == "vk" else None
    finally:
        con.close()
    return TopResult(
        start=start,
        end=end,
        by=by,
        rows=[
            {
                **{k: r[k] for k in RANK_KEYS},
                "page_ref": r["registry_ref"],
                **({"quality": r["quality"]} if with_quality else {}),
            }
            for r in found
            if r["rank"] is not None
        ],
        excluded=[
            {
                **{k: r[k] for k in EXCLUDED_KEYS if k in r},
                "page_ref": r["registry_ref"],
                "reason": r["exclusion_reason"],
            }
            for r in sorted(
                (r for r in found if r["rank"] is None),
                key=lambda r: (r["network"], r["registry_ref"]),
            )
        ],
    )


def _growth_quality(
    con: Any, start: date, end: date, rows: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The worst growth-quality month of each ranked VK page within start+1..end, by page_ref;
    empty when the copy has no mart_growth_quality (published before it existed)."""
    (held,) = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'marts' and table_name = 'mart_growth_quality'"
    ).fetchone()
    refs = [r["page_ref"] for r in rows if r["rank"] is not None and r["network"] == "vk"]
    if not held or not refs:
        return {}
    first = start + timedelta(days=1)
    cursor = con.execute(
        QUALITY_SQL,
        {
            "refs": refs,
            "first_month": first.replace(day=1),
            "last_month": end.replace(day=1),
        },
    )
    return {r["page_ref"]: r for r in _as_dicts(cursor.description, cursor.fetchall())}


@cache
def ranking_settings() -> dict[str, int]:
    """The ranking and flagship minimums from dbt_project.yml's vars, the ones the marts use."""
    import yaml

    from gospulse.config.dbt_project import project_dir

    project = yaml.safe_load((project_dir() / "dbt_project.yml").read_text(encoding="utf-8"))
    names = ("min_members_for_abs", "min_members_for_pct", "flagship_min_members")
    return {k: int(project["vars"][k]) for k in names}


def _known_filters(
    con: Any, region_code: int | None, sector: str | None, municipality: str | None
) -> tuple[str | None, str | None]:
    """The filters checked against the registry of the published copy (UnknownChoice when one
    names nothing there); the sector in its canonical form (`social_protection`, `спорт`)."""
    from gospulse.config.choices import known_choice
    from gospulse.registry.pages import normalize_sector

    if region_code is None and sector is None and municipality is None:
        return sector, municipality
    rows = con.execute(
        "select distinct region_code, sector, municipality from marts.mart_registry_versions"
    ).fetchall()
    if region_code is not None:
        known_choice("region", str(region_code), (str(r) for r, _, _ in rows))
        rows = [row for row in rows if row[0] == region_code]
    if sector is not None:
        sector = known_choice("sector", normalize_sector(sector), (s for _, s, _ in rows))
    if municipality is not None:
        municipality = known_choice(
            "municipality", municipality, (m for *_, m in rows if m is not None)
        )
    return sector, municipality


def _validate(start: date, end: date, n: int, by: str, region_code: int | None) -> None:
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, date) or isinstance(value, datetime):
            raise TypeError(f"{name} must be a datetime.date, got {value!r}")
    if start >= end:
        raise ValueError(f"start ({start}) must be before end ({end})")
    if by not in ("abs", "pct"):
        raise ValueError(f"by must be 'abs' or 'pct', got {by!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if region_code is not None and (
        isinstance(region_code, bool) or not isinstance(region_code, int)
    ):
        raise ValueError(f"region_code must be an int, got {region_code!r}")


def _as_dicts(description: Any, rows: list[tuple]) -> list[dict[str, Any]]:
    names = [d[0] for d in description]
    return [dict(zip(names, row, strict=True)) for row in rows]
