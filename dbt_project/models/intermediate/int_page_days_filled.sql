{#-
    One row per registered page and day from its first snapshot (int_page_first_snapshots) to
    the latest snapshot date, with members_on(page, day) and that day's own status, from one
    join of the page days to raw and lag() over each page's days (macro
    members_on_consecutive_days; members_on's candidate expansion, max_carry_days + 1 rows per
    page day, ran out of memory at federal size, docs/perf-notes/transform.md).

    Incremental (delete+insert of whole days): a build recomputes only the days whose rows can
    differ from what the last build wrote (macro page_days_to_rebuild: the days each newly
    loaded raw row reaches through the carry window, the span of any page whose first day or
    registration changed, and the new calendar days), reading also the max_carry_days days
    before each to carry from. source_loaded_at, the load time of the
    day's own raw row, is both lineage and the high-water mark of what the last build saw.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='snapshot_date',
        incremental_predicates=page_bucket_predicates(),
        on_schema_change='fail',
    )
}}
with snapshots as not materialized (
    select network, page_ref, snapshot_date, members_count, status, loaded_at
    from {{ ref('stg_raw__page_snapshots') }}
    where {{ in_page_bucket('network', 'page_ref') }}
),

registered_pages as (
    select distinct network, page_ref
    from {{ ref('int_registry_pages_resolved') }}
    where page_ref is not null
),

calendar_days as (
    select date_day from {{ ref('int_calendar_days') }}
),

page_first_snapshots as (
    select
        firsts.network,
        firsts.page_ref,
        firsts.first_snapshot_date,
        firsts.first_changed_at
    from {{ ref('int_page_first_snapshots') }} as firsts
    inner join registered_pages
        on registered_pages.network = firsts.network
        and registered_pages.page_ref = firsts.page_ref
    where {{ in_page_bucket('firsts.network', 'firsts.page_ref') }}
),

{% if incremental_build() %}
days_to_build as (
    {{ page_days_to_rebuild(
        'snapshots', 'registered_pages', 'page_first_snapshots', 'calendar_days', this
    ) }}
),

-- the days rebuilt and the max_carry_days before each, which they can carry from
days_read as (
    select distinct {{ add_days('days_to_build.date_day', '-carry_days.days_back') }} as date_day
    from days_to_build
    cross join (
        {% for days_back in range(var('max_carry_days') + 1) -%}
        select {{ days_back }} as days_back{{ ' union all ' if not loop.last }}
        {% endfor -%}
    ) as carry_days
),
{% else %}
days_to_build as (
    select date_day from calendar_days
),

days_read as (
    select date_day from days_to_build
),
{% endif %}

page_days as (
    select
        page_first_snapshots.network,
        page_first_snapshots.page_ref,
        days_read.date_day as as_of_date
    from page_first_snapshots
    inner join days_read
        on days_read.date_day >= page_first_snapshots.first_snapshot_date
),

members as (
    {{ members_on_consecutive_days('page_days', 'snapshots') }}
),

filled_days as (
    select
        members.network,
        members.page_ref,
        members.as_of_date as snapshot_date,
        members.members_count,
        members.value_date,
        coalesce(members.value_date < members.as_of_date, false) as is_carried,
        coalesce(members.day_status, 'missing') as status,
        members.members_count is not null as is_known,
        members.day_loaded_at as source_loaded_at,
        {{ build_started_at() }} as built_at
    from members
    {% if incremental_build() -%}
    -- the days read only to carry from are not rewritten
    where members.as_of_date in (select days_to_build.date_day from days_to_build)
    {%- endif %}
)

select * from filled_days
