import streamlit as st

from dashboard import charts, data, state, ui

ui.heading("trends")

labels = data.indicator_labels()
names = data.force_names()
indicator = state.url_select(
    "Indicator", list(labels), key="indicator", format_func=lambda i: labels.get(i, i), default="ons_rec_vwi_of_vap"
)
series = data.series(indicator)
available = sorted(series["force_id"].unique().to_list(), key=lambda f: names.get(f, f)) if series.height else []
chosen_force = state.choice("force")
forces = state.url_multiselect(
    "Forces",
    available,
    key="forces",
    format_func=lambda f: names.get(f, f),
    default=[chosen_force] if chosen_force is not None and chosen_force in available else available[:1],
)

if not series.height:
    st.info(f"No series for {labels[indicator]}: its source is not loaded.")
    st.stop()
if not forces:
    st.info("Choose at least one force.")
    st.stop()
grain = data.series_grain(indicator)
chosen = series.filter(series["force_id"].is_in(forces))
band = data.peers_band(series, forces)
breaks = data.detected_breaks(indicator)
breaks = breaks.filter(breaks["force_id"].is_in(forces)) if breaks.height else breaks
note = data.series_note(data.indicator_sources()[indicator], series, grain)
ui.chart(
    charts.trend_plot(chosen, band, data.events(), breaks, labels[indicator], note, names, grain=grain),
    chosen,
    f"trend_{indicator}",
)
st.subheader("Breaks for these forces")
ui.table(data.breaks_for_display(breaks), "breaks")
