"""The reconciliation view: sources side by side on a shared window, with coverage and ratios."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines import load
from pipelines.sources import home_office
from tests.conftest import street_row, write_csv, write_street


def test_months_are_summed_into_the_quarter_and_gaps_show(tmp_path: Path, db: Path) -> None:
    # police.uk: Durham burglaries in April (3) and May (2) 2021, nothing for June.
    april = write_street(tmp_path / "2021-04-durham-street.csv", [street_row(Month="2021-04")] * 3)
    may = write_street(tmp_path / "2021-05-durham-street.csv", [street_row(Month="2021-05")] * 2)
    # Home Office: Durham residential burglary, 2021/22 quarter 1 (April–June 2021): 10.
    ho_row = {"Financial Year": "2021/22", "Financial Quarter": "1", "Force Name": "Durham",
              "Offence Description": "Burglary - residential", "Offence Group": "Theft offences",
              "Offence Subgroup": "Residential burglary", "Offence Code": "28E", "Number of Offences": "10"}
    ho = write_csv(tmp_path / "prc-pfa.csv", home_office.CRIME_PFA_HEADER, [ho_row])
    load.ingest([april, may, ho], db, progress=False)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.sql("""
            select source, offence_count, periods_supplied, periods_expected, window_status, reference_source, ratio_to_reference
            from reconciliation
            where force_id = 'durham' and period = '2021-04-01' and period_grain = 'quarter' and reconciliation_group = 'Burglary'
            order by source
        """).fetchall()
    assert rows == [
        ("ho_recorded_crime_pfa", 10, 1, 1, "complete", "ho_recorded_crime_pfa", 1.0),
        ("police_uk_street", 5, 2, 3, "partial", "ho_recorded_crime_pfa", 0.5),
    ]
