{#-
    The daily facts every data-quality rule reads: one row per page and day the page was
    registered (registry as of that day), with members_on today and yesterday, whether each
    value is fresh (an ok snapshot of that very day), the last ok date, the page's effective
    status (the latest status other than error/missing, carried over fetch failures), the
    screen names of this and the previous ok snapshot, and the robust z-score of a fresh
    day-over-day change (macro dq_change_scores; its training reads the page's own changes,
    registered or not).

    Incremental (delete+insert of whole days): a build rewrites every day from rebuild_start on,
    the earliest of
      the day after the last day built;
      the earliest day int_page_days_filled rewrote since the newest of its built_at the last
          build saw (filled_built_at; macro filled_days_rewritten): new days, changed raw rows
          and the days they reach, a page whose first day moved (history imported, a page
          registered, resolved or gone); a changed day moves the running values of every
          later day (last ok date, effective status), so the rest of history follows it;
      the first day a registry version loaded or closed since the last build applies to
          (registry_seen_at: a new page's first version, or a screen name resolved since,
          applies from the page's first day in int_page_days_filled).
    The running values' windows see the days from window_start, the day before rebuild_start.
    A build of one new day alone (rebuild_start the day int_dq_change_state was just moved to)
    takes that day's change scores from the state, one row per page; any other build slides
    the scores' windows over the changes of their reach before rebuild_start (macro
    dq_change_reach), read from int_page_days_filled alone. What came before carries over from the
    page's row of the day before rebuild_start as the last build wrote it (its last ok date and
    screen name, its effective status, its first day while it has no ok day); a page without
    such a row that was listed again after a gap carries from its three earlier rows instead
    (its first day, its last ok day, its last day with a status other than error/missing). A
    daily build thus reads two days of history, one day of its own rows and the state, not all
    of it, and groups no page's history;
    a --full-refresh starts at 1900-01-01.
    built_at (the build's start, the same on every row of a day) tells the models built from
    this one which days a build rewrote.
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
{#- the change scores read dq_change_reach() days of changes, and a change the day before it -#}
{%- set score_reach = dq_change_reach() + 1 -%}
-- depends_on: {{ ref('int_dq_change_state') }}
with filled as not materialized (
    select
        network,
        page_ref,
        snapshot_date,
        members_count,
        is_carried,
        is_known,
        status,
        -- an ok snapshot of that very day: the only values a change is measured between
        status = 'ok' and is_known and not is_carried as is_fresh,
        source_loaded_at
    from {{ ref('int_page_days_filled') }}
    where {{ in_page_bucket('network', 'page_ref') }}
),

snapshots as not materialized (
    select network, page_ref, snapshot_date, status, screen_name
    from {{ ref('stg_raw__page_snapshots') }}
    where {{ in_page_bucket('network', 'page_ref') }}
),

registry as (
    select * from {{ ref('int_registry_pages_resolved') }}
),

calendar_days as (
    select date_day from {{ ref('int_calendar_days') }}
),

registry_seen as (
    {{ registry_seen_at('registry') }}
),

{% if incremental_build() %}
built_bounds as (
    select
        max(filled_built_at) as high_water,
        max(registry_seen_at) as registry_high_water,
        max(snapshot_date) as last_built_date
    from {{ this }}
),

filled_rewritten as (
    {{ filled_days_rewritten(ref('int_page_days_filled'), this) }}
),

-- pages listed for the first time or resolved since the last build: their rows from the first
-- day on (a handful on the days the registry changes, none on the others)
registry_new_pages as (
    select distinct registry.network, registry.page_ref
    from registry
    cross join built_bounds
    where (
            registry.version_number = 1
            and (
                built_bounds.registry_high_water is null
                or registry.version_loaded_at > built_bounds.registry_high_water
            )
        )
        or registry.page_resolved_at > built_bounds.registry_high_water
),

rebuild_starts as (
    select
        case
            when last_built_date is null then cast('1900-01-01' as date)
            else {{ add_days('last_built_date', 1) }}
        end as start_date
    from built_bounds

    union all

    select min(date_day) from filled_rewritten

    union all

    select min(filled.snapshot_date)
    from filled
    inner join registry_new_pages
        on registry_new_pages.network = filled.network
        and registry_new_pages.page_ref = filled.page_ref

    union all

    select min(registry.valid_from)
    from registry
    cross join built_bounds
    where registry.version_number > 1
        and (
            built_bounds.registry_high_water is null
            or registry.version_loaded_at > built_bounds.registry_high_water
        )

    union all

    select min(registry.valid_to)
    from registry
    cross join built_bounds
    where registry.version_ended_at > built_bounds.registry_high_water
),

rebuild_bounds as (
    select min(start_date) as rebuild_start
    from rebuild_starts
),
{% else %}
rebuild_bounds as (
    select cast('1900-01-01' as date) as rebuild_start
),
{% endif %}

{#- a build of the state's day alone (a plain new day) takes its scores from the state -#}
state_bounds as (
    select
        rebuild_start,
        {% if incremental_build() -%}
        coalesce(
            rebuild_start = (select max(state_date) from {{ ref('int_dq_change_state') }}),
            false
        )
        {%- else -%}
        false
        {%- endif %} as scores_from_state
    from rebuild_bounds
),

bounds as (
    select
        rebuild_start,
        scores_from_state,
        -- the running values need the day before rebuild_start (members_prev); the rest
        -- carries from the page's state on that day
        {{ add_days('rebuild_start', -1) }} as window_start,
        -- no day of changes is read when the scores come from the state
        case
            when scores_from_state then cast('9999-12-31' as date)
            else {{ add_days('rebuild_start', -score_reach) }}
        end as score_window_start
    from state_bounds
),

days_to_build as (
    select calendar_days.date_day
    from calendar_days
    cross join bounds
    where calendar_days.date_day >= bounds.rebuild_start
),

-- the registry columns this model keeps
registry_listing as (
    select
        network,
        page_key,
        page_ref,
        ref_kind,
        ref_value,
        valid_from,
        valid_to,
        region_code,
        is_flagship
    from registry
),

-- a few rows per page, joined to its days by date range: a copy of the registry for every day
-- rebuilt cost a first build more than the rest of the join
registry_segments as (
    {{ registry_segments('registry_listing') }}
),

{% if incremental_build() %}
{#- what the last build's rows of the day before rebuild_start hold, per page: all the running
    values of the page's history up to that day (unchanged: every change is on or after
    rebuild_start), so the days rebuilt carry from them instead of from all history -#}
page_states as (
    select
        built.network,
        built.page_ref,
        built.last_ok_date,
        built.last_ok_screen_name,
        -- the status of the page's latest day with one other than error/missing, if any
        case
            when built.effective_status not in ('error', 'missing') then built.effective_status
        end as last_status,
        -- its first day, needed only while it has had no ok day (days_without_ok)
        case
            when built.last_ok_date is null
                then {{ add_days('built.snapshot_date', '1 - built.days_without_ok') }}
        end as first_date
    from {{ this }} as built
    cross join bounds
    where built.snapshot_date = {{ add_days('bounds.rebuild_start', -1) }}
),

{#- pages with history before rebuild_start, listed on a day rebuilt, but not on the day before
    it (listed again after a gap): they carry from their rows before the window, as in a first
    build. None on most days, and then the scans below read nothing. -#}
carried_pages as (
    select filled.network, filled.page_ref
    from filled
    cross join bounds  -- noqa: AL04
    inner join (
        -- the pages registered on a day rebuilt
        select distinct registry_segments.network, registry_segments.page_ref
        from registry_segments
        cross join bounds
        where (
                registry_segments.segment_to is null
                or registry_segments.segment_to > bounds.rebuild_start
            )
            and registry_segments.segment_from <= (select max(date_day) from days_to_build)
    ) as listed
        on listed.network = filled.network
        and listed.page_ref = filled.page_ref
    left join page_states
        on page_states.network = filled.network
        and page_states.page_ref = filled.page_ref
    where filled.snapshot_date = {{ add_days('bounds.rebuild_start', -1) }}
        and page_states.page_ref is null
),
{% else %}
page_states as (
    select
        cast(null as varchar) as network,
        cast(null as varchar) as page_ref,
        cast(null as date) as last_ok_date,
        cast(null as varchar) as last_ok_screen_name,
        cast(null as varchar) as last_status,
        cast(null as date) as first_date
    where false
),

-- a first build reads all history: nothing lies before its window
carried_pages as (
    select network, page_ref from page_states
),
{% endif %}

{#- per page, the rows before the window whose values the windows carry forward -#}
carried_marks as (
    select
        filled.network,
        filled.page_ref,
        min(filled.snapshot_date) as first_date,
        max(case when filled.status = 'ok' then filled.snapshot_date end) as last_ok_date,
        max(case when filled.status not in ('error', 'missing') then filled.snapshot_date end)
            as last_status_date
    from filled
    cross join bounds
    inner join carried_pages
        on carried_pages.network = filled.network
        and carried_pages.page_ref = filled.page_ref
    where filled.snapshot_date < bounds.window_start
    group by filled.network, filled.page_ref
),

carried_dates as (
    select network, page_ref, first_date as snapshot_date from carried_marks
    union
    select network, page_ref, last_ok_date from carried_marks where last_ok_date is not null
    union
    select network, page_ref, last_status_date
    from carried_marks
    where last_status_date is not null
),

page_days as (
    select filled.*
    from filled
    cross join bounds
    where filled.snapshot_date >= bounds.window_start

    union all

    select filled.*
    from filled
    inner join carried_dates
        on carried_dates.network = filled.network
        and carried_dates.page_ref = filled.page_ref
        and carried_dates.snapshot_date = filled.snapshot_date
),

{#- raw's ok rows of the days read, for their screen names: filled's ok days are exactly raw's
    ok rows (its status is the day's own raw status) -#}
ok_snapshots as (
    select snapshots.network, snapshots.page_ref, snapshots.snapshot_date, snapshots.screen_name
    from snapshots
    cross join bounds
    where snapshots.status = 'ok'
        and snapshots.snapshot_date >= bounds.window_start

    union all

    select snapshots.network, snapshots.page_ref, snapshots.snapshot_date, snapshots.screen_name
    from snapshots
    inner join carried_dates
        on carried_dates.network = snapshots.network
        and carried_dates.page_ref = snapshots.page_ref
        and carried_dates.snapshot_date = snapshots.snapshot_date
    where snapshots.status = 'ok'
),

named_page_days as (
    select page_days.*, ok_snapshots.screen_name
    from page_days
    left join ok_snapshots
        on ok_snapshots.network = page_days.network
        and ok_snapshots.page_ref = page_days.page_ref
        and ok_snapshots.snapshot_date = page_days.snapshot_date
),

page_histories as (
    select
        network,
        page_ref,
        snapshot_date,
        status,
        members_count,
        source_loaded_at,
        is_fresh,
        lag(members_count) over page_order as members_prev,
        coalesce(lag(is_fresh) over page_order, false) as is_prev_fresh,
        min(snapshot_date) over (partition by network, page_ref) as first_snapshot_date,
        max(case when status = 'ok' then snapshot_date end) over page_history as last_ok_date,
        case when status = 'ok' then screen_name end as screen_name,
        -- the running values of the days read so far: the status of the latest day with one
        -- other than error/missing, the screen name of the latest ok day, and the ok day
        -- before this one with its screen name. A name is wrapped in a struct so that an ok
        -- day without one counts (its NULL name is the latest), where IGNORE NULLS would skip it
        last_value(case when status not in ('error', 'missing') then status end ignore nulls)
            over page_history as running_status,
        last_value(case when status = 'ok' then {'name': screen_name} end ignore nulls)
            over page_history as ok_name,
        max(case when status = 'ok' then snapshot_date end)
            over earlier_days as window_previous_ok_date,
        last_value(case when status = 'ok' then {'name': screen_name} end ignore nulls)
            over earlier_days as previous_ok_name
    from named_page_days
    window
        page_order as (partition by network, page_ref order by snapshot_date),
        page_history as (
            partition by network, page_ref order by snapshot_date
            rows between unbounded preceding and current row
        ),
        earlier_days as (
            partition by network, page_ref order by snapshot_date
            rows between unbounded preceding and 1 preceding
        )
),

{#- the changes the scores read, over their own reach (longer than the running values need):
    a change is a lag of filled, which is dense from each page's first day; the reach's first
    day has no day before it read, so it has no change -#}
score_days as (
    select
        filled.network,
        filled.page_ref,
        filled.snapshot_date,
        filled.members_count,
        filled.is_fresh
    from filled
    cross join bounds
    where filled.snapshot_date >= bounds.score_window_start
),

page_changes as (
    {{ dq_page_changes('score_days', '(select score_window_start from bounds)') }}
),

{#- a first build scores every change: no filter between its windows -#}
window_scores as (
    {{ dq_change_scores(
        'page_changes', '(select rebuild_start from bounds)' if incremental_build() else none) }}
),

change_scores as (
    select * from window_scores

    {% if incremental_build() -%}
    union all

    select
        state.network,
        state.page_ref,
        state.state_date as snapshot_date,
        state.history_days,
        state.same_weekday_days,
        state.is_seasonal,
        state.expected_change,
        state.typical_deviation,
        state.change_scale,
        state.z_score
    from {{ ref('int_dq_change_state') }} as state
    cross join bounds
    where bounds.scores_from_state
        and state.state_date = bounds.rebuild_start
        and state.change is not null
    {%- endif %}
),

{#- the days rebuilt with the running values of the page's history: the window's own where
    it has them (its days from window_start on are at least as new), else the page's state on
    the day before rebuild_start (page_states; nothing before rebuild_start changed) -#}
rebuilt_days as (
    select
        page_histories.*,
        coalesce(page_histories.last_ok_date, page_states.last_ok_date) as last_ok_to_date,
        coalesce(page_states.first_date, page_histories.first_snapshot_date) as first_to_date,
        page_states.last_status as state_last_status,
        page_states.last_ok_date as state_last_ok_date,
        page_states.last_ok_screen_name as state_last_ok_screen_name
    from page_histories
    cross join bounds
    left join page_states
        on page_states.network = page_histories.network
        and page_states.page_ref = page_histories.page_ref
    where page_histories.snapshot_date >= bounds.rebuild_start
),

{#- written out before the registry join (`as materialized`): otherwise DuckDB probes
    the change scores' hash table and the per-day registry's in one pipeline, both as large as
    the days rebuilt, and a first build ran out of memory holding them at once
    (docs/perf-notes/transform.md, 2026-12-06) -#}
page_day_facts as materialized (
    select
        rebuilt_days.network,
        rebuilt_days.page_ref,
        rebuilt_days.snapshot_date,
        rebuilt_days.status,
        coalesce(
            rebuilt_days.running_status,
            rebuilt_days.state_last_status,
            rebuilt_days.status
        ) as effective_status,
        rebuilt_days.members_count,
        rebuilt_days.is_fresh,
        rebuilt_days.members_prev,
        rebuilt_days.is_prev_fresh,
        rebuilt_days.last_ok_to_date as last_ok_date,
        case
            when rebuilt_days.last_ok_to_date is not null
                then {{ dbt.datediff('rebuilt_days.last_ok_to_date',
                    'rebuilt_days.snapshot_date', 'day') }}
            else {{ dbt.datediff('rebuilt_days.first_to_date',
                'rebuilt_days.snapshot_date', 'day') }} + 1
        end as days_without_ok,
        rebuilt_days.screen_name,
        -- set on ok days; one with no earlier ok day in the window: the state's is the one before
        case
            when rebuilt_days.status <> 'ok' then null
            when rebuilt_days.window_previous_ok_date is not null
                then struct_extract(rebuilt_days.previous_ok_name, 'name')
            else rebuilt_days.state_last_ok_screen_name
        end as previous_screen_name,
        case
            when rebuilt_days.status = 'ok'
                then coalesce(
                    rebuilt_days.window_previous_ok_date, rebuilt_days.state_last_ok_date
                )
        end as previous_ok_date,
        case
            when rebuilt_days.last_ok_date is not null
                then struct_extract(rebuilt_days.ok_name, 'name')
            else rebuilt_days.state_last_ok_screen_name
        end as last_ok_screen_name,
        case
            when rebuilt_days.is_fresh and rebuilt_days.is_prev_fresh
                then rebuilt_days.members_count - rebuilt_days.members_prev
        end as change,
        change_scores.history_days,
        change_scores.same_weekday_days,
        change_scores.is_seasonal,
        change_scores.expected_change,
        change_scores.typical_deviation,
        change_scores.change_scale,
        change_scores.z_score,
        rebuilt_days.source_loaded_at
    from rebuilt_days
    left join change_scores
        on change_scores.network = rebuilt_days.network
        and change_scores.page_ref = rebuilt_days.page_ref
        and change_scores.snapshot_date = rebuilt_days.snapshot_date
),

registered_page_days as (
    select
        page_day_facts.*,
        registry_segments.region_code,
        coalesce(registry_segments.is_flagship, false) as is_flagship,
        registry_seen.registry_seen_at,
        {{ filled_high_water() }} as filled_built_at,
        {{ build_started_at() }} as built_at
    from page_day_facts
    cross join registry_seen
    inner join registry_segments
        on registry_segments.network = page_day_facts.network
        and registry_segments.page_ref = page_day_facts.page_ref
        and {{ registry_segment_has('registry_segments', 'page_day_facts.snapshot_date') }}
)

select * from registered_page_days
