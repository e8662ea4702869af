import streamlit as st

from dashboard import charts, data, ui

st.title("Trends")
st.caption("An indicator over time for chosen forces, beside the other forces' band, with registered events "
           "(rule and records-system changes) and breaks the engine detected.")

labels = data.indicator_labels()
names = data.force_names()
indicator = ui.url_select("Indicator", list(labels), key="indicator", format_func=labels.get,
                          default="ons_rec_vwi_of_vap")
series = data.series(indicator)
available = sorted(series["force_id"].unique().to_list(), key=lambda f: names.get(f, f)) if series.height else []
wanted = [f for f in st.query_params.get("forces", "").split(",") if f in available] or available[:1]
if "forces" not in st.session_state:
    st.session_state["forces"] = wanted
forces = st.multiselect("Forces", available, key="forces", format_func=lambda f: names.get(f, f))
st.query_params["forces"] = ",".join(forces)

if not series.height or not forces:
    st.info("No series for this indicator yet.")
    st.stop()
chosen = series.filter(series["force_id"].is_in(forces))
band = data.peers_band(series, forces)
events = data.events()
breaks = data.detected_breaks(indicator)
note = data.source_note(data.indicator_sources()[indicator], series["period"].min(), series["period"].max())
ui.chart(charts.trend_plot(chosen, band, events, breaks.filter(breaks["force_id"].is_in(forces)) if breaks.height else breaks,
                           labels[indicator], note, names), chosen, f"trend_{indicator}")
st.subheader("Breaks for these forces")
ui.table(breaks.filter(breaks["force_id"].is_in(forces)) if breaks.height else breaks, "breaks")
