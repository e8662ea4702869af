import streamlit as st

from dashboard import data, state, ui, workbench

ui.heading("workbench", workbench.caption())

main, side = st.columns([3, 1])
saved = {q.name: q for q in data.saved_queries()}
with main:
    mode = state.url_select(
        "Ask",
        list(workbench.MODES),
        key="mode",
        format_func=lambda m: workbench.MODES.get(m, m),
        default=workbench.default_mode(),
    )
    workbench.show_mode(mode, saved)
with side:
    workbench.schema_sidebar()
