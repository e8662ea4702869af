"""A year of police.uk files, with the ONS and Met publications beside them, loads to the end (issue 9).

The real 2021 street files supply eleven forces in every month; re-labelled to the twelve months of
2019 (each row's month and each file's name moved together), they give a year that spans a registered
event (outcome 22, April 2019), so the breaks are tested on series that are exactly zero throughout
(pending outcomes, for most forces) and the breaks table holds many rows with no event before the
first with one. Each of those used to crash the load at its end.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.ingest import load

from conftest import SAMPLES, real_data

pytestmark = pytest.mark.integration  # a year of files loaded end to end

# 2021's nine months become January to September 2019, and January to March 2021 also October to December.
RELABEL = {f"2021-{m:02d}": [f"2019-{m:02d}"] for m in range(1, 10)}
for m in range(1, 4):
    RELABEL[f"2021-{m:02d}"].append(f"2019-{m + 9:02d}")


def relabelled(source: Path, month: str, folder: Path) -> Path:
    frame = pl.read_csv(source, infer_schema=False)
    frame = frame.with_columns(pl.lit(month).alias("Month"))
    target = folder / source.name.replace(source.name[:7], month, 1)
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    target.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=1))
    return target


@pytest.fixture(scope="module")
def year_corpus(tmp_path_factory) -> Path:
    real = real_data() / "police_uk_street_2021"
    folder = tmp_path_factory.mktemp("year_2019")
    every_month = {f.name[8:] for f in (real / "2021-01").glob("*.csv.gz")}
    for real_month, months in RELABEL.items():
        for source in sorted((real / real_month).glob("*.csv.gz")):
            if source.name[8:] in every_month:
                for month in months:
                    relabelled(source, month, folder)
    return folder


def test_a_year_of_police_uk_files_with_the_ons_and_met_files_loads_to_the_end(year_corpus, tmp_path):
    db = tmp_path / "year.duckdb"
    others = [SAMPLES / "ons_rec_crime_pfa", SAMPLES / "mps_borough_crime", SAMPLES / "ons_pfa_tables"]
    report = load.ingest([year_corpus, *others], db, progress=False)
    street = [r for r in report.loaded if r.source == "police_uk_street"]
    assert len(street) == 12 * 11
    assert all(r.rows_quarantined == 0 for r in street)
    with duckdb.connect(str(db), read_only=True) as con:
        months = con.sql(
            """select count(distinct period) from core_coverage where source = 'police_uk_street'"""
        ).fetchall()
        assert months == [(12,)]
        # The breaks were tested across the registered event, on series that are zero throughout too.
        events = con.sql(
            """select count(*) filter (where event is not null), count(*) from divergence_breaks"""
        ).fetchall()[0]
        assert events[0] > 0 and events[1] > 100
        zero_throughout = con.sql("""
            select count(*) from (
                select indicator_id, force_id from divergence_series
                group by all having count(*) >= 12 and max(numerator) = 0)
        """).fetchall()[0][0]
        assert zero_throughout > 0
