import streamlit as st

from dashboard import charts, data, ui

st.title("Divergence finder")
st.caption("Where a force's share departs from its peers (benchmark excludes the force), with funnel limits "
           "that allow for overdispersion and q-values controlling the false discovery rate.")

peers = st.session_state.get("peers", "all")
source = st.session_state.get("source", "all")
labels = data.indicator_labels()
names = data.force_names()
filters = st.columns(4)
indicator = ui.url_select("Indicator", ["all", *data.indicators_with_findings(peers, source)], key="indicator",
                          format_func=lambda i: "Every indicator" if i == "all" else labels.get(i, i), container=filters[0])
force = ui.url_select("Force", ["all", *data.forces_with_findings(peers)], key="force",
                      format_func=lambda f: "Every force" if f == "all" else names.get(f, f), container=filters[1])
direction = ui.url_select("Direction", ["all", "above", "below"], key="direction", container=filters[2])
max_q = float(ui.url_select("q-value at most", ["1", "0.05", "0.01", "0.001"], key="max_q", container=filters[3]))

found = data.filtered_findings(peers, source, indicator, force, direction, max_q)
st.write(f"{found.height} findings")
ui.table(found.select("rank", "sentence", "z", "q_bh", "q_by", "share", "benchmark", "numerator", "denominator",
                      "indicator_id", "force_id", "window_start", "window_end"), "findings")

chosen = indicator if indicator != "all" else (found["indicator_id"][0] if found.height else None)
if chosen:
    everyone = data.filtered_findings(peers, indicator_id=chosen, ranked_only=False)
    window = everyone.row(0, named=True)
    note = data.source_note(data.indicator_sources()[chosen], window["window_start"], window["window_end"])
    st.subheader(labels.get(chosen, chosen))
    ui.chart(charts.funnel_plot(everyone, labels.get(chosen, chosen), note, names), everyone, f"funnel_{chosen}")
    ui.chart(charts.caterpillar_plot(everyone, labels.get(chosen, chosen), note, names), everyone, f"caterpillar_{chosen}")

st.subheader("Forces × categories: adjusted standardised residuals")
mixes = data.mix_labels()
mix = ui.url_select("Mix", list(mixes), key="mix", format_func=mixes.get)
cells = data.mix_categories(mix)
if cells.height:
    ui.chart(charts.residual_heatmap(cells, mixes[mix], data.source_note(data.mix_sources()[mix]), names), cells, f"heatmap_{mix}")
ui.table(data.homogeneity(), "homogeneity")
