-- title: One Metropolitan Police month across every release
-- description: The same month as each Met release published it, by offence category, with the
--   change from the previous release of the same source: how much a month is revised after
--   first publication.
-- grain: one row per source, release and offence category
-- param: period date default '2024-01-01' — the month to compare (first day of the month)
-- param: scheme text default 'ons_offence_group' — classification to compare on (`ons_offence_group`,
--   `ons_offence_subgroup`, `mps_connect_minor`, ...)

with met_month as (
    select
        source,
        release_date,
        category,
        offence_count
    from recorded_crime_releases
    where force_id = 'metropolitan'
      and period_grain = 'month'
      and period = $period
      and scheme = $scheme
),

per_release as (
    select
        source,
        release_date,
        category,
        cast(sum(offence_count) as bigint) as offence_count
    from met_month
    group by source, release_date, category
),

final as (
    select
        source,
        release_date,
        category,
        offence_count,
        lag(offence_count) over (partition by source, category order by release_date) as previous_release_count,
        offence_count - previous_release_count as change_from_previous_release
    from per_release
)

select * from final
order by source, category, release_date
