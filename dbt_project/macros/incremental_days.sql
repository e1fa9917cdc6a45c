{#-
    The days an incremental build of a page-day model must recompute (column date_day), found
    by comparing what raw holds now with what the previous build wrote (`built`, the model
    itself: network, page_ref, snapshot_date, source_loaded_at, built_at):
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
    `page_first_snapshots` holds the registered pages' first days with first_changed_at (when
    that first day last changed: int_page_first_snapshots). The moved pages come without
    grouping the built rows of every page: built rows are dense (each page has one on every day
    from its first to the last day built: a page that left had all its days rewritten), so the
    pages on the last day built are all the pages built; a page not among them appeared, a page
    only among them left, and a page whose first day changed after the last build wrote rows
    (built_at) may have moved. Only those few pages' built rows are grouped, for their old first
    day; none on most days, and then that scan reads nothing.
    Raw rows deleted without any new row loaded for their day (never done by the pipeline:
    a rerun reloads the day) are not seen; a --full-refresh rebuilds everything.
-#}
{% macro page_days_to_rebuild(snapshots, registered_pages, page_first_snapshots, calendar_days,
        built, reach_days=none) -%}
    {%- set reach = var('max_carry_days') if reach_days is none else reach_days -%}
    with built_bounds as (
        select
            max(source_loaded_at) as high_water,
            max(snapshot_date) as last_built_date,
            max(built_at) as last_built_at
        from {{ built }}
    ),

    built_pages as (
        select built_last.network, built_last.page_ref
        from {{ built }} as built_last
        where built_last.snapshot_date = (select last_built_date from built_bounds)
    ),

    -- the mark compared as a scalar, before the join: DuckDB then skips the row groups of raw's
    -- older loads (a condition joined from built_bounds joined all of raw to the pages first)
    changed_rows as (
        select changed.network, changed.page_ref, changed.snapshot_date
        from {{ snapshots }} as changed
        where changed.loaded_at > (
            select coalesce(high_water, cast('1900-01-01' as timestamp)) from built_bounds
        )
    ),

    changed_dates as (
        select distinct changed_rows.snapshot_date as changed_date
        from changed_rows
        inner join {{ registered_pages }} as registered
            on registered.network = changed_rows.network
            and registered.page_ref = changed_rows.page_ref
    ),

    -- every day a changed row can reach, as a set: an `exists` with a date range here can be
    -- planned as a correlated subplan over all of raw, re-run per calendar day
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

    new_pages as (
        select page_firsts.first_snapshot_date
        from {{ page_first_snapshots }} as page_firsts
        left join built_pages
            on built_pages.network = page_firsts.network
            and built_pages.page_ref = page_firsts.page_ref
        where built_pages.page_ref is null
    ),

    gone_pages as (
        select built_pages.network, built_pages.page_ref
        from built_pages
        left join {{ page_first_snapshots }} as page_firsts
            on page_firsts.network = built_pages.network
            and page_firsts.page_ref = built_pages.page_ref
        where page_firsts.page_ref is null
    ),

    refirsted_pages as (
        select page_firsts.network, page_firsts.page_ref, page_firsts.first_snapshot_date
        from {{ page_first_snapshots }} as page_firsts
        cross join built_bounds
        inner join built_pages
            on built_pages.network = page_firsts.network
            and built_pages.page_ref = page_firsts.page_ref
        where page_firsts.first_changed_at > built_bounds.last_built_at
    ),

    measured_pages as (
        select network, page_ref from gone_pages
        union
        select network, page_ref from refirsted_pages
    ),

    first_built as (
        select built_rows.network, built_rows.page_ref,
            min(built_rows.snapshot_date) as first_built_date
        from {{ built }} as built_rows
        inner join measured_pages
            on measured_pages.network = built_rows.network
            and measured_pages.page_ref = built_rows.page_ref
        group by built_rows.network, built_rows.page_ref
    ),

    moved_pages as (
        select first_snapshot_date as span_start, cast(null as date) as span_end
        from new_pages

        union all

        select first_built.first_built_date, cast(null as date)
        from first_built
        inner join gone_pages
            on gone_pages.network = first_built.network
            and gone_pages.page_ref = first_built.page_ref

        union all

        -- raw rows are only added, so a first day only moves earlier
        select refirsted_pages.first_snapshot_date, first_built.first_built_date
        from refirsted_pages
        inner join first_built
            on first_built.network = refirsted_pages.network
            and first_built.page_ref = refirsted_pages.page_ref
        where refirsted_pages.first_snapshot_date <> first_built.first_built_date
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
    -- a scalar, so that DuckDB skips the row groups older builds wrote
    where rewritten.built_at > (
        select coalesce(max(filled_built_at), cast('1900-01-01' as timestamp)) as high_water
        from {{ built }}
    )
{%- endmacro %}


{#- The newest built_at of int_page_days_filled now: what a model built from it saw. -#}
{% macro filled_high_water() -%}
    (select max(built_at) from {{ ref('int_page_days_filled') }})
{%- endmacro %}
