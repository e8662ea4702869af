"""Each source's words (its publisher and publication) and colour: the one place the charts, and the
dashboard through them, name and colour sources."""

from __future__ import annotations

from dashboard.charts.palette import QUALITATIVE

# Each source in words: its publisher and publication. The one list the dashboard names sources by.
SOURCE_WORDS = {
    "police_uk_street": "data.police.uk street-level crime",
    "police_uk_outcomes": "data.police.uk outcomes",
    "ons_rec_crime_pfa": "ONS recorded crime by police force area (rolling years)",
    "ons_pfa_tables": "ONS police force area data tables",
    "ons_mid_year_estimates": "ONS mid-year population estimates",
    "mps_borough_crime": "Metropolitan Police Service borough counts (London Datastore)",
    "mps_ward_crime": "Metropolitan Police Service ward counts (London Datastore)",
    "ho_recorded_crime_pfa": "Home Office police recorded crime open data",
    "ho_recorded_crime_csp": "Home Office police recorded crime open data (CSP)",
    "ho_outcomes": "Home Office crime outcomes open data",
    "police_uk_force_year": "data.police.uk crimes by force and year (2017 download)",
    "force_export_records": "force record exports",
}

SOURCE_COLOURS = {
    "police_uk_street": "#0072B2",
    "police_uk_outcomes": "#56B4E9",
    "ons_rec_crime_pfa": "#E69F00",
    "ons_pfa_tables": "#CC79A7",
    "ho_recorded_crime_pfa": "#009E73",
    "ho_recorded_crime_csp": "#8FBC8F",
    "ho_outcomes": "#F0E442",
    "force_export_records": "#000000",
    "mps_borough_crime": "#882255",
    "mps_ward_crime": "#999933",
}


def _source_colour(source: str, known: list[str]) -> str:
    """The source's own colour, or (for a source without one) a colour by its place among `known`."""
    if source in SOURCE_COLOURS:
        return SOURCE_COLOURS[source]
    return QUALITATIVE[known.index(source) % len(QUALITATIVE)]
