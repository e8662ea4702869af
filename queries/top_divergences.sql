-- title: Top divergences
-- description: The largest ranked classification findings, as the load computed them for all
--   territorial forces, effect first: the difference in percentage points and the ratio to the
--   peer benchmark, what that benchmark covers, z (overdispersed), the Benjamini–Yekutieli q-value
--   (BH beside it), what another source shows, and the finding in words. Only findings that passed
--   every screen (`status` ranked) have a rank; data-supply findings are ranked apart (`supply_rank`).
-- grain: one row per ranked classification finding (indicator, force and window), best rank first
-- param: limit integer default 20 — how many findings, from rank 1

with ranked as (
    select
        rank,
        indicator_id,
        indicator_kind,
        force_id,
        peer_group,
        window_start,
        window_end,
        numerator,
        denominator,
        share,
        difference,
        ratio,
        effect_h,
        benchmark,
        benchmark_forces,
        benchmark_crime_share,
        benchmark_coverage,
        z,
        q_by,
        q_bh,
        is_significant,
        position,
        witness_label,
        witness_status,
        status,
        sentence
    from divergence
    where rank is not null
      and indicator_kind = 'classification'
      and status = 'ranked'
      and peer_group = 'all'
),

final as (
    select
        r.rank,
        r.force_id,
        f.short_name,
        r.indicator_id,
        r.indicator_kind,
        r.window_start,
        r.window_end,
        r.numerator,
        r.denominator,
        r.share,
        r.difference * 100 as difference_pp,
        r.ratio,
        r.effect_h,
        r.benchmark,
        r.benchmark_coverage,
        r.benchmark_forces,
        r.benchmark_crime_share,
        r.z,
        r.q_by,
        r.q_bh,
        r.is_significant,
        r.position,
        r.witness_label,
        r.witness_status,
        r.status,
        r.sentence
    from ranked as r
    left join forces as f on f.force_id = r.force_id
    where r.rank <= $limit
)

select * from final
order by rank
