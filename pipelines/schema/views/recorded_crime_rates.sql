-- title: Recorded crime per 1,000 residents
-- description: `recorded_crime` with the force area's resident population in the period's year and
--   the count per 1,000 residents.
-- grain: one row per force, period, period grain, scheme, category and source

with by_source as (
    select force_id, year,
           max(population) filter (where source = 'ons_mid_year_estimates') as mid_year,
           max(population) filter (where source = 'ons_pfa_tables') as pfa_table
    from population
    group by all
),

best as (
    select force_id, year, coalesce(mid_year, pfa_table) as population,
           case when mid_year is not null then 'ons_mid_year_estimates' else 'ons_pfa_tables' end as population_source
    from by_source
),

final as (
    select r.force_id, r.period, r.period_grain, r.scheme, r.category, r.offence_count, r.source,
           b.population, b.population_source,
           r.offence_count * 1000.0 / b.population as rate_per_1000
    from recorded_crime as r
    left join best as b on b.force_id = r.force_id and b.year = year(r.period)
)

select * from final
