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

territories as (
    select * from {{ ref('int_territories') }}
),

region_population_loads as (
    select distinct region_code, population_loaded_at
    from territories
),

numbered_versions as (
    select
        registry_versions.*,
        row_number() over (
            partition by
                registry_versions.network, registry_versions.ref_kind, registry_versions.ref_value
            order by registry_versions.dbt_valid_from
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
        numbered_versions.oktmo,
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

{#- the registry's own code wins; else the municipality named, when exactly one of the
    region's municipalities bears that name -#}
territory_versions as (
    select
        resolved_versions.*,
        {{ territory_name_key('resolved_versions.municipality') }} as municipality_key,
        coalesce(resolved_versions.oktmo, named.oktmo) as territory_oktmo,
        case
            when resolved_versions.oktmo is not null then 'registry'
            when named.oktmo is not null then 'name'
            when ambiguous.name_matches > 1 then 'ambiguous'
            when resolved_versions.municipality is not null then 'unmatched'
        end as territory_source,
        region_population_loads.population_loaded_at as territory_resolved_at
    from resolved_versions
    left join territories as named
        on resolved_versions.oktmo is null
        and named.region_code = resolved_versions.region_code
        and named.level = 'municipality'
        and named.name_key = {{ territory_name_key('resolved_versions.municipality') }}
        and named.name_matches = 1
    left join (
        select distinct region_code, name_key, name_matches
        from territories
        where level = 'municipality' and name_matches > 1
    ) as ambiguous
        on resolved_versions.oktmo is null
        and ambiguous.region_code = resolved_versions.region_code
        and ambiguous.name_key = {{ territory_name_key('resolved_versions.municipality') }}
    left join region_population_loads
        on region_population_loads.region_code = resolved_versions.region_code
),

{#- a settlement counts in its municipality too; a code the population table lacks is taken
    for a municipality's when it has a municipality's 8 digits -#}
located_versions as (
    select
        territory_versions.*,
        case
            when territory.level = 'settlement' then territory.parent_oktmo
            when territory.level = 'municipality' then territory_versions.territory_oktmo
            when territory.level is null and length(territory_versions.territory_oktmo) = 8
                then territory_versions.territory_oktmo
        end as municipality_oktmo,
        case
            when territory.level = 'settlement' then territory_versions.territory_oktmo
        end as settlement_oktmo
    from territory_versions
    left join territories as territory
        on territory.oktmo = territory_versions.territory_oktmo
),

final as (
    select
        located_versions.*,
        located_versions.page_ref is not null as is_resolved,
        coalesce(
            located_versions.page_ref,
            located_versions.ref_kind || ':' || located_versions.ref_value
        ) as page_key,
        located_versions.valid_to is null as is_current
    from located_versions
)

select * from final
