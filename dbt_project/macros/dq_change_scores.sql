{#-
    Robust z-score of a page's day-over-day change against its own recent changes (after
    elementary's volume_anomalies, made robust and seasonal). `changes` holds every fresh change
    the training may use (network, page_ref, snapshot_date, change); `scored` the changes to
    score (same columns). For a scored change on day d:
      training    the page's changes from d - detection_days - training_days + 1 to
                  d - detection_days (the last detection_days - 1 days stay out, so an anomaly
                  spread over two days cannot hide itself);
      expected    the median of the training changes on the same weekday as d, or of all
                  training changes when fewer than min_same_weekday such days exist;
      scale       mad_scale * MAD, the median absolute deviation of each training change from
                  its own weekday's median (pooled over weekdays, so it is not inflated by the
                  weekly pattern), never below min_scale;
      z           (change - expected) / scale; NULL until min_history_days changes exist.
    training_days must be whole weeks, so that each weekday has the same number of training
    days and a weekday's median is the median of that weekday's last training_days / 7 weeks.
    Two implementations, equal row for row (tests/test_dq_change_scores.py):
      default     each scored day asks for its training days by date, joined on equality (a
                  range join on the page alone would pair every day of a page's history with
                  every other), then grouped medians: training_days rows per scored change;
      duckdb      one sort of each page's days: the training changes as lagged columns,
                  each weekday's median in closed form (dq_short_median), the MAD and, where
                  no weekday median is used, the overall median as medians of short lists (a
                  full history at federal size would otherwise expand to billions of pairs
                  held in hash groups). It needs one row per page
                  and day from the page's first day to its last (change NULL where not
                  fresh), as int_dq_page_days gives it, so that lag L is the day L days back.
    `implementation` ('pairs' or 'windows') overrides the adapter's choice: the pairs cost
    training_days rows per scored change, the windows a framed median per day of `changes`
    however few are scored, so a DuckDB build that scores a few days pairs them.
    Returns one row per scored change: network, page_ref, snapshot_date, history_days,
    same_weekday_days, is_seasonal, expected_change, mad, change_scale, z_score.
-#}
{% macro dq_change_scores(page_changes, scored, implementation=none) -%}
    {%- if dq_setting('zscore', 'training_days') | int % 7 != 0 -%}
        {{ exceptions.raise_compiler_error(
            "dq var: dq.zscore.training_days must be a whole number of weeks, got "
            ~ dq_setting('zscore', 'training_days')) }}
    {%- endif -%}
    {%- if implementation == 'pairs' -%}
        {{ return(default__dq_change_scores(page_changes, scored)) }}
    {%- elif implementation == 'windows' -%}
        {{ return(duckdb__dq_change_scores(page_changes, scored)) }}
    {%- elif implementation is not none -%}
        {{ exceptions.raise_compiler_error(
            "dq_change_scores: implementation must be pairs or windows, got " ~ implementation) }}
    {%- endif -%}
    {{ return(adapter.dispatch('dq_change_scores')(page_changes, scored)) }}
{%- endmacro %}

{% macro default__dq_change_scores(page_changes, scored) -%}
    {%- set training_days = dq_setting('zscore', 'training_days') | int -%}
    {%- set detection_days = dq_setting('zscore', 'detection_days') | int -%}
    {%- set min_same_weekday = dq_setting('zscore', 'min_same_weekday') -%}
    with training_days_back as (
        {% for days_back in range(detection_days, detection_days + training_days) -%}
        select {{ days_back }} as days_back{{ ' union all' if not loop.last }}
        {% endfor %}
    ),

    training_asks as (
        select
            scored.network,
            scored.page_ref,
            scored.snapshot_date,
            mod(training_days_back.days_back, 7) as weekday_lag,
            {{ add_days('scored.snapshot_date', '-training_days_back.days_back') }} as past_date
        from {{ scored }} as scored
        cross join training_days_back
    ),

    training_changes as (
        select
            training_asks.network,
            training_asks.page_ref,
            training_asks.snapshot_date,
            past.change as past_change,
            training_asks.weekday_lag
        from training_asks
        inner join {{ page_changes }} as past
            on past.network = training_asks.network
            and past.page_ref = training_asks.page_ref
            and past.snapshot_date = training_asks.past_date
        where past.change is not null
    ),

    weekday_medians as (
        select
            network,
            page_ref,
            snapshot_date,
            weekday_lag,
            {{ dq_median('past_change') }} as weekday_median
        from training_changes
        group by network, page_ref, snapshot_date, weekday_lag
    ),

    training_summaries as (
        select
            training_changes.network,
            training_changes.page_ref,
            training_changes.snapshot_date,
            count(*) as history_days,
            sum(case when training_changes.weekday_lag = 0 then 1 else 0 end)
                as same_weekday_days,
            {{ dq_median('training_changes.past_change') }} as overall_median,
            {{ dq_median('case when training_changes.weekday_lag = 0 '
                'then training_changes.past_change end') }} as same_weekday_median,
            {{ dq_median('abs(training_changes.past_change - weekday_medians.weekday_median)') }}
                as mad
        from training_changes
        inner join weekday_medians
            on weekday_medians.network = training_changes.network
            and weekday_medians.page_ref = training_changes.page_ref
            and weekday_medians.snapshot_date = training_changes.snapshot_date
            and weekday_medians.weekday_lag = training_changes.weekday_lag
        group by
            training_changes.network, training_changes.page_ref, training_changes.snapshot_date
    ),

    {{ dq_scores_from_summaries(scored, 'training_summaries') }}
{%- endmacro %}

{% macro duckdb__dq_change_scores(page_changes, scored) -%}
    {%- set training_days = dq_setting('zscore', 'training_days') | int -%}
    {%- set detection_days = dq_setting('zscore', 'detection_days') | int -%}
    {%- set min_same_weekday = dq_setting('zscore', 'min_same_weekday') -%}
    {%- set training_reach = detection_days + training_days - 1 -%}
    {#- the training days of day d are the rows detection_days .. training_reach back (one row
        per page and day); lag L is on d's own weekday when L % 7 = 0, and on the weekday
        L % 7 days earlier otherwise -#}
    {%- set lags = range(detection_days, training_reach + 1) | list -%}
    {%- set weekdays = {} -%}
    {%- for lag in lags -%}
        {%- do weekdays.setdefault(lag % 7, []).append(lag) -%}
    {%- endfor -%}
    with numbered_days as (
        select
            network,
            page_ref,
            snapshot_date,
            change,
            date_diff('day', date '1970-01-01', snapshot_date) as day_number
        from {{ page_changes }}
    ),

    {#- one sort of each page's days gives the training changes as lagged columns; every
        median is then one of a few columns. A framed median, a second window per weekday and
        the lists of lists it needed cost several times the window CPU for the same rows -#}
    lagged as (
        select
            network,
            page_ref,
            snapshot_date,
            {%- for lag in lags %}
            lag(change, {{ lag }}) over page_days as change_{{ lag }}{{ ',' if not loop.last }}
            {%- endfor %}
        from numbered_days
        window page_days as (partition by network, page_ref order by day_number)
    ),

    weekday_medians as (
        select
            *,
            {%- for weekday, weekday_lags in weekdays | dictsort %}
            {{ dq_short_median(weekday_lags) }} as weekday_median_{{ weekday }},
            {%- endfor %}
            {{ dq_count_present(lags) }} as history_days,
            {{ dq_count_present(weekdays[0]) }} as same_weekday_days
        from lagged
    ),

    training_summaries as (
        select
            network,
            page_ref,
            snapshot_date,
            history_days,
            same_weekday_days,
            {#- read only when too few same-weekday changes exist: a 28-value median is the
                costliest expression here, so only those rows compute it (CASE evaluates a
                branch on the rows that take it) -#}
            case when same_weekday_days < {{ min_same_weekday }}
                then list_median([{{ dq_change_columns(lags) }}]) end as overall_median,
            weekday_median_0 as same_weekday_median,
            list_median([
                {%- for lag in lags %}
                abs(change_{{ lag }} - weekday_median_{{ lag % 7 }}){{ ',' if not loop.last }}
                {%- endfor %}
            ]) as mad
        from weekday_medians
    ),

    scored_summaries as (
        select training_summaries.*
        from training_summaries
        inner join {{ scored }} as scored
            on scored.network = training_summaries.network
            and scored.page_ref = training_summaries.page_ref
            and scored.snapshot_date = training_summaries.snapshot_date
        where training_summaries.history_days > 0
    ),

    {{ dq_scores_from_summaries(scored, 'scored_summaries') }}
{%- endmacro %}

{#- The lagged change columns change_<lag> of `lags`, comma-separated. -#}
{% macro dq_change_columns(lags) -%}
    {%- for lag in lags %}change_{{ lag }}{{ ', ' if not loop.last }}{% endfor -%}
{%- endmacro %}

{#- How many of the lagged change columns of `lags` hold a value. -#}
{% macro dq_count_present(lags) -%}
    ({% for lag in lags %}cast(change_{{ lag }} is not null as integer){{ ' + ' if not loop.last }}{% endfor %})
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

{#- The expected change, scale and z-score of each scored change from its training summary
    (history_days, same_weekday_days, overall_median, same_weekday_median, mad; no row when the
    change has no training days). Continues the caller's `with`. -#}
{% macro dq_scores_from_summaries(scored, summaries) -%}
    {%- set min_same_weekday = dq_setting('zscore', 'min_same_weekday') -%}
    expectations as (
        select
            network,
            page_ref,
            snapshot_date,
            history_days,
            same_weekday_days,
            same_weekday_days >= {{ min_same_weekday }} as is_seasonal,
            case
                when same_weekday_days >= {{ min_same_weekday }} then same_weekday_median
                else overall_median
            end as expected_change,
            mad,
            greatest(
                {{ dq_setting('zscore', 'mad_scale') }} * mad,
                {{ dq_setting('zscore', 'min_scale') }}
            ) as change_scale
        from {{ summaries }}
    )

    select
        scored.network,
        scored.page_ref,
        scored.snapshot_date,
        cast(coalesce(expectations.history_days, 0) as integer) as history_days,
        cast(coalesce(expectations.same_weekday_days, 0) as integer) as same_weekday_days,
        coalesce(expectations.is_seasonal, false) as is_seasonal,
        cast(expectations.expected_change as double precision) as expected_change,
        cast(expectations.mad as double precision) as mad,
        cast(expectations.change_scale as double precision) as change_scale,
        case
            when expectations.history_days >= {{ dq_setting('zscore', 'min_history_days') }}
                then cast(
                    (scored.change - expectations.expected_change)
                    / expectations.change_scale as double precision
                )
        end as z_score
    from {{ scored }} as scored
    left join expectations
        on expectations.network = scored.network
        and expectations.page_ref = scored.page_ref
        and expectations.snapshot_date = scored.snapshot_date
{%- endmacro %}
