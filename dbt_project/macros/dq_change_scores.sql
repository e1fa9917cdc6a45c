{#-
    Robust z-score of a page's day-over-day change against its own recent changes (after
    elementary's volume_anomalies, made seasonal and robust). `page_changes` holds one row per
    page and day from the page's first day read to its last (network, page_ref, snapshot_date,
    change; change NULL where not fresh), so that the row L back is the day L days back. Every
    change from `scored_from` on (a date expression; all when none) is scored (a filter: a join
    with a table of the days to score cost a first build as much as a window), and each step
    reads only the days the next one needs. For a change on day d:
      training    the page's changes from d - detection_days - training_days + 1 to
                  d - detection_days (the last detection_days - 1 days stay out, so an anomaly
                  spread over two days cannot hide itself);
      expected    the median of the training changes on d's weekday (the last training_days / 7
                  of them) when at least min_same_weekday exist, else the median of the three
                  latest training days' changes, else (none of those fresh) the training's mean;
      deviation   each training day's absolute deviation from its own expected change (the same
                  rule on its own training), capped at deviation_clip times the mean of those
                  deviations over its own training, then averaged over d's training: a one-day
                  glitch in the training is capped by the days before it, and the weekly pattern
                  is left out because each day is measured against its own weekday;
      scale       sqrt(pi / 2) * deviation (a normal spread's standard deviation from its mean
                  absolute deviation), never below min_scale;
      z           (change - expected) / scale; NULL until min_history_days changes exist.
    Every step is a framed sum or count, or a lag: DuckDB slides them along one sort of each
    page's days. The exact medians this replaced (the median absolute deviation of 28 values on
    every row) cost far more than a plain rolling z-score (docs/perf-notes/quality.md, "The detector
    replaced"); this detector's false alarms and recall are measured in
    bench/bench_dq_alarms.py and bench/compare_change_detectors.py.
    A day's score reads the changes up to dq_change_reach() days back (a training day's
    deviation needs its own training, whose expected changes need theirs): a build that
    rewrites days from D gives the windows every day from D - dq_change_reach() on.
    Returns one row per scored change: network, page_ref, snapshot_date, history_days,
    same_weekday_days, is_seasonal, expected_change, typical_deviation, change_scale, z_score;
    with every_day, one row per day from scored_from on, whether or not it has a change, with
    its change, deviation and capped_deviation too (what the next days' scores read: the
    page's state, int_dq_change_state); trail_days (up to dq_state_days() - 1) adds as many
    days before scored_from with those three columns and no scores.
-#}
{% macro dq_change_scores(page_changes, scored_from=none, every_day=false, trail_days=0) -%}
    {%- set training_days = dq_setting('zscore', 'training_days') | int -%}
    {%- set detection_days = dq_setting('zscore', 'detection_days') | int -%}
    {%- set min_same_weekday = dq_setting('zscore', 'min_same_weekday') -%}
    {%- if training_days % 7 != 0 -%}
        {{ exceptions.raise_compiler_error(
            "dq var: dq.zscore.training_days must be a whole number of weeks, got "
            ~ training_days) }}
    {%- endif -%}
    {%- set training_reach = detection_days + training_days - 1 -%}
    {%- set lags = dq_change_lags() -%}
    {#- The deviations, in millionths of a subscriber, are summed as whole numbers in doubles:
        a framed sum adds in an order that depends on where the page's rows start, so sums of
        fractions would differ in the last bits between a rebuild's window and all history;
        sums of whole numbers below 2^53 are exact in any order (28 deviations of up to
        3 * 10^8 subscribers each). Decimal sums are exact too, and slower. -#}
    {%- set micro = 1000000 -%}
    {%- set training -%}
        (partition by network, page_ref order by snapshot_date
         rows between {{ training_reach }} preceding and {{ detection_days }} preceding)
    {%- endset -%}
    with trainings as (
        select
            network,
            page_ref,
            snapshot_date,
            change,
            count(change) over training as history_days,
            sum(change) over training as training_sum,
            {%- for lag in lags.lagged %}
            lag(change, {{ lag }}) over page_days as change_{{ lag }}{{ ',' if not loop.last }}
            {%- endfor %}
        from {{ page_changes }}
        window
            page_days as (partition by network, page_ref order by snapshot_date),
            training as {{ training }}
    ),

    counted as (
        select
            *,
            {{ dq_count_present(lags.same_weekday) }} as same_weekday_days,
            {{ dq_count_present(lags.recent) }} as recent_days
        from trainings
    ),

    expectations as (
        select
            network,
            page_ref,
            snapshot_date,
            change,
            history_days,
            same_weekday_days,
            same_weekday_days >= {{ min_same_weekday }} as is_seasonal,
            {{ dq_expected_change(lags) }} as expected_change
        from counted
    ),

    measured as (
        select *, round(abs(change - expected_change) * {{ micro }}) as deviation
        from expectations
        {#- a score from scored_from on reads the deviations of two trainings before it -#}
        {%- if scored_from is not none %}
        where snapshot_date >= {{ add_days(scored_from, -2 * training_reach) }}
        {%- endif %}
    ),

    deviations as (
        select
            *,
            sum(deviation) over training / nullif(count(deviation) over training, 0)
                as raw_deviation
        from measured
        window training as {{ training }}
    ),

    {#- a day's deviation counts at most deviation_clip times the mean deviation of its own
        training; uncapped while it has none, as least() skips NULL (so a day without a
        deviation must stay NULL before least() sees it) -#}
    capped as (
        select
            *,
            case when deviation is not null then least(
                deviation, round({{ dq_setting('zscore', 'deviation_clip') }} * raw_deviation)
            ) end as capped_deviation
        from deviations
        {%- if scored_from is not none %}
        where snapshot_date >= {{ add_days(scored_from, -training_reach) }}
        {%- endif %}
    ),

    spreads as (
        select
            *,
            sum(capped_deviation) over training
                / nullif(count(capped_deviation) over training, 0) / {{ micro }}
                as typical_deviation
        from capped
        window training as {{ training }}
    ),

    scales as (
        select
            *,
            greatest(
                sqrt(pi() / 2) * typical_deviation,
                {{ dq_setting('zscore', 'min_scale') }}
            ) as change_scale
        from spreads
        where {{ 'true' if every_day else 'change is not null' }}
            {%- if scored_from is not none %}
            and snapshot_date >= {{ add_days(scored_from, -trail_days) }}
            {%- endif %}
    )

    {#- the trail days before scored_from have their changes and deviations, but their
        scores would read capped deviations the filters above left out -#}
    {%- set trails = trail_days > 0 and scored_from is not none -%}
    {%- set when_scored = 'case when snapshot_date >= ' ~ scored_from ~ ' then ' if trails else '' -%}
    {%- set end_scored = ' end' if trails else '' %}
    select
        network,
        page_ref,
        snapshot_date,
        {{ when_scored }}cast(history_days as integer){{ end_scored }} as history_days,
        {{ when_scored }}cast(same_weekday_days as integer){{ end_scored }} as same_weekday_days,
        {{ when_scored }}is_seasonal{{ end_scored }} as is_seasonal,
        {{ when_scored }}cast(expected_change as double precision){{ end_scored }}
            as expected_change,
        {{ when_scored }}cast(typical_deviation as double precision){{ end_scored }}
            as typical_deviation,
        {{ when_scored }}cast(change_scale as double precision){{ end_scored }} as change_scale,
        case
            when history_days >= {{ dq_setting('zscore', 'min_history_days') }}
                and typical_deviation is not null
                {%- if trails %}
                and snapshot_date >= {{ scored_from }}
                {%- endif %}
                then cast((change - expected_change) / change_scale as double precision)
        end as z_score
        {%- if every_day %},
        change,
        deviation,
        capped_deviation
        {%- endif %}
    from scales
{%- endmacro %}

{#- How many days before a scored day its score reads: its training, each training day's own
    training (for the cap on its deviation), and theirs (for their expected changes). -#}
{% macro dq_change_reach() -%}
    {{ return(3 * (dq_setting('zscore', 'detection_days') | int
        + dq_setting('zscore', 'training_days') | int - 1)) }}
{%- endmacro %}

{#- The days back (lags) a day's expected change reads: its training is detection_days ..
    detection_days + training_days - 1 days back; `same_weekday` are the whole weeks among them
    (the day's own weekday), `recent` the three latest training days (for pages without enough
    same-weekday days), `lagged` both, sorted. -#}
{% macro dq_change_lags() -%}
    {%- set detection_days = dq_setting('zscore', 'detection_days') | int -%}
    {%- set training_reach = detection_days + dq_setting('zscore', 'training_days') | int - 1 -%}
    {%- set same_weekday = [] -%}
    {%- for lag in range(detection_days, training_reach + 1) if lag % 7 == 0 -%}
        {%- do same_weekday.append(lag) -%}
    {%- endfor -%}
    {%- set recent = range(detection_days, detection_days + 3) | list -%}
    {{ return({
        'same_weekday': same_weekday,
        'recent': recent,
        'lagged': (same_weekday + recent) | unique | sort,
    }) }}
{%- endmacro %}

{#- A day's expected change from its change_<lag> columns (`lags` from dq_change_lags) and its
    same_weekday_days, recent_days, history_days and training_sum: the median of its weekday's
    training changes when at least min_same_weekday exist, else the median of the three latest
    training days', else (none of those fresh) the training's mean. -#}
{% macro dq_expected_change(lags) -%}
    {%- set min_same_weekday = dq_setting('zscore', 'min_same_weekday') -%}
    case
        when same_weekday_days >= {{ min_same_weekday }}
            then {{ dq_short_median(lags.same_weekday) }}
        when recent_days > 0 then {{ dq_short_median(lags.recent) }}
        when history_days > 0 then cast(training_sum as double) / history_days
    end
{%- endmacro %}

{#- How many of the lagged change columns change_<lag> of `lags` hold a value. -#}
{% macro dq_count_present(lags) -%}
    ({% for lag in lags %}cast(change_{{ lag }} is not null as integer){{ ' + ' if not loop.last }}{% endfor %})
{%- endmacro %}

{#- The lagged change columns change_<lag> of `lags`, comma-separated. -#}
{% macro dq_change_columns(lags) -%}
    {%- for lag in lags %}change_{{ lag }}{{ ', ' if not loop.last }}{% endfor -%}
{%- endmacro %}

{#- The median of the lagged change columns of `lags`, NULLs left out, as list_median gives it.
    Up to four columns (a weekday's training changes under the usual settings) it comes in
    closed form from their count, sum, largest and smallest (greatest and least skip NULLs):
    the same value without building a list on every row. More columns go through list_median. -#}
{% macro dq_short_median(lags) -%}
    {%- if lags | length > 4 -%}
    list_median([{{ dq_change_columns(lags) }}])
    {%- else -%}
    {%- set total -%}
        ({% for lag in lags %}coalesce(change_{{ lag }}, 0){{ ' + ' if not loop.last }}{% endfor %})
    {%- endset -%}
    {%- set middle -%}
        ({{ total }} - greatest({{ dq_change_columns(lags) }}) - least({{ dq_change_columns(lags) }}))
    {%- endset -%}
    case {{ dq_count_present(lags) }}
        when 1 then cast({{ total }} as double)
        when 2 then {{ total }} / 2.0
        {%- if lags | length >= 3 %}
        when 3 then cast({{ middle }} as double)
        {%- endif %}
        {%- if lags | length == 4 %}
        when 4 then {{ middle }} / 2.0
        {%- endif %}
    end
    {%- endif -%}
{%- endmacro %}

{#- Each page day's change from `page_days` (network, page_ref, snapshot_date, members_count,
    is_fresh; dense from the first day read): the count minus the day before's when both days
    are fresh, else NULL. The days up to `after` (a date expression, the first day read) are
    left out: the day before them was not read. -#}
{% macro dq_page_changes(page_days, after) -%}
    select network, page_ref, snapshot_date, change
    from (
        select
            network,
            page_ref,
            snapshot_date,
            case
                when is_fresh and lag(is_fresh) over page_order
                    then members_count - lag(members_count) over page_order
            end as change
        from {{ page_days }}
        window page_order as (partition by network, page_ref order by snapshot_date)
    ) as changes
    where snapshot_date > {{ after }}
{%- endmacro %}

{#- How many days of a page's changes, deviations and capped deviations its state keeps: a
    day's score reads those of its training, up to detection_days + training_days - 1 back. -#}
{% macro dq_state_days() -%}
    {{ return(dq_setting('zscore', 'detection_days') | int
        + dq_setting('zscore', 'training_days') | int - 1) }}
{%- endmacro %}

{#-
    The same scores as dq_change_scores (every_day), for one day, from the page's state on the
    day before instead of its history: `steps` holds one row per page with its day's
    members_count and is_fresh (network, page_ref, snapshot_date) and its state of the day
    before (state_members_count, state_is_fresh, and the lists changes, deviations,
    capped_deviations, element k being the day k days back; NULL lists for a page without
    one). Every sum and count of a training is a list_sum or list_count of a slice of a list,
    over the same whole numbers as the windows (sums exact in any order), so a day's scores are
    bit for bit those of the windows over all history. Returns the columns of
    dq_change_scores(every_day=true) and the lists of the next state (element 1 the day itself).
-#}
{% macro dq_change_step(steps) -%}
    {%- set detection_days = dq_setting('zscore', 'detection_days') | int -%}
    {%- set min_same_weekday = dq_setting('zscore', 'min_same_weekday') -%}
    {%- set state_days = dq_state_days() | int -%}
    {%- set lags = dq_change_lags() -%}
    {%- set micro = 1000000 -%}
    {%- set empty -%}list_resize(cast([] as bigint[]), {{ state_days }}){%- endset -%}
    {%- set empty_double -%}list_resize(cast([] as double[]), {{ state_days }}){%- endset -%}
    with stepped as (
        select
            network,
            page_ref,
            snapshot_date,
            members_count,
            is_fresh,
            case
                when is_fresh and state_is_fresh then members_count - state_members_count
            end as change,
            coalesce(changes, {{ empty }}) as changes,
            coalesce(deviations, {{ empty_double }}) as deviations,
            coalesce(capped_deviations, {{ empty_double }}) as capped_deviations
        from {{ steps }}
    ),

    trainings as (
        select
            *,
            list_count(changes[{{ detection_days }}:{{ state_days }}]) as history_days,
            list_sum(changes[{{ detection_days }}:{{ state_days }}]) as training_sum,
            {%- for lag in lags.lagged %}
            changes[{{ lag }}] as change_{{ lag }},
            {%- endfor %}
            list_sum(deviations[{{ detection_days }}:{{ state_days }}])
                / nullif(list_count(deviations[{{ detection_days }}:{{ state_days }}]), 0)
                as raw_deviation,
            list_sum(capped_deviations[{{ detection_days }}:{{ state_days }}])
                / nullif(list_count(capped_deviations[{{ detection_days }}:{{ state_days }}]), 0)
                / {{ micro }} as typical_deviation
        from stepped
    ),

    counted as (
        select
            *,
            {{ dq_count_present(lags.same_weekday) }} as same_weekday_days,
            {{ dq_count_present(lags.recent) }} as recent_days
        from trainings
    ),

    expectations as (
        select
            *,
            same_weekday_days >= {{ min_same_weekday }} as is_seasonal,
            {{ dq_expected_change(lags) }} as expected_change
        from counted
    ),

    measured as (
        select *, round(abs(change - expected_change) * {{ micro }}) as deviation
        from expectations
    ),

    scales as (
        select
            *,
            case when deviation is not null then least(
                deviation, round({{ dq_setting('zscore', 'deviation_clip') }} * raw_deviation)
            ) end as capped_deviation,
            greatest(
                sqrt(pi() / 2) * typical_deviation,
                {{ dq_setting('zscore', 'min_scale') }}
            ) as change_scale
        from measured
    )

    select
        network,
        page_ref,
        snapshot_date,
        members_count,
        is_fresh,
        cast(history_days as integer) as history_days,
        cast(same_weekday_days as integer) as same_weekday_days,
        is_seasonal,
        cast(expected_change as double precision) as expected_change,
        cast(typical_deviation as double precision) as typical_deviation,
        cast(change_scale as double precision) as change_scale,
        case
            when history_days >= {{ dq_setting('zscore', 'min_history_days') }}
                and typical_deviation is not null
                then cast((change - expected_change) / change_scale as double precision)
        end as z_score,
        change,
        deviation,
        capped_deviation,
        list_prepend(change, changes[1:{{ state_days - 1 }}]) as changes,
        list_prepend(deviation, deviations[1:{{ state_days - 1 }}]) as deviations,
        list_prepend(capped_deviation, capped_deviations[1:{{ state_days - 1 }}])
            as capped_deviations
    from scales
{%- endmacro %}
