"""The screens a finding must survive before it is ranked (issue 8), on the real published data in
../shared/real: comparable windows, one-year windows on rolling-year sources, supply screens, a second
source as witness, areas not comparable by default, benchmark coverage and honest families.

Expected values are read straight from the published CSV here (with the csv module), never from the
engine's own output.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines import cli
from pipelines.ingest import load

from conftest import real_data

pytestmark = pytest.mark.real

# The publications in ../shared/real these screens were measured on. The two all-forces publications
# (Home Office outcomes by offence code for 2017/18, police.uk by force and year 2012–16) are tested
# in test_real_all_forces.py.
FOLDERS = (
    "ons_rec_crime_pfa",
    "ons_pfa_tables",
    "ons_population_lookups",
    "police_uk_street_2021",
    "police_uk_street_outcomes",
    "mps_borough_crime",
)
SCREENED = ("supply_suspect", "contradicted", "incomplete", "non_comparable")


@pytest.fixture(scope="module")
def real_db(tmp_path_factory) -> Path:
    real = real_data()
    db = tmp_path_factory.mktemp("screens") / "real.duckdb"
    load.ingest([real / folder for folder in FOLDERS], db, progress=False)
    return db


@pytest.fixture(scope="module")
def found(real_db: Path) -> pl.DataFrame:
    with duckdb.connect(str(real_db), read_only=True) as con:
        return con.sql("select * from divergence").pl()


@pytest.fixture(scope="module")
def published() -> dict[tuple[str, str, str], int]:
    """(12 months ending as published, PFA, offence) → count, from the ONS rolling-year CSV."""
    with (real_data() / "ons_rec_crime_pfa" / "rec-crime-pfa.csv").open(newline="", encoding="utf-8") as handle:
        return {
            (r["12 months ending"], r["PFA"], r["Offence"]): int(r["Rolling year total number of offences"])
            for r in csv.DictReader(handle)
        }


def one(found: pl.DataFrame, indicator_id: str, force_id: str) -> dict:
    rows = found.filter((pl.col("indicator_id") == indicator_id) & (pl.col("force_id") == force_id))
    assert rows.height == 1, (indicator_id, force_id)
    return rows.row(0, named=True)


def run_cli(capsys, *args: str) -> list[dict]:
    capsys.readouterr()
    assert cli.main(["divergence", "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_top_20_are_screened_and_state_their_coverage(found: pl.DataFrame) -> None:
    top = found.filter(pl.col("rank").is_not_null()).sort("rank").head(20)
    assert top.height == 20 and top["rank"].to_list() == list(range(1, 21))
    assert set(top["status"]) == {"ranked"} and set(top["indicator_kind"]) == {"classification"}
    assert not top["status"].is_in(SCREENED).any()
    assert (top["periods_supplied"] == top["periods_expected"]).all()
    assert "city-of-london" not in top["force_id"].to_list()
    for row in top.iter_rows(named=True):
        assert row["benchmark_forces"] >= 30 and 0 < row["benchmark_crime_share"] <= 1
        assert f"{row['benchmark_crime_share']:.0%} of England and Wales recorded crime" in row["sentence"]
        assert row["witness_status"] != "contradicts"


def test_every_force_in_a_ranked_police_uk_finding_covers_the_same_months(found: pl.DataFrame) -> None:
    puk = found.filter(pl.col("indicator_id").str.starts_with("puk_"))
    ranked = puk.filter(pl.col("status") == "ranked")
    # 11 forces supply January – September 2021, every other force April – June only (Thames Valley
    # April – May): the window is April – June, the span most forces supplied in full.
    assert set(zip(ranked["window_start"].cast(pl.String), ranked["window_end"].cast(pl.String))) == {
        ("2021-04-01", "2021-07-01")
    }
    assert set(ranked["periods_supplied"]) == {3} and set(ranked["periods_expected"]) == {3}
    thames = puk.filter(pl.col("force_id") == "thames-valley")
    assert set(thames["status"]) == {"incomplete"} and set(thames["periods_supplied"]) == {2}
    assert thames["rank"].is_null().all()


def test_a_one_year_window_on_a_rolling_year_source_is_the_published_row(real_db: Path, published, capsys) -> None:
    rows = run_cli(
        capsys,
        "--db",
        str(real_db),
        "--end",
        "2017-09",
        "--indicator",
        "ons_rec_vwi_of_vap",
        "--force",
        "derbyshire",
        "--all",
    )
    assert len(rows) == 1
    assert rows[0]["numerator"] == published[("30/09/2017", "Derbyshire", "Violence with injury")] == 7317
    assert (rows[0]["window_start"], rows[0]["window_end"], rows[0]["periods_expected"]) == (
        "2016-10-01",
        "2017-10-01",
        1,
    )
    # "Calendar year 2017" is the year ending December 2017, which ONS spells 30/12/2017.
    rows = run_cli(
        capsys,
        "--db",
        str(real_db),
        "--end",
        "2017-12",
        "--indicator",
        "ons_rec_vwi_of_vap",
        "--force",
        "derbyshire",
        "--all",
    )
    assert rows[0]["numerator"] == published[("30/12/2017", "Derbyshire", "Violence with injury")] == 7561
    assert rows[0]["window_start"] == "2017-01-01"


def test_city_of_london_is_shown_but_never_ranked_or_in_a_benchmark(
    found: pl.DataFrame, published, real_db, capsys
) -> None:
    city = found.filter(pl.col("force_id") == "city-of-london")
    assert city.height > 0 and set(city["status"]) == {"non_comparable"} and city["rank"].is_null().all()
    assert city["sentence"].str.contains("not comparable by default").all()
    # Derbyshire's benchmark is the other 41 comparable forces, City of London left out, by hand.
    key = "31/12/2018"
    vwi, vap = defaultdict(int), defaultdict(int)
    for (ending, pfa, offence), count in published.items():
        if ending != key or pfa in (
            "Derbyshire",
            "City of London",
            "British Transport Police",
            "Action Fraud",
            "CIFAS",
            "UK Finance",
        ):
            continue
        if offence == "Violence with injury":
            vwi[pfa] += count
        if offence in (
            "Homicide",
            "Death or serious injury caused by illegal driving",
            "Violence with injury",
            "Violence without injury",
            "Stalking and harassment",
        ):
            vap[pfa] += count
    assert len(vap) == 41
    row = one(found, "ons_rec_vwi_of_vap", "derbyshire")
    assert row["benchmark"] == pytest.approx(sum(vwi.values()) / sum(vap.values()), rel=1e-12)
    assert row["benchmark_forces"] == 41
    # A reviewer can include it: then it is compared and can be ranked.
    included = run_cli(
        capsys,
        "--db",
        str(real_db),
        "--include",
        "city-of-london",
        "--force",
        "city-of-london",
        "--all",
        "--top",
        "500",
    )
    assert {r["status"] for r in included} - {"ranked", "supply_suspect", "contradicted", "degenerate"} == set()
    assert any(r["rank"] is not None for r in included)


def test_a_contradicted_finding_is_not_ranked(found: pl.DataFrame) -> None:
    # police.uk: Gwent records about 2.4% of its crime as criminal damage and arson, against about 11%;
    # the ONS force tables show it above its peers. Two sources disagreeing points at the feed.
    row = one(found, "puk_criminal_damage_and_arson", "gwent")
    assert row["share"] < 0.05 and row["direction"] == "below"
    assert row["witness_status"] == "contradicts" and row["status"] == "contradicted" and row["rank"] is None
    assert row["witness_share"] > row["witness_benchmark"]
    assert "the opposite direction" in row["sentence"]
    contradicted = found.filter(pl.col("status") == "contradicted")
    assert (contradicted["witness_status"] == "contradicts").all() and contradicted["rank"].is_null().all()


def test_supply_problems_screen_their_parent_and_rank_in_their_own_list(found: pl.DataFrame) -> None:
    # Northumbria's feed has no public-interest, evidential-difficulty or transferred outcomes and 44%
    # "status update unavailable": every outcome finding of it is supply-suspect, not a ranked difference.
    northumbria = found.filter(
        (pl.col("force_id") == "northumbria")
        & pl.col("indicator_id").str.starts_with("puk_outcome_")
        & (pl.col("indicator_kind") == "classification")
    )
    assert set(northumbria["status"]) == {"supply_suspect"}
    assert northumbria["status_reason"].str.contains("does not use").all()
    unavailable = one(found, "puk_outcome_unavailable", "avon-and-somerset")
    assert (
        unavailable["indicator_kind"] == "supply"
        and unavailable["share"] > 0.5
        and unavailable["supply_rank"] is not None
    )
    avon = found.filter(
        (pl.col("force_id") == "avon-and-somerset")
        & (pl.col("indicator_kind") == "classification")
        & pl.col("indicator_id").str.starts_with("puk_outcome_")
    )
    assert set(avon["status"]) == {"supply_suspect"}
    # Supply findings have their own rank and family, never the classification rank.
    supply = found.filter(pl.col("indicator_kind") == "supply")
    assert supply["rank"].is_null().all() and supply["family"].str.starts_with("supply:").all()
    assert found.filter(pl.col("supply_rank").is_not_null())["indicator_kind"].unique().to_list() == ["supply"]


def test_families_are_one_source_window_and_measure(found: pl.DataFrame) -> None:
    tested = found.filter(pl.col("q_bh").is_not_null())
    for (family,), rows in tested.group_by("family"):
        assert rows.select("indicator_kind", "window_start", "window_end").unique().height == 1, family
        sources = {
            i.split("_")[0] + "_" + i.split("_")[1] if i.startswith("ons") else i.split("_")[0]
            for i in rows["indicator_id"]
        }
        assert len(sources) == 1, family
        # BH by hand within the family
        p = rows["p_value"].to_list()
        order = sorted(range(len(p)), key=lambda i: p[i])
        running, expected = 1.0, [0.0] * len(p)
        for j in range(len(p), 0, -1):
            running = min(running, p[order[j - 1]] * len(p) / j)
            expected[order[j - 1]] = running
        assert rows["q_bh"].to_list() == pytest.approx(expected, rel=1e-9), family
    # Degenerate indicators ("pending" is zero in every police.uk feed here) are not tested.
    pending = found.filter(pl.col("indicator_id") == "puk_outcome_pending")
    assert set(pending["status"]) <= {"degenerate", "non_comparable", "incomplete"} and pending["q_bh"].is_null().all()


def test_forces_far_above_on_violence_with_injury_stay_flagged(found: pl.DataFrame, published) -> None:
    # By hand from the CSV: violence with injury ÷ violence against the person, year to December 2018.
    vap_parts = (
        "Homicide",
        "Death or serious injury caused by illegal driving",
        "Violence with injury",
        "Violence without injury",
        "Stalking and harassment",
    )
    share = {}
    for pfa in {p for (e, p, _) in published if e == "31/12/2018"}:
        vap = sum(published.get(("31/12/2018", pfa, o), 0) for o in vap_parts)
        if vap and pfa not in ("British Transport Police", "City of London"):
            share[pfa] = published[("31/12/2018", pfa, "Violence with injury")] / vap
    ordered = sorted(share.values())
    median = ordered[len(ordered) // 2]
    far_above = {pfa for pfa, s in share.items() if s > median + 0.15}
    assert far_above == {"Derbyshire", "Gloucestershire"}  # 56.7% and 54.8%, against a median near 33%
    for force_id in ("derbyshire", "gloucestershire"):
        row = one(found, "ons_rec_vwi_of_vap", force_id)
        assert row["status"] == "ranked" and row["is_significant"] and row["direction"] == "above"
        assert row["share"] > row["limit998_od_upper"] and row["rank"] <= 5
    assert math.isclose(one(found, "ons_rec_vwi_of_vap", "derbyshire")["share"], share["Derbyshire"], rel_tol=1e-12)


def test_mix_divergence_can_say_no(real_db: Path) -> None:
    with duckdb.connect(str(real_db), read_only=True) as con:
        mixes = con.sql("select mix_id, p_value, p_chance from divergence_mix where status = 'ranked'").pl()
    for (mix_id,), rows in mixes.group_by("mix_id"):
        # Against the spread between comparable forces an ordinary force gets an ordinary p-value;
        # against multinomial chance alone almost every force sits at the floor (1/2001).
        assert 0.15 < rows["p_value"].median() < 0.85, mix_id
        assert (rows["p_value"] < 0.05).mean() < 0.4, mix_id
        assert rows["p_chance"].median() == pytest.approx(1 / 2001), mix_id


def test_outcome_ratios_agree_with_the_overdispersed_findings(real_db: Path, found: pl.DataFrame) -> None:
    # Kent's police.uk outcome findings are all within their overdispersed limits, so its case-mix
    # adjusted ratios, judged against the same between-force spread, must be too.
    kent = found.filter(
        (pl.col("force_id") == "kent")
        & pl.col("indicator_id").str.starts_with("puk_outcome_")
        & (pl.col("indicator_kind") == "classification")
    )
    assert (kent["position"] == "within the overdispersed limits").all()
    with duckdb.connect(str(real_db), read_only=True) as con:
        ratios = con.sql("select * from outcome_ratios where force_id = 'kent'").pl()
        groups = set(con.sql("select distinct outcome_group from outcome_ratios").pl()["outcome_group"])
    assert ratios.height == 7 and ((ratios["ratio_lower"] < 1) & (ratios["ratio_upper"] > 1)).all()
    # Crimes with no usable outcome (pending, unavailable) are in no exposure and no group.
    assert not groups & {"pending", "unavailable"}
