import functools

import streamlit as st

from dashboard import charts, data, pack, state, ui

ui.heading("force")

sidebar = state.filters()
peers, window = sidebar.peers, sidebar.window
names = data.force_names()
force = state.url_select(
    "Force", data.forces_with_findings(peers, window), key="force", format_func=lambda f: names.get(f, f)
)
name = names.get(force, force)
standing = data.comparability(force)
if not standing["comparable_by_default"]:
    st.warning(data.comparability_words(name, standing["comparability_note"]))
st.write(data.peers_words(peers, force))
downloads = (
    ("Download the force pack (zip of every table)", pack.force_pack_zip, "zip", "force_pack"),
    ("Download the profile report (HTML)", pack.force_report_html, "html", "force_report"),
)
for column, (label, build, ending, key) in zip(st.columns(2), downloads):
    made = functools.partial(build, force, peers, window)  # made only when pressed
    ui.download(column, label, made, pack.file_name(force, peers, window, ending), key)

everyone = data.filtered_findings(peers, sidebar.source, ranked_only=False, window=window)
profile = data.force_profile(everyone, force)
st.subheader(f"{name} across every indicator")
if profile["own"].height:
    ui.chart(
        charts.spine_chart(
            profile["own"],
            everyone,
            name,
            data.source_note_all(),
            data.indicator_labels(),
            status_labels=data.STATUS_LABELS,
        ),
        profile["own"],
        "spine",
    )
    # Right under the spine chart, in its order: the numbers it draws, with the peers' range.
    st.markdown("**The values behind the chart**")
    ui.table(data.force_values(everyone, force, peers), "force_values")
    if profile["ranked"].height:
        st.markdown(f"**Ranked findings** ({profile['ranked'].height}; the five ranked highest)")
        for sentence in profile["ranked"].head(5)["sentence"]:
            st.markdown(f"- {sentence}")
    else:
        st.markdown(f"**No finding of {name} is ranked.**")
    if profile["supply"].height:
        st.markdown(f"**Data supply** ({profile['supply'].height}, ranked apart)")
        for sentence in profile["supply"]["sentence"]:
            st.markdown(f"- {sentence}")
    if profile["reasons"]:
        st.markdown(f"**Not ranked** ({data.counted(profile['not_ranked'], 'finding')}), and why")
        for line in profile["reasons"]:
            st.markdown(f"- {line}")
    st.markdown("**Every finding, with its status**")
    ui.table(data.for_display(profile["own"], data.FORCE_COLUMNS), "force_findings")
else:
    st.info(f"No findings for {name}.")

st.subheader("Recorded crime per 1,000 residents")
rates = data.rates(force, peers)
if rates.height:
    st.caption(data.rates_note(rates))
    ui.table(data.rates_for_display(rates), "rates")
else:
    st.info(f"No resident population or ONS force-area counts for {name}.")

st.subheader("Offence and outcome mix")
mixes = data.mix_labels()
mix = state.url_select("Mix", list(mixes), key="mix", format_func=lambda m: mixes.get(m, m))
cells = data.mix_categories(mix)
cells = cells.filter(cells["force_id"] == force) if cells.height else cells
distance = data.mix_distances(mix)
distance = distance.filter(distance["force_id"] == force) if distance.height else distance
if distance.height:
    st.write(data.distance_words(distance.row(0, named=True)))
if cells.height:
    ui.chart(
        charts.mix_contributions(cells, mixes[mix], name, data.source_note(data.mix_sources()[mix])),
        cells,
        f"mix_{mix}",
    )
else:
    st.info(f"No {mixes[mix].lower()} for {name}.")

st.subheader("Outcomes, adjusted for case mix")
ratios = data.outcome_ratios(force)
if ratios.height:
    ui.chart(charts.outcome_ratio_plot(ratios, name, data.source_note("police_uk_street")), ratios, "outcome_ratios")
else:
    st.info(f"No police.uk outcomes for {name} in the standard window.")
