"""crossforce dashboard: the frame around the pages, and the global filters every page shares."""

import streamlit as st

from dashboard import data, ui

st.set_page_config(page_title="crossforce", layout="wide")

if not data.database_path().exists():
    st.title("crossforce")
    st.error(f"No database at {data.database_path()}: run `crossforce ingest` or `crossforce up`.")
    st.stop()

st.sidebar.title("crossforce")
st.sidebar.caption("How the police forces of England and Wales record and classify crime.")
PEER_GROUPS = {"all": "All territorial forces", "region": "Forces of the same region",
               "nearest": "7 nearest by offence mix and population"}
ui.url_select("Compare with", list(PEER_GROUPS), key="peers", format_func=PEER_GROUPS.get, container=st.sidebar,
              help="Benchmarks never include the force itself. British Transport Police, Northern Ireland and the fraud bodies are never mixed in.")
ui.url_select("Period window", ["standard", *data.window_years()], key="window", container=st.sidebar,
              format_func=lambda w: "Latest 12 months each source" if w == "standard" else f"Calendar year {w}",
              help="Findings for another window are computed on demand; rolling-year sources use the year ending in December.")
sources = sorted(set(data.indicator_sources().values()))
ui.url_select("Source", ["all", *sources], key="source", container=st.sidebar,
              format_func=lambda s: "Every source" if s == "all" else s,
              help="Shares are never computed across sources; this filters which indicators are shown.")

pages = [
    st.Page("views/overview.py", title="Overview", default=True, url_path="overview"),
    st.Page("views/divergence.py", title="Divergence finder", url_path="divergence"),
    st.Page("views/force.py", title="Force profile", url_path="force"),
    st.Page("views/trends.py", title="Trends", url_path="trends"),
    st.Page("views/reconciliation.py", title="Reconciliation", url_path="reconciliation"),
    st.Page("views/workbench.py", title="SQL workbench", url_path="workbench"),
    st.Page("views/quality.py", title="Data quality", url_path="quality"),
]
st.navigation(pages).run()
