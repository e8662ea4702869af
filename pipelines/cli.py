"""The `crossforce` command: every subcommand is defined here.

    crossforce ingest [--db FILE] [--rebuild] INPUT...   load returns (files or folders)
    crossforce info [--db FILE]                          what the database holds
    crossforce serve [--db FILE] [--port N] [--host H]   the dashboard (on 127.0.0.1 unless told otherwise)
    crossforce up [--port N] [--host H]                  build the sample database if needed, then serve
    crossforce divergence [--db FILE] [--format F] [--top N] [--peers P] ...   ranked findings
    crossforce query [--db FILE] (NAME [--param K=V]... | --sql TEXT) [--format F]   a saved or typed read query
    crossforce dictionary [--check]                      write docs/data_dictionary.md from the schema

The database defaults to $CROSSFORCE_DB, or `crossforce.duckdb` in the current folder (`pipelines.config`).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl

from pipelines import config, reference, schema
from pipelines.analysis.findings import for_peers_and_window
from pipelines.analysis.indicators import INDICATOR_KINDS
from pipelines.ingest import load
from pipelines.ingest.textfile import MalformedFileError
from pipelines.sql import sandbox

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = PROJECT_ROOT / "data_samples"
DICTIONARY_PATH = PROJECT_ROOT / "docs" / "data_dictionary.md"


def _print_report(report: load.IngestReport) -> None:
    if report.removed_staging:
        print(
            f"  removed {len(report.removed_staging)} staging files left by interrupted loads: "
            f"{', '.join(report.removed_staging)}"
        )
    if report.applied_wal:
        print("  wrote into the database the changes another program had left pending in its .wal file")
    for r in report.loaded:
        note = f", {r.rows_quarantined} quarantined" if r.rows_quarantined else ""
        dup = f", {r.rows_duplicate} exact repeats kept" if r.rows_duplicate else ""
        print(f"  {r.file_name}: {r.rows_read} read, {r.rows_loaded} loaded{note}{dup}")
    for name, why in report.skipped.items():
        print(f"  {name}: skipped, {why}")
    read = sum(r.rows_read for r in report.loaded)
    quarantined = sum(r.rows_quarantined for r in report.loaded)
    print(
        f"{len(report.loaded)} files loaded ({read} rows read, {quarantined} quarantined); "
        f"{len(report.unchanged)} unchanged files skipped"
    )


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def cmd_ingest(args: argparse.Namespace) -> int:
    report = load.ingest(args.inputs, args.db, rebuild=args.rebuild, progress=not args.quiet, wait_s=args.wait)
    if not args.quiet:
        _print_report(report)
    return 0


def _no_database(db: Path) -> bool:
    """Say so and return True when `db` is not there yet; raise DatabaseError when it cannot be used."""
    if not db.exists():
        print(f"{db}: no database yet; run `crossforce ingest` or `crossforce up`", file=sys.stderr)
        return True
    load.check_database(db)
    return False


def cmd_info(args: argparse.Namespace) -> int:
    if _no_database(args.db):
        return 1
    with duckdb.connect(str(args.db), read_only=True) as con:
        print(f"database: {args.db}")
        for source, files, read, loaded, quarantined, first, last, n_forces in con.sql("""
            select l.source, count(*), sum(l.rows_read), sum(l.rows_loaded), sum(l.rows_quarantined),
                   min(c.first_period), max(c.last_period), max(c.n_forces)
            from meta_ingest_log as l
            left join (select source, min(period) as first_period, max(period) as last_period,
                              count(distinct force_id) as n_forces from core_coverage group by all) as c using (source)
            group by all order by 1
        """).fetchall():
            span = f"; {n_forces} forces, {first:%Y-%m} to {last:%Y-%m}" if first else ""
            print(f"  {source}: {files} files, {read} rows read, {loaded} loaded, {quarantined} quarantined{span}")
        forces = con.sql("""
            select f.force_id, f.is_territorial_ew from forces as f
            where f.force_id in (select force_id from core_coverage) order by 1
        """).fetchall()
        territorial = [f for f, t in forces if t]
        others = [f for f, t in forces if not t]
        print(
            f"forces with data: {len(territorial)} territorial forces of England and Wales"
            + (f"; also {', '.join(others)} (not compared by default)" if others else "")
        )
        missing = con.sql("select count(*) from coverage where coverage_status = 'missing'").fetchall()[0][0]
        print(f"missing force-months (all sources): {missing}")
    return 0


HOST_HELP = f"address to listen on (default {config.DEFAULT_HOST}, this machine only; 0.0.0.0 for every interface)"


def _serve(settings: config.Config) -> int:
    app = PROJECT_ROOT / "dashboard" / "app.py"
    env = {**os.environ, **config.environment(settings)}
    command = [
        sys.executable,
        "-m",
        "dashboard.server",
        "run",
        str(app),
        "--server.headless",
        "true",
        "--server.port",
        str(settings.port),
        "--server.address",
        settings.host,
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    print(f"serving the dashboard on http://{settings.host}:{settings.port}")
    server = subprocess.Popen(command, env=env)
    # A stop sent to this process reaches the server too, instead of leaving it running on its own.
    signal.signal(signal.SIGTERM, lambda signum, frame: server.terminate())
    return server.wait()


def cmd_serve(args: argparse.Namespace) -> int:
    if _no_database(args.db):
        return 1
    return _serve(config.resolve(args.db, args.host, args.port))


def cmd_up(args: argparse.Namespace) -> int:
    settings = config.resolve(host=args.host, port=args.port)
    db = settings.db
    try:
        report = load.ingest([SAMPLES_DIR], db)
    except load.StaleDatabaseError:
        print(f"{db} was built by an older version: rebuilding it from the samples")
        report = load.ingest([SAMPLES_DIR], db, rebuild=True)
    if report.loaded:
        _print_report(report)
    else:
        print(f"{db} is up to date with {SAMPLES_DIR.name}/")
    return _serve(settings)


def cmd_divergence(args: argparse.Namespace) -> int:
    if _no_database(args.db):
        return 1
    include = frozenset(args.include or ())
    unknown = include - set(reference.forces()["force_id"])
    if unknown:
        print(
            f"crossforce divergence: --include {', '.join(sorted(unknown))}: not a force_id (see the forces view)",
            file=sys.stderr,
        )
        return 2
    with duckdb.connect(str(args.db), read_only=True) as con:
        found = for_peers_and_window(con, args.peers, args.start, args.end, indicators=args.indicators, include=include)
    if found.height == 0:
        print("no findings: load returns with at least three territorial forces first", file=sys.stderr)
        return 1
    rank = "supply_rank" if args.kind == "supply" else "rank"
    found = found.filter(pl.col("indicator_kind") == args.kind)
    if args.indicator:
        found = found.filter(pl.col("indicator_id") == args.indicator)
    if args.force:
        found = found.filter(pl.col("force_id") == args.force)
    if not args.all:
        found = found.filter(pl.col(rank).is_not_null())
    found = found.sort(rank, "indicator_id", "force_id", nulls_last=True).head(args.top)
    if args.format == "csv":
        sys.stdout.write(found.write_csv())
    elif args.format == "json":
        sys.stdout.write(found.write_json() + "\n")
    else:
        for row in found.iter_rows(named=True):
            place = f"{row[rank]:>4}" if row[rank] is not None else f"   - [{row['status']}]"
            print(f"{place}  {row['sentence']}")
    return 0


def _one_line(message: str) -> str:
    return " ".join(message.split())


def cmd_query(args: argparse.Namespace) -> int:
    if args.name is None and args.sql is None:
        for saved in sandbox.saved_queries():
            params = " ".join(
                f"[--param {p.name}={p.default}]" if p.default is not None else f"--param {p.name}=..."
                for p in saved.params
            )
            print(f"{saved.name}: {saved.title}" + (f"\n    {params}" if params else ""))
        return 0
    if args.name is not None and args.sql is not None:
        print("crossforce query: give a saved query NAME or --sql TEXT, not both", file=sys.stderr)
        return 2
    if args.db.exists():
        try:
            load.check_database(args.db)
        except load.StaleDatabaseError:
            pass  # an older crossforce database still answers questions about what it holds
    try:
        values = {}
        for item in args.param:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise sandbox.ParameterError(f"--param takes NAME=VALUE; got {item!r}")
            values[key] = value
        binary = getattr(sys.stdout, "buffer", None)
        if args.format == "parquet" and (binary is None or sys.stdout.isatty()):
            raise sandbox.ParameterError("--format parquet writes a binary file: redirect it, as in `> result.parquet`")
        limits = dict(
            row_limit=args.limit, timeout_s=args.timeout, memory_limit=args.memory_limit, threads=args.threads
        )
        if args.name is not None:
            result = sandbox.run_saved(args.db, args.name, values, **limits)
        else:
            result = sandbox.run(args.db, args.sql, values, **limits)
        frame = result.frame
        if args.format == "csv":
            output = sandbox.to_csv_bytes(frame)
        elif args.format == "json":
            output = sandbox.to_json_bytes(frame)
        elif args.format == "parquet":
            output = sandbox.to_parquet_bytes(frame)
        else:
            with pl.Config(
                tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=80, tbl_width_chars=1000, tbl_hide_dataframe_shape=True
            ):
                output = f"{frame}\n".encode()
    except (sandbox.QueryRefused, sandbox.QueryTimeout, sandbox.QueryTooLarge, sandbox.ParameterError) as exc:
        kind = {
            sandbox.QueryRefused: "refused",
            sandbox.QueryTimeout: "timed out",
            sandbox.QueryTooLarge: "too large",
        }.get(type(exc), "error")
        print(f"crossforce query: {kind}: {_one_line(exc.message)}", file=sys.stderr)
        return 2
    except sandbox.QueryError as exc:
        print(f"crossforce query: {_one_line(exc.message)}", file=sys.stderr)
        return 1
    if binary is not None:
        sys.stdout.flush()
        binary.write(output)
        binary.flush()
    else:
        sys.stdout.write(output.decode("utf-8"))
    more = f"; stopped at --limit {args.limit}, the query returns more" if result.truncated else ""
    print(f"{frame.height} rows in {result.elapsed_s:.2f} s{more}", file=sys.stderr)
    return 0


def _number(text: str, kind: type):
    """`text` as `kind`, or the text itself for the check to refuse with its own message."""
    try:
        return kind(text)
    except ValueError:
        return text


def _checked(check):
    """An argparse type from one of `query`'s checks: its ValueError is the argument's error message."""

    def convert(text: str):
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def cmd_dictionary(args: argparse.Namespace) -> int:
    text = schema.data_dictionary()
    if args.check:
        current = DICTIONARY_PATH.read_text() if DICTIONARY_PATH.exists() else ""
        if current != text:
            print(f"{DICTIONARY_PATH} is out of date: run `crossforce dictionary`", file=sys.stderr)
            return 1
        return 0
    DICTIONARY_PATH.parent.mkdir(exist_ok=True)
    DICTIONARY_PATH.write_text(text)
    print(f"wrote {DICTIONARY_PATH}")
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number of seconds, 0 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crossforce", description="Compare how police forces record and classify crime."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--db",
            type=Path,
            default=config.resolve().db,
            help=f"database file (default: ${config.DB_ENV} or {config.DEFAULT_DB})",
        )
        return p

    p = with_db(sub.add_parser("ingest", help="load returns (files or folders, searched recursively)"))
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    p.add_argument("--rebuild", action="store_true", help="start a new database instead of adding to the existing one")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-file report")
    p.add_argument(
        "--wait",
        type=_seconds,
        default=load.WAIT_S,
        help=f"seconds to wait for another load of the same database to finish (default {load.WAIT_S:g})",
    )
    p.set_defaults(func=cmd_ingest)

    p = with_db(sub.add_parser("info", help="what the database holds: sources, forces, periods, row counts"))
    p.set_defaults(func=cmd_info)

    p = with_db(sub.add_parser("serve", help="serve the dashboard"))
    p.add_argument("--port", type=int, default=config.DEFAULT_PORT)
    p.add_argument("--host", default=config.DEFAULT_HOST, help=HOST_HELP)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("up", help="build the sample database if missing or out of date, then serve the dashboard")
    p.add_argument("--port", type=int, default=config.DEFAULT_PORT)
    p.add_argument("--host", default=config.DEFAULT_HOST, help=HOST_HELP)
    p.set_defaults(func=cmd_up)

    p = with_db(
        sub.add_parser("divergence", help="ranked findings: where each force's classification departs from its peers")
    )
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--top", type=int, default=20, help="how many findings (default 20)")
    p.add_argument(
        "--peers",
        default="all",
        help="benchmark: all (territorial forces), region, nearest (7 nearest by offence mix and population), "
        "or a CSV of group_id,force_id",
    )
    p.add_argument(
        "--indicators", type=Path, help="a CSV of indicators with the columns of pipelines/reference/indicators.csv"
    )
    p.add_argument("--indicator", help="only this indicator_id")
    p.add_argument("--force", help="only this force_id")
    p.add_argument("--start", help="window start month, YYYY-MM (default: the standard window)")
    p.add_argument("--end", help="window end month, YYYY-MM, inclusive")
    p.add_argument(
        "--kind",
        choices=INDICATOR_KINDS,
        default="classification",
        help="classification findings (default) or the data-supply list (pending, unavailable)",
    )
    p.add_argument(
        "--include",
        action="append",
        metavar="FORCE_ID",
        help="compare and rank an area that is not comparable by default (for example city-of-london); repeatable",
    )
    p.add_argument("--all", action="store_true", help="include findings not ranked, each with its status")
    p.set_defaults(func=cmd_divergence)

    p = with_db(
        sub.add_parser(
            "query",
            help="run a saved query from queries/, or a read query given as text, sandboxed",
            description="Run a saved query (by name) or --sql TEXT on the database, read-only: "
            "see docs/sql_workbench.md. With neither, list the saved queries.",
        )
    )
    p.add_argument(
        "name", nargs="?", metavar="NAME", help="a saved query: the name of a file in queries/, without .sql"
    )
    p.add_argument("--sql", help="a read query (select, with, from, values, describe, show, summarize, explain)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a value for the query's $NAME parameter (repeatable)",
    )
    p.add_argument(
        "--format",
        choices=sandbox.FORMATS,
        default="table",
        help="table (default), csv and json (nested values as JSON), or parquet (binary: redirect it)",
    )
    p.add_argument(
        "--limit",
        type=_checked(lambda t: sandbox.check_row_limit(_number(t, int))),
        default=sandbox.ROW_LIMIT,
        metavar="N",
        help=f"most rows returned, 1 to {sandbox.MAX_ROW_LIMIT:,} (default {sandbox.ROW_LIMIT:,})",
    )
    p.add_argument(
        "--timeout",
        type=_checked(lambda t: sandbox.check_timeout(_number(t, float))),
        default=sandbox.TIMEOUT_S,
        metavar="S",
        help=f"seconds before the query is stopped, above 0 and at most {sandbox.MAX_TIMEOUT_S:g} "
        f"(default {sandbox.TIMEOUT_S:g})",
    )
    p.add_argument(
        "--memory-limit",
        type=_checked(sandbox.check_memory_limit),
        metavar="SIZE",
        help=f"most memory the query may use, as 512MB or 2GB "
        f"(default ${sandbox.MEMORY_LIMIT_ENV}, else {sandbox.MEMORY_LIMIT})",
    )
    p.add_argument(
        "--threads",
        type=_checked(sandbox.check_threads),
        metavar="N",
        help=f"DuckDB threads for the query (default ${sandbox.THREADS_ENV}, else {sandbox.THREADS})",
    )
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("dictionary", help="write docs/data_dictionary.md from the schema")
    p.add_argument("--check", action="store_true", help="fail if the file is out of date instead of writing it")
    p.set_defaults(func=cmd_dictionary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A stop from a service manager or `kill` cleans up as Ctrl+C does (the load removes its staging copy).
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return args.func(args)
    except (MalformedFileError, load.DatabaseError, FileNotFoundError, ValueError) as exc:
        print(f"crossforce: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("crossforce: interrupted; the database is as it was before this command", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
