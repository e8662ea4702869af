import streamlit as st

from dashboard import charts, data, state, ui

ui.heading("indicator")

# Not narrowed by the sidebar's source: a link to any indicator opens it here.
sidebar = state.filters()
peers, window = sidebar.peers, sidebar.window
labels = data.indicator_labels()
names = data.force_names()
left, right = st.columns(2)
indicator = state.url_select(
    "Indicator",
    data.indicators_with_findings(peers, window=window),
    key="indicator",
    format_func=lambda i: labels.get(i, i),
    container=left,
)
everyone = data.indicator_findings(peers, indicator, window)
forces = sorted(everyone["force_id"].unique().to_list(), key=lambda f: names.get(f, f)) if everyone.height else []
force = state.url_select("Highlight force", forces, key="force", format_func=lambda f: names.get(f, f), container=right)
label = labels[indicator]

st.subheader("Definition")
st.markdown("\n".join(f"- **{term}**: {words}" for term, words in data.indicator_definition(indicator)))

note = data.chart_note(indicator, everyone)
peer_ids = data.peers_of(peers, force)
st.subheader("Every force compared")
st.write(data.peers_words(peers, force))
ui.chart(
    charts.compare_bar(everyone, label, note, names, highlight=force, peers=peer_ids, status_labels=data.STATUS_LABELS),
    everyone,
    f"compare_{indicator}",
)

st.subheader("Map: how far each force sits from its benchmark (z)")
event = ui.chart(
    charts.tile_map(
        everyone,
        f"{label}: z by force",
        note,
        names,
        tiles=data.tiles(),
        highlight=force,
        status_labels=data.STATUS_LABELS,
    ),
    everyone,
    f"map_{indicator}",
    on_select="rerun",
)
clicked = ui.clicked_force(event)
if clicked and clicked != force:
    ui.go_to_force(clicked)

st.subheader("Funnel")
ui.chart(
    charts.funnel_plot(everyone, label, note, names, highlight=force, status_labels=data.STATUS_LABELS),
    everyone,
    f"funnel_{indicator}",
)

st.subheader("Trend")
series = data.series(indicator)
chosen = series.filter(series["force_id"] == force) if series.height else series
if chosen.height:
    breaks = data.detected_breaks(indicator)
    breaks = breaks.filter(breaks["force_id"] == force) if breaks.height else breaks
    ui.chart(
        charts.trend_plot(
            chosen,
            data.peers_band(series, [force]),
            data.events(),
            breaks,
            label,
            data.series_note(data.indicator_sources()[indicator], series, data.series_grain(indicator)),
            names,
            grain=data.series_grain(indicator),
        ),
        chosen,
        f"trend_{indicator}",
    )
else:
    st.info(f"No series of {label} for {names.get(force, force)}.")
