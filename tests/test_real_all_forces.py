"""The two all-forces publications in ../shared/real, ingested once: the Home Office outcomes by
offence code for 2017/18 (a tidied copy of the published sheet) and police.uk by force and calendar
year for 2012–2016. Expected figures are the publications' own (PROVENANCE.md) or are counted here
from the files with the csv module, never with the code under test."""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from pipelines import reference
from pipelines.ingest import load

from conftest import real_data

pytestmark = pytest.mark.real

OUTCOMES = "ho_outcomes_2017_18/prc-outcomes-2017-18-tidied.csv.gz"
FORCE_YEAR = "police_uk_force_year_2012_16/crime_outcomes_by_category_force_year_2012-16.csv.gz"
LARGEST = ("metropolitan", "greater-manchester", "west-midlands", "west-yorkshire")


@pytest.fixture(scope="module")
def real_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("all_forces") / "all_forces.duckdb"
    load.ingest([real_data() / Path(OUTCOMES).parent, real_data() / Path(FORCE_YEAR).parent], db, progress=False)
    return db


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _rows(name: str) -> list[dict[str, str]]:
    with gzip.open(real_data() / name, "rb") as handle:
        text = handle.read().decode("utf-8")
    # The force-year file ends its lines with a bare carriage return, kept as published.
    return list(csv.DictReader(io.StringIO(text.replace("\r\n", "\n").replace("\r", "\n"))))


def test_every_row_is_loaded_or_quarantined_and_only_the_blank_row_is_quarantined(real_db: Path) -> None:
    log = {
        f: (read, loaded, quarantined)
        for f, read, loaded, quarantined in query(
            real_db, "select file_name, rows_read, rows_loaded, rows_quarantined from ingest_log"
        )
    }
    assert log == {Path(OUTCOMES).name: (450_913, 450_912, 1), Path(FORCE_YEAR).name: (47_577, 47_577, 0)}
    [(reason, raw)] = query(real_db, "select reason, raw_row from quarantine")
    assert reason.startswith("the row is blank")
    assert set(__import__("json").loads(raw).values()) == {"NA"}  # no published value among them


def test_the_published_outcome_totals_come_back_on_both_count_bases(real_db: Path) -> None:
    totals = dict(
        query(
            real_db,
            """select count_basis, sum(outcome_count) from crime_outcomes
                                    where source = 'ho_outcomes' and scheme = 'ho_offence_code' group by 1""",
        )
    )
    assert totals == {"offences_recorded_in_period": 4_878_302, "outcomes_in_period": 4_772_838}
    # The same under the ONS offence groups: every row names its group, so nothing is lost or doubled.
    assert query(
        real_db,
        """select sum(outcome_count) from crime_outcomes where source = 'ho_outcomes'
                             and scheme = 'ons_offence_group' and count_basis = 'offences_recorded_in_period'""",
    ) == [(4_878_302,)]


def test_every_force_name_resolves_to_the_43_territorial_forces_and_the_others(real_db: Path) -> None:
    territorial = set(reference.forces().filter("is_territorial_ew")["force_id"])
    assert len(territorial) == 43
    for source, others in (("ho_outcomes", {"btp"}), ("police_uk_force_year", {"btp", "northern-ireland"})):
        got = {f for (f,) in query(real_db, f"select distinct force_id from crime_outcomes where source = '{source}'")}
        assert got == territorial | others, source


def test_force_year_totals_per_year_equal_the_sum_of_the_files_rows(real_db: Path) -> None:
    rows = _rows(FORCE_YEAR)
    by_year, crimes_by_year = Counter(), Counter()
    for row in rows:
        by_year[int(row["Year"])] += int(row["f0_"])
        if row["crime_type"] != "Anti-social behaviour":
            crimes_by_year[int(row["Year"])] += int(row["f0_"])
    got = dict(
        query(
            real_db,
            """select year(period), sum(offence_count) from core_counts__recorded_crime
                                 where source = 'police_uk_force_year' group by 1""",
        )
    )
    assert got == dict(by_year) and sorted(got) == [2012, 2013, 2014, 2015, 2016]
    # recorded_crime is notifiable crime: anti-social behaviour is left out.
    assert dict(
        query(
            real_db,
            """select year(period), sum(offence_count) from recorded_crime
                                  where source = 'police_uk_force_year' group by 1""",
        )
    ) == dict(crimes_by_year)


def test_hand_picked_cells_of_both_files(real_db: Path) -> None:
    rows = _rows(FORCE_YEAR)
    [kent] = [
        r
        for r in rows
        if (r["Year"], r["crime_type"], r["reported_by"], r["last_outcome_category"])
        == ("2016", "Bicycle theft", "Kent Police", "Investigation complete; no suspect identified")
    ]
    assert query(
        real_db,
        """select outcome_count from crime_outcomes where source = 'police_uk_force_year'
                             and force_id = 'kent' and period = '2016-01-01' and category = 'Bicycle theft'
                             and outcome = 'Investigation complete; no suspect identified'""",
    ) == [(int(kent["f0_"]),)]
    outcomes = _rows(OUTCOMES)
    met_rape_16 = sum(
        int(r["offences"])
        for r in outcomes
        if r["force_name"] == "Metropolitan Police" and r["offence_subgroup"] == "Rape" and r["outcome_type"] == "16"
    )
    assert met_rape_16 > 0
    assert query(
        real_db,
        """select sum(outcome_count) from crime_outcomes where source = 'ho_outcomes'
                             and force_id = 'metropolitan' and scheme = 'ons_offence_subgroup' and category = 'Rape'
                             and outcome = '16' and count_basis = 'offences_recorded_in_period'""",
    ) == [(met_rape_16,)]


def test_offence_code_indicators_and_five_year_series_include_the_four_largest_forces(real_db: Path) -> None:
    for prefix in ("ho_rape_", "ho_vwi_", "pukfy_"):
        statuses = dict(
            query(
                real_db,
                f"""select force_id, string_agg(distinct status, ',') from divergence
                                          where indicator_id like '{prefix}%' and peer_group = 'all'
                                            and force_id in {LARGEST} group by 1""",
            )
        )
        assert sorted(statuses) == sorted(LARGEST), prefix
        assert all("incomplete" not in s for s in statuses.values()), statuses
    # Each of them is in the benchmark of the others: the pool counts 43 territorial forces less those screened out.
    [(pool,)] = query(
        real_db,
        """select min(benchmark_forces) from divergence
                                  where indicator_id = 'ho_rape_victim_support' and force_id = 'kent'""",
    )
    assert pool >= 40
    years = query(
        real_db,
        """select force_id, count(distinct period) from divergence_series
                              where indicator_id = 'pukfy_outcome_no_suspect' group by 1""",
    )
    assert len(years) >= 43 and {n for _, n in years} == {5}
