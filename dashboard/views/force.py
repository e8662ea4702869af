import streamlit as st

from dashboard import charts, data, ui

st.title("Force profile")
st.caption("One force against its peers: every indicator, its offence mix, and its case-mix adjusted outcomes.")

peers = st.session_state.get("peers", "all")
names = data.force_names()
force = ui.url_select("Force", data.forces_with_findings(peers), key="force", format_func=lambda f: names.get(f, f))
name = names.get(force, force)

everyone = data.filtered_findings(peers, st.session_state.get("source", "all"), ranked_only=False)
own = everyone.filter(everyone["force_id"] == force) if everyone.height else everyone
st.subheader(f"{name} across every indicator")
if own.height:
    ui.chart(charts.spine_chart(own, everyone, name, "Sources: data.police.uk and ONS, Open Government Licence v3.0. Analysis: crossforce."),
             own, "spine")
    for sentence in own.filter(own["rank"].is_not_null()).sort("rank").head(5)["sentence"]:
        st.markdown(f"- {sentence}")

st.subheader("Offence and outcome mix")
mixes = data.mix_labels()
mix = ui.url_select("Mix", list(mixes), key="mix", format_func=mixes.get)
cells = data.mix_categories(mix)
cells = cells.filter(cells["force_id"] == force) if cells.height else cells
distance = data.mix_distances(mix)
distance = distance.filter(distance["force_id"] == force) if distance.height else distance
if distance.height:
    d = distance.row(0, named=True)
    st.write(f"Jensen–Shannon distance from the other forces' mix: **{d['distance']:.3f}** "
             f"(chance alone gives about {d['null_median']:.3f}; 95% of draws under {d['null_q95']:.3f}).")
if cells.height:
    ui.chart(charts.mix_contributions(cells, mixes[mix], name, data.source_note(data.mix_sources()[mix])), cells, f"mix_{mix}")
else:
    st.info(f"No {mixes[mix].lower()} for {name}.")

st.subheader("Outcomes, adjusted for case mix")
ratios = data.outcome_ratios(force)
if ratios.height:
    ui.chart(charts.outcome_ratio_plot(ratios, name, data.source_note("police_uk_street")), ratios, "outcome_ratios")
else:
    st.info(f"No police.uk outcomes for {name} in the standard window.")
