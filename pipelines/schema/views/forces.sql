-- title: Forces and force-like bodies
-- description: Forces and force-like bodies. Compare only `is_territorial_ew` forces unless you
--   mean to.
-- grain: one row per force or body

with final as (
    select
        force_id,
        force_name,
        short_name,
        pfa_code,
        country,
        region,
        force_kind,
        is_territorial_ew,
        records_system,
        comparable_by_default,
        comparability_note
    from ref_forces
)

select * from final
