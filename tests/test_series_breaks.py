"""Break tests that mean something (`pipelines/analysis/series.py`, `stats.chow_test`, `stats.seasonal_shift_test`).

Each expected value is worked out here by a second method (numpy least squares, scipy's t test, or
arithmetic on the planted numbers), never read back from the code under test:

- an event's transition period is on neither side, so a planted step is found at full size;
- a constant series gives nan, not an exception;
- a source with releases is tested per release: releases that disagree give a `revision` row and
  no break at the splice;
- rolling years are tested on non-overlapping years only;
- an event is tested only on the indicators its `affects` names;
- on the Met's own releases, CONNECT (28 February 2024) is found at March 2024.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from scipy import stats as scipy_stats

from pipelines.analysis import series, stats
from pipelines.analysis.indicators import Indicator
from pipelines.ingest import load
from pipelines.periods import add_months, month_index

from conftest import real_data


def indicator(indicator_id: str = "test_share", measure: str = "offences") -> Indicator:
    return Indicator(
        indicator_id=indicator_id,
        label=indicator_id,
        source="test_source",
        measure=measure,
        numerator_scheme="s",
        numerator=("a",),
        denominator_scheme="s",
        denominator="*",
        min_denominator=100,
        sentence="",
        kind="classification",
        parent="p",
    )


def events(*rows: tuple[date, str, str, str]) -> pl.DataFrame:
    """(event_date, scope, event, affects) rows, with an explicit schema (never inferred)."""
    return pl.DataFrame(
        rows, schema={"event_date": pl.Date, "scope": pl.String, "event": pl.String, "affects": pl.String}, orient="row"
    )


def monthly_frame(
    shares: np.ndarray, first: date, force: str = "kent", release: date | None = None, denominator: int = 100_000
) -> pl.DataFrame:
    periods = [add_months(first, i) for i in range(len(shares))]
    return pl.DataFrame(
        {
            "force_id": [force] * len(shares),
            "release_date": [release] * len(shares),
            "period": periods,
            "period_grain": ["month"] * len(shares),
            "numerator": np.round(np.asarray(shares) * denominator).astype(np.int64),
            "denominator": [denominator] * len(shares),
        },
        schema={
            "force_id": pl.String,
            "release_date": pl.Date,
            "period": pl.Date,
            "period_grain": pl.String,
            "numerator": pl.Int64,
            "denominator": pl.Int64,
        },
    )


def shares_of(frame: pl.DataFrame) -> np.ndarray:
    return (frame["numerator"] / frame["denominator"]).to_numpy()


# --- 1. the transition month is on neither side -------------------------------------------------------

# Four years of a seasonal monthly share; an event on 15 June 2022. Half of June's crimes are recorded
# after it, so June carries half the step; the full step (+5 points) starts in July.
FIRST = date(2020, 1, 1)
EVENT = date(2022, 6, 15)
STEP = 0.05


def planted_monthly(seed: int = 11) -> tuple[pl.DataFrame, int]:
    n = 48
    transition = month_index(date(2022, 6, 1)) - month_index(FIRST)
    level = np.where(np.arange(n) > transition, STEP, 0.0)
    level[transition] = STEP / 2
    season = 0.02 * np.sin(2 * np.pi * np.arange(n) / 12)
    shares = 0.30 + season + level + np.random.default_rng(seed).normal(0, 0.002, n)
    return monthly_frame(shares, FIRST), transition


def test_a_step_after_a_mid_month_event_is_found_at_full_size_without_the_transition_month() -> None:
    frame, transition = planted_monthly()
    found = series.series_breaks(frame, indicator(), events((EVENT, "national", "E", "*")))
    registered = found.filter(pl.col("break_kind") == "registered")
    assert registered.height == 1
    row = registered.row(0, named=True)
    assert row["period"] == date(2022, 7, 1)  # the first full month after the event
    assert (row["test_basis"], row["test_method"]) == ("monthly", "seasonal_difference")

    # Second method, by hand: July 2022 – February 2023 against the same months a year earlier, and
    # the normal year-on-year change of October 2021 – May 2022 (June, the transition, left out).
    y = shares_of(frame)
    after = np.arange(transition + 1, transition + 9)
    before = np.arange(transition - 8, transition)
    d, c = y[after] - y[after - 12], y[before] - y[before - 12]
    t = scipy_stats.ttest_ind(d, c)  # pooled (Student) two-sample t test
    assert row["level_shift"] == pytest.approx(d.mean() - c.mean(), abs=1e-12)
    assert row["f_stat"] == pytest.approx(t.statistic**2, rel=1e-9)
    assert row["p_value"] == pytest.approx(t.pvalue, rel=1e-6)
    assert row["level_shift"] == pytest.approx(STEP, abs=0.006) and row["p_value"] < 0.01

    # Counting June as "before" would put half the step into the normal year-on-year change: the
    # shift shrinks by about (STEP / 2) / 8 months.
    with_june = stats.seasonal_shift_test(y, np.arange(y.size), transition + 1, season=12, span=8, gap=0)
    assert row["level_shift"] - with_june.level_shift == pytest.approx(STEP / 2 / 8, abs=0.0015)
    # The old test (lines either side over 8 months, June at the end of "before") misses it.
    lo = transition + 1 - 8
    old = stats.chow_test(y[lo : transition + 1 + 8], transition + 1 - lo)
    assert old.level_shift < STEP / 2


def test_chow_with_explicit_times_matches_a_regression_with_a_gap() -> None:
    # Points at t = 0..7 and 9..16 (t = 8 left out as a transition): one regression with a dummy.
    rng = np.random.default_rng(3)
    t = np.r_[np.arange(8.0), np.arange(9.0, 17.0)]
    after = (t >= 9).astype(float)
    y = 1 + 0.1 * t + 2.0 * after + rng.normal(0, 0.3, t.size)
    full = np.column_stack([np.ones_like(t), t, after, after * (t - 9)])
    coef, *_ = np.linalg.lstsq(full, y, rcond=None)
    rss_full = np.sum((y - full @ coef) ** 2)
    line, *_ = np.linalg.lstsq(full[:, :2], y, rcond=None)
    rss_line = np.sum((y - full[:, :2] @ line) ** 2)
    result = stats.chow_test(y, 8, t)
    assert result.f_stat == pytest.approx(((rss_line - rss_full) / 2) / (rss_full / (t.size - 4)))
    assert result.level_shift == pytest.approx(coef[2]) and result.slope_change == pytest.approx(coef[3])
    # With a common slope only the level may change: y = a + b t + c·after, F on (1, n − 3).
    level, *_ = np.linalg.lstsq(full[:, :3], y, rcond=None)
    rss_level = np.sum((y - full[:, :3] @ level) ** 2)
    common = stats.chow_test(y, 8, t, common_slope=True)
    assert common.level_shift == pytest.approx(level[2])
    assert common.f_stat == pytest.approx((rss_line - rss_level) / (rss_level / (t.size - 3)))
    assert common.p_value == pytest.approx(scipy_stats.f.sf(common.f_stat, 1, t.size - 3))


# --- 2. constant series ----------------------------------------------------------------------------------


def test_a_constant_series_gives_nan_not_an_exception() -> None:
    for y in (np.zeros(20), np.full(20, 0.3)):  # 0.3 is not exact in binary: its mean has rounding left
        for result in (
            stats.chow_test(y, 10),
            stats.chow_test(y, 10, np.arange(20.0) * 12),
            stats.chow_test(y, 10, common_slope=True),
            stats.seasonal_shift_test(y, np.arange(20), 14, season=12, span=4),
        ):
            assert math.isnan(result.f_stat) and math.isnan(result.p_value) and math.isnan(result.level_shift)
    # Through the pipeline: a force that never records the category (numerator 0 every month).
    frame = monthly_frame(np.zeros(48), FIRST)
    found = series.series_breaks(frame, indicator(), events((EVENT, "national", "E", "*")))
    registered = found.filter(pl.col("break_kind") == "registered")
    assert registered.height == 1 and registered["p_value"].is_nan().all()
    assert found.filter(pl.col("break_kind") == "detected").height == 0


# --- 3. releases: revisions, never breaks at a splice ------------------------------------------------------

RELEASE_A, RELEASE_B = date(2022, 1, 10), date(2023, 1, 10)


def two_releases() -> pl.DataFrame:
    """Release A: 2020-01 to 2021-12 at about 30%. Release B restates 2021-01 to 2022-12 at about 40%
    (a new recording system re-run over the back series), and June 2021 at 45%."""
    rng = np.random.default_rng(5)
    a = 0.30 + rng.normal(0, 0.002, 24)
    b = 0.40 + rng.normal(0, 0.002, 24)
    b[5] = 0.45  # June 2021 in release B
    return pl.concat(
        [monthly_frame(a, date(2020, 1, 1), release=RELEASE_A), monthly_frame(b, date(2021, 1, 1), release=RELEASE_B)]
    )


def test_releases_that_disagree_give_a_revision_and_no_break_at_the_splice() -> None:
    frame = two_releases()
    found = series.series_breaks(frame, indicator(), events())
    revisions = found.filter(pl.col("break_kind") == "revision")
    assert revisions.height == 1
    row = revisions.row(0, named=True)
    # By hand: the months both cover are 2021-01..2021-12; June 2021 changed most.
    a = frame.filter(pl.col("release_date") == RELEASE_A)
    june_a = shares_of(a.filter(pl.col("period") == date(2021, 6, 1)))[0]
    assert (row["period"], row["release_date"], row["previous_release_date"]) == (
        date(2021, 6, 1),
        RELEASE_B,
        RELEASE_A,
    )
    assert row["level_shift"] == pytest.approx(0.45 - june_a, abs=1e-12)
    assert row["p_value"] is None and row["test_method"] is None
    # Each release is steady: no break, and none at the splice (2021-01, where B takes over).
    assert found.filter(pl.col("break_kind") != "revision").height == 0
    # The series taken month by month from the latest release is spliced, and there the old search
    # (one series) would have found the splice as a break.
    latest = series.latest_points(frame)
    assert latest.filter(pl.col("period") < date(2021, 1, 1))["release_date"].unique().to_list() == [RELEASE_A]
    assert latest.filter(pl.col("period") >= date(2021, 1, 1))["release_date"].unique().to_list() == [RELEASE_B]
    spliced = stats.binary_segmentation(shares_of(latest))
    assert [latest["period"][b.index] for b in spliced] == [date(2021, 1, 1)]


def test_a_registered_event_is_tested_in_every_release_that_spans_it() -> None:
    # Two releases of the same 36 months, the second revised by a constant; an event in month 30.
    rng = np.random.default_rng(8)
    base = 0.3 + 0.02 * np.sin(2 * np.pi * np.arange(36) / 12) + rng.normal(0, 0.002, 36)
    base[np.arange(36) >= 30] += 0.04
    frame = pl.concat(
        [
            monthly_frame(base, date(2020, 1, 1), release=RELEASE_A),
            monthly_frame(base + 0.01, date(2020, 1, 1), release=RELEASE_B),
            monthly_frame(base[24:], date(2022, 1, 1), release=date(2023, 6, 1)),
        ]
    )  # too short a year before
    found = series.series_breaks(frame, indicator(), events((date(2022, 7, 1), "national", "E", "*")))
    registered = found.filter(pl.col("break_kind") == "registered")
    assert sorted(registered["release_date"].to_list()) == [RELEASE_A, RELEASE_B]
    # A constant revision cancels in year-on-year changes: the same shift in both releases.
    assert registered["level_shift"][0] == pytest.approx(registered["level_shift"][1], abs=1e-4)
    assert registered["level_shift"][0] == pytest.approx(0.04, abs=0.005)


# --- 4. rolling years: non-overlapping years only -----------------------------------------------------------


def rolling_years(step_from: date, before: float = 0.40, after: float = 0.46) -> pl.DataFrame:
    """Quarterly rolling years starting 2006-04 to 2017-01, summed from monthly counts in which the
    share steps from `before` to `after` in month `step_from` (a little noise per month)."""
    months = [add_months(date(2005, 1, 1), i) for i in range(12 * 14)]
    rng = np.random.default_rng(2)
    crimes = 10_000
    num = {m: round(crimes * ((after if m >= step_from else before) + rng.normal(0, 0.004))) for m in months}
    periods = [add_months(date(2006, 4, 1), 3 * i) for i in range(44)]
    rows = [
        {
            "force_id": "kent",
            "release_date": None,
            "period": p,
            "period_grain": "rolling_year",
            "numerator": sum(num[add_months(p, k)] for k in range(12)),
            "denominator": 12 * crimes,
        }
        for p in periods
    ]
    return pl.DataFrame(
        rows,
        schema={
            "force_id": pl.String,
            "release_date": pl.Date,
            "period": pl.Date,
            "period_grain": pl.String,
            "numerator": pl.Int64,
            "denominator": pl.Int64,
        },
    )


def test_rolling_year_tests_use_non_overlapping_years_only() -> None:
    event = date(2011, 5, 15)
    frame = rolling_years(step_from=date(2011, 6, 1))
    periods = frame["period"].to_list()
    before, after = series.test_points(periods, "rolling_year", event)
    # The first rolling year starting on or after the event starts in July 2011; its phase is July.
    # The year from July 2010 contains the event: a transition, on neither side.
    assert [periods[i] for i in after] == [date(2011, 7, 1), date(2012, 7, 1), date(2013, 7, 1), date(2014, 7, 1)]
    assert [periods[i] for i in before] == [date(2006, 7, 1), date(2007, 7, 1), date(2008, 7, 1), date(2009, 7, 1)]
    used = [periods[i] for i in before + after]
    gaps = [month_index(b) - month_index(a) for a, b in zip(used, used[1:])]
    assert gaps == [12, 12, 12, 24, 12, 12, 12]

    found = series.series_breaks(frame, indicator(), events((event, "national", "E", "*")))
    row = found.filter(pl.col("break_kind") == "registered").row(0, named=True)
    assert (row["period"], row["test_basis"], row["test_method"]) == (
        date(2011, 7, 1),
        "non-overlapping years",
        "level_shift",
    )
    # Second method: y = a + b·year + c·after on exactly those eight years, by least squares.
    y = shares_of(frame)[before + after]
    t = np.array([month_index(p) / 12 for p in used])
    design = np.column_stack([np.ones(8), t, np.r_[np.zeros(4), np.ones(4)]])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    rss1 = np.sum((y - design @ coef) ** 2)
    line, *_ = np.linalg.lstsq(design[:, :2], y, rcond=None)
    rss0 = np.sum((y - design[:, :2] @ line) ** 2)
    assert row["level_shift"] == pytest.approx(coef[2], rel=1e-9)
    assert row["f_stat"] == pytest.approx((rss0 - rss1) / (rss1 / 5), rel=1e-6)
    assert row["level_shift"] == pytest.approx(0.06, abs=0.005) and row["p_value"] < 0.01

    # Detection: the years ending with the latest period (January 2017 → January phase), 12 months apart.
    detected = found.filter(pl.col("break_kind") == "detected")
    assert detected.height == 1
    assert (
        detected["period"][0] in (date(2011, 1, 1), date(2012, 1, 1))
        and detected["test_basis"][0] == "non-overlapping years"
    )
    assert detected["matches_event"][0] == "E"  # within two years of the event


# --- 5. events name what they can affect -------------------------------------------------------------------


def test_selects_reads_each_kind_of_selector() -> None:
    burglary, outcome = indicator("puk_burglary"), indicator("puk_charged_of_burglary", measure="outcomes")
    assert series.selects("*", burglary) and series.selects("*", outcome)
    assert (
        not series.selects("none", burglary) and not series.selects("", burglary) and not series.selects(None, burglary)
    )
    assert series.selects("measure=offences", burglary) and not series.selects("measure=offences", outcome)
    assert series.selects("measure=outcomes", outcome) and not series.selects("measure=outcomes", burglary)
    assert series.selects("*burglary*", burglary) and series.selects("*burglary*", outcome)
    assert not series.selects("*robbery*", burglary) and not series.selects("puk_burg", burglary)
    assert series.selects("none;*burglary*", burglary)  # any selector may match
    assert series.selects("ons_x;puk_*", burglary)


def test_an_event_is_tested_only_on_the_indicators_and_forces_it_affects() -> None:
    frame, _ = planted_monthly()
    registry = events(
        (date(2022, 6, 15), "national", "Outcomes framework change", "measure=outcomes"),
        (date(2022, 6, 15), "national", "Burglary rule", "*burglary*"),
        (date(2022, 6, 15), "durham", "Durham system", "*"),
        (date(2022, 6, 15), "national", "Data gap", "none"),
    )
    vwi = series.series_breaks(frame, indicator("test_vwi_of_vap"), registry)
    # Nothing registered (the outcome event, the burglary rule, another force, a gap), and the
    # detected break at the step matches none of them either.
    assert vwi.filter(pl.col("break_kind") == "registered").height == 0
    detected = vwi.filter(pl.col("break_kind") == "detected")
    assert detected.height == 1 and detected["matches_event"][0] is None
    burglary = series.series_breaks(frame, indicator("test_burglary_of_theft"), registry)
    assert burglary.filter(pl.col("break_kind") == "registered")["event"].to_list() == ["Burglary rule"]
    assert burglary.filter(pl.col("break_kind") == "detected")["matches_event"].to_list() == ["Burglary rule"]
    outcomes = series.series_breaks(frame, indicator("test_charged", measure="outcomes"), registry)
    assert outcomes.filter(pl.col("break_kind") == "registered")["event"].to_list() == ["Outcomes framework change"]
    durham = series.series_breaks(
        frame.with_columns(pl.lit("durham").alias("force_id")), indicator("test_vwi_of_vap"), registry
    )
    assert durham.filter(pl.col("break_kind") == "registered")["event"].to_list() == ["Durham system"]


def test_series_breaks_builds_its_frame_from_an_explicit_schema() -> None:
    # Many rows with event = None before the first registered one: a schema inferred from the first
    # rows would fail on the later strings.
    frame = pl.concat(
        [
            monthly_frame(0.3 + np.random.default_rng(i).normal(0, 0.002, 48), FIRST, force=f"force{i:03d}")
            for i in range(120)
        ]
    )
    last = frame.filter(pl.col("force_id") == "force119").with_columns(pl.lit("kent").alias("force_id"))
    found = series.series_breaks(pl.concat([frame, last]), indicator(), events((EVENT, "kent", "Kent event", "*")))
    assert found.schema == pl.Schema(series.BREAKS_SCHEMA)
    assert found.filter(pl.col("break_kind") == "registered")["force_id"].to_list() == ["kent"]


# --- 6. the Met's real releases ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def met_db(tmp_path_factory) -> Path:
    folder = real_data() / "mps_borough_crime"
    db = tmp_path_factory.mktemp("met_series") / "met.duckdb"
    load.ingest([folder], db, progress=False)
    return db


CONNECT = "Metropolitan Police replaces CRIS with CONNECT (CRIS in use until 27 February 2024)"


def _met_shares(con: duckdb.DuckDBPyConnection, release: date) -> dict[date, float]:
    rows = con.sql(
        """
        select period,
               sum(offence_count) filter (where scheme = 'ons_offence_subgroup' and category = 'Violence with injury')
             / sum(offence_count) filter (where scheme = 'ons_offence_group'
                                          and category = 'Violence against the person')
        from recorded_crime_releases
        where source = 'mps_borough_crime' and force_id = 'metropolitan' and release_date = $r
        group by period
    """,
        params={"r": release},
    ).fetchall()
    return {p: float(s) for p, s in rows}


@pytest.mark.real
def test_the_met_connect_change_is_found_at_march_2024_in_the_releases_that_span_it(met_db: Path) -> None:
    with duckdb.connect(str(met_db), read_only=True) as con:
        [(release,)] = con.sql(
            "select distinct release_date from core_counts__recorded_crime "
            "where file_name = 'borough_24m_202212-202411.csv'"
        ).fetchall()
        found = con.sql(
            "select * from divergence_breaks where indicator_id = 'mps_vwi_of_vap' and event = $e",
            params={"e": CONNECT},
        ).pl()
        shares = _met_shares(con, release)
    assert release == date(2024, 12, 25)
    assert set(found["period"].to_list()) == {date(2024, 3, 1)}  # February 2024 is the transition month
    assert release in found["release_date"].to_list()
    assert (found["p_value"] < 0.01).all() and (found["level_shift"] < -0.02).all()
    assert set(found["test_method"].to_list()) == {"seasonal_difference"}
    # Second method, in release 2024-12-25 (December 2022 to November 2024): March–October 2024 against
    # the same months of 2023, less the year-on-year change of June 2023 – January 2024 where the
    # release has the year before (December 2023 and January 2024).
    after = [date(2024, m, 1) for m in range(3, 11)]
    before = [date(2023, 12, 1), date(2024, 1, 1)]
    year_before = lambda p: date(p.year - 1, p.month, 1)  # noqa: E731
    d = np.array([shares[p] - shares[year_before(p)] for p in after])
    c = np.array([shares[p] - shares[year_before(p)] for p in before])
    t = scipy_stats.ttest_ind(d, c)
    row = found.filter(pl.col("release_date") == release).row(0, named=True)
    assert row["level_shift"] == pytest.approx(d.mean() - c.mean(), abs=1e-12)
    assert row["p_value"] == pytest.approx(t.pvalue, rel=1e-6) and row["p_value"] < 0.01


@pytest.mark.real
def test_no_met_break_sits_at_a_release_splice(met_db: Path) -> None:
    with duckdb.connect(str(met_db), read_only=True) as con:
        breaks = con.sql("select * from divergence_breaks where indicator_id like 'mps_%'").pl()
        spans = dict(
            con.sql(
                "select release_date, list(distinct period) from recorded_crime_releases "
                "where source = 'mps_borough_crime' group by release_date"
            ).fetchall()
        )
        shown = con.sql(
            "select s.period, s.release_date, r.release_date as latest from divergence_series as s "
            "join (select distinct period, release_date from recorded_crime where source = 'mps_borough_crime') as r "
            "using (period) where s.indicator_id = 'mps_vwi_of_vap'"
        ).pl()
    tested = breaks.filter(pl.col("break_kind") != "revision")
    assert tested.height > 0 and tested["release_date"].null_count() == 0
    for row in tested.iter_rows(named=True):
        months = set(spans[row["release_date"]])
        # Both sides of every break come from the one release it was tested in.
        assert row["period"] in months and add_months(row["period"], -1) in months, row
    # The splice of the 2008-format release and the CRIS back series (April 2010) is no break...
    assert tested.filter(pl.col("period") == date(2010, 4, 1)).height == 0
    # ...but releases do revise each other, and say so.
    revisions = breaks.filter(pl.col("break_kind") == "revision")
    assert revisions.height > 0 and (revisions["previous_release_date"] < revisions["release_date"]).all()
    # The trend reads each month once, from the latest release that has it, as recorded_crime does.
    assert shown.height == shown["period"].n_unique() and (shown["release_date"] == shown["latest"]).all()
