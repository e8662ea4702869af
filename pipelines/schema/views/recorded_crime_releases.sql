-- title: Recorded crime, every release
-- description: Every release (vintage) of every count, so the same month can be compared between
--   releases (anti-social behaviour excluded).
-- grain: one row per release, force, period, period grain, scheme, category and source

-- Anti-social behaviour is published beside crimes (police.uk crime types) but is not a notifiable
-- crime; a category of any other scheme is a crime.
with final as (
    select
        c.release_date,
        c.force_id,
        c.period,
        c.period_grain,
        c.scheme,
        c.category,
        cast(sum(c.offence_count) as bigint) as offence_count,
        string_agg(distinct c.count_note, '; ') as count_note,
        c.source
    from core_counts__recorded_crime as c
    left join ref_police_uk_crime_types as t
      on c.scheme = 'police_uk' and t.crime_type = c.category
    where coalesce(t.is_notifiable_crime, true)
    group by c.release_date, c.force_id, c.period, c.period_grain, c.scheme, c.category, c.source
)

select * from final
