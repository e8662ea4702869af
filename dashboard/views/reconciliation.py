import streamlit as st

from dashboard import charts, data, state, ui

ui.heading("reconciliation")

names = data.force_names()
left, right = st.columns(2)
force = state.url_select(
    "Force",
    data.territorial_forces(),
    key="force",
    format_func=lambda f: names.get(f, f),
    default="metropolitan",
    container=left,
)
group = state.url_select(
    "Offence group", data.reconciliation_groups(), key="group", container=right, default="Violence and sexual offences"
)
rows = data.reconciliation(force, group)
if rows.height:
    ui.chart(
        charts.reconciliation_plot(
            rows,
            names.get(force, force),
            group,
            "Sources: data.police.uk, ONS, Home Office and force publications, Open Government Licence v3.0.",
            events=data.events(),
            source_labels=data.PUBLISHERS,
        ),
        rows,
        "reconciliation",
    )
    ui.table(data.reconciliation_for_display(rows), "reconciliation_rows")
    st.subheader("Why the sources differ")
    for source, reference, reasons in data.reconciliation_reasons(rows):
        st.markdown(f"**{source}** against {reference}: {reasons}.")
else:
    st.info(f"No source has {group.lower()} for {names.get(force, force)}.")
st.subheader("Periods a source lacks")
st.caption("Periods, at each source's own grain, that other forces supplied and this force did not: a gap, not zero.")
ui.table(data.missing_periods(force), "missing")
