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
    every row) cost far more than a plain rolling z-score (BENCHMARKS.md, "The detector
    replaced"); this detector's false alarms and recall are measured in
    bench/bench_dq_alarms.py and bench/compare_change_detectors.py.
    A day's score reads the changes up to dq_change_reach() days back (a training day's
    deviation needs its own training, whose expected changes need theirs): a build that
    rewrites days from D gives the windows every day from D - dq_change_reach() on.
    Returns one row per scored change: network, page_ref, snapshot_date, history_days,
    same_weekday_days, is_seasonal, expected_change, typical_deviation, change_scale, z_score.
-#}
{% macro dq_change_scores(page_changes, scored_from=none) -%}
    {%- set training_days = dq_setting('zscore', 'training_days') | int -%}
    {%- set detection_days = dq_setting('zscore', 'detection_days') | int -%}
    {%- set min_same_weekday = dq_setting('zscore', 'min_same_weekday') -%}
    {%- if training_days % 7 != 0 -%}
        {{ exceptions.raise_compiler_error(
            "dq var: dq.zscore.training_days must be a whole number of weeks, got "
            ~ training_days) }}
    {%- endif -%}
    {%- set training_reach = detection_days + training_days - 1 -%}
    {#- the training rows of day d are detection_days .. training_reach back; those on d's own
        weekday are the whole weeks among them -#}
    {%- set same_weekday_lags = [] -%}
    {%- for lag in range(detection_days, training_reach + 1) if lag % 7 == 0 -%}
        {%- do same_weekday_lags.append(lag) -%}
    {%- endfor -%}
    {#- the three latest training days, for pages without enough same-weekday days -#}
    {%- set recent_lags = range(detection_days, detection_days + 3) | list -%}
    {%- set lagged = (same_weekday_lags + recent_lags) | unique | sort -%}
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
            {%- for lag in lagged %}
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
            {{ dq_count_present(same_weekday_lags) }} as same_weekday_days,
            {{ dq_count_present(recent_lags) }} as recent_days
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
            case
                when same_weekday_days >= {{ min_same_weekday }}
                    then {{ dq_short_median(same_weekday_lags) }}
                when recent_days > 0 then {{ dq_short_median(recent_lags) }}
                when history_days > 0 then cast(training_sum as double) / history_days
            end as expected_change
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
        where change is not null
            {%- if scored_from is not none %}
            and snapshot_date >= {{ scored_from }}
            {%- endif %}
    )

    select
        network,
        page_ref,
        snapshot_date,
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
        end as z_score
    from scales
{%- endmacro %}

{#- How many days before a scored day its score reads: its training, each training day's own
    training (for the cap on its deviation), and theirs (for their expected changes). -#}
{% macro dq_change_reach() -%}
    {{ return(3 * (dq_setting('zscore', 'detection_days') | int
        + dq_setting('zscore', 'training_days') | int - 1)) }}
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
