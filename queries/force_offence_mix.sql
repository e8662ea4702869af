-- title: Offence mix of one force against all territorial forces
-- description: Each police.uk crime type's share of the force's street-level recorded crime,
--   beside its share across every territorial force of England and Wales (the force included)
--   over the same months. Shares of each column sum to 1.
-- grain: one row per police.uk crime type
-- param: force_id text default 'kent' — the force to show, a `force_id` from `forces`

with street_counts as (
    select
        r.force_id,
        r.period,
        r.category as crime_type,
        r.offence_count
    from recorded_crime as r
    join forces as f on f.force_id = r.force_id
    where r.scheme = 'police_uk'
      and r.source = 'police_uk_street'
      and r.offence_count is not null
      and f.is_territorial_ew
),

force_months as (
    select distinct period
    from street_counts
    where force_id = $force_id
),

force_counts as (
    select
        crime_type,
        cast(sum(offence_count) as bigint) as force_count
    from street_counts
    where force_id = $force_id
    group by crime_type
),

all_forces_counts as (
    select
        s.crime_type,
        cast(sum(s.offence_count) as bigint) as all_forces_count
    from street_counts as s
    join force_months as m on m.period = s.period
    group by s.crime_type
),

final as (
    select
        a.crime_type,
        coalesce(c.force_count, 0) as force_count,
        coalesce(c.force_count, 0) / sum(coalesce(c.force_count, 0)) over () as force_share,
        a.all_forces_count,
        a.all_forces_count / sum(a.all_forces_count) over () as all_forces_share,
        force_share - all_forces_share as share_difference,
        (select count(*) from force_months) as months_compared
    from all_forces_counts as a
    left join force_counts as c on c.crime_type = a.crime_type
)

select * from final
order by force_share desc, crime_type
