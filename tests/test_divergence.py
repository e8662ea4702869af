"""The divergence engine (`pipelines/analysis/`) end to end on tiny police.uk and ONS files.

Every expected value is worked out here, from the counts written, by hand arithmetic or a second
formula: shares and pooled benchmarks, Wilson and funnel limits, BH q-values, Jensen–Shannon
distances, chi-square, indirectly standardised outcomes and a planted break. The statistics
themselves are tested in test_stats.py; this file tests that the engine feeds them the right counts,
peers and windows, applies its guards, and writes and ranks the findings.
"""

from __future__ import annotations

import json
import math
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency

from pipelines import cli, reference, schema
from pipelines.analysis.counts import indicator_counts
from pipelines.analysis.findings import compare, findings, for_peers_and_window
from pipelines.analysis.indicators import INDICATOR_COLUMNS, Indicator, load_indicators, load_mixes
from pipelines.analysis.peers import peer_groups
from pipelines.analysis.screens import supply_screens, witness_status
from pipelines.analysis.tables import DERIVED_TABLES, derived_tables
from pipelines.analysis.windows import Window, previous_window, standard_window
from pipelines.ingest import load
from pipelines.ingest.sources import ons_rec_crime
from pipelines.periods import add_months

from conftest import real_data, street_row, write_csv, write_street

Z95 = 1.959964  # two-sided 95% normal quantile
Z998 = 3.090232  # two-sided 99.8%

# --- the synthetic month: April 2021 ------------------------------------------------------------------

MONTH = "2021-04"
TYPES = ("Burglary", "Vehicle crime", "Violence and sexual offences", "Criminal damage and arson", "Shoplifting")
# Crimes of each type per force, in the order of TYPES. Durham records 40% of its crime as burglary;
# the rest sit near 12%. Eleven forces are large enough to rank: winsorising z at the 10th and 90th
# percentiles only takes an outlier's own weight out of phi and tau² once there are at least eleven
# (with five, Durham's z would set the yardstick it is judged by and could never pass 99.8%).
CRIMES = {
    "Durham Constabulary": (80, 20, 60, 20, 20),  # 200
    "Cleveland Police": (25, 35, 90, 30, 20),  # 200
    "Cumbria Constabulary": (14, 26, 70, 25, 15),  # 150
    "Northumbria Police": (36, 50, 130, 44, 40),  # 300
    "Kent Police": (30, 40, 100, 40, 40),  # 250
    "North Yorkshire Police": (22, 30, 85, 28, 35),  # 200
    "Lancashire Constabulary": (33, 45, 120, 40, 42),  # 280
    "Merseyside Police": (40, 50, 140, 45, 45),  # 320
    "Cheshire Constabulary": (27, 38, 110, 35, 30),  # 240
    "West Yorkshire Police": (45, 60, 160, 55, 60),  # 380
    "Humberside Police": (20, 28, 80, 24, 28),  # 180
    "Dyfed-Powys Police": (5, 5, 20, 5, 5),  # 40: under min_denominator 100, shown, not ranked
}
# Not a territorial force: its rows are loaded but must never be compared or pooled into a benchmark.
BTP = ("British Transport Police", (50, 5, 60, 5, 5))
ASB_PER_FORCE = 7  # anti-social behaviour rows, not crime: in no denominator
# Outcomes: crime i of each type is charged when i % every == 0, else closed with no suspect.
# Kent charges every third crime, everyone else every fifth.
CHARGE_EVERY = {"Kent Police": 3}
DEFAULT_CHARGE_EVERY = 5
CHARGED, NO_SUSPECT = "Awaiting court outcome", "Investigation complete; no suspect identified"

FORCE_IDS = {
    "Durham Constabulary": "durham",
    "Cleveland Police": "cleveland",
    "Cumbria Constabulary": "cumbria",
    "Northumbria Police": "northumbria",
    "Kent Police": "kent",
    "North Yorkshire Police": "north-yorkshire",
    "Lancashire Constabulary": "lancashire",
    "Merseyside Police": "merseyside",
    "Cheshire Constabulary": "cheshire",
    "West Yorkshire Police": "west-yorkshire",
    "Humberside Police": "humberside",
    "Dyfed-Powys Police": "dyfed-powys",
    "British Transport Police": "btp",
}
RANKED = [name for name, counts in CRIMES.items() if sum(counts) >= 100]

# By hand, for puk_burglary (Burglary ÷ all crime, anti-social behaviour excluded):
DURHAM_BURGLARY, DURHAM_CRIME = 80, 200
# every other territorial force, Dyfed-Powys included (it is shown, and still part of its peers' pool)
OTHERS_BURGLARY = 25 + 14 + 36 + 30 + 22 + 33 + 40 + 27 + 45 + 20 + 5  # 297
OTHERS_CRIME = 200 + 150 + 300 + 250 + 200 + 280 + 320 + 240 + 380 + 180 + 40  # 2540


def charged(count: int, every: int) -> int:
    """Crimes i in 0..count-1 with i % every == 0."""
    return (count + every - 1) // every


def force_rows(name: str, counts: tuple[int, ...], month: str = MONTH) -> list[dict[str, str]]:
    every = CHARGE_EVERY.get(name, DEFAULT_CHARGE_EVERY)
    rows = []
    for crime_type, count in zip(TYPES, counts):
        for i in range(count):
            rows.append(
                street_row(
                    **{
                        "Crime ID": f"{name}-{month}-{crime_type}-{i}",
                        "Month": month,
                        "Reported by": name,
                        "Falls within": name,
                        "Crime type": crime_type,
                        "Last outcome category": CHARGED if i % every == 0 else NO_SUSPECT,
                    }
                )
            )
    for _ in range(ASB_PER_FORCE):
        rows.append(
            street_row(
                **{
                    "Crime ID": "",
                    "Month": month,
                    "Reported by": name,
                    "Falls within": name,
                    "Crime type": "Anti-social behaviour",
                    "Last outcome category": "",
                }
            )
        )
    return rows


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def finding(db: Path, indicator_id: str, force_id: str) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.sql(
            "select * from divergence where indicator_id = $i and force_id = $f",
            params={"i": indicator_id, "f": force_id},
        ).pl()
    assert rows.height == 1, (indicator_id, force_id, rows)
    return rows.row(0, named=True)


def run_cli(capsys, *args: str) -> str:
    capsys.readouterr()
    assert cli.main(["divergence", *args]) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def synthetic_db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("synthetic")
    for name, counts in [*CRIMES.items(), BTP]:
        write_street(folder / "in" / f"{MONTH}-{FORCE_IDS[name]}-street.csv", force_rows(name, counts))
    db = folder / "synthetic.duckdb"
    load.ingest([folder / "in"], db, progress=False)
    return db


# --- 1. end to end ------------------------------------------------------------------------------------


def test_hand_sums_match_the_counts_written() -> None:
    # The literal sums above are the ones the arithmetic below reads; make sure they are the data.
    others = [counts for name, counts in CRIMES.items() if name != "Durham Constabulary"]
    assert OTHERS_BURGLARY == sum(c[0] for c in others) and OTHERS_CRIME == sum(sum(c) for c in others)
    assert CRIMES["Durham Constabulary"][0] == DURHAM_BURGLARY and sum(CRIMES["Durham Constabulary"]) == DURHAM_CRIME


def test_durham_burglary_share_benchmark_and_limits_by_hand(synthetic_db: Path) -> None:
    row = finding(synthetic_db, "puk_burglary", "durham")
    p, n = DURHAM_BURGLARY / DURHAM_CRIME, DURHAM_CRIME  # 0.4
    t = OTHERS_BURGLARY / OTHERS_CRIME  # 0.11693
    assert (row["numerator"], row["denominator"]) == (80, 200)
    assert row["share"] == pytest.approx(0.4)
    assert row["benchmark"] == pytest.approx(t, rel=1e-12)
    assert row["difference"] == pytest.approx(0.4 - t, rel=1e-12)
    assert row["ratio"] == pytest.approx(0.4 / t, rel=1e-12)

    # Wilson, closed form: (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 / (1 + Z95**2 / n) * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n**2))
    assert row["share_lower"] == pytest.approx(centre - half, rel=1e-6)
    assert row["share_upper"] == pytest.approx(centre + half, rel=1e-6)
    # 80/200 worked through: centre = 0.409604 / 1.019207 = 0.401893, half = 1.923026 × 0.034986 = 0.067279
    assert (row["share_lower"], row["share_upper"]) == (
        pytest.approx(0.33461, abs=1e-5),
        pytest.approx(0.46917, abs=1e-5),
    )

    # Plain binomial funnel, arcsine scale: sin²(asin(√t) ± z / (2√n))
    angle = math.asin(math.sqrt(t))
    for key, z in (("95", Z95), ("998", Z998)):
        assert row[f"limit{key}_plain_lower"] == pytest.approx(math.sin(angle - z / (2 * math.sqrt(n))) ** 2, rel=1e-6)
        assert row[f"limit{key}_plain_upper"] == pytest.approx(math.sin(angle + z / (2 * math.sqrt(n))) ** 2, rel=1e-6)

    # Overdispersion, from the eleven ranked forces only (Dyfed-Powys is too small to inform it):
    # z_i against the pooled share of the other ranked forces, winsorised at the 10th/90th percentiles.
    x = np.array([CRIMES[f][0] for f in RANKED], dtype=float)
    m = np.array([sum(CRIMES[f]) for f in RANKED], dtype=float)
    targets = (x.sum() - x) / (m.sum() - m)
    z_i = (np.arcsin(np.sqrt(x / m)) - np.arcsin(np.sqrt(targets))) * 2 * np.sqrt(m)
    lo, hi = np.percentile(z_i, [10, 90])
    phi = np.mean(np.clip(z_i, lo, hi) ** 2)
    w = 4 * m
    tau2 = max(0.0, (len(x) * phi - (len(x) - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    assert row["phi"] == pytest.approx(phi, rel=1e-9)
    assert row["tau2"] == pytest.approx(tau2, rel=1e-9, abs=1e-15)
    spread = math.sqrt(1 / (4 * n) + tau2)
    assert row["z_plain"] == pytest.approx((math.asin(math.sqrt(p)) - angle) * 2 * math.sqrt(n), rel=1e-9)
    assert row["z"] == pytest.approx((math.asin(math.sqrt(p)) - angle) / spread, rel=1e-9)
    upper998 = math.sin(angle + Z998 * spread) ** 2
    assert row["limit998_od_upper"] == pytest.approx(upper998, rel=1e-6)
    assert p > upper998  # so the sentence must say "above the 99.8% overdispersed limit"
    assert row["direction"] == "above" and row["is_ranked"] and row["periods_supplied"] == row["periods_expected"] == 1


def bh_by_hand(p: list[float]) -> list[float]:
    """Benjamini–Hochberg: sort p ascending, q_(i) = min over j >= i of p_(j)·m/j, capped at 1."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    m, running, q = len(p), 1.0, [0.0] * len(p)
    for j in range(m, 0, -1):
        running = min(running, p[order[j - 1]] * m / j)
        q[order[j - 1]] = running
    return q


def test_q_values_are_computed_within_each_family(synthetic_db: Path) -> None:
    rows = query(synthetic_db, "select family, indicator_id, p_value, q_bh, q_by, status from divergence")
    tested = [r for r in rows if r[5] in ("ranked", "supply_suspect", "contradicted")]
    assert all(
        q is None
        for *_, q_bh, q_by, status in rows
        if status not in ("ranked", "supply_suspect", "contradicted")
        for q in (q_bh, q_by)
    )
    families = {r[0] for r in tested}
    # One source, one window, two measures; the supply indicators (pending, unavailable) are all zero
    # here, so degenerate and untested: no family of their own.
    assert families == {
        "classification: police_uk_street, Apr 2021, offences",
        "classification: police_uk_street, Apr 2021, outcomes",
    }
    harmonic = {}
    for family in families:
        members = [r for r in tested if r[0] == family]
        expected = bh_by_hand([r[2] for r in members])
        m = len(members)
        harmonic[family] = m
        c_m = sum(1 / i for i in range(1, m + 1))
        for row, q in zip(members, expected):
            assert row[3] == pytest.approx(q, rel=1e-9), row
            assert row[4] == pytest.approx(min(1.0, q * c_m), rel=1e-9), row  # BY = BH × Σ 1/i, capped at 1
    # 11 forces large enough × 5 crime types that occur (8 types never occur: degenerate, untested);
    # 11 × 2 outcome groups that occur (charged, no suspect).
    assert harmonic == {
        "classification: police_uk_street, Apr 2021, offences": 11 * 5,
        "classification: police_uk_street, Apr 2021, outcomes": 11 * 2,
    }


def test_a_degenerate_indicator_is_not_tested(synthetic_db: Path) -> None:
    rows = query(
        synthetic_db, "select status, z, q_by, rank, numerator from divergence where indicator_id = 'puk_robbery'"
    )
    assert len(rows) == 12 and all(r[4] == 0 for r in rows)  # no force recorded a robbery
    assert all(status == "degenerate" and z is None and q is None and rank is None for status, z, q, rank, _ in rows)


def test_largest_divergence_is_rank_1_and_says_so_in_words(synthetic_db: Path) -> None:
    rows = query(
        synthetic_db,
        "select rank, indicator_id, force_id, effect_h, is_significant, sentence from divergence "
        "where rank is not null order by rank",
    )
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    # Effect first: the significant findings, then the rest, each by |h| = |2 asin√p − 2 asin√p̄|.
    keys = [(not r[4], -abs(r[3])) for r in rows]
    assert keys == sorted(keys)
    rank, indicator_id, force_id, h, significant, sentence = rows[0]
    assert (indicator_id, force_id, significant) == ("puk_burglary", "durham", True)
    p, t = DURHAM_BURGLARY / DURHAM_CRIME, OTHERS_BURGLARY / OTHERS_CRIME
    assert h == pytest.approx(2 * math.asin(math.sqrt(p)) - 2 * math.asin(math.sqrt(t)), rel=1e-12)
    # 40.0% against 297/2540 = 11.69%: 28.3 points, 3.42 times.
    assert sentence.startswith(
        "Durham records 40.0% of its crime (anti-social behaviour excluded) as burglary: "
        "28.3 percentage points above comparable forces' 11.7% (3.42× their share), "
        "above the 99.8% overdispersed limit; z +"
    )


def test_ranking_does_not_depend_on_the_order_of_indicators(synthetic_db: Path) -> None:
    indicators = load_indicators()
    with duckdb.connect(str(synthetic_db), read_only=True) as con:
        forward = findings(con, indicators)
        backward = findings(con, indicators[::-1])
    key = ["indicator_id", "force_id"]
    assert forward.select(*key, "rank", "q_bh").sort(key).equals(backward.select(*key, "rank", "q_bh").sort(key))


# --- 2. guards ----------------------------------------------------------------------------------------


def test_small_denominator_is_shown_not_ranked(synthetic_db: Path) -> None:
    row = finding(synthetic_db, "puk_burglary", "dyfed-powys")
    assert row["denominator"] == 40 and row["rank"] is None and row["is_ranked"] is False
    assert row["status"] == "small_denominator"
    assert row["q_bh"] is None or math.isnan(row["q_bh"])  # outside the FDR family
    assert "Not ranked: its denominator 40 is under 100." in row["sentence"]
    # ...yet its 5 burglaries are in its peers' pool (Durham's benchmark above counts them).


def test_non_territorial_bodies_are_never_compared(synthetic_db: Path) -> None:
    assert query(synthetic_db, "select sum(offence_count) from recorded_crime where force_id = 'btp'") == [
        (sum(BTP[1]),)
    ]
    assert query(synthetic_db, "select count(*) from divergence where force_id = 'btp'") == [(0,)]
    assert query(synthetic_db, "select count(*) from divergence_mix where force_id = 'btp'") == [(0,)]
    assert query(synthetic_db, "select count(*) from outcome_ratios where force_id = 'btp'") == [(0,)]
    # Twelve territorial forces in April, none other.
    assert query(synthetic_db, "select count(distinct force_id) from divergence") == [(12,)]


@pytest.fixture(scope="module")
def patchy_db(tmp_path_factory) -> tuple[Path, str]:
    """Half the territorial forces or more supply April and May 2021; one of them supplies only April."""
    folder = tmp_path_factory.mktemp("patchy")
    territorial = reference.forces().filter(pl.col("is_territorial_ew")).sort("force_id")
    names = territorial["force_name"].to_list()[:23]  # 23 of 43: the window needs at least 22 per month
    for i, name in enumerate(names):
        for month in ("2021-04", "2021-05") if i else ("2021-04",):
            rows = [
                street_row(
                    **{
                        "Crime ID": f"{name}-{month}-{k}",
                        "Month": month,
                        "Falls within": name,
                        "Reported by": name,
                        "Crime type": "Burglary" if k < 2 else "Vehicle crime",
                    }
                )
                for k in range(5)
            ]
            write_street(folder / "in" / f"{month}-{i}-street.csv", rows)
    db = folder / "patchy.duckdb"
    load.ingest([folder / "in"], db, progress=False)
    return db, territorial["force_id"][0]


def test_a_force_lacking_a_month_is_shown_as_incomplete_and_left_out_of_benchmarks(patchy_db: tuple[Path, str]) -> None:
    db, lacking = patchy_db
    row = finding(db, "puk_burglary", lacking)
    assert (row["periods_supplied"], row["periods_expected"]) == (1, 2)
    assert (row["numerator"], row["denominator"]) == (2, 5)  # April only, never a zero for May
    assert row["status"] == "incomplete" and row["rank"] is None
    assert "1 of its 2 periods supplied" in row["sentence"] and "compared only on the same periods" in row["sentence"]
    others = query(
        db,
        "select force_id, periods_supplied, periods_expected, benchmark_forces, sentence from divergence "
        "where indicator_id = 'puk_burglary' and force_id <> ?",
        [lacking],
    )
    assert len(others) == 22
    # Every compared force covers the same two months, and the incomplete force is in no benchmark
    # (nor City of London, which is among these 23 but not comparable by default).
    assert all((s, e) == (2, 2) and "periods supplied" not in text for _, s, e, _, text in others)
    comparable = {f for f, *_ in others} - {"city-of-london"}
    assert {f: n for f, _, _, n, _ in others} == {f: len(comparable - {f}) for f, *_ in others}


def test_window_is_the_latest_span_most_forces_supplied_in_full() -> None:
    # Every force supplies April – June; only 11 also supply January – March (as police.uk 2021 here).
    territorial = reference.forces().filter(pl.col("is_territorial_ew")).sort("force_id")["force_id"].to_list()
    early = set(territorial[:11])
    con = duckdb.connect()
    supplied = pl.DataFrame(
        [
            {"source": "police_uk_street", "period": p, "period_grain": "month", "force_id": f}
            for p in months(date(2021, 1, 1), 6)
            for f in territorial
            if p >= date(2021, 4, 1) or f in early
        ]
    )
    for name, frame in {
        "forces": reference.forces(),
        "breaks": reference.breaks(),
        "recorded_crime": supplied,
        "crime_outcomes": supplied.clear(),
    }.items():
        con.register("incoming", frame.to_arrow())
        con.execute(f"create table {name} as select * from incoming")
        con.unregister("incoming")
    window = standard_window(con, "police_uk_street")
    assert (window.start, window.end, window.periods_expected) == (date(2021, 4, 1), date(2021, 7, 1), 3)
    assert (
        "43 territorial forces supplied every month" in window.notes[0]
        and "only 11 supplied Mar 2021" in window.notes[0]
    )


def window_db(periods: list[date], grain: str, source: str) -> duckdb.DuckDBPyConnection:
    """Just what `standard_window` reads: forces, the registry of breaks, and which force supplied which period."""
    con = duckdb.connect()
    forces = reference.forces()
    supplied = pl.DataFrame(
        [
            {"source": source, "period": p, "period_grain": grain, "force_id": f}
            for p in periods
            for f in forces.filter(pl.col("is_territorial_ew"))["force_id"]
        ]
    )
    for name, frame in {
        "forces": forces,
        "breaks": reference.breaks(),
        "recorded_crime": supplied,
        "crime_outcomes": supplied.clear(),
    }.items():
        con.register("incoming", frame.to_arrow())
        con.execute(f"create table {name} as select * from incoming")
        con.unregister("incoming")
    return con


def months(first: date, count: int, step: int = 1) -> list[date]:
    return [add_months(first, i * step) for i in range(count)]


def test_window_never_spans_a_national_counting_rule_change() -> None:
    # Twelve months July 2022 – June 2023 straddle the Principal Crime Rule (2023-06-01).
    window = standard_window(window_db(months(date(2022, 7, 1), 12), "month", "police_uk_street"), "police_uk_street")
    assert (window.start, window.end, window.periods_expected) == (date(2023, 6, 1), date(2023, 7, 1), 1)
    assert "Jun 2023" in window.notes[0] and "Principal Crime Rule" in window.notes[-1]
    # A change mid-month starts the window at the next month: 2014-11-18 (HMIC audit) -> December 2014.
    window = standard_window(window_db(months(date(2014, 3, 1), 12), "month", "police_uk_street"), "police_uk_street")
    assert (window.start, window.end, window.periods_expected) == (date(2014, 12, 1), date(2015, 3, 1), 3)
    # Without a change in it, the window is the latest twelve months.
    window = standard_window(window_db(months(date(2020, 1, 1), 24), "month", "police_uk_street"), "police_uk_street")
    assert (window.start, window.end, window.periods_expected) == (date(2021, 1, 1), date(2022, 1, 1), 12)
    assert not any("counting-rule" in note for note in window.notes)


def test_window_note_names_only_the_start_the_window_has() -> None:
    # June 2014 – May 2015 holds 2014-11-18 and 2015-04-01: the window starts April 2015.
    window = standard_window(window_db(months(date(2014, 6, 1), 12), "month", "police_uk_street"), "police_uk_street")
    assert window.start == date(2015, 4, 1)
    assert [note for note in window.notes if "counting-rule change" in note] == [
        "it starts after a counting-rule change: "
        "Malicious communications and disclosing private sexual images added to violence without injury"
    ]


def test_rolling_year_window_holds_a_period_of_the_source() -> None:
    # Rolling years starting each quarter, January 2012 – January 2014; the latest (2014) straddles
    # 2014-04-01 and 2014-11-18. A window must still hold a whole rolling year, e.g. the latest one
    # clear of the changes, rather than none.
    periods = months(date(2012, 1, 1), 9, step=3)
    window = standard_window(window_db(periods, "rolling_year", "ons_rec_crime_pfa"), "ons_rec_crime_pfa")
    assert any(window.start <= p < window.end for p in periods), window


# --- 3. properties of compare ----------------------------------------------------------------------------

INDICATOR = Indicator(
    indicator_id="test_share",
    label="test",
    source="police_uk_street",
    measure="offences",
    numerator_scheme="police_uk",
    numerator=("Burglary",),
    denominator_scheme="police_uk",
    denominator="*",
    min_denominator=100,
    sentence="records {share} as test",
)
WINDOW = Window("police_uk_street", date(2021, 4, 1), date(2021, 5, 1), "month", 1)


@st.composite
def force_counts(draw, min_size: int = 3, max_size: int = 12) -> list[tuple[int, int]]:
    """(numerator, denominator) per force, denominators 1..5000."""
    ns = draw(st.lists(st.integers(1, 5000), min_size=min_size, max_size=max_size))
    return [(draw(st.integers(0, n)), n) for n in ns]


def counts_frame(pairs: list[tuple[int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "force_id": [f"f{i:02d}" for i in range(len(pairs))],
            "numerator": [x for x, _ in pairs],
            "denominator": [n for _, n in pairs],
            "periods_supplied": [1] * len(pairs),
        },
        schema={"force_id": pl.String, "numerator": pl.Int64, "denominator": pl.Int64, "periods_supplied": pl.Int32},
    )


LIMIT_COLUMNS = [
    f"limit{level}_{model}_{side}"
    for level in ("95", "998")
    for model in ("plain", "od")
    for side in ("lower", "upper")
]


@settings(max_examples=25, deadline=None)
@given(force_counts())
def test_shares_and_limits_lie_in_the_unit_interval(pairs: list[tuple[int, int]]) -> None:
    result = compare(counts_frame(pairs), INDICATOR, WINDOW)
    assert result["share"].to_list() == pytest.approx([x / n for x, n in pairs])
    degenerate = all(x == 0 for x, _ in pairs) or all(x == n for x, n in pairs)
    for column in ["share", "share_lower", "share_upper", "benchmark", *([] if degenerate else LIMIT_COLUMNS)]:
        values = result[column].to_numpy()
        assert np.all((values >= 0) & (values <= 1)), column
    if degenerate:  # nothing to test: every count zero, or the category is the whole parent
        assert set(result["status"]) == {"degenerate"} and result["z"].is_nan().all()
    else:
        assert result["status"].to_list() == ["ranked" if n >= 100 else "small_denominator" for _, n in pairs]


@settings(max_examples=25, deadline=None)
@given(force_counts(), st.data())
def test_a_force_is_left_out_of_its_own_benchmark(pairs: list[tuple[int, int]], data: st.DataObject) -> None:
    a = data.draw(st.integers(0, len(pairs) - 1))
    n = data.draw(st.integers(1, 5000))
    changed = [*pairs[:a], (data.draw(st.integers(0, n)), n), *pairs[a + 1 :]]
    before = compare(counts_frame(pairs), INDICATOR, WINDOW)["benchmark"][a]
    after = compare(counts_frame(changed), INDICATOR, WINDOW)["benchmark"][a]
    others = [p for i, p in enumerate(pairs) if i != a]
    assert before == pytest.approx(sum(x for x, _ in others) / sum(n for _, n in others), rel=1e-12)
    assert after == pytest.approx(before, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(force_counts(min_size=2, max_size=10), st.lists(st.integers(1, 4), min_size=2, max_size=2, unique=True))
def test_limits_nest_and_widen_as_n_falls(rest: list[tuple[int, int]], multiples: list[int]) -> None:
    # Two extra forces A and B with m·(the rest's totals) have the rest's pooled share, so both are
    # benchmarked against exactly that share: a fixed target, at two denominators.
    rest_x, rest_n = sum(x for x, _ in rest), sum(n for _, n in rest)
    pairs = [*rest, *((m * rest_x, m * rest_n) for m in multiples)]
    assume(0 < rest_x < rest_n)  # else the indicator is degenerate and has no limits
    result = compare(counts_frame(pairs), INDICATOR, WINDOW)
    for level_wide, level_narrow in (("998_od", "95_od"), ("95_od", "95_plain"), ("998_od", "998_plain")):
        assert (result[f"limit{level_wide}_lower"] <= result[f"limit{level_narrow}_lower"] + 1e-12).all()
        assert (result[f"limit{level_wide}_upper"] >= result[f"limit{level_narrow}_upper"] - 1e-12).all()
    a, b = result.tail(2).iter_rows(named=True)
    assert a["benchmark"] == b["benchmark"] == pytest.approx(rest_x / rest_n)
    small, large = sorted((a, b), key=lambda r: r["denominator"])
    for column in LIMIT_COLUMNS:
        if column.endswith("lower"):
            assert small[column] <= large[column] + 1e-12, column
        else:
            assert small[column] >= large[column] - 1e-12, column


@settings(max_examples=25, deadline=None)
@given(force_counts(), st.randoms(use_true_random=False))
def test_compare_does_not_depend_on_row_order(pairs: list[tuple[int, int]], rnd) -> None:
    frame = counts_frame(pairs)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=rnd.randint(0, 2**31))
    first = compare(frame, INDICATOR, WINDOW).sort("force_id")
    second = compare(shuffled, INDICATOR, WINDOW).sort("force_id")
    assert first.equals(second)


# --- 4. peers -----------------------------------------------------------------------------------------------


def test_region_peers_are_the_forces_of_the_ons_region(synthetic_db: Path) -> None:
    with duckdb.connect(str(synthetic_db), read_only=True) as con:
        peers = peer_groups(con, "region")
    # forces.csv, region "North East": Cleveland, Durham, Northumbria. Wales: the four Welsh forces.
    assert set(peers["durham"]) - {"durham"} == {"cleveland", "northumbria"}
    assert set(peers["dyfed-powys"]) - {"dyfed-powys"} == {"gwent", "north-wales", "south-wales"}
    assert len(peers) == 43 and "btp" not in peers


def write_groups(path: Path, members: list[tuple[str, str]]) -> Path:
    return write_csv(path, ("group_id", "force_id"), [{"group_id": g, "force_id": f} for g, f in members])


def test_user_peer_group_gives_each_member_the_others(tmp_path: Path, synthetic_db: Path) -> None:
    groups = write_groups(
        tmp_path / "groups.csv",
        [
            ("north", "Durham Constabulary"),
            ("north", "cleveland"),
            ("north", "Cumbria"),  # any spelling
            ("coast", "Durham Constabulary"),
            ("coast", "Northumbria Police"),
            ("south", "Kent Police"),
            ("south", "Dyfed-Powys Police"),
        ],
    )
    with duckdb.connect(str(synthetic_db), read_only=True) as con:
        peers = peer_groups(con, str(groups))
    assert peers == {
        "durham": ["cleveland", "cumbria", "northumbria"],  # both its groups
        "cleveland": ["cumbria", "durham"],
        "cumbria": ["cleveland", "durham"],
        "northumbria": ["durham"],
        "kent": ["dyfed-powys"],
        "dyfed-powys": ["kent"],
    }


def test_unknown_force_in_a_peer_group_is_named(tmp_path: Path, synthetic_db: Path, capsys) -> None:
    groups = write_groups(tmp_path / "groups.csv", [("north", "Durham Constabulary"), ("north", "Gotham City Police")])
    with (
        duckdb.connect(str(synthetic_db), read_only=True) as con,
        pytest.raises(ValueError, match="Gotham City Police"),
    ):
        peer_groups(con, str(groups))
    assert cli.main(["divergence", "--db", str(synthetic_db), "--peers", str(groups)]) == 2
    assert "Gotham City Police" in capsys.readouterr().err


def test_on_demand_peers_benchmark_only_against_the_group(tmp_path: Path, synthetic_db: Path, capsys) -> None:
    groups = write_groups(
        tmp_path / "north.csv",
        [
            ("north", "Durham Constabulary"),
            ("north", "Cleveland Police"),
            ("north", "Cumbria Constabulary"),
            ("west", "Lancashire Constabulary"),
            ("west", "Merseyside Police"),
            ("west", "Cheshire Constabulary"),
        ],
    )
    out = run_cli(
        capsys,
        "--db",
        str(synthetic_db),
        "--format",
        "json",
        "--peers",
        str(groups),
        "--indicator",
        "puk_burglary",
        "--all",
        "--top",
        "100",
    )
    rows = {r["force_id"]: r for r in json.loads(out)}
    # Durham against Cleveland and Cumbria only: (25 + 14) / (200 + 150)
    assert rows["durham"]["benchmark"] == pytest.approx((25 + 14) / (200 + 150), rel=1e-12)
    # Merseyside against Lancashire and Cheshire: (33 + 27) / (280 + 240)
    assert rows["merseyside"]["benchmark"] == pytest.approx((33 + 27) / (280 + 240), rel=1e-12)
    assert {r["peer_group"] for r in rows.values()} == {str(groups)}
    # A force in no group has no benchmark: shown, not ranked.
    assert rows["kent"]["rank"] is None and rows["kent"]["is_ranked"] is False
    assert "no comparable force supplied data" in rows["kent"]["sentence"]


def test_finding_without_benchmark_has_no_direction(tmp_path: Path, synthetic_db: Path) -> None:
    groups = write_groups(
        tmp_path / "north.csv",
        [("north", "Durham Constabulary"), ("north", "Cleveland Police"), ("north", "Cumbria Constabulary")],
    )
    with duckdb.connect(str(synthetic_db), read_only=True) as con:
        found = findings(con, load_indicators(), peer_group="north", peers=peer_groups(con, str(groups)))
    kent = found.filter((pl.col("indicator_id") == "puk_burglary") & (pl.col("force_id") == "kent")).row(0, named=True)
    assert math.isnan(kent["benchmark"])
    assert kent["direction"] is None
    assert "within" not in kent["position"]


# --- 5. the command line ------------------------------------------------------------------------------


def test_cli_json_has_the_documented_columns(synthetic_db: Path, capsys) -> None:
    rows = json.loads(run_cli(capsys, "--db", str(synthetic_db), "--format", "json"))
    assert len(rows) == 20  # the default --top
    assert all(set(r) == set(schema.TABLES["divergence"].columns) for r in rows)
    assert [r["rank"] for r in rows] == list(range(1, 21))
    assert (rows[0]["indicator_id"], rows[0]["force_id"]) == ("puk_burglary", "durham")


def test_cli_csv_has_a_header(synthetic_db: Path, capsys) -> None:
    lines = run_cli(capsys, "--db", str(synthetic_db), "--format", "csv", "--top", "3").splitlines()
    assert set(lines[0].split(",")) == set(schema.TABLES["divergence"].columns)
    assert len(lines) == 1 + 3


def test_cli_top_and_table(synthetic_db: Path, capsys) -> None:
    assert len(json.loads(run_cli(capsys, "--db", str(synthetic_db), "--format", "json", "--top", "2"))) == 2
    lines = run_cli(capsys, "--db", str(synthetic_db), "--top", "2").splitlines()
    assert len(lines) == 2 and lines[0].lstrip().startswith("1") and "Durham records 40.0%" in lines[0]


def test_users_add_an_indicator_as_data(tmp_path: Path, synthetic_db: Path, capsys) -> None:
    header = (
        "indicator_id",
        "label",
        "source",
        "measure",
        "numerator_scheme",
        "numerator",
        "denominator_scheme",
        "denominator",
        "min_denominator",
        "sentence",
        "kind",
        "parent",
    )
    mine = write_csv(
        tmp_path / "my.csv",
        header,
        [
            {
                "indicator_id": "my_property",
                "label": "Burglary and vehicle crime ÷ crime excluding shoplifting",
                "source": "police_uk_street",
                "measure": "offences",
                "numerator_scheme": "police_uk",
                "numerator": "Burglary;Vehicle crime",
                "denominator_scheme": "police_uk",
                "denominator": "*-Shoplifting",
                "min_denominator": "100",
                "sentence": "records {share} of its crime as burglary or vehicle crime",
                "kind": "classification",
                "parent": "my_crime_less_shoplifting",
            }
        ],
    )
    rows = json.loads(
        run_cli(
            capsys, "--db", str(synthetic_db), "--format", "json", "--indicators", str(mine), "--all", "--top", "100"
        )
    )
    assert {r["indicator_id"] for r in rows} == {"my_property"} and len(rows) == 12
    durham = next(r for r in rows if r["force_id"] == "durham")
    # (80 + 20) / (200 − 20 shoplifting); others: burglary + vehicle over crime less shoplifting
    others = [c for name, c in CRIMES.items() if name != "Durham Constabulary"]
    assert durham["share"] == pytest.approx(100 / 180)
    assert durham["benchmark"] == pytest.approx(sum(c[0] + c[1] for c in others) / sum(sum(c) - c[4] for c in others))
    assert durham["sentence"].startswith("Durham records 55.6% of its crime as burglary or vehicle crime: ")


def test_one_function_gives_the_findings_whether_read_from_the_table_or_computed(synthetic_db: Path) -> None:
    with duckdb.connect(str(synthetic_db), read_only=True) as con:
        read = for_peers_and_window(con)
        computed = findings(con, load_indicators())
        region = for_peers_and_window(con, "region")
        by_region = findings(con, load_indicators(), peer_group="region", peers=peer_groups(con, "region"))
    # The table stores undefined statistics as NULL; the same rows in the same order otherwise.
    assert_frame_equal(
        read.select(computed.columns), computed.with_columns(pl.col(pl.Float64).fill_nan(None)), check_dtypes=False
    )
    assert_frame_equal(region, by_region)
    assert set(region["peer_group"]) == {"region"} and set(read["peer_group"]) == {"all"}


def test_the_analysis_returns_its_tables_without_writing_and_the_load_wrote_them(synthetic_db: Path) -> None:
    with duckdb.connect(str(synthetic_db), read_only=True) as con:  # nothing can be written through it
        frames = derived_tables(con)
        stored = {name: con.sql(f"select * from {name}").pl() for name in DERIVED_TABLES}
    assert list(frames) == list(DERIVED_TABLES)
    assert frames["divergence"].height > 0 and frames["divergence_mix"].height > 0
    for name, frame in frames.items():
        assert stored[name].height == frame.height, name
        if frame.height:  # every value, the calibration draws' p-values included: the same data gives the same tables
            keys = frame.columns
            assert_frame_equal(
                stored[name].select(keys).sort(keys, nulls_last=True),
                frame.with_columns(pl.col(pl.Float64).fill_nan(None)).sort(keys, nulls_last=True),
                check_dtypes=False,
            )


# --- 6. mix, homogeneity, outcome ratios and breaks ----------------------------------------------------


def test_mix_distance_is_jensen_shannon_against_the_others(synthetic_db: Path) -> None:
    ((distance, total),) = query(
        synthetic_db,
        "select distance, total from divergence_mix where mix_id = 'puk_crime_types' and force_id = 'durham'",
    )
    durham = np.array(CRIMES["Durham Constabulary"], dtype=float)
    others = np.sum([c for name, c in CRIMES.items() if name != "Durham Constabulary"], axis=0).astype(float)
    assert total == 200
    assert distance == pytest.approx(jensenshannon(durham, others, base=2), rel=1e-9)
    ((share, reference_share),) = query(
        synthetic_db,
        "select share, reference_share from divergence_mix_categories "
        "where mix_id = 'puk_crime_types' and force_id = 'durham' and category = 'Burglary'",
    )
    assert (share, reference_share) == (pytest.approx(0.4), pytest.approx(297 / 2540))


def test_homogeneity_is_chi_square_over_forces_by_crime_type(synthetic_db: Path) -> None:
    ((forces, chi2, dof, p),) = query(
        synthetic_db,
        "select forces_compared, chi2, dof, p_value from divergence_homogeneity where mix_id = 'puk_crime_types'",
    )
    expected = chi2_contingency(np.array(list(CRIMES.values())), correction=False)
    assert (forces, dof) == (12, (12 - 1) * (5 - 1))
    assert chi2 == pytest.approx(expected.statistic, rel=1e-9)
    assert p == pytest.approx(expected.pvalue, rel=1e-6)


def test_outcome_ratio_is_observed_over_case_mix_expected(synthetic_db: Path) -> None:
    ((observed, expected, ratio),) = query(
        synthetic_db,
        "select observed, expected, standardised_ratio from outcome_ratios "
        "where force_id = 'kent' and outcome_group = 'charged_summonsed'",
    )
    kent = CRIMES["Kent Police"]
    assert observed == sum(charged(c, 3) for c in kent) == 10 + 14 + 34 + 14 + 14
    # Expected: Σ_k Kent's crimes of type k × the other forces' charge rate for type k.
    others = [c for name, c in CRIMES.items() if name != "Kent Police"]
    rate = [
        sum(charged(c[k], DEFAULT_CHARGE_EVERY) for c in others) / sum(c[k] for c in others) for k in range(len(TYPES))
    ]
    hand = sum(kent[k] * rate[k] for k in range(len(TYPES)))
    assert expected == pytest.approx(hand, rel=1e-9)
    assert ratio == pytest.approx(observed / hand, rel=1e-9) and ratio > 1.5


# The ONS rolling-year file: 24 quarterly rolling years ending March 2003 – December 2008, far from
# every registered event. Kent's violence-with-injury share of violence against the person jumps
# from about 40% to about 52% at the rolling year ending March 2006 (period 2005-04-01).
ONS_FORCES = {"Kent": "South East", "Durham": "North East", "Cleveland": "North East", "Cumbria": "North West"}
ONS_QUARTERS = 24
JUMP_AT = 12
VAP_PER_YEAR, VWI_BEFORE, VWI_AFTER = 1000, 400, 520
WIGGLE = (0, 6, -4, 3, -7, 2, 5, -3, 1, -5, 4, -2)  # a little noise, so that no segment is exactly flat


def ons_year_ending(i: int) -> date:
    start = add_months(date(2002, 4, 1), 3 * i)  # the rolling year starting here...
    return date.fromordinal(add_months(start, 12).toordinal() - 1)  # ...ends the day before a year on


@pytest.fixture(scope="module")
def ons_db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ons")
    rows = []
    for i in range(ONS_QUARTERS):
        for j, (pfa, region) in enumerate(ONS_FORCES.items()):
            jumped = pfa == "Kent" and i >= JUMP_AT
            vwi = (VWI_AFTER if jumped else VWI_BEFORE) + WIGGLE[(i + 5 * j) % len(WIGGLE)]
            for offence, count in (("Violence with injury", vwi), ("Violence without injury", VAP_PER_YEAR - vwi)):
                rows.append(
                    {
                        "12 months ending": f"{ons_year_ending(i):%d/%m/%Y}",
                        "PFA": pfa,
                        "Region": region,
                        "Offence": offence,
                        ons_rec_crime.COUNT: str(count),
                    }
                )
    path = write_csv(folder / "in" / "rec-crime-pfa.csv", ons_rec_crime.HEADER, rows)
    db = folder / "ons.duckdb"
    load.ingest([path], db, progress=False)
    return db


def test_planted_break_is_detected_where_and_as_big_as_planted(ons_db: Path) -> None:
    assert ons_year_ending(0) == date(2003, 3, 31) and ons_year_ending(JUMP_AT) == date(2006, 3, 31)
    detected = query(
        ons_db,
        "select force_id, period, level_shift, matches_event from divergence_breaks "
        "where indicator_id = 'ons_rec_vwi_of_vap' and break_kind = 'detected'",
    )
    assert [f for f, *_ in detected] == ["kent"], detected  # and nothing in the steady forces
    _, period, shift, event = detected[0]
    # The jump is at period 2005-04-01 (the rolling year ending 31 March 2006). Breaks are searched
    # for on non-overlapping years ending with the latest (December 2008), so the break is reported
    # at the first of those years wholly after the jump: the year from 2006-01-01 (within a year of it).
    assert date(2005, 4, 1) <= period <= date(2006, 3, 1)
    # (520 − 400) / 1000 = 0.12, give or take the wiggle
    assert 0.10 < shift < 0.14
    assert event is None  # no registered event near 2005


# --- 7. real data -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_db(tmp_path_factory) -> Path:
    real = real_data()
    db = tmp_path_factory.mktemp("real_divergence") / "real.duckdb"
    load.ingest([real / "ons_rec_crime_pfa", real / "police_uk_street_2021"], db, progress=False)
    return db


@pytest.mark.real
def test_real_divergence_runs_and_leads_with_a_strong_finding(real_db: Path, capsys) -> None:
    rows = json.loads(run_cli(capsys, "--db", str(real_db), "--format", "json", "--top", "5"))
    assert len(rows) == 5 and rows[0]["rank"] == 1
    top = rows[0]
    assert abs(top["z"]) > 3 and top["is_significant"] and top["q_by"] < 0.05
    assert {r["force_id"] for r in rows} <= set(reference.forces().filter(pl.col("is_territorial_ew"))["force_id"])
    assert run_cli(capsys, "--db", str(real_db), "--top", "3").count("\n") == 3


@pytest.mark.real
def test_real_materialise_is_fast(real_db: Path) -> None:
    with duckdb.connect(str(real_db)) as con:
        started = time.perf_counter()
        load.write_derived_tables(con)
        elapsed = time.perf_counter() - started
        assert con.execute("select count(*) from divergence where rank = 1").fetchone() == (1,)
    assert elapsed < 60, f"write_derived_tables took {elapsed:.1f} s"


# --- 8. screens on tiny inline data (issue 8) ------------------------------------------------------------


def test_a_one_year_window_on_a_rolling_year_source_is_that_year_alone(ons_db: Path, capsys) -> None:
    # The rolling year ending March 2006 is quarter JUMP_AT: Kent's violence with injury that year,
    # as written above (never the sum of the four quarterly rolling years that start in it).
    kent = list(ONS_FORCES).index("Kent")
    written = VWI_AFTER + WIGGLE[(JUMP_AT + 5 * kent) % len(WIGGLE)]
    rows = json.loads(
        run_cli(
            capsys,
            "--db",
            str(ons_db),
            "--format",
            "json",
            "--end",
            "2006-03",
            "--indicator",
            "ons_rec_vwi_of_vap",
            "--force",
            "kent",
            "--all",
        )
    )
    assert len(rows) == 1 and rows[0]["numerator"] == written and rows[0]["denominator"] == VAP_PER_YEAR
    assert (rows[0]["window_start"], rows[0]["window_end"]) == ("2005-04-01", "2006-04-01")


def test_ons_period_ends_are_read_as_the_month_they_name(tmp_path: Path, db: Path) -> None:
    # ONS spells the year ending December 2017 `30/12/2017`; it is that year, period 2017-01-01.
    rows = [
        {"12 months ending": end, "PFA": "Kent", "Region": "South East", "Offence": "Robbery", ons_rec_crime.COUNT: "5"}
        for end in ("30/12/2017", "31/12/2018", "31/03/2018", "30/06/2018")
    ]
    load.ingest([write_csv(tmp_path / "rec-crime-pfa.csv", ons_rec_crime.HEADER, rows)], db, progress=False)
    periods = {p for (p,) in query(db, "select distinct period from recorded_crime where source = 'ons_rec_crime_pfa'")}
    assert periods == {date(2017, 1, 1), date(2018, 1, 1), date(2017, 4, 1), date(2017, 7, 1)}


def test_an_area_not_comparable_by_default_is_shown_not_ranked_nor_in_a_benchmark() -> None:
    counts = counts_frame([(10, 1000), (20, 1000), (30, 1000), (900, 1000)]).with_columns(
        pl.Series("force_id", ["f00", "f01", "f02", "city-of-london"])
    )
    result = compare(counts, INDICATOR, WINDOW).sort("force_id")
    rows = {r["force_id"]: r for r in result.iter_rows(named=True)}
    assert rows["city-of-london"]["status"] == "non_comparable"
    # f00's benchmark: f01 and f02 only, (20 + 30) / 2000; the City's 900 crimes are in no benchmark.
    assert rows["f00"]["benchmark"] == pytest.approx(50 / 2000, rel=1e-12)
    assert rows["city-of-london"]["benchmark"] == pytest.approx(60 / 3000, rel=1e-12)  # shown against everyone
    included = compare(counts, INDICATOR, WINDOW, include=frozenset({"city-of-london"}))
    city = included.filter(pl.col("force_id") == "city-of-london").row(0, named=True)
    assert city["status"] == "ranked"
    assert included.filter(pl.col("force_id") == "f00")["benchmark"][0] == pytest.approx(950 / 3000, rel=1e-12)


def test_witness_status_follows_the_direction_of_the_other_source() -> None:
    finding_below = {"difference": -0.09}
    assert (
        witness_status(
            finding_below, {"difference": 0.05, "share": 0.16, "limit95_od_lower": 0.08, "limit95_od_upper": 0.13}
        )
        == "contradicts"
    )
    assert (
        witness_status(
            finding_below, {"difference": -0.05, "share": 0.05, "limit95_od_lower": 0.08, "limit95_od_upper": 0.13}
        )
        == "corroborates"
    )
    assert (
        witness_status(
            finding_below, {"difference": -0.01, "share": 0.09, "limit95_od_lower": 0.08, "limit95_od_upper": 0.13}
        )
        == "inconclusive"
    )


def screen_row(
    indicator_id: str, force_id: str, numerator: int, denominator: int, benchmark: float, limit95_od_upper: float = 1.0
) -> dict:
    return {
        "indicator_id": indicator_id,
        "force_id": force_id,
        "numerator": numerator,
        "denominator": denominator,
        "share": numerator / denominator,
        "benchmark": benchmark,
        "limit95_od_upper": limit95_od_upper,
        "periods_supplied": 1,
        "periods_expected": 1,
    }


def test_supply_screens_name_the_feed_problem() -> None:
    parent = "outcomes"
    by_id = {
        "unavailable": Indicator(
            "unavailable",
            "",
            "src",
            "outcomes",
            "outcome_group",
            ("unavailable",),
            "outcome_group",
            "*",
            100,
            "has {share} of its crimes unavailable",
            "supply",
            parent,
        ),
        "transferred": Indicator(
            "transferred",
            "",
            "src",
            "outcomes",
            "outcome_group",
            ("transferred",),
            "outcome_group",
            "*-unavailable",
            100,
            "shows {share} transferred",
            "classification",
            parent,
        ),
        "charged": Indicator(
            "charged",
            "",
            "src",
            "outcomes",
            "outcome_group",
            ("charged_summonsed",),
            "outcome_group",
            "*-unavailable",
            100,
            "shows {share} charged",
            "classification",
            parent,
        ),
    }
    found = pl.DataFrame(
        [
            screen_row(
                "unavailable", "durham", 440, 1000, 0.12, limit95_od_upper=0.30
            ),  # above its limit: abnormal supply
            screen_row("unavailable", "kent", 100, 1000, 0.12, limit95_od_upper=0.30),
            screen_row(
                "transferred", "kent", 0, 2000, 0.016
            ),  # 0 where 32 are expected: a category the feed never uses
            screen_row("transferred", "cleveland", 0, 500, 0.016),  # 0 where 8 are expected: chance, no screen
            screen_row("charged", "cumbria", 40, 1000, 0.08),
        ]
    )
    history = pl.DataFrame([{**screen_row("charged", "cumbria", 100, 1000, 0.085)}])  # 10% before, 4% now, peers steady
    reasons = supply_screens(found, history, by_id)
    assert set(reasons) == {("src", parent, "durham"), ("src", parent, "kent"), ("src", parent, "cumbria")}
    assert "44.0%" in reasons[("src", parent, "durham")][0] and "12.0%" in reasons[("src", parent, "durham")][0]
    assert "does not use" in reasons[("src", parent, "kent")][0] and "32" in reasons[("src", parent, "kent")][0]
    assert "fell from 10.0% to 4.0%" in reasons[("src", parent, "cumbria")][0]


def test_an_indicator_file_without_kind_or_parent_is_refused_with_its_line(tmp_path: Path) -> None:
    header = (
        "indicator_id",
        "label",
        "source",
        "measure",
        "numerator_scheme",
        "numerator",
        "denominator_scheme",
        "denominator",
        "min_denominator",
        "sentence",
        "kind",
        "parent",
    )
    row = {
        "indicator_id": "mine",
        "label": "x",
        "source": "police_uk_street",
        "measure": "offences",
        "numerator_scheme": "police_uk",
        "numerator": "Burglary",
        "denominator_scheme": "police_uk",
        "denominator": "*",
        "min_denominator": "100",
        "sentence": "records {share}",
        "kind": "",
        "parent": "all",
    }
    with pytest.raises(ValueError, match=r"line 2.*kind must be one of"):
        load_indicators(write_csv(tmp_path / "a.csv", header, [row]))
    with pytest.raises(ValueError, match=r"line 2.*parent is empty"):
        load_indicators(write_csv(tmp_path / "b.csv", header, [{**row, "kind": "classification", "parent": ""}]))
    with pytest.raises(ValueError, match=r"outcomes indicator counts by outcome or outcome_group"):
        load_indicators(
            write_csv(
                tmp_path / "c.csv",
                header,
                [
                    {
                        **row,
                        "kind": "classification",
                        "measure": "outcomes",
                        "numerator_scheme": "cast((select 1) as int)",
                    }
                ],
            )
        )


# --- indicator files: every value checked before any SQL sees it ----------------------------------------------

HOSTILE_SCHEME = "cast((select content from read_text('/etc/hostname')) as integer)"
HOSTILE_CATEGORY = "Burglary'); select content from read_text('/etc/hostname') --"


def _indicator_row(**overrides: str) -> dict[str, str]:
    row = {
        "indicator_id": "mine",
        "label": "x",
        "source": "police_uk_street",
        "measure": "offences",
        "numerator_scheme": "police_uk",
        "numerator": "Burglary",
        "denominator_scheme": "police_uk",
        "denominator": "*",
        "min_denominator": "100",
        "sentence": "records {share}",
        "kind": "classification",
        "parent": "all",
    }
    return {**row, **overrides}


def _hostname() -> str:
    """The content the hostile values try to read, where it is distinctive enough to search for."""
    path = Path("/etc/hostname")
    text = path.read_text().strip() if path.exists() else ""
    return text if len(text) >= 6 else ""


def test_a_hostile_scheme_reading_a_file_leaks_nothing(tmp_path: Path, synthetic_db: Path, capsys) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-7f3a9c")
    scheme = f"cast((select content from read_text('{secret}')) as integer)"
    for n, overrides in enumerate(
        (
            {"numerator_scheme": scheme},
            {"measure": "outcomes", "numerator_scheme": scheme, "denominator_scheme": "outcome_group"},
            {"numerator": f"x') or content = (select content from read_text('{secret}')) --"},
        )
    ):
        path = write_csv(tmp_path / f"leak{n}.csv", INDICATOR_COLUMNS, [_indicator_row(**overrides)])
        capsys.readouterr()
        assert cli.main(["divergence", "--db", str(synthetic_db), "--indicators", str(path)]) == 2
        out, err = capsys.readouterr()
        assert f"{path}, line 2" in err and "SECRET-7f3a9c" not in out + err


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"numerator_scheme": HOSTILE_SCHEME}, "numerator_scheme is a scheme name"),
        (
            {"measure": "outcomes", "numerator_scheme": HOSTILE_SCHEME, "denominator_scheme": "outcome_group"},
            "an outcomes indicator counts by outcome or outcome_group",
        ),
        ({"denominator_scheme": HOSTILE_SCHEME}, "denominator_scheme is a scheme name"),
        ({"numerator": HOSTILE_CATEGORY}, "is not a police_uk category"),
        ({"denominator": f"*-{HOSTILE_CATEGORY}"}, "is not a police_uk category"),
        ({"numerator": "Burglary;"}, "empty or malformed category"),
        ({"source": "x'; select 1 --"}, "source is a source name"),
        ({"min_denominator": "1e9"}, "min_denominator is a whole number"),
        ({"sentence": "records {share.__class__}"}, "only the placeholder {share}"),
        ({"indicator_id": "a b"}, "indicator_id is"),
    ],
)
def test_a_hostile_or_mistyped_indicator_file_is_refused_with_its_file_and_line(
    tmp_path: Path, overrides, error
) -> None:
    path = write_csv(
        tmp_path / "hostile.csv", INDICATOR_COLUMNS, [_indicator_row(indicator_id="fine"), _indicator_row(**overrides)]
    )
    with pytest.raises(ValueError) as refused:
        load_indicators(path)
    message = str(refused.value)
    assert f"{path}, line 3" in message and error in message
    hostname = _hostname()
    assert not hostname or hostname not in message.replace(HOSTILE_SCHEME, "").replace(HOSTILE_CATEGORY, "")


def test_the_standard_indicators_and_mixes_pass_the_checks() -> None:
    assert len(load_indicators()) > 0 and len(load_mixes()) > 0


def test_the_cli_refuses_a_hostile_indicator_file_and_leaks_nothing(tmp_path: Path, synthetic_db: Path, capsys) -> None:
    for n, overrides in enumerate(
        (
            {"measure": "outcomes", "numerator_scheme": HOSTILE_SCHEME, "denominator_scheme": "outcome_group"},
            {"numerator_scheme": HOSTILE_SCHEME},
            {"numerator": HOSTILE_CATEGORY},
        )
    ):
        path = write_csv(tmp_path / f"hostile{n}.csv", INDICATOR_COLUMNS, [_indicator_row(**overrides)])
        capsys.readouterr()
        assert cli.main(["divergence", "--db", str(synthetic_db), "--indicators", str(path)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and f"{path}, line 2" in err and "Traceback" not in err
        hostname = _hostname()
        assert not hostname or hostname not in err.replace(HOSTILE_SCHEME, "").replace(HOSTILE_CATEGORY, "")


def test_counts_that_net_below_zero_are_no_share_and_stay_out_of_every_benchmark() -> None:
    # The Home Office outcomes' "not yet assigned" nets to a negative count for some forces.
    pairs = [(-5, 500), (50, 500), (60, 600), (70, 700), (80, 400)]
    result = compare(counts_frame(pairs), INDICATOR, WINDOW).sort("force_id")
    assert result["status"].to_list() == ["not_a_share", "ranked", "ranked", "ranked", "ranked"]
    assert result["z"][0] is None or not np.isfinite(result["z"][0])
    # f01's benchmark: the other proper forces only, (60 + 70 + 80) / (600 + 700 + 400).
    assert result["benchmark"][1] == pytest.approx(210 / 1700)
    assert "f00" not in result["benchmark_members"][1]


def test_counts_summed_from_one_read_per_source_equal_one_query_per_indicator(samples_ingest) -> None:
    # The second method: the query each indicator ran on its own before its source's counts were
    # read once for all of them.
    def direct(con, indicator, window, by_period):
        table, measure = (
            ("recorded_crime", "offence_count")
            if indicator.measure == "offences"
            else ("crime_outcomes", "outcome_count")
        )

        def condition(column, spec, name):
            if spec == "*":
                return "true", {}
            if spec.startswith("*-"):
                return f"{column} <> all(${name})", {name: spec[2:].split(";")}
            return f"{column} = any(${name})", {name: spec.split(";")}

        if indicator.measure == "offences":
            num, p1 = condition("category", ";".join(indicator.numerator), "num")
            den, p2 = condition("category", indicator.denominator, "den")
            num, den = (
                f"scheme = '{indicator.numerator_scheme}' and {num}",
                f"scheme = '{indicator.denominator_scheme}' and {den}",
            )
            extra, p3 = "", {}
        else:
            num, p1 = condition(indicator.numerator_scheme, ";".join(indicator.numerator), "num")
            den, p2 = condition(indicator.denominator_scheme, indicator.denominator, "den")
            offences, p3 = condition("category", indicator.offences, "offences")
            extra = (
                f" and outcome is not null and count_basis = '{indicator.count_basis}'"
                f" and scheme = '{indicator.offence_scheme}' and {offences}"
            )
        keys = "force_id, period" if by_period else "force_id"
        # One rolling year is that year alone, never the overlapping years that start inside it.
        periods = "period = $start" if window.is_single_period else "period >= $start and period < $end"
        sql = f"""select {keys}, cast(coalesce(sum({measure}) filter (where {num}), 0) as bigint) as numerator,
                         cast(coalesce(sum({measure}) filter (where {den}), 0) as bigint) as denominator,
                         cast(count(distinct period) as integer) as periods_supplied
                  from {table} where source = $source and {periods} and period_grain = $grain{extra}
                  group by {keys} order by {keys}"""
        span = {"start": window.start} | ({} if window.is_single_period else {"end": window.end})
        return con.sql(
            sql, params={"source": indicator.source, **span, "grain": window.period_grain, **p1, **p2, **p3}
        ).pl()

    with duckdb.connect(str(samples_ingest[0]), read_only=True) as con:
        cache: dict = {}
        indicators = load_indicators()
        assert {i.measure for i in indicators} == {"offences", "outcomes"}
        checked = 0
        for indicator in indicators:
            standard = standard_window(con, indicator.source)
            if standard is None:
                continue
            for window, by_period in ((standard, False), (standard, True), (previous_window(standard), False)):
                keys = ["force_id", "period"] if by_period else ["force_id"]
                got = indicator_counts(con, indicator, window, by_period=by_period, cache=cache).sort(keys)
                expected = direct(con, indicator, window, by_period)
                assert got.select(expected.columns).equals(expected), indicator.indicator_id
                checked += expected.height
        assert checked > 5_000
