import streamlit as st

from dashboard import charts, data, state, ui

ui.heading("home")

loaded = data.sources_loaded()
left, middle, right = st.columns(3)
left.metric("Sources", loaded.height)
middle.metric("Territorial forces with data", data.territorial_forces_with_data())
right.metric("Rows read", f"{loaded['rows_read'].sum():,}")
ui.table(data.sources_for_display(loaded), "sources_loaded")

st.subheader("Coverage: which force supplied which period")
source = state.url_select(
    "Source", data.coverage_sources(), key="coverage_source", default="police_uk_street", format_func=data.source_label
)
grid = data.coverage(source)
st.caption(data.coverage_summary(source))
ui.chart(
    charts.coverage_grid(
        grid,
        source,
        data.source_note(source),
        data.force_names(),
        grain=data.grain_of(grid),
        source_label=data.source_label(source),
    ),
    grid,
    "coverage",
)

st.subheader("Largest divergences")
sidebar = state.filters()
peers, source, window = sidebar.peers, sidebar.source, sidebar.window
st.caption(
    "Ranked classification findings only, effect first; each benchmark leaves the force out, and what it "
    "covers is said beside it. Each opens in the divergence finder."
)
top = data.filtered_findings(peers, source, window=window).head(10)
if top.height == 0:
    st.info("No ranked findings: load returns from at least three territorial forces.")
else:
    for row in top.iter_rows(named=True):
        ui.link("divergence", data.finding_label(row), {"indicator": row["indicator_id"], "force": row["force_id"]})
        st.caption(data.finding_details(row))
st.write(data.screening_line(data.screening_counts(peers, source, window)))
supply = data.supply_findings(peers, source, window=window)
left, right = st.columns(2)
ui.link(
    "divergence",
    f"The data-supply list: {data.counted(supply.height, 'finding')} on pending and unavailable outcomes, ranked apart",
    {"indicator": "all", "force": "all"},
    container=left,
)
ui.link(
    "divergence", "Every finding not ranked, with its reason", {"indicator": "all", "force": "all"}, container=right
)
