{#-
    Registry versions (SCD2) resolved to stable page_refs, with date validity.
    The first version of each page is valid from 1900-01-01: dbt_valid_from is only the time
    the registry was first loaded, and the registry describes pages that existed before it.
-#}
with registry_versions as (
    select * from {{ ref('snap_registry_pages') }}
),

page_refs as (
    select * from {{ ref('stg_raw__page_refs') }}
),

numbered_versions as (
    select
        registry_versions.*,
        row_number() over (
            partition by network, ref_kind, ref_value
            order by dbt_valid_from
        ) as version_number
    from registry_versions
),

resolved_versions as (
    select
        numbered_versions.network,
        numbered_versions.registry_ref,
        numbered_versions.ref_kind,
        numbered_versions.ref_value,
        case
            when numbered_versions.ref_kind = 'id' then numbered_versions.ref_value
            else page_refs.page_ref
        end as page_ref,
        numbered_versions.title,
        numbered_versions.organization,
        numbered_versions.region_code,
        numbered_versions.municipality,
        numbered_versions.sector,
        numbered_versions.is_flagship,
        numbered_versions.version_number,
        numbered_versions.dbt_valid_from as version_loaded_at,
        numbered_versions.dbt_valid_to as version_ended_at,
        case
            when numbered_versions.ref_kind <> 'id' and page_refs.page_ref is not null
                then page_refs.resolved_at
        end as page_resolved_at,
        case
            when numbered_versions.version_number = 1 then cast('1900-01-01' as date)
            else cast(numbered_versions.dbt_valid_from as date)
        end as valid_from,
        cast(numbered_versions.dbt_valid_to as date) as valid_to
    from numbered_versions
    left join page_refs
        on page_refs.network = numbered_versions.network
        and page_refs.ref_kind = numbered_versions.ref_kind
        and page_refs.ref_value = numbered_versions.ref_value
),

final as (
    select
        resolved_versions.*,
        resolved_versions.page_ref is not null as is_resolved,
        coalesce(
            resolved_versions.page_ref,
            resolved_versions.ref_kind || ':' || resolved_versions.ref_value
        ) as page_key,
        resolved_versions.valid_to is null as is_current
    from resolved_versions
)

select * from final
