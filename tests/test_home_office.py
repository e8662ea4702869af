"""Home Office open data layouts and the ONS rolling-year CSV, on small files written in their published layouts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import load
from pipelines.ingest.sources import home_office, ons_rec_crime
from pipelines.ingest.textfile import MalformedFileError
from tests.conftest import real_data, write_csv


def _pfa_row(**overrides: str) -> dict[str, str]:
    row = {
        "Financial Year": "2019/20",
        "Financial Quarter": "3",
        "Force Name": "Kent",
        "Offence Description": "Assault with injury",
        "Offence Group": "Violence against the person",
        "Offence Subgroup": "Violence with injury",
        "Offence Code": "8N",
        "Number of Offences": "120",
    }
    row.update(overrides)
    return row


def _query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(sql).fetchall()


def test_pfa_table_lands_on_quarter_code_group_and_subgroup(tmp_path: Path, db: Path) -> None:
    rows = [
        _pfa_row(),
        _pfa_row(**{"Offence Code": "08n", "Number of Offences": "1,005"}),  # same code spelt otherwise
        _pfa_row(
            **{
                "Offence Description": "Stalking",
                "Offence Subgroup": "Stalking and harassment",
                "Offence Code": "8Q",
                "Number of Offences": "7",
            }
        ),
        _pfa_row(**{"Financial Quarter": "4", "Number of Offences": "30"}),
    ]
    load.ingest([write_csv(tmp_path / "prc-pfa.csv", home_office.CRIME_PFA_HEADER, rows)], db, progress=False)
    got = dict(
        ((scheme, category, str(period)), count)
        for scheme, category, period, count in _query(
            db,
            "select scheme, category, period, offence_count from recorded_crime where source = 'ho_recorded_crime_pfa'",
        )
    )
    # 2019/20 quarter 3 is October–December 2019; quarter 4 is January–March 2020.
    assert got[("ho_offence_code", "8N", "2019-10-01")] == 120 + 1005
    assert got[("ho_offence_code", "8Q", "2019-10-01")] == 7
    assert got[("ons_offence_subgroup", "Violence with injury", "2019-10-01")] == 1125
    assert got[("ons_offence_group", "Violence against the person", "2019-10-01")] == 1132
    assert got[("ons_offence_group", "Violence against the person", "2020-01-01")] == 30


def test_columns_in_another_order_are_recognised(tmp_path: Path, db: Path) -> None:
    header = tuple(reversed(home_office.CRIME_PFA_HEADER))
    load.ingest([write_csv(tmp_path / "reordered.csv", header, [_pfa_row()])], db, progress=False)
    assert _query(db, "select sum(offence_count) from recorded_crime where scheme = 'ho_offence_code'") == [(120,)]


def test_bad_values_are_quarantined_with_reasons_naming_them(tmp_path: Path, db: Path) -> None:
    rows = [
        _pfa_row(**{"Force Name": "Gotham"}),
        _pfa_row(**{"Financial Year": "2019", "Financial Quarter": "5"}),
        _pfa_row(**{"Offence Code": "not a code"}),
        _pfa_row(**{"Offence Group": "Jaywalking"}),
        _pfa_row(**{"Number of Offences": "12.5"}),
        _pfa_row(),
    ]
    load.ingest([write_csv(tmp_path / "bad.csv", home_office.CRIME_PFA_HEADER, rows)], db, progress=False)
    reasons = dict(_query(db, "select row_number, reason from quarantine order by 1"))
    assert "Gotham" in reasons[1]
    assert "'2019'" in reasons[2] and "'5'" in reasons[2]
    assert "not a code" in reasons[3]
    assert "Jaywalking" in reasons[4]
    assert "12.5" in reasons[5]
    assert 6 not in reasons
    assert _query(db, "select rows_read, rows_loaded, rows_quarantined from ingest_log") == [(6, 1, 5)]


def test_csp_table_sums_to_force_and_keeps_areas(tmp_path: Path, db: Path) -> None:
    rows = [
        dict(_pfa_row(), **{"CSP Name": "Medway", "Number of Offences": "40"}),
        dict(_pfa_row(), **{"CSP Name": "Swale", "Number of Offences": "2"}),
    ]
    load.ingest([write_csv(tmp_path / "prc-csp.csv", home_office.CRIME_CSP_HEADER, rows)], db, progress=False)
    assert _query(db, "select offence_count from recorded_crime where scheme = 'ho_offence_code'") == [(42,)]
    assert sorted(_query(db, "select area_name, offence_count from core_force_exports__area_counts")) == [
        ("Medway", 40),
        ("Swale", 2),
    ]


def test_outcomes_keep_both_count_bases(tmp_path: Path, db: Path) -> None:
    base = {k: v for k, v in _pfa_row().items() if k != "Number of Offences"}
    rows = [
        dict(
            base,
            **{
                "Outcome Description": "Charged/Summonsed",
                "Outcome Group": "Charged/Summonsed",
                "Outcome Type": "1",
                home_office.OFFENCES_RECORDED: "10",
                home_office.OUTCOMES_RECORDED: "25",
            },
        ),
        dict(
            base,
            **{
                "Outcome Description": "Evidential difficulties",
                "Outcome Group": "Evidential difficulties",
                "Outcome Type": "16",
                home_office.OFFENCES_RECORDED: "40",
                home_office.OUTCOMES_RECORDED: "38",
            },
        ),
        dict(base, **{"Outcome Type": "23", home_office.OFFENCES_RECORDED: "1", home_office.OUTCOMES_RECORDED: "1"}),
    ]
    load.ingest([write_csv(tmp_path / "outcomes.csv", home_office.OUTCOMES_HEADER, rows)], db, progress=False)
    got = dict(
        ((o, basis), n)
        for o, basis, n in _query(
            db, "select outcome, count_basis, outcome_count from crime_outcomes where scheme = 'ho_offence_code'"
        )
    )
    assert got == {
        ("1", "offences_recorded_in_period"): 10,
        ("1", "outcomes_in_period"): 25,
        ("16", "offences_recorded_in_period"): 40,
        ("16", "outcomes_in_period"): 38,
    }
    assert _query(db, "select outcome_group from crime_outcomes where outcome = '16' limit 1") == [
        ("evidential_difficulties",)
    ]
    [(reason,)] = _query(db, "select reason from quarantine")
    assert "'23'" in reason


@pytest.mark.parametrize("header", [home_office.CRIME_PFA_HEADER, home_office.OUTCOMES_HEADER])
def test_unknown_layout_stops_the_load_and_leaves_the_database(
    tmp_path: Path, db: Path, header: tuple[str, ...]
) -> None:
    load.ingest([write_csv(tmp_path / "good.csv", home_office.CRIME_PFA_HEADER, [_pfa_row()])], db, progress=False)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    broken = header[:-1] + ("Number of offences (revised)",)
    bad = write_csv(tmp_path / "malformed.csv", broken, [])
    with pytest.raises(MalformedFileError, match=r"malformed\.csv, line 1: header"):
        load.ingest([bad], db, progress=False)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert not list(tmp_path.glob("*.tmp-*"))


def test_rolling_year_negative_values_are_kept_and_flagged(tmp_path: Path, db: Path) -> None:
    rows = [
        {
            "12 months ending": "30/06/2007",
            "PFA": "Cheshire",
            "Region": "North West",
            "Offence": "Death or serious injury caused by illegal driving",
            ons_rec_crime.COUNT: "-1",
        },
        {
            "12 months ending": "30/06/2007",
            "PFA": "Cheshire",
            "Region": "North West",
            "Offence": "Homicide",
            ons_rec_crime.COUNT: "4",
        },
    ]
    load.ingest([write_csv(tmp_path / "rec.csv", ons_rec_crime.HEADER, rows)], db, progress=False)
    got = {
        (s, c): (n, note)
        for s, c, n, note, p in _query(
            db, "select scheme, category, offence_count, count_note, period from recorded_crime"
        )
    }
    assert got[("ons_rec_crime_offence", "Death or serious injury caused by illegal driving")] == (
        -1,
        "includes a negative published adjustment",
    )
    assert got[("ons_offence_group", "Violence against the person")] == (3, "includes a negative published adjustment")
    # Twelve months ending 30 June 2007 start on 1 July 2006.
    assert _query(db, "select distinct period from recorded_crime") == [(__import__("datetime").date(2006, 7, 1),)]


@pytest.mark.real
def test_real_rolling_year_file_loads_whole_and_matches_hand_picked_values(tmp_path: Path) -> None:
    path = real_data() / "ons_rec_crime_pfa" / "rec-crime-pfa.csv"
    db = tmp_path / "rec.duckdb"
    load.ingest([path], db, progress=False)
    assert _query(db, "select rows_read, rows_loaded, rows_quarantined from ingest_log") == [(46469, 46469, 0)]
    # Values read from the file by hand.
    for line, force, period, offence in [
        (
            "30/06/2007,Cheshire,North West,Death or serious injury caused by illegal driving,-1",
            "cheshire",
            "2006-07-01",
            "Death or serious injury caused by illegal driving",
        ),
    ]:
        expected = int(line.rsplit(",", 1)[1])
        assert line in path.read_text()
        assert _query(
            db,
            f"select offence_count from recorded_crime where force_id = '{force}' and period = '{period}' "
            f"and scheme = 'ons_rec_crime_offence' and category = '{offence}'",
        ) == [(expected,)]
    text = path.read_text().splitlines()
    kent = [line for line in text if line.startswith("31/03/2018,Kent,") and ",Residential burglary," in line]
    assert len(kent) == 1
    assert _query(
        db,
        "select offence_count from recorded_crime where force_id = 'kent' and period = '2017-04-01' "
        "and scheme = 'ons_rec_crime_offence' and category = 'Residential burglary'",
    ) == [(int(kent[0].rsplit(",", 1)[1]),)]
    assert _query(
        db, "select count(*) from recorded_crime where count_note is not null and scheme = 'ons_rec_crime_offence'"
    ) == [(25,)]


# --- the outcomes sheet as published and as copied ----------------------------------------------------------


def _outcome_rows() -> list[dict[str, str]]:
    base = {k: v for k, v in _pfa_row().items() if k != "Number of Offences"}
    robbery = dict(
        base,
        **{
            "Offence Description": "Robbery of personal property",
            "Offence Group": "Robbery",
            "Offence Subgroup": "Robbery",
            "Offence Code": "34B",
        },
    )
    homicide = dict(
        base, **{"Offence Description": "Homicide", "Offence Subgroup": "Homicide", "Offence Code": "1/4.1/4.10/4.2"}
    )
    return [
        dict(
            base,
            **{
                "Outcome Description": "Charged/Summonsed",
                "Outcome Group": "Charged/Summonsed",
                "Outcome Type": "1",
                home_office.OFFENCES_RECORDED: "10",
                home_office.OUTCOMES_RECORDED: "25",
            },
        ),
        dict(
            base,
            **{
                "Outcome Description": "Not yet assigned an outcome",
                "Outcome Group": "Not yet assigned an outcome",
                "Outcome Type": "0",
                home_office.OFFENCES_RECORDED: "7",
                home_office.OUTCOMES_RECORDED: "",
            },
        ),
        dict(
            robbery,
            **{
                "Outcome Description": "Investigation complete – no suspect identified",
                "Outcome Group": "No suspect",
                "Outcome Type": "18",
                home_office.OFFENCES_RECORDED: "30",
                home_office.OUTCOMES_RECORDED: "28",
            },
        ),
        dict(
            homicide,
            **{
                "Outcome Description": "Charged/Summonsed",
                "Outcome Group": "Charged/Summonsed",
                "Outcome Type": "1",
                home_office.OFFENCES_RECORDED: "2",
                home_office.OUTCOMES_RECORDED: "1",
            },
        ),
    ]


def _tidied(rows: list[dict[str, str]]) -> tuple[tuple[str, ...], list[dict[str, str]]]:
    """The rows as the tidied copy writes them: snake_case names, `offences` for the first count, an
    `offence_code_expired` column, `NA` for an empty cell and a blank row of `NA`s at the end."""

    def snake(name: str) -> str:
        return "offences" if name == home_office.OFFENCES_RECORDED else name.lower().replace(" ", "_")

    header = (
        tuple(snake(c) for c in home_office.OUTCOMES_HEADER[:7])
        + ("offence_code_expired",)
        + tuple(snake(c) for c in home_office.OUTCOMES_HEADER[7:])
    )
    tidied = [
        {snake(k): (v if v != "" else "NA") for k, v in row.items()} | {"offence_code_expired": "NA"} for row in rows
    ]
    return header, tidied + [dict.fromkeys(header, "NA")]


def _outcome_counts(db: Path) -> list[tuple]:
    return _query(db, "select scheme, category, outcome, count_basis, outcome_count from crime_outcomes order by all")


def test_tidied_copy_of_the_outcomes_sheet_gives_the_published_layouts_counts(tmp_path: Path) -> None:
    rows = _outcome_rows()
    published, copied = tmp_path / "published.duckdb", tmp_path / "copied.duckdb"
    load.ingest(
        [write_csv(tmp_path / "a" / "outcomes.csv", home_office.OUTCOMES_HEADER, rows)], published, progress=False
    )
    header, tidied = _tidied(rows)
    load.ingest([write_csv(tmp_path / "b" / "outcomes-tidied.csv", header, tidied)], copied, progress=False)
    assert _outcome_counts(copied) == _outcome_counts(published)
    # Worked by hand from the rows: Kent's 8N, robbery (34B) and the combined homicide code.
    counts = {(s, c, o, b): n for s, c, o, b, n in _outcome_counts(published)}
    assert counts[("ho_offence_code", "8N", "1", "offences_recorded_in_period")] == 10
    assert counts[("ho_offence_code", "8N", "1", "outcomes_in_period")] == 25
    assert ("ho_offence_code", "8N", "0", "outcomes_in_period") not in counts  # an empty cell is no count, not zero
    assert counts[("ons_offence_group", "Robbery", "18", "offences_recorded_in_period")] == 30
    assert counts[("ho_offence_code", "1-4.1-4.10-4.2", "1", "offences_recorded_in_period")] == 2
    assert counts[("ons_offence_subgroup", "Violence with injury", "0", "offences_recorded_in_period")] == 7
    # Offences recorded: the sum over outcome types on the offences basis, for reconciliation.
    assert _query(
        copied, "select category, offence_count from recorded_crime where scheme = 'ons_offence_group' order by 1"
    ) == [("Robbery", 30), ("Violence against the person", 10 + 7 + 2)]
    # Every row loaded but the blank one, which is quarantined as blank and for nothing else.
    assert _query(copied, "select rows_read, rows_loaded, rows_quarantined from ingest_log") == [(5, 4, 1)]
    [(row_number, reason, raw)] = _query(copied, "select row_number, reason, raw_row from quarantine")
    assert row_number == 5 and reason.startswith("the row is blank") and ";" not in reason
    assert set(json.loads(raw).values()) == {"NA"}  # the cells as read, not as derived


@pytest.mark.parametrize(
    "spell", [str.upper, lambda n: n.replace(" ", "_"), lambda n: n.replace(" ", "-").lower(), lambda n: f" {n} "]
)
def test_header_names_that_differ_only_in_case_spacing_and_punctuation_are_the_same_column(
    tmp_path: Path, db: Path, spell
) -> None:
    header = tuple(spell(c) for c in home_office.OUTCOMES_HEADER)
    rows = [{spell(k): v for k, v in row.items()} for row in _outcome_rows()]
    load.ingest([write_csv(tmp_path / "outcomes.csv", header, rows)], db, progress=False)
    assert _query(
        db, "select source, sum(outcome_count) from crime_outcomes where scheme = 'ho_offence_code' group by 1"
    ) == [("ho_outcomes", 10 + 25 + 7 + 30 + 28 + 2 + 1)]


def test_a_count_column_renamed_without_a_declaration_is_not_guessed(tmp_path: Path, db: Path) -> None:
    header, tidied = _tidied(_outcome_rows())
    renamed = tuple("number" if c == "offences" else c for c in header)
    rows = [{("number" if k == "offences" else k): v for k, v in row.items()} for row in tidied]
    with pytest.raises(MalformedFileError, match=r"outcomes\.csv, line 1: header"):
        load.ingest([write_csv(tmp_path / "outcomes.csv", renamed, rows)], db, progress=False)
    assert not db.exists()


def test_na_is_an_empty_cell_only_in_the_copy_that_writes_it(tmp_path: Path, db: Path) -> None:
    rows = _outcome_rows()
    rows[0][home_office.OFFENCES_RECORDED] = "NA"
    load.ingest([write_csv(tmp_path / "outcomes.csv", home_office.OUTCOMES_HEADER, rows)], db, progress=False)
    [(reason,)] = _query(db, "select reason from quarantine")
    assert "'NA', not a whole number" in reason


def test_a_calendar_year_of_a_quarterly_table_is_its_four_quarters(tmp_path: Path, db: Path) -> None:
    from pipelines.analysis.windows import windows_between

    # Kent's 8N in the quarters starting January 2019 (2018/19 Q4) to January 2020 (2019/20 Q4).
    quarters = [
        ("2018/19", "4", "1"),
        ("2019/20", "1", "10"),
        ("2019/20", "2", "100"),
        ("2019/20", "3", "1000"),
        ("2019/20", "4", "10000"),
    ]
    rows = [_pfa_row(**{"Financial Year": y, "Financial Quarter": q, "Number of Offences": n}) for y, q, n in quarters]
    load.ingest([write_csv(tmp_path / "prc-pfa.csv", home_office.CRIME_PFA_HEADER, rows)], db, progress=False)
    with duckdb.connect(str(db), read_only=True) as con:
        window = windows_between(con, "2019-01", "2019-12")["ho_recorded_crime_pfa"]
        assert (window.start.isoformat(), window.end.isoformat(), window.periods_expected) == (
            "2019-01-01",
            "2020-01-01",
            4,
        )
        [(total, periods)] = con.sql(
            """select sum(offence_count), count(distinct period) from recorded_crime
                                        where scheme = 'ho_offence_code' and period >= $start and period < $end""",
            params={"start": window.start, "end": window.end},
        ).fetchall()
    assert (total, periods) == (1 + 10 + 100 + 1000, 4)  # January 2020's quarter is not in 2019
