{#-
    True when the registry version `alias` (a row of int_registry_pages_resolved) was the one
    registered on date `as_of`: valid_from <= as_of < valid_to (valid_to NULL = still current).
-#}
{% macro registry_valid_at(alias, as_of) -%}
    ({{ alias }}.valid_from <= {{ as_of }}
        and ({{ alias }}.valid_to is null or {{ as_of }} < {{ alias }}.valid_to))
{%- endmacro %}

{#-
    The registry "as registered on" each date of `dates.date_column`: one row per date and page,
    with the version valid that day (all columns of `registry`) and the date as registered_on.
    When two registry entries resolve to the same page (listed once by id, once by screen
    name), the id entry wins so a page is never counted twice.
-#}
{% macro registry_as_of(registry, dates, date_column) -%}
    select *
    from (
        select
            as_of_dates.{{ date_column }} as registered_on,
            registry_version.*,
            {{ registry_duplicate_rank('registry_version', 'as_of_dates.' ~ date_column) }}
                as duplicate_rank
        from (select distinct {{ date_column }} from {{ dates }}) as as_of_dates
        inner join {{ registry }} as registry_version
            on {{ registry_valid_at('registry_version', 'as_of_dates.' ~ date_column) }}
    ) as registered_versions
    where duplicate_rank = 1
{%- endmacro %}

{#-
    1 for the registry version `alias` that counts among those valid at `as_of` (an expression)
    for one page: when two registry entries resolve to the same page (listed once by id, once by
    screen name), the id entry wins, so a page is never counted twice.
-#}
{% macro registry_duplicate_rank(alias, as_of) -%}
    row_number() over (
        partition by {{ as_of }}, {{ alias }}.network, {{ alias }}.page_key
        order by {{ alias }}.ref_kind, {{ alias }}.ref_value
    )
{%- endmacro %}

{#-
    The registry cut into validity segments: for each page (network, page_key), the dates
    between two consecutive bounds of its versions (every valid_from and valid_to) hold one
    set of valid versions, and the row of each segment is the version registry_as_of would give
    any day in it (the id entry wins over a screen name). Columns: all of `registry`, plus
    segment_from and segment_to (NULL: still current); a day d is in a segment when
    segment_from <= d < segment_to. A page × day model joins these a few rows per page instead
    of a row per page and day (registry_segment_has).
-#}
{% macro registry_segments(registry) -%}
    select *
    from (
        select
            segment_bounds.segment_from,
            segment_bounds.segment_to,
            registry_version.*,
            {{ registry_duplicate_rank('registry_version', 'segment_bounds.segment_from') }}
                as duplicate_rank
        from (
            select
                network,
                page_key,
                bound as segment_from,
                lead(bound) over (partition by network, page_key order by bound) as segment_to
            from (
                select network, page_key, valid_from as bound from {{ registry }}
                union
                select network, page_key, valid_to from {{ registry }} where valid_to is not null
            ) as version_bounds
        ) as segment_bounds
        inner join {{ registry }} as registry_version
            on registry_version.network = segment_bounds.network
            and registry_version.page_key = segment_bounds.page_key
            and {{ registry_valid_at('registry_version', 'segment_bounds.segment_from') }}
    ) as segment_versions
    where duplicate_rank = 1
{%- endmacro %}

{#- True when day `day` lies in the registry segment `alias` (a row of registry_segments). -#}
{% macro registry_segment_has(alias, day) -%}
    ({{ alias }}.segment_from <= {{ day }}
        and ({{ alias }}.segment_to is null or {{ day }} < {{ alias }}.segment_to))
{%- endmacro %}

{#-
    The newest registry version load or close time, screen-name resolution or population
    import of a registered page's region (column
    registry_seen_at): what an incremental model built from the registry stores as its
    high-water mark, so its next build can tell which versions were loaded, closed or resolved
    since.
-#}
{% macro registry_seen_at(registry) -%}
    select max(seen_at) as registry_seen_at
    from (
        select version_loaded_at as seen_at from {{ registry }}
        union all
        select version_ended_at from {{ registry }}
        union all
        select page_resolved_at from {{ registry }}
        union all
        select territory_resolved_at from {{ registry }}
    ) as registry_times
{%- endmacro %}
