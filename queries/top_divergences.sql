-- title: Top divergences
-- description: The largest ranked divergences from the peer benchmark, as the load computed
--   them for all territorial forces: each force's share, its peers' pooled share, z (overdispersed),
--   Benjamini–Hochberg q-value, where it sits against the funnel, and the finding in words.
-- grain: one row per ranked finding (indicator, force and window), best rank first
-- param: limit integer default 20 — how many findings, from rank 1

with ranked as (
    select
        rank,
        indicator_id,
        force_id,
        peer_group,
        window_start,
        window_end,
        numerator,
        denominator,
        share,
        benchmark,
        difference,
        z,
        q_bh,
        position,
        sentence
    from divergence
    where rank is not null
      and peer_group = 'all'
),

final as (
    select
        r.rank,
        r.force_id,
        f.short_name,
        r.indicator_id,
        r.window_start,
        r.window_end,
        r.numerator,
        r.denominator,
        r.share,
        r.benchmark,
        r.difference,
        r.z,
        r.q_bh,
        r.position,
        r.sentence
    from ranked as r
    left join forces as f on f.force_id = r.force_id
    where r.rank <= $limit
)

select * from final
order by rank
