{#-
    The days an incremental build of a page-day model must recompute (column date_day), found
    by comparing what raw holds now with what the previous build wrote (`built`, the model
    itself: network, page_ref, snapshot_date, source_loaded_at):
      new days          every day after the last day built;
      changed raw rows  each day d with a raw row of a registered page loaded after the last
                        build's high-water mark (max source_loaded_at), plus the
                        `reach_days` days after it that can carry d's value (a rerun of d,
                        or imported history, changes members_on up to d + reach_days);
      moved pages       a page whose first snapshot moved (older history imported, a page
                        newly registered or resolved, a page gone): every day from the
                        earlier of its old and new first day to the later one (to the end
                        when it appeared or left). These are collapsed into one covering
                        span: rare, and recomputing more days is always correct.
    Raw rows deleted without any new row loaded for their day (never done by the pipeline:
    a rerun reloads the day) are not seen; a --full-refresh rebuilds everything.
    SQL stays portable (DuckDB and Postgres): the incremental day is benchmarked on both.
-#}
{% macro page_days_to_rebuild(snapshots, registered_pages, page_first_snapshots, calendar_days,
        built, reach_days=none) -%}
    {%- set reach = var('max_carry_days') if reach_days is none else reach_days -%}
    with built_bounds as (
        select
            max(source_loaded_at) as high_water,
            max(snapshot_date) as last_built_date
        from {{ built }}
    ),

    built_pages as (
        select network, page_ref, min(snapshot_date) as first_built_date
        from {{ built }}
        group by network, page_ref
    ),

    changed_dates as (
        select distinct changed.snapshot_date as changed_date
        from {{ snapshots }} as changed
        inner join {{ registered_pages }} as registered
            on registered.network = changed.network
            and registered.page_ref = changed.page_ref
        cross join built_bounds
        where built_bounds.high_water is null
            or changed.loaded_at > built_bounds.high_water
    ),

    -- every day a changed row can reach, as a set: an `exists` with a date range here is
    -- re-run per calendar day by Postgres (a correlated subplan over all of raw)
    reached_dates as (
        select distinct {{ add_days('changed_dates.changed_date', 'reach_offsets.days_after') }}
            as date_day
        from changed_dates
        cross join (
            {% for days_after in range(reach + 1) -%}
            select {{ days_after }} as days_after{{ ' union all ' if not loop.last }}
            {% endfor -%}
        ) as reach_offsets
    ),

    moved_pages as (
        select
            case
                when built_pages.first_built_date is null
                    then page_firsts.first_snapshot_date
                when page_firsts.first_snapshot_date is null
                    then built_pages.first_built_date
                when page_firsts.first_snapshot_date < built_pages.first_built_date
                    then page_firsts.first_snapshot_date
                else built_pages.first_built_date
            end as span_start,
            case
                when built_pages.first_built_date is null
                    or page_firsts.first_snapshot_date is null then null
                when page_firsts.first_snapshot_date > built_pages.first_built_date
                    then page_firsts.first_snapshot_date
                else built_pages.first_built_date
            end as span_end
        from built_pages
        full outer join {{ page_first_snapshots }} as page_firsts
            on page_firsts.network = built_pages.network
            and page_firsts.page_ref = built_pages.page_ref
        where built_pages.first_built_date is distinct from page_firsts.first_snapshot_date
    ),

    moved_span as (
        select
            min(span_start) as span_start,
            -- NULL (to the last day) as soon as one page appeared or left
            case when count(span_end) < count(*) then null else max(span_end) end as span_end
        from moved_pages
    )

    select calendar.date_day
    from {{ calendar_days }} as calendar
    cross join built_bounds
    cross join moved_span
    where built_bounds.last_built_date is null
        or calendar.date_day > built_bounds.last_built_date
        or (
            calendar.date_day >= moved_span.span_start
            and (moved_span.span_end is null or calendar.date_day <= moved_span.span_end)
        )
        or calendar.date_day in (select reached_dates.date_day from reached_dates)
{%- endmacro %}


{#-
    The days of int_page_days_filled (`filled`) that builds rewrote after the one that last
    built `built`, as date_day: a model built from int_page_days_filled keeps, in
    filled_built_at, the newest built_at it found there (filled_high_water), and the next build
    rewrites the days whose built_at is newer. int_page_days_filled rewrites whole days: new
    days, days a changed raw row reaches, the span of a page whose first day moved or whose
    registration changed; so those are exactly the days its readers must rewrite, found by one
    scan of a timestamp column (recent days' row groups) instead of grouping every page's
    history of the model and of its own rows each day. A day that lost every row is not seen
    (delete+insert by day would not delete it either); a --full-refresh rebuilds everything.
-#}
{% macro filled_days_rewritten(filled, built) -%}
    select distinct rewritten.snapshot_date as date_day
    from {{ filled }} as rewritten
    cross join (select max(filled_built_at) as high_water from {{ built }}) as seen
    where seen.high_water is null or rewritten.built_at > seen.high_water
{%- endmacro %}


{#- The newest built_at of int_page_days_filled now: what a model built from it saw. -#}
{% macro filled_high_water() -%}
    (select max(built_at) from {{ ref('int_page_days_filled') }})
{%- endmacro %}
