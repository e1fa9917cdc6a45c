{#-
    Growth per page and period (ISO week, calendar month). Each period is measured from
    members_on(period_start - 1 day) to members_on(period_end), so consecutive periods chain.
    A day's growth is not stored (it was most of the rows): it is mart_page_daily's count on
    the day minus the day before, and `gospulse top --start D --end D` ranks it at read time.

    Incremental (delete+insert of whole periods, every page at once): the days
    int_page_days_filled rewrote since the newest of its built_at this model saw
    (filled_built_at) are found as int_dq_page_days finds them (filled_days_rewritten); a changed
    day d rebuilds the periods holding d and the periods whose base date is d (those starting
    on d + 1). A new day is a changed day, so the periods still in progress are always
    rebuilt. built_at tells models built from this one (the monthly totals) which periods
    were rewritten.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['period_type', 'period_start'],
        incremental_predicates=page_bucket_predicates(),
        on_schema_change='fail',
    )
}}
{%- set period_starts = {
    'week': 'calendar_days.week_start',
    'month': 'calendar_days.month_start',
} -%}
{%- set period_ends = {
    'week': 'calendar_days.week_end',
    'month': 'calendar_days.month_end',
} -%}
with all_page_days as not materialized (
    select * from {{ ref('int_page_days_filled') }}
),

calendar_days as (
    select * from {{ ref('int_calendar_days') }}
),

{% if incremental_build() %}
days_to_build as (
    {{ filled_days_rewritten('all_page_days', this) }}
),

touched_days as (
    select date_day from days_to_build
    union
    select {{ add_days('date_day', 1) }} as date_day from days_to_build
),

periods_to_build as (
    {%- for period_type, start in period_starts.items() %}
    select distinct '{{ period_type }}' as period_type, {{ start }} as period_start
    from calendar_days
    inner join touched_days on touched_days.date_day = calendar_days.date_day
    {% if not loop.last %}union{% endif %}
    {%- endfor %}
),

-- a period reads its days from its base date on; days before the earliest are not needed
page_days as not materialized (
    select all_page_days.*
    from all_page_days
    where all_page_days.snapshot_date >= (
        select {{ add_days('min(period_start)', -1) }} from periods_to_build
    )
),
{% else %}
page_days as not materialized (
    select * from all_page_days
    where {{ in_page_bucket('network', 'page_ref') }}
),
{% endif %}

{#- the periods built, each bounded by the latest snapshot date -#}
periods as (
    {%- for period_type, start in period_starts.items() %}
    select distinct
        cast('{{ period_type }}' as varchar) as period_type,
        {{ start }} as period_start,
        {{ period_ends[period_type] }} as natural_end,
        calendar_days.last_snapshot_date
    from calendar_days
    {%- if incremental_build() %}
    inner join periods_to_build  -- noqa: LT02
        on periods_to_build.period_type = '{{ period_type }}'
        and periods_to_build.period_start = {{ start }}
    {%- endif %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

bounded_periods as (
    select
        period_type,
        period_start,
        case
            when natural_end > last_snapshot_date then last_snapshot_date
            else natural_end
        end as period_end,
        natural_end <= last_snapshot_date as is_complete,
        {{ add_days('period_start', -1) }} as base_date
    from periods
),

{#- a page's days are dense from its first day to the latest snapshot date, so the pages with
    a day in a period are those with a row on its (bounded) end: each period reads its two
    boundary days, not every day of it -#}
measured_periods as (
    select
        end_day.network,
        end_day.page_ref,
        bounded_periods.*,
        start_day.members_count as members_start,
        end_day.members_count as members_end,
        end_day.source_loaded_at as end_loaded_at
    from bounded_periods
    inner join page_days as end_day
        on end_day.snapshot_date = bounded_periods.period_end
    left join page_days as start_day
        on start_day.network = end_day.network
        and start_day.page_ref = end_day.page_ref
        and start_day.snapshot_date = bounded_periods.base_date
)

select
    network,
    page_ref,
    period_type,
    period_start,
    period_end,
    is_complete,
    base_date,
    members_start,
    members_end,
    {{ growth_measures('members_start', 'members_end') }},
    members_start is not null as start_known,
    members_end is not null as end_known,
    end_loaded_at,
    {{ filled_high_water() }} as filled_built_at,
    {{ build_started_at() }} as built_at
from measured_periods
