{#-
    One row per page, day and rule that fires (thresholds: the dq var in dbt_project.yml):
      status_change       the effective status is deleted/banned/closed/not_found after an ok
                          snapshot; fires every day it lasts (fetch errors do not interrupt it)
      renamed             the screen name differs from the previous ok snapshot's
      stale               no ok snapshot for stale.days days while registered, unless the page
                          is already broken (status_change) or its whole region is missing
                          data that day (region_pages_missing speaks for it)
      flagship_under_min  a flagship page with members_on <= flagship_min_members
      drop_dod / jump     a fresh value below / above yesterday's members_on by at least
                          min_pct percent AND min_abs subscribers
      zscore              |change - expected| >= threshold * scale, min_abs_change and
                          min_pct_change % of yesterday (int_dq_page_change_scores); not on
                          days when drop_dod or jump already fired for the page
    observed_value, expected_low and expected_high share value_unit; NULL bounds are unbounded.

    Incremental: every rule reads one page-day (its own row, that day's score and region
    outage), so a build recomputes exactly the days int_dq_page_days rewrote since the build
    this model last read (built_at newer than the page_days_built_at kept here) and replaces
    them whole (strategy replace_days: a day whose signals all cleared is emptied by its marker
    row, rule NULL).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_days',
        unique_key='signal_date',
        day_marker_column='rule',
        on_schema_change='fail',
    )
}}
{%- set broken = dq_setting('status_change', 'statuses') -%}
{%- set always_critical = dq_setting('status_change', 'always_critical') -%}
{%- if is_incremental() %}
with high_water as (
    select coalesce(max(page_days_built_at), cast('1900-01-01' as timestamp)) as built_at
    from {{ this }}
),

page_days as not materialized (
    select * from {{ ref('int_dq_page_days') }}
    where built_at > (select built_at from high_water)
),

change_scores as (
    select * from {{ ref('int_dq_page_change_scores') }}
    where built_at > (select built_at from high_water)
),
{%- else %}
with page_days as not materialized (
    select * from {{ ref('int_dq_page_days') }}
),

change_scores as (
    select * from {{ ref('int_dq_page_change_scores') }}
),
{%- endif %}

region_outages as (
    select distinct region_code, network, signal_date
    from {{ ref('int_dq_region_signals') }}
    where rule = 'region_pages_missing'
),

status_changes as (
    select
        network,
        page_ref,
        snapshot_date as signal_date,
        'status_change' as rule,
        case
            {%- if always_critical %}
            when effective_status in {{ dq_string_list(always_critical) }} then 'critical'
            {%- endif %}
            when is_flagship then {{ dq_severity('status_change', 'flagship_severity') }}
            else {{ dq_severity('status_change') }}
        end as severity,
        cast(null as double precision) as observed_value,
        'status' as value_unit,
        cast(null as double precision) as expected_low,
        cast(null as double precision) as expected_high,
        'page ' || effective_status as headline,
        'status ' || effective_status || ', last ok snapshot '
            || cast(last_ok_date as varchar) as detail,
        region_code,
        is_flagship,
        built_at as page_days_built_at
    from page_days
    where effective_status in {{ dq_string_list(broken) }}
        and last_ok_date is not null
),

renames as (
    select
        network,
        page_ref,
        snapshot_date as signal_date,
        'renamed' as rule,
        case
            when is_flagship then {{ dq_severity('renamed', 'flagship_severity') }}
            else {{ dq_severity('renamed') }}
        end as severity,
        cast(null as double precision) as observed_value,
        'screen_name' as value_unit,
        cast(null as double precision) as expected_low,
        cast(null as double precision) as expected_high,
        'screen name changed to ' || screen_name as headline,
        'screen name ' || previous_screen_name || ' -> ' || screen_name
            || ' (previous ok snapshot ' || cast(previous_ok_date as varchar) || ')' as detail,
        region_code,
        is_flagship,
        built_at as page_days_built_at
    from page_days
    where status = 'ok'
        and lower(screen_name) <> lower(previous_screen_name)
),

stale_pages as (
    select
        page_days.network,
        page_days.page_ref,
        page_days.snapshot_date as signal_date,
        'stale' as rule,
        {{ dq_severity('stale') }} as severity,
        cast(page_days.days_without_ok as double precision) as observed_value,
        'days' as value_unit,
        cast(0 as double precision) as expected_low,
        cast({{ dq_setting('stale', 'days') }} - 1 as double precision) as expected_high,
        'no data for ' || cast(page_days.days_without_ok as varchar) || ' days' as headline,
        'no ok snapshot for ' || cast(page_days.days_without_ok as varchar)
            || ' days (status ' || page_days.status || ', last ok snapshot '
            || coalesce(cast(page_days.last_ok_date as varchar), 'never') || ')' as detail,
        page_days.region_code,
        page_days.is_flagship,
        page_days.built_at as page_days_built_at
    from page_days
    left join region_outages
        on region_outages.region_code = page_days.region_code
        and region_outages.network in (page_days.network, 'all')
        and region_outages.signal_date = page_days.snapshot_date
    where page_days.days_without_ok >= {{ dq_setting('stale', 'days') }}
        and page_days.effective_status not in {{ dq_string_list(broken) }}
        and region_outages.region_code is null
),

flagships_under_min as (
    select
        network,
        page_ref,
        snapshot_date as signal_date,
        'flagship_under_min' as rule,
        {{ dq_severity('flagship_under_min') }} as severity,
        cast(members_count as double precision) as observed_value,
        'members' as value_unit,
        cast({{ var('flagship_min_members') }} + 1 as double precision) as expected_low,
        cast(null as double precision) as expected_high,
        'flagship page at ' || cast(members_count as varchar) || ' subscribers' as headline,
        cast(members_count as varchar) || ' subscribers, a flagship needs more than '
            || cast({{ var('flagship_min_members') }} as varchar) as detail,
        region_code,
        is_flagship,
        built_at as page_days_built_at
    from page_days
    where is_flagship
        and members_count <= {{ var('flagship_min_members') }}
),

{#- the thresholds compare whole numbers (100 * change against pct * members_prev): exact, and
    far cheaper over every page day than decimals; the percentage shown is computed only for
    the days a rule fires on -#}
day_changes as (
    select
        network,
        page_ref,
        snapshot_date,
        region_code,
        is_flagship,
        built_at,
        members_prev,
        members_count
    from page_days
    where is_fresh and members_prev is not null
),

fired_changes as (
    select
        *,
        case
            when members_prev > 0
                then round(cast(100.0 * (members_count - members_prev) / members_prev
                    as numeric), 1)
        end as change_pct
    from day_changes
    where (
            members_prev - members_count >= {{ dq_setting('drop_dod', 'min_abs') }}
            and 100 * (members_prev - members_count)
                >= {{ dq_setting('drop_dod', 'min_pct') }} * members_prev
        )
        or (
            members_count - members_prev >= {{ dq_setting('jump', 'min_abs') }}
            and 100 * (members_count - members_prev)
                >= {{ dq_setting('jump', 'min_pct') }} * members_prev
        )
),

drops as (
    select
        network,
        page_ref,
        snapshot_date as signal_date,
        'drop_dod' as rule,
        case
            when members_prev - members_count >= {{ dq_setting('drop_dod', 'critical_abs') }}
                and 100 * (members_prev - members_count)
                    >= {{ dq_setting('drop_dod', 'critical_pct') }} * members_prev
                then {{ dq_severity('drop_dod', 'critical_severity') }}
            else {{ dq_severity('drop_dod') }}
        end as severity,
        cast(members_count as double precision) as observed_value,
        'members' as value_unit,
        cast(members_prev - greatest(
            {{ dq_setting('drop_dod', 'min_abs') }},
            members_prev * {{ dq_setting('drop_dod', 'min_pct') }} / 100.0
        ) as double precision) as expected_low,
        cast(null as double precision) as expected_high,
        'subscribers fell by ' || cast(members_prev - members_count as varchar)
            || ' (' || cast(change_pct as varchar) || ' %)' as headline,
        cast(members_prev as varchar) || ' -> ' || cast(members_count as varchar)
            || ' subscribers (' || cast(change_pct as varchar) || ' %)' as detail,
        region_code,
        is_flagship,
        built_at as page_days_built_at
    from fired_changes
    where members_prev - members_count >= {{ dq_setting('drop_dod', 'min_abs') }}
        and 100 * (members_prev - members_count)
            >= {{ dq_setting('drop_dod', 'min_pct') }} * members_prev
),

jumps as (
    select
        network,
        page_ref,
        snapshot_date as signal_date,
        'jump' as rule,
        {{ dq_severity('jump') }} as severity,
        cast(members_count as double precision) as observed_value,
        'members' as value_unit,
        cast(null as double precision) as expected_low,
        cast(members_prev + greatest(
            {{ dq_setting('jump', 'min_abs') }},
            members_prev * {{ dq_setting('jump', 'min_pct') }} / 100.0
        ) as double precision) as expected_high,
        'subscribers rose by ' || cast(members_count - members_prev as varchar)
            || coalesce(' (+' || cast(change_pct as varchar) || ' %)', '') as headline,
        cast(members_prev as varchar) || ' -> ' || cast(members_count as varchar)
            || ' subscribers' || coalesce(' (+' || cast(change_pct as varchar) || ' %)', '')
            as detail,
        region_code,
        is_flagship,
        built_at as page_days_built_at
    from fired_changes
    where members_count - members_prev >= {{ dq_setting('jump', 'min_abs') }}
        and 100 * (members_count - members_prev)
            >= {{ dq_setting('jump', 'min_pct') }} * members_prev
),

zscore_bands as (
    select
        change_scores.*,
        greatest(
            {{ dq_setting('zscore', 'threshold') }} * change_scores.change_scale,
            {{ dq_setting('zscore', 'min_abs_change') }},
            change_scores.members_prev * {{ dq_setting('zscore', 'min_pct_change') }} / 100.0
        ) as half_width
    from change_scores
    where change_scores.z_score is not null
),

zscores as (
    select
        zscore_bands.network,
        zscore_bands.page_ref,
        zscore_bands.snapshot_date as signal_date,
        'zscore' as rule,
        {{ dq_severity('zscore') }} as severity,
        cast(zscore_bands.change as double precision) as observed_value,
        'change' as value_unit,
        cast(zscore_bands.expected_change - zscore_bands.half_width as double precision)
            as expected_low,
        cast(zscore_bands.expected_change + zscore_bands.half_width as double precision)
            as expected_high,
        'unusual ' || case when zscore_bands.change < zscore_bands.expected_change
            then 'fall' else 'rise' end || ' of ' || cast(zscore_bands.change as varchar)
            || ' subscribers' as headline,
        'change ' || cast(zscore_bands.change as varchar) || ', expected '
            || cast(round(cast(zscore_bands.expected_change as numeric), 1) as varchar)
            || ' (z ' || cast(round(cast(zscore_bands.z_score as numeric), 1) as varchar)
            || case when zscore_bands.is_seasonal then ', same weekday' else '' end
            || ')' as detail,
        zscore_bands.region_code,
        zscore_bands.is_flagship,
        zscore_bands.built_at as page_days_built_at
    from zscore_bands
    left join drops
        on drops.network = zscore_bands.network
        and drops.page_ref = zscore_bands.page_ref
        and drops.signal_date = zscore_bands.snapshot_date
    left join jumps
        on jumps.network = zscore_bands.network
        and jumps.page_ref = zscore_bands.page_ref
        and jumps.signal_date = zscore_bands.snapshot_date
    where abs(zscore_bands.change - zscore_bands.expected_change) >= zscore_bands.half_width
        and drops.page_ref is null
        and jumps.page_ref is null
),

page_signals as (
    select * from status_changes
    union all
    select * from renames
    union all
    select * from stale_pages
    union all
    select * from flagships_under_min
    union all
    select * from drops
    union all
    select * from jumps
    union all
    select * from zscores
),

registry as (
    select * from {{ ref('int_registry_pages_resolved') }}
),

-- every version of the pages that fired (a day's few, not the whole registry's history)
fired_registry as (
    select registry.*
    from registry
    where (registry.network, registry.page_key) in (
        select fired.network, fired.page_key
        from registry as fired
        inner join (select distinct network, page_ref from page_signals) as fired_pages
            on fired_pages.network = fired.network
            and fired_pages.page_ref = fired.page_ref
    )
),

registry_segments as (
    {{ registry_segments('fired_registry') }}
)

select
    page_signals.network,
    page_signals.page_ref,
    page_signals.signal_date,
    page_signals.rule,
    page_signals.severity,
    page_signals.observed_value,
    page_signals.value_unit,
    page_signals.expected_low,
    page_signals.expected_high,
    coalesce(registry_segments.title, page_signals.page_ref) || ': ' || page_signals.headline
        as title,
    page_signals.detail,
    registry_segments.registry_ref,
    page_signals.region_code,
    page_signals.is_flagship,
    page_signals.page_days_built_at
from page_signals
-- the title and reference the page was registered under that day (page days keep no copy);
-- every signal's page day was registered, so its segment is there
inner join registry_segments
    on registry_segments.network = page_signals.network
    and registry_segments.page_ref = page_signals.page_ref
    and {{ registry_segment_has('registry_segments', 'page_signals.signal_date') }}
{%- if is_incremental() %}

union all

-- one marker per recomputed day (not stored): the day is replaced even if nothing fires
select
    null, null, snapshot_date, null, null, null, null, null, null, null, null, null, null,
    null, null
from (select distinct snapshot_date from page_days) as rebuilt_days
{%- endif %}
