"""police.uk street and outcome files: `street_to_canonical` / `outcomes_to_canonical` through `extract`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import load
from pipelines.ingest.sources.base import extract
from pipelines.ingest.sources.police_uk import OUTCOMES, STREET
from pipelines.ingest.textfile import open_text

from conftest import outcome_row, street_row, write_outcomes, write_street

APRIL = dt.date(2021, 4, 1)
ASB = "Anti-social behaviour"


def run_street(tmp_path: Path, rows: list[dict], name: str = "2021-04-durham-street.csv"):
    return extract(STREET, [open_text(write_street(tmp_path / name, rows))])


def run_outcomes(tmp_path: Path, rows: list[dict], name: str = "2021-04-durham-outcomes.csv"):
    return extract(OUTCOMES, [open_text(write_outcomes(tmp_path / name, rows))])


def reasons_by_row(extracted) -> dict[int, str]:
    return dict(extracted.quarantine.select("row_number", "reason").iter_rows())


# --- valid rows ------------------------------------------------------------------------------------------


def test_a_valid_street_row_loads_resolved(tmp_path):
    out = run_street(
        tmp_path, [street_row(**{"Reported by": "Durham Constabulary", "Falls within": "Durham Constabulary"})]
    )
    [record] = out.tables["core_police_uk__street_crimes"].to_dicts()
    assert record["file_name"] == "2021-04-durham-street.csv"
    assert record["row_number"] == 1
    assert record["force_id"] == "durham"
    assert record["reported_by_force_id"] == "durham"
    assert record["period"] == APRIL
    assert record["crime_type"] == "Burglary"
    assert record["outcome"] == "Unable to prosecute suspect"
    assert record["outcome_group"] == "evidential_difficulties"
    assert record["longitude"] == pytest.approx(-1.5)
    assert record["latitude"] == pytest.approx(54.7)
    assert record["duplicate_of_row"] is None
    assert out.quarantine.height == 0
    assert [(f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_duplicate) for f in out.files] == [(1, 1, 0, 0)]


def test_a_street_row_with_no_outcome_or_location_loads(tmp_path):
    # BTP and anti-social behaviour rows have a blank outcome; "No Location" rows have blank coordinates.
    row = street_row(
        **{"Crime ID": "", "Last outcome category": "", "Longitude": "", "Latitude": "", "Location": "No Location"}
    )
    [record] = run_street(tmp_path, [row]).tables["core_police_uk__street_crimes"].to_dicts()
    assert (record["crime_id"], record["outcome"], record["outcome_group"]) == (None, None, None)
    assert (record["longitude"], record["latitude"]) == (None, None)


@pytest.mark.parametrize(
    ("label", "group"),
    [
        ("Suspect charged", "charged_summonsed"),
        ("Local resolution", "out_of_court_informal"),
        ("Investigation complete; no suspect identified", "no_suspect"),
        ("Status update unavailable", "unavailable"),
    ],
)
def test_a_valid_outcome_row_loads_with_its_group(tmp_path, label, group):
    out = run_outcomes(
        tmp_path,
        [
            outcome_row(
                **{
                    "Outcome type": label,
                    "Falls within": "Devon & Cornwall Police",
                    "Reported by": "Devon & Cornwall Police",
                    "Month": "2022-12",
                }
            )
        ],
        name="2022-12-devon-and-cornwall-outcomes.csv",
    )
    [record] = out.tables["core_police_uk__outcome_events"].to_dicts()
    assert record["force_id"] == "devon-and-cornwall"
    assert record["period"] == dt.date(2022, 12, 1)
    assert record["outcome"] == label
    assert record["outcome_group"] == group
    [count] = out.tables["core_counts__crime_outcomes"].to_dicts()
    assert (count["outcome"], count["outcome_group"], count["count_basis"], count["outcome_count"]) == (
        label,
        group,
        "outcomes_in_period",
        1,
    )
    assert count["category"] is None


# --- quarantine ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "offending", "column"),
    [
        ({"Falls within": "Narnia Constabulary"}, "Narnia Constabulary", "Falls within"),
        ({"Reported by": "Gotham City Police"}, "Gotham City Police", "Reported by"),
        ({"Month": "2021-13"}, "2021-13", "Month"),
        ({"Month": "04/2021"}, "04/2021", "Month"),
        ({"Month": "2021-4"}, "2021-4", "Month"),
        ({"Crime type": "Jaywalking"}, "Jaywalking", "crime type"),
        ({"Last outcome category": "Sent to the moon"}, "Sent to the moon", "Last outcome category"),
        ({"Longitude": "east-ish"}, "east-ish", "Longitude"),
        ({"Latitude": "54.7N"}, "54.7N", "Latitude"),
        # impossible months: the future, before police.uk began, and another month than the file's own
        ({"Month": "2099-01"}, "2099-01", "after the current month"),
        ({"Month": "1066-01"}, "1066-01", "before police.uk's first month"),
        ({"Month": "2021-06"}, "2021-06", "the file is the return for 2021-04"),
        # coordinates that parse as numbers but are no place
        ({"Longitude": "NaN"}, "NaN", "not a finite number"),
        ({"Longitude": "inf"}, "inf", "not a finite number"),
        ({"Longitude": "1e400"}, "1e400", "not a finite number"),
        ({"Longitude": "181.5"}, "181.5", "outside Great Britain"),
        ({"Latitude": "-54.7"}, "-54.7", "outside Great Britain"),
    ],
)
def test_a_bad_street_value_is_quarantined_with_a_reason_naming_it(tmp_path, overrides, offending, column):
    out = run_street(tmp_path, [street_row(), street_row(**overrides), street_row(**{"Crime ID": "zzz"})])
    assert reasons_by_row(out).keys() == {2}
    reason = reasons_by_row(out)[2]
    assert f"'{offending}'" in reason
    assert column in reason
    assert out.tables["core_police_uk__street_crimes"]["row_number"].to_list() == [1, 3]
    assert [(f.rows_read, f.rows_loaded, f.rows_quarantined) for f in out.files] == [(3, 2, 1)]
    # the quarantined row is kept as read
    raw = out.quarantine["raw_row"][0]
    assert offending in raw


@pytest.mark.parametrize("blank", ["Falls within", "Month", "Crime type"])
def test_a_blank_required_street_value_is_quarantined(tmp_path, blank):
    out = run_street(tmp_path, [street_row(**{blank: ""})])
    [reason] = reasons_by_row(out).values()
    assert f"'{blank}'" in reason or blank.lower() in reason.lower()
    assert out.tables["core_police_uk__street_crimes"].height == 0


def test_an_empty_force_is_quarantined(tmp_path):
    out = run_street(tmp_path, [street_row(**{"Falls within": ""})])
    assert reasons_by_row(out) == {1: "'Falls within' is empty: the row names no force"}


@pytest.mark.parametrize(
    ("overrides", "offending"),
    [
        ({"Outcome type": "Sent to the moon"}, "'Sent to the moon'"),
        ({"Outcome type": ""}, "'Outcome type' is empty"),
        ({"Falls within": "Narnia Constabulary"}, "'Narnia Constabulary'"),
        ({"Month": "2021-00"}, "'2021-00'"),
        ({"Month": "2021-06"}, "the file is the return for 2021-04"),
        ({"Latitude": "inf"}, "not a finite number"),
    ],
)
def test_a_bad_outcome_row_is_quarantined_with_a_reason_naming_it(tmp_path, overrides, offending):
    out = run_outcomes(tmp_path, [outcome_row(**overrides), outcome_row()])
    assert reasons_by_row(out).keys() == {1}
    assert offending in reasons_by_row(out)[1]
    assert out.tables["core_police_uk__outcome_events"]["row_number"].to_list() == [2]


def test_a_file_whose_name_carries_no_month_is_held_to_the_plausible_span_only(tmp_path):
    out = run_street(tmp_path, [street_row(Month="2021-06"), street_row(Month="2099-01")], name="durham-export.csv")
    assert reasons_by_row(out).keys() == {2}
    assert out.tables["core_police_uk__street_crimes"]["period"].to_list() == [dt.date(2021, 6, 1)]


def test_a_row_with_two_problems_gets_both_reasons(tmp_path):
    out = run_street(tmp_path, [street_row(Month="2021-13", **{"Crime type": "Jaywalking", "Longitude": "far"})])
    [reason] = reasons_by_row(out).values()
    assert "'2021-13'" in reason
    assert "'Jaywalking'" in reason
    assert "'far'" in reason
    assert reason.count("; ") == 2
    assert out.files[0].rows_quarantined == 1


# --- duplicates ------------------------------------------------------------------------------------------


def test_exact_duplicates_are_loaded_counted_and_point_to_the_first_copy(tmp_path):
    a = street_row(**{"Crime ID": "a"})
    asb = street_row(**{"Crime ID": "", "Crime type": ASB, "Last outcome category": ""})
    near = street_row(**{"Crime ID": "a", "Location": "On or near Elm Road"})  # differs in one value only
    out = run_street(tmp_path, [a, asb, a, near, asb, a])
    records = out.tables["core_police_uk__street_crimes"].sort("row_number")
    assert records.select("row_number", "duplicate_of_row").rows() == [
        (1, None),
        (2, None),
        (3, 1),
        (4, None),
        (5, 2),
        (6, 1),
    ]
    [counts] = out.files
    assert (counts.rows_read, counts.rows_loaded, counts.rows_quarantined, counts.rows_duplicate) == (6, 6, 0, 3)


def test_duplicates_are_per_file(tmp_path):
    texts = [
        open_text(write_street(tmp_path / f"{month}-durham-street.csv", [street_row(Month=month)]))
        for month in ("2021-04", "2021-05")
    ]
    out = extract(STREET, texts)
    assert out.tables["core_police_uk__street_crimes"]["duplicate_of_row"].to_list() == [None, None]
    assert [f.rows_duplicate for f in out.files] == [0, 0]


# --- through the load ------------------------------------------------------------------------------------


WRITTEN = {"Burglary": 3, "Drugs": 2, "Violence and sexual offences": 4, ASB: 5}


def test_counts_per_crime_type_and_asb_left_out_of_recorded_crime(tmp_path, db):
    rows = []
    for crime_type, n in WRITTEN.items():
        rows += [street_row(**{"Crime ID": f"{crime_type}-{i}", "Crime type": crime_type}) for i in range(n)]
    path = write_street(tmp_path / "in" / "2021-04-durham-street.csv", rows)
    load.ingest([path], db, progress=False)
    with duckdb.connect(str(db), read_only=True) as con:
        counts = dict(
            con.sql(
                "select category, offence_count from core_counts__recorded_crime "
                "where force_id = 'durham' and period = date '2021-04-01'"
            ).fetchall()
        )
        recorded = dict(
            con.sql(
                "select category, offence_count from recorded_crime "
                "where force_id = 'durham' and period = date '2021-04-01' and scheme = 'police_uk'"
            ).fetchall()
        )
        [(loaded_asb,)] = con.execute(
            "select count(*) from core_police_uk__street_crimes where crime_type = ?", [ASB]
        ).fetchall()
    assert counts == WRITTEN
    assert recorded == {k: v for k, v in WRITTEN.items() if k != ASB}
    assert loaded_asb == WRITTEN[ASB]
