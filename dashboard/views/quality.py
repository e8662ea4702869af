import streamlit as st

from dashboard import data, state, ui

ui.heading("quality")

st.subheader("Ingest log")
ui.table(data.ingest_log(), "ingest_log")

st.subheader("Quarantine")
ui.table(data.quarantine_reasons(), "quarantine_reasons")
search = state.url_text("Search reasons and files", key="q")
ui.table(data.quarantine(search), "quarantine")

st.subheader("Registry of breaks")
ui.table(data.events(), "registry")
