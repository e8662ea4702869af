"""Benchmark: `crossforce ingest` against a plain `polars.read_csv` of the same files.

Not a timed test: run it by hand (`python benchmarks/ingest.py [FOLDER] [--repeat N]`). Both are
timed in the same run, alternately, in fresh processes, so the ratio is fair on a shared, noisy
machine. Prints the median of each, the ratio, and each one's peak memory (max RSS of its process).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_INPUT = Path(__file__).resolve().parents[2] / "shared" / "real" / "police_uk_street_2021"

PLAIN_READ = """
import sys, resource, polars as pl
from pathlib import Path
files = sorted(p for p in Path(sys.argv[1]).rglob("*") if p.name.endswith((".csv", ".csv.gz")))
rows = sum(pl.read_csv(p, infer_schema=False).height for p in files)
print(rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

INGEST = """
import sys, resource
from pathlib import Path
from pipelines.ingest import load
report = load.ingest([Path(sys.argv[1])], Path(sys.argv[2]), rebuild=True, progress=False)
print(sum(r.rows_read for r in report.loaded), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run(code: str, *args: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True).stdout
    elapsed = time.perf_counter() - started
    rows, max_rss_kb = map(int, out.split())
    return elapsed, rows, max_rss_kb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    plain, ingest, plain_mem, ingest_mem = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        for _ in range(args.repeat):
            seconds, plain_rows, rss = run(PLAIN_READ, str(args.folder))
            plain.append(seconds)
            plain_mem.append(rss)
            seconds, ingest_rows, rss = run(INGEST, str(args.folder), str(db))
            ingest.append(seconds)
            ingest_mem.append(rss)
    if plain_rows != ingest_rows:
        raise SystemExit(f"row counts differ: plain read {plain_rows}, ingest {ingest_rows}")
    p, i = statistics.median(plain), statistics.median(ingest)
    print(f"input: {args.folder.name}, {plain_rows:,} rows, {args.repeat} runs each (process start included)")
    print(f"plain polars.read_csv: median {p:.2f} s, peak memory {max(plain_mem) / 1024:.0f} MB")
    print(f"crossforce ingest:     median {i:.2f} s, peak memory {max(ingest_mem) / 1024:.0f} MB")
    print(f"ratio ingest / plain read: {i / p:.2f}x")


if __name__ == "__main__":
    main()
