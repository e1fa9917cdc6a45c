{#-
    One row per incident: the days on which one rule fired for one page (or region and
    network) in an unbroken run of consecutive days (gaps and islands: within a run,
    signal_date minus its row number is constant). A day on which the rule did not fire ends
    the incident; a later firing opens a new one. An incident is open when its last_seen is
    the latest snapshot date in the warehouse, closed otherwise. Severity is the worst over
    its days; title, values and bounds are those of its last day.
-#}
with page_signals as (
    select * from {{ ref('int_dq_page_signals') }}
),

region_signals as (
    select * from {{ ref('int_dq_region_signals') }}
),

as_of as (
    select max(date_day) as as_of_date
    from {{ ref('int_calendar_days') }}
),

signals as (
    select
        'page' as scope_type,
        network,
        page_ref,
        region_code,
        page_ref as scope_key,
        rule,
        signal_date,
        severity,
        observed_value,
        value_unit,
        expected_low,
        expected_high,
        title,
        detail
    from page_signals

    union all

    select
        'region' as scope_type,
        network,
        cast(null as varchar) as page_ref,
        region_code,
        cast(region_code as varchar) as scope_key,
        rule,
        signal_date,
        severity,
        observed_value,
        value_unit,
        expected_low,
        expected_high,
        title,
        detail
    from region_signals
),

numbered_signals as (
    select
        signals.*,
        row_number() over (
            partition by scope_type, network, scope_key, rule order by signal_date
        ) as run_position
    from signals
),

island_signals as (
    select
        numbered_signals.*,
        {{ add_days('signal_date', '-run_position') }} as island_key
    from numbered_signals
),

islands as (
    select
        scope_type,
        network,
        scope_key,
        rule,
        island_key,
        min(signal_date) as first_seen,
        max(signal_date) as last_seen,
        cast(count(*) as integer) as signal_days,
        max({{ dq_severity_rank('severity') }}) as severity_rank
    from island_signals
    group by scope_type, network, scope_key, rule, island_key
),

incidents as (
    select
        {{ dbt.hash(dbt.concat(["islands.scope_type", "'|'", "islands.network", "'|'",
            "islands.scope_key", "'|'", "islands.rule", "'|'",
            "cast(islands.first_seen as varchar)"])) }} as incident_id,
        islands.scope_type,
        islands.network,
        last_day.page_ref,
        last_day.region_code,
        last_day.title,
        islands.rule,
        {{ dq_severity_of_rank('islands.severity_rank') }} as severity,
        islands.first_seen,
        islands.last_seen,
        islands.signal_days,
        last_day.observed_value as current_value,
        last_day.value_unit,
        last_day.expected_low,
        last_day.expected_high,
        last_day.detail,
        case when islands.last_seen = as_of.as_of_date then 'open' else 'closed' end as status,
        as_of.as_of_date
    from islands
    inner join island_signals as last_day
        on last_day.scope_type = islands.scope_type
        and last_day.network = islands.network
        and last_day.scope_key = islands.scope_key
        and last_day.rule = islands.rule
        and last_day.signal_date = islands.last_seen
    cross join as_of
)

select
    cast(incident_id as varchar) as incident_id,
    cast(scope_type as varchar) as scope_type,
    cast(network as varchar) as network,
    cast(page_ref as varchar) as page_ref,
    cast(region_code as integer) as region_code,
    cast(title as varchar) as title,
    cast(rule as varchar) as rule,
    cast(severity as varchar) as severity,
    first_seen,
    last_seen,
    signal_days,
    current_value,
    cast(value_unit as varchar) as value_unit,
    expected_low,
    expected_high,
    cast(detail as varchar) as detail,
    cast(status as varchar) as status,
    as_of_date
from incidents
