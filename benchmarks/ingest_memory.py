"""Benchmark: peak memory of `crossforce ingest` for one large street file against many small ones.

Not a timed test (it takes a few minutes): run it by hand, `python benchmarks/ingest_memory.py
[--size-mb 300] [--keep DIR]`. It writes police.uk street files made of real rows: the data lines of
the 2021-04 street files in `shared/real/police_uk_street_2021/` as published (CRLF, quoting as
published), repeated until the wanted size; each repeat gets new Crime IDs (the first hex digit of the
64-digit ID is changed), so anti-social behaviour rows, which have no Crime ID, repeat exactly, as
exact duplicates a long way apart in the file. Then it ingests, each in a fresh process, into a new
database:

- one file of SIZE MB;
- the same bytes split into ten files of SIZE/10 MB;
- one file of SIZE/10 MB;

and prints each run's peak memory (max RSS of the process), time and rows.
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REAL = Path(__file__).resolve().parents[2] / "shared" / "real" / "police_uk_street_2021" / "2021-04"

INGEST = """
import sys, resource
from pathlib import Path
from pipelines.ingest import load
report = load.ingest([Path(p) for p in sys.argv[2:]], Path(sys.argv[1]), rebuild=True, progress=False)
print(sum(r.rows_read for r in report.loaded), sum(r.rows_duplicate for r in report.loaded),
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def real_lines() -> tuple[bytes, list[bytes]]:
    header, lines = b"", []
    for path in sorted(REAL.glob("*-street.csv.gz")):
        data = gzip.decompress(path.read_bytes())
        first, _, rest = data.partition(b"\n")
        header = first + b"\n"
        lines += rest.splitlines(keepends=True)
    return header, lines


def _relabel(line: bytes, repeat: int) -> bytes:
    """The line with a new Crime ID for each repeat (its first hex digit moved on by `repeat`)."""
    if repeat == 0 or line.startswith(b","):
        return line
    digit = (int(line[:1], 16) + repeat) % 16
    return b"%x" % digit + line[1:]


def write_files(folder: Path, total_bytes: int, n_files: int, header: bytes, lines: list[bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    per_file = total_bytes // n_files
    paths, index, repeat = [], 0, 0
    for n in range(n_files):
        path = folder / f"2021-04-bench{n:02d}-street.csv"
        with path.open("wb") as handle:
            handle.write(header)
            written = len(header)
            while written < per_file:
                line = _relabel(lines[index], repeat)
                handle.write(line)
                written += len(line)
                index += 1
                if index == len(lines):
                    index, repeat = 0, repeat + 1
        paths.append(path)
    return paths


def ingest(db: Path, paths: list[Path]) -> tuple[float, int, int, int]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", INGEST, str(db), *map(str, paths)], check=True, capture_output=True, text=True
    ).stdout
    rows, duplicates, max_rss_kb = map(int, out.split())
    return time.perf_counter() - started, rows, duplicates, max_rss_kb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--keep", type=Path, help="write the files here and keep them (default: a temporary folder)")
    args = parser.parse_args()
    header, lines = real_lines()
    size = args.size_mb * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        cases = {
            f"one file of {args.size_mb} MB": write_files(root / "one", size, 1, header, lines),
            f"ten files of {args.size_mb / 10:g} MB": write_files(root / "ten", size, 10, header, lines),
            f"one file of {args.size_mb / 10:g} MB": write_files(root / "small", size // 10, 1, header, lines),
        }
        for name, paths in cases.items():
            seconds, rows, duplicates, rss = ingest(Path(tmp) / f"{name.replace(' ', '_')}.duckdb", paths)
            print(
                f"{name:>22}: peak memory {rss / 1024:5.0f} MB, {seconds:5.1f} s, {rows:,} rows "
                f"({duplicates:,} exact repeats)"
            )


if __name__ == "__main__":
    main()
