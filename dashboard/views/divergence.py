import streamlit as st

from dashboard import charts, data, state, ui

ui.heading("divergence")

sidebar = state.filters()
peers, source, window = sidebar.peers, sidebar.source, sidebar.window
labels = data.indicator_labels()
names = data.force_names()
filters = st.columns(4)
indicator = state.url_select(
    "Indicator",
    ["all", *data.indicators_with_findings(peers, source, window)],
    key="indicator",
    format_func=lambda i: "Every indicator" if i == "all" else labels.get(i, i),
    container=filters[0],
)
force = state.url_select(
    "Force",
    ["all", *data.forces_with_findings(peers, window)],
    key="force",
    format_func=lambda f: "Every force" if f == "all" else names.get(f, f),
    container=filters[1],
)
direction = state.url_select("Direction", ["all", "above", "below"], key="direction", container=filters[2])
max_q = float(
    state.url_select(
        "q-value (BY) at most",
        ["1", "0.05", "0.01", "0.001"],
        key="max_q",
        container=filters[3],
        help="Benjamini–Yekutieli q-value within the finding's family; BH is shown beside it.",
    )
)

narrowing = data.Narrowing(indicator_id=indicator, force_id=force, direction=direction)

st.subheader("Ranked classification findings", anchor="ranked")
found = data.filtered_findings(peers, source, max_q, window=window, **narrowing)
st.write(data.counted(found.height, "finding"))
ui.table(data.for_display(found, data.RANKED_COLUMNS), "findings")

st.subheader("Data supply", anchor="data-supply")
st.caption(
    "Pending and “status update unavailable” shares: what a feed has not settled, not how a force classifies. "
    "Ranked in a list of their own."
)
supply = data.supply_findings(peers, source, max_q, window=window, **narrowing)
st.write(data.counted(supply.height, "data-supply finding"))
ui.table(data.for_display(supply, data.SUPPLY_COLUMNS), "supply")

st.subheader("Shown, not ranked", anchor="not-ranked")
counts = data.screening_counts(peers, source, window, **narrowing)
st.write(data.screening_line(counts))
status = state.url_select(
    "Why not ranked",
    ["all", *counts["status"].to_list()],
    key="status",
    format_func=lambda s: "Every reason" if s == "all" else data.status_label(s),
)
unranked = data.unranked_findings(peers, source, status, window=window, **narrowing)
ui.table(data.for_display(unranked, data.UNRANKED_COLUMNS), "not_ranked")

chosen = indicator if indicator != "all" else (found["indicator_id"][0] if found.height else None)
if chosen:
    everyone = data.indicator_findings(peers, chosen, window)
    note = data.chart_note(chosen, everyone)
    highlight = force if force != "all" else None
    st.subheader(labels.get(chosen, chosen))
    ui.link(
        "indicator",
        "The indicator's page: its definition, every force compared, the map and the trend",
        {"indicator": chosen},
    )
    ui.chart(
        charts.funnel_plot(
            everyone, labels.get(chosen, chosen), note, names, highlight=highlight, status_labels=data.STATUS_LABELS
        ),
        everyone,
        f"funnel_{chosen}",
    )
    ui.chart(
        charts.caterpillar_plot(
            everyone, labels.get(chosen, chosen), note, names, highlight=highlight, status_labels=data.STATUS_LABELS
        ),
        everyone,
        f"caterpillar_{chosen}",
    )

st.subheader("Forces × categories: adjusted standardised residuals")
mixes = data.mix_labels()
mix = state.url_select("Mix", list(mixes), key="mix", format_func=lambda m: mixes.get(m, m))
cells = data.mix_categories(mix)
if cells.height:
    ui.chart(
        charts.residual_heatmap(cells, mixes[mix], data.source_note(data.mix_sources()[mix]), names),
        cells,
        f"heatmap_{mix}",
    )
ui.table(data.homogeneity(), "homogeneity")
