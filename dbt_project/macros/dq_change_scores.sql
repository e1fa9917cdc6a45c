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
      duckdb      window functions over page_changes in date order (DuckDB computes a framed
                  median from a sort, without expanding the pairs): a full history at federal
                  size would otherwise expand to billions of pairs held in hash groups. It
                  needs one row per page and day from the page's first day to its last (change
                  NULL where not fresh), as int_dq_page_days gives it: a day's same-weekday
                  training is then its weekday's weeks as of one row a whole week back.
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
    {%- set training_reach = detection_days + training_days - 1 -%}
    {#- the whole weeks back to the last training day on a day's own weekday -#}
    {%- set weekday_lag = 7 * ((detection_days + 6) // 7) -%}
    with numbered_days as (
        select
            network,
            page_ref,
            snapshot_date,
            change,
            date_diff('day', date '1970-01-01', snapshot_date) as day_number
        from {{ page_changes }}
    ),

    {#- per page and day e: the changes on e's weekday in the weeks up to e, and their median;
        a scored day d's training holds, for each of the 7 days e from d - detection_days - 6
        to d - detection_days, exactly these training_days / 7 changes, and its same-weekday
        training is e's own for e = d - weekday_lag (one median per day, not two) -#}
    weekday_weeks as (
        select
            network,
            page_ref,
            snapshot_date,
            day_number,
            change,
            count(change) over training as history_days,
            quantile_cont(change, 0.5) over training as overall_median,
            count(change) over weekday_weeks as weekday_days,
            list(change) filter (where change is not null) over weekday_weeks as weekday_changes,
            quantile_cont(change, 0.5) over weekday_weeks as weekday_median
        from numbered_days
        window
            training as (
                partition by network, page_ref
                order by day_number
                range between {{ training_reach }} preceding and {{ detection_days }} preceding
            ),
            weekday_weeks as (
                partition by network, page_ref, day_number % 7
                order by day_number
                range between {{ training_days - 7 }} preceding and current row
            )
    ),

    weekday_deviations as (
        select
            *,
            list_transform(
                weekday_changes, lambda weekday_change: abs(weekday_change - weekday_median)
            ) as deviations
        from weekday_weeks
    ),

    training_summaries as (
        select
            network,
            page_ref,
            snapshot_date,
            history_days,
            coalesce(max(weekday_days) over same_weekday_week, 0) as same_weekday_days,
            overall_median,
            max(weekday_median) over same_weekday_week as same_weekday_median,
            list_median(flatten(
                list(deviations) filter (where deviations is not null) over (
                    partition by network, page_ref
                    order by day_number
                    range between {{ detection_days + 6 }} preceding
                        and {{ detection_days }} preceding
                )
            )) as mad
        from weekday_deviations
        window same_weekday_week as (
            partition by network, page_ref
            order by day_number
            range between {{ weekday_lag }} preceding and {{ weekday_lag }} preceding
        )
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
