{#-
    One row per incident. Two kinds:
      - int_dq_incidents: the days on which one rule fired for one page, or region and
        network, in an unbroken run. Open when its last_seen is the latest snapshot date,
        closed otherwise.
      - growth quality (mart_growth_quality): a page's month marked suspect_growth or
        nonresident_growth. Its identity is the page, rule and month (first_seen is the
        month's first day, last_seen its last day so far), so it keeps its key while later
        reads move the month's closing and latest reads; the mark can appear weeks after the
        month, when VK bans the bought accounts. Open until the rule's open_days after the
        month's end.
    A table rebuilt every build (a copy of the run incidents plus the marked months, both
    small; no windows): open and closed move with the latest date.
-#}
with incidents as (
    select * from {{ ref('int_dq_incidents') }}
),

as_of as (
    select max(date_day) as as_of_date
    from {{ ref('int_calendar_days') }}
),

marked_months as (
    select * from {{ ref('mart_growth_quality') }}
    where is_suspect_growth or is_nonresident_growth
),

-- the page's title as registered on the month's last day (a page's first registry version is
-- valid from 1900-01-01)
titled_months as (
    select marked_months.*, registry.title
    from marked_months
    asof left join (
        select network, page_ref, title, valid_from
        from {{ ref('int_registry_pages_resolved') }}
        where is_resolved
    ) as registry
        on registry.network = marked_months.network
        and registry.page_ref = marked_months.page_ref
        and registry.valid_from <= marked_months.period_end
),

growth_signals as (
    select
        network,
        page_ref,
        region_code,
        title,
        period_start,
        period_end,
        'suspect_growth' as rule,
        'suspect growth in ' || strftime(period_start, '%Y-%m') || ': '
            || cast(round(100 * deactivated_share_of_new, 1) as varchar)
            || ' % of new members deactivated' as headline,
        {{ dq_severity('suspect_growth') }} as severity,
        {{ dq_setting('suspect_growth', 'open_days') }} as open_days,
        deactivated_share_of_new as current_value,
        cast(null as double precision) as expected_low,
        cast({{ dq_setting('suspect_growth', 'min_deactivated_share') }} as double precision)
            as expected_high,
        'growth in ' || strftime(period_start, '%Y-%m') || ': ~'
            || cast(round(new_deactivated) as bigint) || ' of ~'
            || cast(round(new_members) as bigint) || ' new members ('
            || cast(round(100 * deactivated_share_of_new, 1) as varchar)
            || ' %) deactivated by ' || cast(read_latest_date as varchar) as detail
    from titled_months
    where is_suspect_growth

    union all

    select
        network,
        page_ref,
        region_code,
        title,
        period_start,
        period_end,
        'nonresident_growth' as rule,
        'growth in ' || strftime(period_start, '%Y-%m') || ' from elsewhere: '
            || cast(round(100 * nonresident_share_of_growth, 1) as varchar) || ' %' as headline,
        {{ dq_severity('nonresident_growth') }} as severity,
        {{ dq_setting('nonresident_growth', 'open_days') }} as open_days,
        nonresident_share_of_growth as current_value,
        cast(null as double precision) as expected_low,
        cast({{ dq_setting('nonresident_growth', 'min_share') }} as double precision)
            as expected_high,
        'growth in ' || strftime(period_start, '%Y-%m') || ' among members who show a city: +'
            || cast(nonresidents_growth as varchar) || ' from elsewhere, '
            || cast(round(100 * nonresident_share_of_growth, 1) as varchar)
            || ' % of it, by the read of ' || cast(read_end_date as varchar) as detail
    from titled_months
    where is_nonresident_growth
)

select
    incidents.incident_id,
    incidents.scope_type,
    incidents.network,
    incidents.page_ref,
    incidents.region_code,
    incidents.title,
    incidents.rule,
    incidents.severity,
    incidents.first_seen,
    incidents.last_seen,
    incidents.signal_days,
    incidents.current_value,
    incidents.value_unit,
    incidents.expected_low,
    incidents.expected_high,
    incidents.detail,
    cast(
        case when incidents.last_seen = as_of.as_of_date then 'open' else 'closed' end
        as varchar
    ) as status,
    as_of.as_of_date
from incidents
cross join as_of

union all

select
    cast({{ dbt.hash(dbt.concat(["'page'", "'|'", "growth_signals.network", "'|'",
        "growth_signals.page_ref", "'|'", "growth_signals.rule", "'|'",
        "cast(growth_signals.period_start as varchar)"])) }} as varchar) as incident_id,
    cast('page' as varchar) as scope_type,
    cast(growth_signals.network as varchar) as network,
    cast(growth_signals.page_ref as varchar) as page_ref,
    cast(growth_signals.region_code as integer) as region_code,
    cast(coalesce(growth_signals.title, growth_signals.page_ref) || ': '
        || growth_signals.headline as varchar) as title,
    cast(growth_signals.rule as varchar) as rule,
    cast(growth_signals.severity as varchar) as severity,
    growth_signals.period_start as first_seen,
    growth_signals.period_end as last_seen,
    cast({{ dbt.datediff('growth_signals.period_start', 'growth_signals.period_end', 'day') }}
        + 1 as integer) as signal_days,
    cast(growth_signals.current_value as double precision) as current_value,
    cast('share' as varchar) as value_unit,
    growth_signals.expected_low,
    growth_signals.expected_high,
    cast(growth_signals.detail as varchar) as detail,
    cast(
        case
            when as_of.as_of_date
                <= {{ add_days('growth_signals.period_end', 'growth_signals.open_days') }}
                then 'open'
            else 'closed'
        end as varchar
    ) as status,
    as_of.as_of_date
from growth_signals
cross join as_of
