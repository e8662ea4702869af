-- title: A police.uk outcome group's share of one force's crimes, year by year, 2012–2016
-- description: From police.uk by force and year (the whole archive as downloaded in 2017): the share
--   of the force's crimes of each year whose last outcome falls in the chosen outcome group, beside
--   the median and range of the other territorial forces. Older years carry more final outcomes
--   (the snapshot was taken in 2017), so compare forces within a year, not years within a force.
-- grain: one row per calendar year
-- param: force_id text default 'metropolitan' — the force to show, a `force_id` from `forces`
-- param: outcome_group text default 'no_suspect' — an outcome group from `outcome_groups`

with crimes as (
    select
        o.force_id,
        year(o.period) as year,
        cast(sum(o.outcome_count) filter (where o.outcome_group = $outcome_group) as bigint) as in_group,
        cast(sum(o.outcome_count) as bigint) as crimes
    from crime_outcomes as o
    join forces as f on f.force_id = o.force_id
    where o.source = 'police_uk_force_year'
      and o.period_grain = 'calendar_year'
      and o.outcome is not null
      and f.is_territorial_ew
    group by o.force_id, year(o.period)
),

shares as (
    select force_id, year, coalesce(in_group, 0) as in_group, crimes, coalesce(in_group, 0) / crimes as share
    from crimes
),

final as (
    select
        s.year,
        s.in_group,
        s.crimes,
        s.share,
        (select median(o.share) from shares as o where o.year = s.year and o.force_id <> s.force_id) as other_forces_median,
        (select min(o.share) from shares as o where o.year = s.year and o.force_id <> s.force_id) as other_forces_lowest,
        (select max(o.share) from shares as o where o.year = s.year and o.force_id <> s.force_id) as other_forces_highest
    from shares as s
    where s.force_id = $force_id
)

select * from final
order by year
