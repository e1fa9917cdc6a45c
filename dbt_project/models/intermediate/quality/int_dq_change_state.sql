{#-
    Each page's change-score state on the latest day of int_page_days_filled: one row per page
    with its count and freshness that day, its last dq_state_days() changes, deviations and
    capped deviations (element k the day k - 1 days before state_date: what the next day's
    score reads, macro dq_change_step), and the scores of state_date itself. int_dq_page_days
    takes a new day's scores from here instead of sliding its windows over three months of
    every page's changes.

    How a build moves it, decided before the statement runs (run_query below):
      step     int_page_days_filled rewrote exactly the day after state_date since the state
               was written (filled_built_at; macro filled_days_rewritten): that day's row of
               each page, joined to its state, gives the new state (dq_change_step);
      replay   anything else (a rerun of an old day, imported history, a page registered or
               gone, a first build): the windows of dq_change_scores over the changes the
               latest day's score reaches, its score and the last dq_state_days() days'
               changes and deviations (trail_days) kept as lists;
      kept     nothing rewritten: the rows are copied as they are;
      skipped  a bucket of a first build split by page (macro page_bucket): the buckets' page-day
               rows are built without it, so it is left empty until the build of
               everything after the last bucket replays it (an empty state is replayed).
    Both ways give the scores of the windows over all history, bit for bit
    (tests/test_dq_change_scores.py, tests/test_incremental_models.py).
    A table written whole on every build, from its own previous rows: one row per page, so a
    new table costs less than deleting and inserting every row of the old one.
-#}
{{ config(materialized='table') }}
{%- set state_days = dq_state_days() | int -%}
{%- set previous = none -%}
{%- if execute and not flags.FULL_REFRESH -%}
    {%- set previous = adapter.get_relation(
        database=this.database, schema=this.schema, identifier=this.identifier) -%}
{%- endif -%}
{%- set mode = 'replay' -%}
{%- if page_bucket() is not none -%}
    {%- set mode = 'skipped' -%}
{%- elif previous is not none -%}
    {%- set probe -%}
        select
            (select max(state_date) from {{ previous }}) as state_date,
            min(date_day) as first_rewritten,
            max(date_day) as last_rewritten
        from ({{ filled_days_rewritten(ref('int_page_days_filled'), previous) }}) as rewritten
    {%- endset -%}
    {%- set seen = run_query(probe).rows[0] -%}
    {%- if seen[1] is none -%}
        {%- set mode = 'kept' -%}
    {%- elif seen[0] is not none and seen[1] == seen[2]
            and (seen[1] - seen[0]).days == 1 -%}
        {%- set mode = 'step' -%}
    {%- endif -%}
{%- endif %}
-- mode: {{ mode }}
{% if mode == 'kept' -%}
select * from {{ previous }}
{%- else -%}
with filled as not materialized (
    select
        network,
        page_ref,
        snapshot_date,
        members_count,
        status = 'ok' and is_known and not is_carried as is_fresh
    from {{ ref('int_page_days_filled') }}
),

{% if mode == 'step' %}
steps as (
    select
        today.network,
        today.page_ref,
        today.snapshot_date,
        today.members_count,
        today.is_fresh,
        state.members_count as state_members_count,
        state.is_fresh as state_is_fresh,
        state.changes,
        state.deviations,
        state.capped_deviations
    from filled as today
    left join {{ previous }} as state
        on state.network = today.network
        and state.page_ref = today.page_ref
        and state.state_date = {{ add_days('today.snapshot_date', -1) }}
    where today.snapshot_date = (select max(snapshot_date) from filled)
),

states as (
    select * from ({{ dq_change_step('steps') }}) as stepped
)
{% elif mode == 'replay' %}
last_day as (
    select max(snapshot_date) as state_date from filled
),

{#- the changes the last day's score reads: its reach, and a day before it (which also
    covers the deviations of the days the lists keep) -#}
score_days as (
    select filled.*
    from filled
    cross join last_day
    where filled.snapshot_date
        >= {{ add_days('last_day.state_date', -(dq_change_reach() | int + 1)) }}
),

page_changes as (
    {{ dq_page_changes('score_days', '(select min(snapshot_date) from score_days)') }}
),

trails as (
    {{ dq_change_scores(
        'page_changes',
        '(select state_date from last_day)',
        every_day=true,
        trail_days=state_days - 1,
    ) }}
),

{#- element k of each list from the day k - 1 days back: one hash aggregate, no sort (a
    list() ordered by day held every page's rows at once) -#}
lists as (
    select
        trails.network,
        trails.page_ref,
        -- noqa: disable=LT02
        {%- for column, name in [
            ('change', 'changes'),
            ('deviation', 'deviations'),
            ('capped_deviation', 'capped_deviations'),
        ] %}
        [
            {%- for days_back in range(state_days) %}
            max(trails.{{ column }}) filter (
                where trails.snapshot_date = {{ add_days('last_day.state_date', -days_back) }}
            ){{ ',' if not loop.last }}
            {%- endfor %}
        ] as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    -- noqa: enable=LT02
    from trails
    cross join last_day
    group by trails.network, trails.page_ref
),

states as (
    select
        today.network,
        today.page_ref,
        today.snapshot_date,
        today.members_count,
        today.is_fresh,
        trails.history_days,
        trails.same_weekday_days,
        trails.is_seasonal,
        trails.expected_change,
        trails.typical_deviation,
        trails.change_scale,
        trails.z_score,
        trails.change,
        trails.deviation,
        trails.capped_deviation,
        lists.changes,
        lists.deviations,
        lists.capped_deviations
    from filled as today
    cross join last_day
    left join trails
        on trails.network = today.network
        and trails.page_ref = today.page_ref
        and trails.snapshot_date = today.snapshot_date
    left join lists
        on lists.network = today.network
        and lists.page_ref = today.page_ref
    where today.snapshot_date = last_day.state_date
)
{% else %}
{#- skipped: no row (the columns of the state, from an empty step) -#}
steps as (
    select
        network,
        page_ref,
        snapshot_date,
        members_count,
        is_fresh,
        members_count as state_members_count,
        is_fresh as state_is_fresh,
        cast(null as bigint[]) as changes,
        cast(null as double[]) as deviations,
        cast(null as double[]) as capped_deviations
    from filled
    where false
),

states as (
    select * from ({{ dq_change_step('steps') }}) as stepped
)
{% endif %}

{#- one type per column whichever way the rows came -#}
select
    network,
    page_ref,
    snapshot_date as state_date,
    cast(members_count as bigint) as members_count,
    is_fresh,
    cast(change as bigint) as change,
    history_days,
    same_weekday_days,
    is_seasonal,
    expected_change,
    typical_deviation,
    change_scale,
    z_score,
    cast(changes as bigint[]) as changes,
    cast(deviations as double[]) as deviations,
    cast(capped_deviations as double[]) as capped_deviations,
    {{ filled_high_water() }} as filled_built_at
from states
{%- endif %}
