{#-
    A first build split by page: `gospulse build --full-refresh --page-buckets N`
    (transform.build_in_page_buckets) builds the page-grain models one bucket of pages at a
    time, the bucket in environment variable DBT_PAGE_BUCKET = "k/N" (bucket k of N), so each
    statement holds whole histories of a share of the pages (every window exact, no overlap
    between steps) instead of every page at once. Bucket 0 refreshes the models and their
    parents; each later bucket adds its pages' rows; a last step refreshes every other model
    from the complete rows.
-#}

{#- The bucket being built (an int), or none outside a bucketed first build. -#}
{% macro page_bucket() -%}
    {%- set spec = env_var('DBT_PAGE_BUCKET', '') -%}
    {%- if spec == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set bucket = spec.split('/')[0] | int -%}
    {%- set of = spec.split('/')[1] | int -%}
    {%- if of < 1 or bucket < 0 or bucket >= of -%}
        {{ exceptions.raise_compiler_error(
            "DBT_PAGE_BUCKET needs k/N with 0 <= k < N, got " ~ spec) }}
    {%- endif -%}
    {{ return({'bucket': bucket, 'of': of}) }}
{%- endmacro %}

{#- SQL: whether the page (network, page_ref) is in the bucket being built; true outside one. -#}
{% macro in_page_bucket(network, page_ref) -%}
    {%- set spec = page_bucket() -%}
    {%- if spec is none -%}
        true
    {%- else -%}
        hash({{ network }}, {{ page_ref }}) % {{ spec['of'] }} = {{ spec['bucket'] }}
    {%- endif -%}
{%- endmacro %}

{#-
    is_incremental(), but false while a bucket is built: a bucket's rows are its pages' whole
    histories, computed as a full build computes them, and added beside the other buckets'
    (the delete of the incremental strategy limited to the bucket's pages,
    page_bucket_predicates).
-#}
{% macro incremental_build() -%}
    {{ return(is_incremental() and page_bucket() is none) }}
{%- endmacro %}

{#- incremental_predicates for a page-grain model: a bucket replaces only its own pages' rows. -#}
{% macro page_bucket_predicates() -%}
    {%- if page_bucket() is none -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return([in_page_bucket('dbt_incremental_target.network',
        'dbt_incremental_target.page_ref')]) }}
{%- endmacro %}
