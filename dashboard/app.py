"""crossforce dashboard entry point. Pages arrive with the dashboard issue; this shows what is loaded."""

import streamlit as st

from dashboard import data

st.set_page_config(page_title="crossforce", layout="wide")
st.title("crossforce")
st.caption("How the police forces of England and Wales record and classify crime.")

if not data.database_path().exists():
    st.error(f"No database at {data.database_path()}: run `crossforce ingest` or `crossforce up`.")
    st.stop()

st.subheader("What is loaded")
st.dataframe(data.sources_loaded(), hide_index=True, key="sources_loaded")
