{#-
    One row per incident: the days on which one rule fired for one page (or region and
    network) in an unbroken run of consecutive days (gaps and islands: within a run,
    signal_date minus its row number is constant). Severity is the worst over its days;
    title, values and bounds are those of its last day. mart_dq_incidents adds open/closed.

    Incremental (strategy replace_from): a build finds the days int_dq_page_days rewrote since
    the one this model last read (page_days_built_at) and recomputes, per page and rule, the
    incidents from the earliest such day on, reading the page's signals from that day, or from
    the first_seen of a stored incident spanning it. An incident that ended the day before it
    (an open one, on a new day) is not read again: a run starting on that day continues it
    (first_seen, days and worst severity carried over), else it is written back unchanged, so
    a year-long open incident costs one day's signals. One marker row per recomputed page and
    rule (NULL incident_id, not stored) deletes its incidents from that date on. Region
    incidents are recomputed whole every build: int_dq_region_signals is a small table
    rebuilt each time.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_from',
        unique_key=['scope_type', 'network', 'scope_key', 'rule'],
        marker_column='incident_id',
        from_column='first_seen',
        on_schema_change='fail',
    )
}}

with page_days_built as (
    select max(built_at) as page_days_built_at
    from {{ ref('int_dq_page_days') }}
),

{% if is_incremental() %}
high_water as (
    select coalesce(max(page_days_built_at), cast('1900-01-01' as timestamp)) as built_at
    from {{ this }}
),

rebuilt_days as (
    select distinct snapshot_date as signal_date
    from {{ ref('int_dq_page_days') }}
    where built_at > (select built_at from high_water)
),

earliest_rebuilt as (
    select min(signal_date) as signal_date from rebuilt_days
),

-- stored page incidents that reach the day before the earliest rebuilt day or later
stored_reaching as (
    select built.*, earliest_rebuilt.signal_date as earliest_day
    from {{ this }} as built
    cross join earliest_rebuilt
    where built.scope_type = 'page'
        and built.last_seen >= {{ add_days('earliest_rebuilt.signal_date', -1) }}
),

-- the earliest day a page key reads its signals from (keys_to_build): a daily build reads the
-- recent page signals, not all of their history
signals_read_from as (
    select least(
        (select signal_date from earliest_rebuilt),
        (select min(first_seen) from stored_reaching where last_seen >= earliest_day)
    ) as signal_date
),
{% endif %}

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
    from {{ ref('int_dq_page_signals') }}
    {%- if is_incremental() %}
    where signal_date >= (select signal_date from signals_read_from)
    {%- endif %}

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
    from {{ ref('int_dq_region_signals') }}
),

{% if is_incremental() %}
-- per key, the date its signals are read from: the earliest rebuilt day, or the first_seen
-- of a stored incident spanning it (its days before it are not kept apart)
keys_to_build as (
    select scope_type, network, scope_key, rule, min(read_from) as read_from
    from (
        select
            signals.scope_type, signals.network, signals.scope_key, signals.rule,
            earliest_rebuilt.signal_date as read_from
        from signals
        inner join rebuilt_days
            on rebuilt_days.signal_date = signals.signal_date
        cross join earliest_rebuilt
        where signals.scope_type = 'page'

        union all

        select
            scope_type, network, scope_key, rule,
            case when first_seen < earliest_day then first_seen else earliest_day end
        from stored_reaching
        where last_seen >= earliest_day

        union all

        select scope_type, network, scope_key, rule, earliest_day
        from stored_reaching
        where last_seen < earliest_day

        union all

        -- region incidents: all of them, stored and new
        select scope_type, network, scope_key, rule, cast('1900-01-01' as date)
        from signals
        where scope_type = 'region'

        union all

        select scope_type, network, scope_key, rule, cast('1900-01-01' as date)
        from {{ this }}
        where scope_type = 'region'
    ) as key_dates
    group by scope_type, network, scope_key, rule
),

-- an incident that ended the day before the earliest rebuilt day (an open one, on a new day):
-- not read again; a run starting on that day continues it, else it is written back as it was
seeds as (
    select stored_reaching.*
    from stored_reaching
    inner join keys_to_build
        on keys_to_build.scope_type = stored_reaching.scope_type
        and keys_to_build.network = stored_reaching.network
        and keys_to_build.scope_key = stored_reaching.scope_key
        and keys_to_build.rule = stored_reaching.rule
        and keys_to_build.read_from = stored_reaching.earliest_day
    where stored_reaching.last_seen < stored_reaching.earliest_day
),

signals_to_build as (
    select signals.*
    from signals
    inner join keys_to_build
        on keys_to_build.scope_type = signals.scope_type
        and keys_to_build.network = signals.network
        and keys_to_build.scope_key = signals.scope_key
        and keys_to_build.rule = signals.rule
        and keys_to_build.read_from <= signals.signal_date
),
{% else %}
signals_to_build as (
    select * from signals
),
{% endif %}

numbered_signals as (
    select
        signals_to_build.*,
        row_number() over (
            partition by
                signals_to_build.scope_type,
                signals_to_build.network,
                signals_to_build.scope_key,
                signals_to_build.rule
            order by signals_to_build.signal_date
        ) as run_position
    from signals_to_build
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

{% if is_incremental() %}
merged_islands as (
    select
        islands.scope_type,
        islands.network,
        islands.scope_key,
        islands.rule,
        islands.island_key,
        coalesce(seeds.first_seen, islands.first_seen) as first_seen,
        islands.last_seen,
        islands.signal_days + coalesce(seeds.signal_days, 0) as signal_days,
        case
            when {{ dq_severity_rank('seeds.severity') }} > islands.severity_rank
                then {{ dq_severity_rank('seeds.severity') }}
            else islands.severity_rank
        end as severity_rank
    from islands
    left join seeds
        on seeds.scope_type = islands.scope_type
        and seeds.network = islands.network
        and seeds.scope_key = islands.scope_key
        and seeds.rule = islands.rule
        and seeds.earliest_day = islands.first_seen
),
{% else %}
merged_islands as (
    select * from islands
),
{% endif %}

incidents as (
    select
        cast({{ dbt.hash(dbt.concat(["islands.scope_type", "'|'", "islands.network", "'|'",
            "islands.scope_key", "'|'", "islands.rule", "'|'",
            "cast(islands.first_seen as varchar)"])) }} as varchar) as incident_id,
        cast(islands.scope_type as varchar) as scope_type,
        cast(islands.network as varchar) as network,
        cast(islands.scope_key as varchar) as scope_key,
        cast(last_day.page_ref as varchar) as page_ref,
        cast(last_day.region_code as integer) as region_code,
        cast(last_day.title as varchar) as title,
        cast(islands.rule as varchar) as rule,
        cast({{ dq_severity_of_rank('islands.severity_rank') }} as varchar) as severity,
        islands.first_seen,
        islands.last_seen,
        islands.signal_days,
        last_day.observed_value as current_value,
        cast(last_day.value_unit as varchar) as value_unit,
        last_day.expected_low,
        last_day.expected_high,
        cast(last_day.detail as varchar) as detail
    from merged_islands as islands
    inner join island_signals as last_day
        on last_day.scope_type = islands.scope_type
        and last_day.network = islands.network
        and last_day.scope_key = islands.scope_key
        and last_day.rule = islands.rule
        and last_day.signal_date = islands.last_seen
)

select incidents.*, page_days_built.page_days_built_at
from incidents
cross join page_days_built
{%- if is_incremental() %}

union all

-- a seed no run continues, written back unchanged (its marker deletes it)
select
    seeds.incident_id, seeds.scope_type, seeds.network, seeds.scope_key, seeds.page_ref,
    seeds.region_code, seeds.title, seeds.rule, seeds.severity, seeds.first_seen,
    seeds.last_seen, seeds.signal_days, seeds.current_value, seeds.value_unit,
    seeds.expected_low, seeds.expected_high, seeds.detail, seeds.page_days_built_at
from seeds
where not exists (
    select 1
    from incidents
    where incidents.incident_id = seeds.incident_id
)

union all

-- one marker per recomputed key (not stored): its incidents from that date on are replaced
select
    cast(null as varchar), keys_to_build.scope_type, keys_to_build.network,
    keys_to_build.scope_key, null, null, null, keys_to_build.rule, null,
    coalesce(seeds.first_seen, keys_to_build.read_from), null, null, null, null, null, null,
    null, null
from keys_to_build
left join seeds
    on seeds.scope_type = keys_to_build.scope_type
    and seeds.network = keys_to_build.network
    and seeds.scope_key = keys_to_build.scope_key
    and seeds.rule = keys_to_build.rule
{%- endif %}
