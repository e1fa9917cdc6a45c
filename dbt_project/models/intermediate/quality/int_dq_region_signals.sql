{#-
    One row per region, network and day on which a region-level rule fires:
      region_drop           subscriptions of the pages known on both days fall day over day by
                            at least min_pct percent AND min_abs subscriptions;
      region_pages_missing  more than min_share_pct percent (and at least min_pages) of the
                            region's readable pages have no fresh ok snapshot that day, e.g. an
                            extraction that failed; fires every day the outage lasts.
-#}
with region_days as (
    select * from {{ ref('int_dq_region_days') }}
),

region_drops as (
    select
        region_code,
        network,
        snapshot_date as signal_date,
        'region_drop' as rule,
        {{ dq_severity('region_drop') }} as severity,
        cast(members_comparable as double precision) as observed_value,
        'members' as value_unit,
        cast(members_prev_comparable - greatest(
            {{ dq_setting('region_drop', 'min_abs') }},
            members_prev_comparable * {{ dq_setting('region_drop', 'min_pct') }} / 100.0
        ) as double precision) as expected_low,
        cast(null as double precision) as expected_high,
        'subscriptions fell by ' || cast(members_prev_comparable - members_comparable as varchar)
            || ' (' || cast(round(cast(100.0 * (members_prev_comparable - members_comparable)
                / members_prev_comparable as numeric), 1) as varchar)
            || ' %) to ' || cast(members_comparable as varchar) as detail
    from region_days
    where members_prev_comparable > 0
        and members_prev_comparable - members_comparable
            >= {{ dq_setting('region_drop', 'min_abs') }}
        and 100.0 * (members_prev_comparable - members_comparable)
            >= {{ dq_setting('region_drop', 'min_pct') }} * members_prev_comparable
),

region_outages as (
    select
        region_code,
        network,
        snapshot_date as signal_date,
        'region_pages_missing' as rule,
        {{ dq_severity('region_pages_missing') }} as severity,
        cast(pages_readable - pages_missing as double precision) as observed_value,
        'pages' as value_unit,
        cast(pages_readable * (1 - {{ dq_setting('region_pages_missing', 'min_share_pct') }}
            / 100.0) as double precision) as expected_low,
        cast(pages_readable as double precision) as expected_high,
        cast(pages_missing as varchar) || ' of ' || cast(pages_readable as varchar)
            || ' readable pages have no fresh ok snapshot' as detail
    from region_days
    where pages_missing >= {{ dq_setting('region_pages_missing', 'min_pages') }}
        and 100.0 * pages_missing
            > {{ dq_setting('region_pages_missing', 'min_share_pct') }} * pages_readable
),

region_signals as (
    select * from region_drops
    union all
    select * from region_outages
)

select
    region_code,
    network,
    signal_date,
    rule,
    severity,
    observed_value,
    value_unit,
    expected_low,
    expected_high,
    'Region ' || cast(region_code as varchar) || ' (' || network || '): ' || detail as title,
    detail
from region_signals
