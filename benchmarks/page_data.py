"""Benchmark: how long each dashboard page's queries take, cold (no Streamlit cache), on a database.

Not a timed test: `python benchmarks/page_data.py [--db FILE] [--repeat N]`. Builds the sample
database in a temporary folder when no --db is given. Prints, per page, the median over N cold runs
of the total time of that page's data calls, and each call's median, against the 300 ms budget.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BUDGET_S = 0.300


def pages(data) -> dict[str, list[tuple[str, Callable[[], object]]]]:
    force = "metropolitan"
    indicator = "ons_rec_vwi_of_vap"
    return {
        "overview": [
            ("sources_loaded", data.sources_loaded),
            ("coverage", lambda: data.coverage("police_uk_street")),
            ("top findings", lambda: data.filtered_findings("all").head(10)),
            ("screened out", lambda: data.screening_line(data.screening_counts("all"))),
            ("supply list", lambda: data.supply_findings("all")),
        ],
        "divergence": [
            ("findings", lambda: data.for_display(data.filtered_findings("all"), data.RANKED_COLUMNS)),
            ("supply list", lambda: data.for_display(data.supply_findings("all"), data.SUPPLY_COLUMNS)),
            ("not ranked", lambda: data.for_display(data.unranked_findings("all"), data.UNRANKED_COLUMNS)),
            ("screened out", lambda: data.screening_counts("all")),
            (
                "indicator findings",
                lambda: data.chart_note(
                    indicator, data.filtered_findings("all", indicator_id=indicator, ranked_only=False)
                ),
            ),
            ("mix cells", lambda: data.mix_categories("puk_crime_types")),
            ("homogeneity", data.homogeneity),
        ],
        "force": [
            ("findings", lambda: data.force_profile(data.filtered_findings("all", ranked_only=False), force)),
            ("comparability", lambda: data.comparability(force)),
            ("mix cells", lambda: data.mix_categories("puk_crime_types")),
            ("mix distance", lambda: data.mix_distances("puk_crime_types")),
            ("outcome ratios", lambda: data.outcome_ratios("durham")),
        ],
        "trends": [
            ("series", lambda: data.series(indicator)),
            ("peers band", lambda: data.peers_band(data.series(indicator), ["kent"])),
            ("events", data.events),
            ("breaks", lambda: data.detected_breaks(indicator)),
        ],
        "reconciliation": [
            ("reconciliation", lambda: data.reconciliation(force, "Violence and sexual offences")),
            ("missing periods", lambda: data.missing_periods(force)),
        ],
        "workbench": [
            (
                "saved query",
                lambda: data.run_sql(
                    data.saved_queries()[0].sql, {p.name: p.default for p in data.saved_queries()[0].params}
                ),
            )
        ],
        "quality": [
            ("ingest log", data.ingest_log),
            ("reasons", data.quarantine_reasons),
            ("quarantine", lambda: data.quarantine("")),
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db
        if db is None:
            from pipelines.cli import SAMPLES_DIR
            from pipelines.ingest import load

            db = Path(tmp) / "samples.duckdb"
            load.ingest([SAMPLES_DIR], db, progress=False)
        os.environ["CROSSFORCE_DB"] = str(db)
        import streamlit as st

        from dashboard import data

        worst = 0.0
        for page, calls in pages(data).items():
            totals: list[float] = []
            per_call: dict[str, list[float]] = {name: [] for name, _ in calls}
            for _ in range(args.repeat):
                st.cache_data.clear()
                st.cache_resource.clear()
                # Opening the file is not a page's query time: open it (a private seam, deliberately) first.
                path = data.database_path()
                data._load(str(path), data._identity(path))
                total = 0.0
                for name, call in calls:
                    started = time.perf_counter()
                    call()
                    elapsed = time.perf_counter() - started
                    per_call[name].append(elapsed)
                    total += elapsed
                totals.append(total)
            median = statistics.median(totals)
            worst = max(worst, median)
            detail = ", ".join(f"{name} {statistics.median(v) * 1000:.0f}" for name, v in per_call.items())
            flag = "ok" if median <= BUDGET_S else "OVER BUDGET"
            print(f"{page:15} {median * 1000:6.0f} ms  [{flag}]  ({detail} ms)")
        print(f"slowest page: {worst * 1000:.0f} ms against a budget of {BUDGET_S * 1000:.0f} ms")


if __name__ == "__main__":
    main()
