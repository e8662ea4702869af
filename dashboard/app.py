"""crossforce dashboard: the frame around the pages, and the global filters every page shares.

The sidebar's filters are built into one `state.Filters` here, on every run, before the page runs;
pages read it with `state.filters()`."""

import streamlit as st

from dashboard import data, state, ui

st.set_page_config(page_title="crossforce", layout="wide")

if not data.database_path().exists():
    st.title("crossforce")
    st.error(f"No database at {data.database_path()}: run `crossforce ingest` or `crossforce up`.")
    st.stop()

st.sidebar.title("crossforce")
st.sidebar.caption("How the police forces of England and Wales record and classify crime.")
peers = state.url_select(
    "Compare with",
    list(data.PEER_GROUPS),
    key="peers",
    format_func=lambda g: data.PEER_GROUPS.get(g, g),
    container=st.sidebar,
    help=(
        "Benchmarks never include the force itself. "
        "British Transport Police, Northern Ireland and the fraud bodies are never mixed in."
    ),
)
window = state.url_select(
    "Period window",
    ["standard", *data.window_years()],
    key="window",
    container=st.sidebar,
    format_func=data.window_name,
    help="Findings for another window are computed on demand; rolling-year sources use the year ending in December.",
)
st.sidebar.caption(data.window_summary_words(peers, window))
sources = sorted(set(data.indicator_sources().values()))
source = state.url_select(
    "Source",
    ["all", *sources],
    key="source",
    container=st.sidebar,
    format_func=lambda s: "Every source" if s == "all" else data.source_label(s),
    help="Shares are never computed across sources; this filters which indicators are shown.",
)
state.set_filters(state.Filters(peers=peers, window=window, source=source))

st.navigation(ui.pages()).run()
