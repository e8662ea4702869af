import streamlit as st

from dashboard import charts, data, ui

st.title("Overview")
st.caption("What is loaded, which force-months each source supplied, and the largest divergences.")

loaded = data.sources_loaded()
left, middle, right = st.columns(3)
left.metric("Sources", loaded.height)
middle.metric("Territorial forces with data", data.territorial_forces_with_data())
right.metric("Rows read", f"{loaded['rows_read'].sum():,}")
ui.table(loaded, "sources_loaded")

st.subheader("Coverage: which force supplied which period")
source = ui.url_select("Source", data.coverage_sources(), key="coverage_source", default="police_uk_street")
grid = data.coverage(source)
ui.chart(charts.coverage_grid(grid, source, data.source_note(source), data.force_names()), grid, "coverage")

st.subheader("Largest divergences")
peers = st.session_state.get("peers", "all")
source = st.session_state.get("source", "all")
st.caption("Ranked classification findings only, effect first; each benchmark leaves the force out, and what it "
           "covers is said beside it.")
top = data.filtered_findings(peers, source).head(10)
if top.height == 0:
    st.info("No ranked findings: load returns from at least three territorial forces.")
else:
    for row in top.iter_rows(named=True):
        st.markdown(data.finding_markdown(row, peers))
st.write(data.screening_line(data.screening_counts(peers, source)))
supply = data.supply_findings(peers, source)
st.markdown(f"[The data-supply list: {data.counted(supply.height, 'finding')} on pending and unavailable outcomes, ranked apart]"
            f"({data.finder_link(peers)}#data-supply) · [Every finding not ranked, with its reason]"
            f"({data.finder_link(peers)}#not-ranked)")
