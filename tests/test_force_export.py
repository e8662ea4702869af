"""Force exports read through mapping profiles: the Met's published counts and a long records export."""

from __future__ import annotations

import csv
import gzip
import shutil
import tomllib
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import load
from pipelines.ingest.sources import detect, force_export
from pipelines.ingest.textfile import MalformedFileError, open_text

from conftest import PROJECT_ROOT, real_data

MET_FILES = 10
EXAMPLE = PROJECT_ROOT / "docs" / "examples" / "force_exports" / "example_records_export_2024-01_2024-02.csv"
DOCS = PROJECT_ROOT / "docs" / "force_exports.md"

# Release dates as given in the profiles (commit dates of the copies: upper bounds).
CRIS_2024_03 = date(2024, 3, 26)
CONNECT_2024_07 = date(2024, 7, 18)
CONNECT_2024_12 = date(2024, 12, 25)
RESTATED_2026_01 = date(2026, 1, 12)
CONNECT_2026_07 = date(2026, 7, 31)

# London totals published in PROVENANCE.md section 7, by release.
LONDON_2023_01 = {CRIS_2024_03: 74_058, CONNECT_2024_07: 74_063, CONNECT_2024_12: 74_093, RESTATED_2026_01: 74_123}
LONDON_2024_02 = {CONNECT_2024_07: 75_006, CONNECT_2024_12: 75_077, RESTATED_2026_01: 75_158, CONNECT_2026_07: 75_174}


def _query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _cell(path: Path, keys: dict[str, str], column: str) -> int:
    """One cell of a published file, read with the csv module (not with the code under test)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8") as handle:
        matches = [row for row in csv.DictReader(handle) if all(row[k] == v for k, v in keys.items())]
    assert len(matches) == 1, (path.name, keys)
    return int(matches[0][column])


def _column_total(path: Path, column: str) -> int:
    with open(path, newline="", encoding="utf-8") as handle:
        return sum(int(row[column]) for row in csv.DictReader(handle))


@pytest.fixture(scope="module")
def met_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("met") / "met.duckdb"
    load.ingest([real_data() / "mps_borough_crime"], db, progress=False)
    return db


# --- the Metropolitan Police's published counts (real data) -----------------------------------------


@pytest.mark.real
def test_every_met_file_loads_every_row(met_db: Path) -> None:
    manifest = {
        Path(r["path"]).name: int(r["data_rows"])
        for r in csv.DictReader(open(real_data() / "MANIFEST.csv"))
        if r["path"].startswith("mps_borough_crime/")
    }
    log = _query(met_db, "select file_name, rows_read, rows_loaded, rows_quarantined from ingest_log")
    assert len(log) == MET_FILES
    for name, read, loaded, quarantined in log:
        assert read == manifest[name] == loaded + quarantined
        assert quarantined == 0, name


@pytest.mark.real
def test_hand_picked_cells_match_the_published_files(met_db: Path) -> None:
    folder = real_data() / "mps_borough_crime"
    picks = [
        (
            "borough_24m_202202-202401.csv",
            {"MajorText": "Burglary", "MinorText": "Domestic Burglary", "LookUp_BoroughName": "Westminster"},
            "202301",
            "Domestic Burglary",
            "Westminster",
        ),
        (
            "borough_historic_200801-201812_oldformat.csv",
            {"Borough": "Camden", "Major Category": "Robbery", "Minor Category": "Personal Property"},
            "200805",
            "Personal Property",
            "Camden",
        ),
        (
            "borough_24m_202407-202606.csv",
            {"Group": "THEFT", "SubGroup": "SHOPLIFTING", "BOCU": "Croydon"},
            "202603",
            "SHOPLIFTING",
            "Croydon",
        ),
        (
            "ward_24m_202401-202512.csv.gz",
            {"MinorText": "ARSON", "WardCode": "E05013570"},
            "202501",
            "ARSON",
            "Aviation Security (SO18) / Heathrow Villages",
        ),
    ]
    for file_name, keys, month, category, area in picks:
        expected = _cell(folder / file_name, keys, month)
        period = date(int(month[:4]), int(month[4:]), 1)
        got = _query(
            met_db,
            """
            select offence_count from core_force_exports__area_counts
            where file_name = ? and category = ? and area_name = ? and period = ?
        """,
            [file_name, category, area, period],
        )
        assert got == [(expected,)], file_name


@pytest.mark.real
def test_london_total_of_a_category_matches_the_file(met_db: Path) -> None:
    path = real_data() / "mps_borough_crime" / "borough_24m_202212-202411.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        expected = sum(int(r["202311"]) for r in csv.DictReader(handle) if r["MinorText"] == "SHOPLIFTING")
    got = _query(
        met_db,
        """
        select offence_count from recorded_crime_releases
        where release_date = ? and scheme = 'mps_connect_minor' and category = 'SHOPLIFTING' and period = '2023-11-01'
    """,
        [CONNECT_2024_12],
    )
    assert got == [(expected,)]


@pytest.mark.real
@pytest.mark.parametrize("period,totals", [(date(2023, 1, 1), LONDON_2023_01), (date(2024, 2, 1), LONDON_2024_02)])
def test_london_totals_differ_between_releases(met_db: Path, period: date, totals: dict[date, int]) -> None:
    for scheme in ("ons_offence_group", None):  # the ONS groups and the Met's own categories agree
        got = dict(
            _query(
                met_db,
                """
            select release_date, sum(offence_count) from recorded_crime_releases
            where source = 'mps_borough_crime' and period = ?
              and (scheme = ? or (? is null and scheme like 'mps_%'))
            group by 1
        """,
                [period, scheme, scheme],
            )
        )
        assert got == totals


@pytest.mark.real
def test_the_file_total_is_the_london_total(met_db: Path) -> None:
    path = real_data() / "mps_borough_crime" / "borough_24m_202202-202401.csv"
    got = _query(
        met_db,
        """
        select sum(offence_count) from recorded_crime_releases
        where release_date = ? and scheme = 'ons_offence_group' and period = '2023-01-01'
    """,
        [CRIS_2024_03],
    )
    assert got == [(_column_total(path, "202301"),)] == [(LONDON_2023_01[CRIS_2024_03],)]


@pytest.mark.real
def test_latest_release_wins(met_db: Path) -> None:
    rows = _query(
        met_db,
        """
        select period, release_date, sum(offence_count) from recorded_crime
        where source = 'mps_borough_crime' and scheme = 'ons_offence_group' and period in ('2023-01-01', '2024-02-01')
        group by 1, 2 order by 1
    """,
    )
    assert rows == [(date(2023, 1, 1), RESTATED_2026_01, 74_123), (date(2024, 2, 1), CONNECT_2026_07, 75_174)]
    # Months only the pre-2019 file has come from it; later months never do.
    old = _query(
        met_db,
        """
        select min(period), max(period) from recorded_crime where release_date = '2020-12-31'
    """,
    )
    assert old == [(date(2008, 1, 1), date(2010, 3, 1))]


@pytest.mark.real
def test_cris_to_connect_break_is_visible_in_the_2024_releases(met_db: Path) -> None:
    for release in (CONNECT_2024_07, CONNECT_2024_12):
        rows = dict(
            ((c, p), n)
            for c, p, n in _query(
                met_db,
                """
            select category, period, offence_count from recorded_crime_releases
            where release_date = ? and scheme = 'mps_connect_minor'
              and category in ('BURGLARY IN A DWELLING', 'BURGLARY - RESIDENTIAL')
              and period between '2024-01-01' and '2024-03-01'
        """,
                [release],
            )
        )
        assert rows[("BURGLARY - RESIDENTIAL", date(2024, 1, 1))] == 0
        assert rows[("BURGLARY IN A DWELLING", date(2024, 3, 1))] == 0
        assert (
            rows[("BURGLARY IN A DWELLING", date(2024, 2, 1))] > 0 < rows[("BURGLARY - RESIDENTIAL", date(2024, 2, 1))]
        )
    first = _query(
        met_db,
        """
        select period, offence_count from recorded_crime_releases
        where release_date = ? and category = 'BURGLARY - RESIDENTIAL' and period in ('2024-02-01', '2024-03-01')
        order by 1
    """,
        [CONNECT_2024_07],
    )
    assert first == [(date(2024, 2, 1), 193), (date(2024, 3, 1), 3_208)]


@pytest.mark.real
def test_pseudo_areas_are_kept_as_areas_of_the_met(met_db: Path) -> None:
    areas = {a for (a,) in _query(met_db, "select distinct area_name from core_force_exports__area_counts")}
    assert {
        "Unknown",
        "London Heathrow and London City Airports",
        "Aviation Security (SO18) / Heathrow Villages",
    } <= areas
    assert _query(met_db, "select distinct force_id from core_counts__recorded_crime") == [("metropolitan",)]


@pytest.mark.real
def test_ward_file_sums_to_less_than_the_borough_file_of_its_release(met_db: Path) -> None:
    rows = dict(
        _query(
            met_db,
            """
        select source, sum(offence_count) from recorded_crime_releases
        where release_date = ? and scheme = 'ons_offence_group' group by 1
    """,
            [CONNECT_2026_07],
        )
    )
    assert rows == {"mps_borough_crime": 1_850_808, "mps_ward_crime": 1_794_538}


@pytest.mark.real
def test_coverage_counts_input_rows_per_month(met_db: Path) -> None:
    rows = _query(
        met_db,
        """
        select rows_supplied from core_coverage
        where file_name = 'borough_24m_202202-202401.csv' and period = '2023-01-01'
    """,
    )
    assert rows == [(1_574,)]  # every row of the file has a count for every month


# --- wide profiles on tiny files ---------------------------------------------------------------------


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


CONNECT_HEADER = "MajorText,MinorText,BoroughName,202401,202402"


def test_unmapped_category_names_file_column_and_value_and_leaves_the_database_untouched(
    tmp_path: Path, db: Path
) -> None:
    good = _write(tmp_path / "good.csv", [CONNECT_HEADER, "THEFT,SHOPLIFTING,Westminster,5,6"])
    load.ingest([good], db, progress=False)
    before = db.read_bytes()
    bad = _write(tmp_path / "bad.csv", [CONNECT_HEADER, "THEFT,SHOPLIFTING,Camden,1,2", "THEFT,SHOPLIFTNG,Camden,3,4"])
    with pytest.raises(MalformedFileError) as error:
        load.ingest([bad], db, progress=False)
    message = str(error.value)
    assert "bad.csv" in message and "line 3" in message and "'MinorText'" in message and "'SHOPLIFTNG'" in message
    assert db.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp-*"))


def test_wide_cells_blank_is_missing_and_text_is_quarantined(tmp_path: Path, db: Path) -> None:
    path = _write(
        tmp_path / "cells.csv",
        [
            CONNECT_HEADER,
            "THEFT,SHOPLIFTING,Westminster,5,",  # 2024-02 not supplied
            "THEFT,OTHER THEFT,Westminster,7,x",  # not a number: the row is quarantined
            "ROBBERY,ROBBERY OF PERSONAL PROPERTY,Unknown,0,2",
        ],
    )
    report = load.ingest([path], db, progress=False)
    assert [(r.rows_read, r.rows_loaded, r.rows_quarantined) for r in report.loaded] == [(3, 2, 1)]
    assert _query(db, "select row_number, reason from quarantine") == [
        (2, "column '202402' is 'x', not a whole number")
    ]
    assert _query(db, "select period, rows_supplied from core_coverage order by 1") == [
        (date(2024, 1, 1), 2),
        (date(2024, 2, 1), 1),
    ]
    assert _query(
        db,
        """
        select period, scheme, category, offence_count, release_date from core_counts__recorded_crime order by 1, 2, 3
    """,
    ) == [
        (date(2024, 1, 1), "mps_connect_minor", "ROBBERY OF PERSONAL PROPERTY", 0, date(2024, 3, 1)),
        (date(2024, 1, 1), "mps_connect_minor", "SHOPLIFTING", 5, date(2024, 3, 1)),
        (date(2024, 1, 1), "ons_offence_group", "Robbery", 0, date(2024, 3, 1)),
        (date(2024, 1, 1), "ons_offence_group", "Theft offences", 5, date(2024, 3, 1)),
        (date(2024, 2, 1), "mps_connect_minor", "ROBBERY OF PERSONAL PROPERTY", 2, date(2024, 3, 1)),
        (date(2024, 2, 1), "ons_offence_group", "Robbery", 2, date(2024, 3, 1)),
    ]
    assert _query(
        db, "select source_label, area_name from core_force_exports__area_counts where row_number = 1 limit 1"
    ) == [("THEFT / SHOPLIFTING", "Westminster")]


def test_month_columns_must_be_months(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "odd.csv", ["MajorText,MinorText,BoroughName,202401,20241", "THEFT,SHOPLIFTING,Westminster,5,6"]
    )
    with pytest.raises(MalformedFileError, match="not the header of any known return"):
        detect(open_text(path))


# --- the long profile --------------------------------------------------------------------------------


def test_example_records_export_loads(db: Path) -> None:
    report = load.ingest([EXAMPLE], db, progress=False)
    assert [(r.source, r.rows_read, r.rows_loaded, r.rows_quarantined) for r in report.loaded] == [
        ("force_export_records", 22, 22, 0)
    ]
    counts = dict(
        ((f, p, s, c), n)
        for f, p, s, c, n in _query(
            db,
            """
        select force_id, period, scheme, category, offence_count from recorded_crime
    """,
        )
    )
    jan, feb = date(2024, 1, 1), date(2024, 2, 1)
    assert counts[("kent", jan, "ho_offence_code", "8N")] == 2  # written 8N and 008N
    assert counts[("kent", jan, "ho_offence_code", "46")] == 2  # written 046 and 46
    assert counts[("kent", jan, "ons_offence_group", "Violence against the person")] == 6
    assert counts[("kent", jan, "ons_offence_subgroup", "Violence with injury")] == 2
    assert counts[("kent", feb, "ons_offence_group", "Theft offences")] == 3  # 28E, 37.2, 49
    assert counts[("essex", feb, "ons_offence_subgroup", "Non-domestic burglary")] == 1
    assert _query(db, "select sum(offence_count) from recorded_crime where scheme = 'ons_offence_group'") == [(22,)]
    assert _query(db, "select distinct release_date from recorded_crime") == [(date(2024, 3, 1),)]
    outcomes = dict(
        ((o, g), n)
        for o, g, n in _query(
            db,
            """
        select outcome, outcome_group, sum(outcome_count) from crime_outcomes group by 1, 2
    """,
        )
    )
    assert outcomes[("18", "no_suspect")] == 6
    assert sum(n for (o, _), n in outcomes.items() if o is None) == 4  # blank: no outcome yet
    assert _query(db, "select sum(rows_supplied) from core_coverage") == [(22,)]


def test_long_profile_quarantines_bad_codes_dates_forces_and_outcomes(tmp_path: Path, db: Path) -> None:
    header = EXAMPLE.read_text(encoding="utf-8").splitlines()[0]
    path = _write(
        tmp_path / "export.csv",
        [
            header,
            "A1;02/01/2024;Kent Police;Medway;8N;1",
            "A2;03/01/2024;Kent Police;Medway;ZZ9;1",
            "A3;31/02/2024;Kent Police;Medway;8N;1",
            "A4;03/01/2024;Kent Constabulary;Medway;8N;1",
            "A5;03/01/2024;Kent Police;Medway;8N;23",
            "A6;03/01/2024;Kent Police;Medway;00834;",
        ],
    )
    report = load.ingest([path], db, progress=False)
    assert [(r.rows_read, r.rows_loaded, r.rows_quarantined) for r in report.loaded] == [(6, 1, 5)]
    reasons = dict(_query(db, "select row_number, reason from quarantine"))
    assert "'HO Offence Code' is 'ZZ9'" in reasons[2]
    assert "'Recorded Date' is '31/02/2024', not a date in %d/%m/%Y form" in reasons[3]
    assert "unknown force 'Kent Constabulary'" in reasons[4]
    assert "'Outcome Type' is '23', not a Home Office outcome type" in reasons[5]
    assert "'HO Offence Code' is '00834'" in reasons[6]  # a valid spelling (8/34), but not in the hierarchy


# --- profiles and their documentation ------------------------------------------------------------------


def _keys(table: dict, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in table.items():
        if prefix == "releases.files.":
            continue  # file names are data, not keys
        keys.add(prefix + key)
        if isinstance(value, dict):
            keys |= _keys(value, f"{prefix}{key}.")
    return keys


def test_every_key_used_by_the_shipped_profiles_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    used: set[str] = set()
    for path in force_export.PROFILES_DIR.glob("*.toml"):
        used |= _keys(tomllib.loads(path.read_text(encoding="utf-8")))
    known = {f"{s}.{k}" if s else k for s, ks in force_export.KNOWN_KEYS.items() for k in ks}
    assert used <= known
    # A key is documented as `file.delimiter`; a table as its heading, `[file]`.
    undocumented = sorted(k for k in used | known if f"`{k}`" not in docs and f"`[{k}]`" not in docs)
    assert not undocumented, f"keys missing from docs/force_exports.md: {undocumented}"


def test_shipped_profiles_include_the_met_and_a_long_export() -> None:
    by_id = {p.id: p for p in force_export.PROFILES}
    assert {
        "mps_borough_2008",
        "mps_borough_cris",
        "mps_borough_connect",
        "mps_borough_2026",
        "mps_ward_connect",
    } <= set(by_id)
    assert {p.layout for p in by_id.values()} == {"wide", "long"}
    assert any(p.delimiter != "," for p in by_id.values())


def test_a_misspelt_key_is_a_profile_error(tmp_path: Path) -> None:
    source = force_export.PROFILES_DIR / "mps_borough_2026.toml"
    bad = tmp_path / "bad.toml"
    bad.write_text(source.read_text(encoding="utf-8").replace("month_format", "month_fromat"), encoding="utf-8")
    with pytest.raises(force_export.ProfileError, match="month_fromat"):
        force_export.load_profile(bad)


def test_a_value_map_label_outside_the_ons_hierarchy_is_a_profile_error(tmp_path: Path) -> None:
    shutil.copy(force_export.PROFILES_DIR / "mps_borough_2026.toml", tmp_path / "p.toml")
    original = (force_export.PROFILES_DIR / "mps_categories.csv").read_text(encoding="utf-8")
    (tmp_path / "mps_categories.csv").write_text(
        original.replace(",Theft offences,Bicycle theft,", ",Theft,Bicycle theft,"), encoding="utf-8"
    )
    with pytest.raises(force_export.ProfileError, match="'Theft' is not an ONS offence group label"):
        force_export.load_profile(tmp_path / "p.toml")


def test_long_export_missing_a_mapped_column_is_a_clear_error_and_leaves_the_database(tmp_path: Path, db: Path) -> None:
    load.ingest([EXAMPLE], db, progress=False)
    before = db.read_bytes()
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    # Drop the offence code column: the export no longer matches its profile.
    cut = [";".join(field for i, field in enumerate(line.split(";")) if i != 4) for line in lines]
    bad = _write(tmp_path / "export_without_codes.csv", cut)
    with pytest.raises(MalformedFileError) as caught:
        load.ingest([bad], db, progress=False)
    assert "export_without_codes.csv" in str(caught.value) and "line 1" in str(caught.value)
    assert db.read_bytes() == before
    assert not list(db.parent.glob("*.tmp-*"))


# --- a calendar-year aggregate through a profile: police.uk by force and year ---------------------------------

FORCE_YEAR_HEADER = ("Year", "f0_", "crime_type", "reported_by", "last_outcome_category")


def _force_year_file(path: Path, rows: list[tuple[str, ...]]) -> Path:
    """Rows written as the published file is: bare carriage returns between lines, gzipped."""
    text = (
        "\r".join(",".join(f'"{v}"' if "," in v or ";" in v else v for v in row) for row in [FORCE_YEAR_HEADER, *rows])
        + "\r"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", newline="", encoding="utf-8") as handle:
        handle.write(text)
    return path


def test_force_year_file_loads_on_calendar_years_through_its_profile(tmp_path: Path, db: Path) -> None:
    rows = [
        ("2015", "120", "Burglary", "Kent Police", "Investigation complete; no suspect identified"),
        ("2015", "30", "Burglary", "Kent Police", "Offender sent to prison"),
        ("2016", "100", "Burglary", "Kent Police", "Investigation complete; no suspect identified"),
        ("2016", "40", "Burglary", "Kent Police", "Under investigation"),
        ("2016", "9", "Violent crime", "Metropolitan Police Service", "Defendant found not guilty"),
        ("2016", "500", "Anti-social behaviour", "Kent Police", ""),
        ("2016", "5", "Burglary", "Gotham City Police", "Under investigation"),
        ("2016", "5", "Jaywalking", "Kent Police", "Under investigation"),
        ("2016", "5", "Burglary", "Kent Police", "Sent to the naughty step"),
        ("2016", "lots", "Burglary", "Kent Police", "Under investigation"),
    ]
    load.ingest([_force_year_file(tmp_path / "crime outcomes by force year.csv.gz", rows)], db, progress=False)
    assert _query(db, "select source, rows_read, rows_loaded, rows_quarantined from ingest_log") == [
        ("police_uk_force_year", 10, 6, 4)
    ]
    reasons = [r for (r,) in _query(db, "select reason from quarantine order by row_number")]
    assert (
        "Gotham City Police" in reasons[0]
        and "Jaywalking" in reasons[1]
        and "naughty step" in reasons[2]
        and "'lots'" in reasons[3]
    )
    # Offences: notifiable crime per force, year and crime type (anti-social behaviour is not crime).
    assert _query(
        db, "select force_id, period, period_grain, category, offence_count from recorded_crime order by all"
    ) == [
        ("kent", date(2015, 1, 1), "calendar_year", "Burglary", 150),
        ("kent", date(2016, 1, 1), "calendar_year", "Burglary", 140),
        ("metropolitan", date(2016, 1, 1), "calendar_year", "Violent crime", 9),
    ]
    # Outcomes in police.uk's own words, on the basis of crimes recorded in the year; court results are charges.
    assert _query(
        db,
        """select outcome_group, sum(outcome_count) from crime_outcomes
                         where force_id = 'kent' and period = '2016-01-01' group by 1 order by 1""",
    ) == [("no_suspect", 100), ("pending", 40)]
    assert _query(
        db, "select outcome_scheme, outcome_group, count_basis from crime_outcomes where force_id = 'metropolitan'"
    ) == [("police_uk", "charged_summonsed", "offences_recorded_in_period")]
    # Coverage at the source's own grain: two years expected of Kent, not 13 months.
    assert _query(
        db,
        """select force_id, period, coverage_status from coverage
                         where force_id in ('kent', 'metropolitan') order by all""",
    ) == [
        ("kent", date(2015, 1, 1), "supplied"),
        ("kent", date(2016, 1, 1), "supplied"),
        ("metropolitan", date(2015, 1, 1), "missing"),
        ("metropolitan", date(2016, 1, 1), "supplied"),
    ]
    assert _query(db, "select count(*) from recorded_crime_releases where release_date is not null") == [(0,)]


def test_calendar_grain_is_for_long_profiles(tmp_path: Path) -> None:
    profile = tmp_path / "wide_years.toml"
    text = (PROJECT_ROOT / "pipelines" / "reference" / "profiles" / "mps_borough_cris.toml").read_text()
    profile.write_text(text.replace('month_format = "%Y%m"', 'month_format = "%Y%m"\ngrain = "calendar_year"'))
    with pytest.raises(force_export.ProfileError, match="layout.grain"):
        force_export.load_profile(profile)


# --- each table of a profile, checked on its own ------------------------------------------------------

PROFILE = Path("p.toml")


def test_file_table_defaults_and_refuses_what_the_reader_cannot_read() -> None:
    assert force_export.file_table(PROFILE, {"key_columns": ["A", "B"]}) == (("A", "B"), ",", 1)
    for table, problem in [
        ({"key_columns": ["A"], "delimiter": ":"}, "file.delimiter"),
        ({"key_columns": ["A"], "encoding": "latin-1"}, "only UTF-8"),
        ({"key_columns": ["A"], "header_row": 3}, "must be 1"),
        ({}, "`file.key_columns` is required"),
    ]:
        with pytest.raises(force_export.ProfileError, match=problem):
            force_export.file_table(PROFILE, table)


def test_layout_table_needs_the_format_its_kind_reads() -> None:
    assert force_export.layout_table(PROFILE, {"kind": "wide", "month_format": "%Y%m"}) == (
        "wide",
        "%Y%m",
        None,
        "month",
    )
    assert force_export.layout_table(PROFILE, {"kind": "long", "date_format": "%Y", "grain": "calendar_year"}) == (
        "long",
        None,
        "%Y",
        "calendar_year",
    )
    with pytest.raises(force_export.ProfileError, match="`layout.month_format` is required"):
        force_export.layout_table(PROFILE, {"kind": "wide"})
    with pytest.raises(force_export.ProfileError, match="'wide' or 'long'"):
        force_export.layout_table(PROFILE, {"kind": "tall"})


def test_columns_table_maps_every_key_column_and_roles_fit_the_layout() -> None:
    roles = force_export.columns_table(
        PROFILE,
        {"area": ["Borough", "Ward"], "major": "Major", "minor": "Minor"},
        ("Major", "Minor", "Borough", "Ward"),
    )
    assert roles == {"area": ("Borough", "Ward"), "major": ("Major",), "minor": ("Minor",)}
    with pytest.raises(force_export.ProfileError, match=r"key column\(s\) \['Ward'\] are not mapped"):
        force_export.columns_table(PROFILE, {"area": "Borough"}, ("Borough", "Ward"))
    with pytest.raises(force_export.ProfileError, match="reserved by the reader"):
        force_export.columns_table(PROFILE, {"area": "row_number"}, ("row_number",))
    force_export.roles_fit_layout(PROFILE, "wide", roles)
    with pytest.raises(force_export.ProfileError, match="a long profile needs `columns.period`"):
        force_export.roles_fit_layout(PROFILE, "long", roles)
    with pytest.raises(force_export.ProfileError, match="a wide profile takes its months"):
        force_export.roles_fit_layout(PROFILE, "wide", {**roles, "count": ("N",)})


def test_profile_force_is_a_known_force_or_a_column_never_both() -> None:
    assert force_export.profile_force(PROFILE, "Metropolitan Police Service", {}) == "metropolitan"
    assert force_export.profile_force(PROFILE, None, {"force": ("Force",)}) is None
    with pytest.raises(force_export.ProfileError, match="not a force_id or a spelling"):
        force_export.profile_force(PROFILE, "Narnia", {})
    with pytest.raises(force_export.ProfileError, match="exactly one of `force`"):
        force_export.profile_force(PROFILE, "kent", {"force": ("Force",)})


def test_categories_and_releases_tables() -> None:
    assert force_export.categories_table(PROFILE, {"scheme": "ho_offence_code"}, {"offence_code": ("Code",)}) == (
        "ho_offence_code",
        None,
        None,
        None,
        "ho_outcome_type",
    )
    with pytest.raises(force_export.ProfileError, match="published vocabulary"):
        force_export.categories_table(PROFILE, {"scheme": "local"}, {"category": ("Type",)})
    assert force_export.releases_table(PROFILE, {"files": {"a.csv": date(2024, 3, 1)}}) == (
        "month_after_last_period",
        {"a.csv": date(2024, 3, 1)},
    )
    with pytest.raises(force_export.ProfileError, match="must be a date"):
        force_export.releases_table(PROFILE, {"files": {"a.csv": "2024-03-01"}})


def test_shipped_export_sources_are_named_in_words() -> None:
    words = force_export.export_sources()
    assert set(words) == {p.source for p in force_export.PROFILES}
    met = [s for s in force_export.SOURCES if s.id == "mps_borough_crime"]
    assert len(met) == 4 and {(s.label, s.publisher, s.colour, s.national) for s in met} == {
        (
            "Metropolitan Police Service borough counts (London Datastore)",
            "Metropolitan Police Service",
            "#882255",
            False,
        )
    }
    # A profile whose source has no words is still read, and named by its id.
    [profile] = [p for p in force_export.PROFILES if p.id == "mps_ward_connect"]
    unnamed = force_export.source_for(profile, {})
    assert (unnamed.id, unnamed.label, unnamed.colour) == ("mps_ward_crime", None, None)
