"""The reconciliation view: sources side by side on a shared window, with coverage and ratios."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.ingest import load
from pipelines.ingest.sources import home_office
from tests.conftest import street_row, write_csv, write_street


def test_months_are_summed_into_the_quarter_and_gaps_show(tmp_path: Path, db: Path) -> None:
    # police.uk: Durham burglaries in April (3) and May (2) 2021, nothing for June.
    april = write_street(tmp_path / "2021-04-durham-street.csv", [street_row(Month="2021-04")] * 3)
    may = write_street(tmp_path / "2021-05-durham-street.csv", [street_row(Month="2021-05")] * 2)
    # Home Office: Durham residential burglary, 2021/22 quarter 1 (April–June 2021): 10.
    ho_row = {
        "Financial Year": "2021/22",
        "Financial Quarter": "1",
        "Force Name": "Durham",
        "Offence Description": "Burglary - residential",
        "Offence Group": "Theft offences",
        "Offence Subgroup": "Residential burglary",
        "Offence Code": "28E",
        "Number of Offences": "10",
    }
    ho = write_csv(tmp_path / "prc-pfa.csv", home_office.CRIME_PFA_HEADER, [ho_row])
    load.ingest([april, may, ho], db, progress=False)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.sql("""
            select source, offence_count, periods_supplied, periods_expected, window_status, reference_source,
                   ratio_to_reference
            from reconciliation
            where force_id = 'durham' and period = '2021-04-01' and period_grain = 'quarter'
              and reconciliation_group = 'Burglary'
            order by source
        """).fetchall()
    assert rows == [
        ("ho_recorded_crime_pfa", 10, 1, 1, "complete", "ho_recorded_crime_pfa", 1.0),
        ("police_uk_street", 5, 2, 3, "partial", "ho_recorded_crime_pfa", 0.5),
    ]


def test_a_calendar_year_meets_the_rolling_year_of_the_same_months_only_and_says_why_they_differ(
    tmp_path: Path, db: Path
) -> None:
    from pipelines.ingest.sources import ons_rec_crime
    from tests.test_force_export import _force_year_file

    # police.uk by force and year: Kent's burglary in 2016 (80 = 50 + 30, over two outcomes).
    force_year = _force_year_file(
        tmp_path / "force_year.csv.gz",
        [
            ("2016", "50", "Burglary", "Kent Police", "Investigation complete; no suspect identified"),
            ("2016", "30", "Burglary", "Kent Police", "Under investigation"),
        ],
    )
    # ONS rolling years: the year ending December 2016 (100) and the year ending March 2017 (120).
    ons = write_csv(
        tmp_path / "rec.csv",
        ons_rec_crime.HEADER,
        [
            {
                "12 months ending": end,
                "PFA": "Kent",
                "Region": "South East",
                "Offence": "Domestic burglary",
                ons_rec_crime.COUNT: n,
            }
            for end, n in (("31/12/2016", "100"), ("31/03/2017", "120"))
        ],
    )
    load.ingest([force_year, ons], db, progress=False)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.sql("""
            select period, period_grain, source, offence_count, window_status, ratio_to_reference,
                   known_differences is not null
            from reconciliation
            where force_id = 'kent' and reconciliation_group = 'Burglary' and period_grain = 'rolling_year'
            order by period, source
        """).fetchall()
    from datetime import date

    assert rows == [
        (date(2016, 1, 1), "rolling_year", "ons_rec_crime_pfa", 100, "complete", 1.0, False),
        (date(2016, 1, 1), "rolling_year", "police_uk_force_year", 80, "complete", 0.8, True),
        # The year from April 2016 holds no whole calendar year: police.uk's 2016 is not part of it.
        (date(2016, 4, 1), "rolling_year", "ons_rec_crime_pfa", 120, "complete", 1.0, False),
        (date(2016, 4, 1), "rolling_year", "police_uk_force_year", None, "missing", None, True),
    ]


def test_a_forces_own_export_is_not_missing_for_every_other_force(tmp_path: Path, db: Path) -> None:
    from tests.conftest import SAMPLES

    # The Met's own published counts (a profile with a constant force) beside a national return.
    met = SAMPLES / "mps_borough_crime" / "borough_24m_202401-202512.csv"
    durham = write_street(tmp_path / "2024-01-durham-street.csv", [street_row(Month="2024-01")] * 2)
    load.ingest([met, durham], db, progress=False)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.sql("""select source, force_id, window_status from reconciliation
                          where period = '2024-01-01' and period_grain = 'month' and reconciliation_group = 'Burglary'
                          order by all""").fetchall()
    assert ("mps_borough_crime", "metropolitan", "complete") in rows
    assert ("police_uk_street", "durham", "complete") in rows
    # The Met's export is never "missing" for Durham; police.uk, a national return, is missing for the Met.
    assert not [r for r in rows if r[0] == "mps_borough_crime" and r[1] != "metropolitan"]
    assert ("police_uk_street", "metropolitan", "missing") in rows
