"""Marts computed when they are read: views the publisher creates beside the copied tables.

`mart_growth_ranking` ranks every week and month of mart_page_growth within each scope. Stored,
it grew with every period of history and was re-ranked on every build; as a view, a reader's
filter on the period and region is pushed below the ranking's windows, so only the periods asked
for are ranked. The same SQL text is created in the published DuckDB copy and on Postgres, so it
keeps to what both engines read alike.

The exclusion reasons and minimums are the ones `gospulse top` applies to any range of days
(gospulse.ranking), which takes them from here; both order ties alike (absolute ranks by
growth, growth_pct, page_ref; % ranks by growth_pct, growth, page_ref).
"""

from __future__ import annotations

from dataclasses import dataclass

# Why a page gets no absolute rank; `{min_abs}` is a literal (a view) or a bound parameter.
ABS_EXCLUSION = """case
            when not is_resolved then 'unresolved'
            when members_start is null and members_end is null then 'unknown_start_and_end'
            when members_start is null then 'unknown_start'
            when members_end is null then 'unknown_end'
            when members_start < {min_abs} then 'below_min_members'
        end"""

# Why a page gets no % rank, given its absolute reason in column `{abs_reason}`.
PCT_EXCLUSION = """coalesce(
            {abs_reason},
            case
                when members_start < {min_pct} then 'below_min_members_for_pct'
                when growth_pct is null then 'zero_start'
            end
        )"""

# the partition of one ranking: a period, a scope within a region, a network or 'all';
# period_end depends on the period, and is listed so a filter on it passes below the window too
RANK_PARTITION = (
    "period_type, period_start, period_end, ranking_network, region_code, scope_type, scope_value"
)

GROWTH_RANKING = """
with periods as (
    select distinct period_type, period_start, period_end, is_complete
    from {schema}.mart_page_growth
    where period_type in ('week', 'month')
),

-- the registry as registered on each period's last day; a page listed twice (by id and by
-- screen name) counts once, as its id entry
registered as (
    select *
    from (
        select
            periods.period_type,
            periods.period_start,
            periods.period_end,
            periods.is_complete,
            registry_version.network,
            registry_version.region_code,
            registry_version.page_ref,
            registry_version.is_resolved,
            registry_version.registry_ref,
            registry_version.title,
            registry_version.organization,
            registry_version.municipality,
            registry_version.sector,
            registry_version.is_flagship,
            row_number() over (
                partition by periods.period_type, periods.period_start,
                    registry_version.network, registry_version.page_key
                order by registry_version.ref_kind, registry_version.ref_value
            ) as duplicate_rank
        from periods
        inner join {schema}.mart_registry_versions as registry_version
            on registry_version.valid_from <= periods.period_end
            and (registry_version.valid_to is null
                or periods.period_end < registry_version.valid_to)
    ) as versions
    where duplicate_rank = 1
),

period_pages as (
    select
        registered.period_type,
        registered.period_start,
        registered.period_end,
        registered.is_complete,
        registered.network,
        registered.region_code,
        registered.page_ref,
        registered.is_resolved,
        registered.registry_ref,
        registered.title,
        registered.organization,
        registered.municipality,
        registered.sector,
        registered.is_flagship,
        growth.members_start,
        growth.members_end,
        growth.growth,
        growth.growth_pct
    from registered
    left join {schema}.mart_page_growth as growth
        on growth.network = registered.network
        and growth.page_ref = registered.page_ref
        and growth.period_type = registered.period_type
        and growth.period_start = registered.period_start
),

-- one row per scope a page is in; one reference to each step above, so that no engine
-- materialises a step whole and a reader's filter reaches mart_page_growth
scoped as (
    select
        scopes.scope_type,
        case scopes.scope_type
            when 'municipality' then period_pages.municipality
            when 'sector' then period_pages.sector
            else cast(period_pages.region_code as text)
        end as scope_value,
        period_pages.*
    from period_pages
    cross join (
        values ('region'), ('municipality'), ('sector'), ('flagship')
    ) as scopes (scope_type)
    where scopes.scope_type in ('region', 'sector')
        or (scopes.scope_type = 'municipality' and period_pages.municipality is not null)
        or (scopes.scope_type = 'flagship' and period_pages.is_flagship)
),

-- every row twice: ranked within its own network, and across all networks of its region
networked as (
    select
        scoped.*,
        case when across.all_networks then 'all' else scoped.network end as ranking_network
    from scoped
    cross join (values (false), (true)) as across (all_networks)
),

flagged as (
    select networked.*, {abs_exclusion} as exclusion_reason
    from networked
),

judged as (
    select flagged.*, {pct_exclusion} as pct_exclusion_reason
    from flagged
)

select
    period_type,
    period_start,
    period_end,
    is_complete,
    scope_type,
    scope_value,
    ranking_network,
    network,
    region_code,
    page_ref,
    registry_ref,
    title,
    organization,
    municipality,
    sector,
    is_flagship,
    members_start,
    members_end,
    growth,
    growth_pct,
    exclusion_reason is null as is_ranked,
    exclusion_reason,
    case
        when exclusion_reason is null then row_number() over (
            partition by {partition}, exclusion_reason is null
            order by growth desc, growth_pct desc nulls last, page_ref asc
        )
    end as rank_abs,
    pct_exclusion_reason is null as is_pct_ranked,
    pct_exclusion_reason,
    case
        when pct_exclusion_reason is null then row_number() over (
            partition by {partition}, pct_exclusion_reason is null
            order by growth_pct desc nulls last, growth desc, page_ref asc
        )
    end as rank_pct
from judged
"""

GROWTH_RANKING_COMMENT = (
    "Growth ranks of registered pages per ISO week and calendar month, computed when read (a "
    "view: filter on period_start and region_code). Scopes: region, municipality, sector and "
    "flagship, each within its region and network (ranking_network = network) and across all "
    "networks of the region (ranking_network = 'all'). Growth is mart_page_growth's, "
    "members_on(period_end) - members_on(period_start - 1); registry attributes are those "
    "registered on period_end. Pages with an unknown start or end, or an unresolved reference, "
    "are listed unranked with the reason. Ties: absolute rank by growth, growth_pct, page_ref; "
    "% rank by growth_pct, growth, page_ref."
)


# Each view's filter values (regions, sectors, municipalities, networks) are those of the
# table it ranks the pages of, which is cheap to scan where the view is not.
VALUES_FROM = {"mart_growth_ranking": "mart_registry_versions"}
VIEW_NAMES = frozenset(VALUES_FROM)


@dataclass(frozen=True)
class ReadView:
    """A mart computed when read: its name, SQL over the published tables, and description."""

    name: str
    sql: str
    comment: str
    inputs: frozenset[str]


def read_views(
    schema: str, *, min_members_for_abs: int, min_members_for_pct: int
) -> list[ReadView]:
    """The views to create in `schema` beside its copied tables (schema is ours: `marts`)."""
    for name, value in (("abs", min_members_for_abs), ("pct", min_members_for_pct)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"min_members_for_{name} must be an int, got {value!r}")
    sql = GROWTH_RANKING.format(
        schema=schema,
        partition=RANK_PARTITION,
        abs_exclusion=ABS_EXCLUSION.format(min_abs=int(min_members_for_abs)),
        pct_exclusion=PCT_EXCLUSION.format(
            abs_reason="exclusion_reason", min_pct=int(min_members_for_pct)
        ),
    )
    inputs = frozenset({"mart_page_growth", "mart_registry_versions"})
    return [ReadView("mart_growth_ranking", sql, GROWTH_RANKING_COMMENT, inputs)]


def default_read_views(schema: str) -> list[ReadView]:
    """read_views with the minimums of dbt_project.yml's vars, the ones `top` applies."""
    from gospulse.serving.ranking import ranking_settings

    settings = ranking_settings()
    return read_views(
        schema,
        min_members_for_abs=settings["min_members_for_abs"],
        min_members_for_pct=settings["min_members_for_pct"],
    )
