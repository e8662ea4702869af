-- title: Resident population by force area and year
-- description: Resident population by force area and year (British Transport Police has none), from
--   the latest file that has it.
-- grain: one row per force, year and source

with final as (
    select force_id, year, arg_max(population, file_name) as population, source
    from core_population
    group by force_id, year, source
)

select * from final
