"""The only module that opens the database: read-only, one cursor per query, cached by Streamlit.

Every function returns a Polars frame (or plain values) and is cached against the identity of the
database file at the path (device, inode, size and modification time in nanoseconds), so a new load,
which `crossforce ingest` renames over the path, is read from the next rerun on: never the file it
replaced, and never a half-written one (the load writes a staging copy and swaps it in whole).
Standard views read the tables the load materialised; other peer groups are computed on demand.
It also holds the pages' logic (filters, the columns each table shows, the words a page writes), so
that page files hold layout only. It reads no widget or URL state: a page passes in what was chosen
(`dashboard.state`), so every function here can be called outside a page.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import NoReturn, TypedDict, TypeVar, Unpack

import duckdb
import polars as pl
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard import charts
from pipelines import config, reference
from pipelines.analysis import indicators
from pipelines.analysis.findings import for_peers_and_window
from pipelines.analysis.peers import peer_groups
from pipelines.sql import sandbox

T = TypeVar("T")

# How long a reader waits for a database file that is missing, unreadable or changing under it (a
# swap by hand, not by `crossforce ingest`, can leave the path empty for a moment) before it says so.
SWAP_WAIT_S = 1.5
_RETRY_S = 0.05

Identity = tuple[int, int, int, int]


class DatabaseUnavailable(Exception):
    """The database file is missing or cannot be opened; the message says so in words."""


class _Replaced(Exception):
    """The file at the path is no longer the one a read was keyed to: read again, keyed to the new one."""


def database_path() -> Path:
    """The database this process reads (`pipelines.config`: what `crossforce serve` handed it)."""
    return config.resolve().db


def _identity(path: Path) -> Identity:
    """Which file is at `path` now. A load renames a new file over the path, so the inode changes;
    size and nanosecond mtime tell apart files written over in place, even twice in one second."""
    info = path.stat()
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


class _Load:
    """One load of the database, opened: a sandboxed connection (its own DuckDB instance, see
    `sandbox.connect`) that hands out a cursor per query. Once a newer load replaces it in the
    cache it is retired, and it closes when its last cursor is done, so a session still reading it
    finishes its query and the old file and its memory are freed straight after."""

    def __init__(self, con: duckdb.DuckDBPyConnection, identity: Identity):
        self.identity = identity
        self._con = con
        # A cursor starts on DuckDB's default catalog, not the one `connect` chose for its connection.
        self._catalog = con.sql("select current_database()").fetchall()[0][0]
        self._lock = threading.Lock()
        self._cursors = 0
        self._retired = False
        self.closed = False

    def cursor(self) -> duckdb.DuckDBPyConnection | None:
        """A cursor of its own for one thread, or None once the load is retired. Give it back with `release`."""
        with self._lock:
            if self._retired:
                return None
            self._cursors += 1
        try:
            cursor = self._con.cursor()
            cursor.execute(f'use "{self._catalog.replace(chr(34), chr(34) * 2)}"')
        except BaseException:
            self._release()
            raise
        return cursor

    def release(self, cursor: duckdb.DuckDBPyConnection) -> None:
        cursor.close()
        self._release()

    def _release(self) -> None:
        with self._lock:
            self._cursors -= 1
            self._close_if_unused()

    def retire(self) -> None:
        """Replaced by a newer load (or the cache was cleared): hand out no more cursors, close when unused."""
        with self._lock:
            self._retired = True
            self._close_if_unused()

    def _close_if_unused(self) -> None:  # with the lock held
        if self._retired and self._cursors == 0 and not self.closed:
            self.closed = True
            self._con.close()


@st.cache_resource(max_entries=1, on_release=_Load.retire, show_spinner=False)
def _load(path: str, identity: Identity) -> _Load:
    # One entry: the load at the path now. The one it replaces is released (retired) on insertion.
    if _identity(Path(path)) != identity:
        raise _Replaced
    try:
        con = sandbox.connect(path)
    except sandbox.QueryError as exc:
        raise DatabaseUnavailable(exc.message) from None
    # The file attached may be newer than the key if a swap came between the two looks: never cache
    # one load under another's identity.
    try:
        if _identity(Path(path)) != identity:
            raise _Replaced
        load = _Load(con, identity)
    except BaseException:
        con.close()
        raise
    # A new load: the results read from earlier ones will never be asked for again.
    _cached.clear()
    _findings.clear()
    return load


@contextmanager
def _cursor(identity: Identity) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on the load with `identity`; `_Replaced` if that is no longer the file at the path.
    Streamlit runs each session in its own thread; a DuckDB connection serves one thread at a time."""
    load = _load(str(database_path()), identity)
    cursor = load.cursor()
    if cursor is None:
        raise _Replaced
    try:
        yield cursor
    finally:
        load.release(cursor)


def _read(compute: Callable[[Identity], T]) -> T:
    """`compute(identity)` for the file at the path now, read again if a swap comes in between. A
    file missing or unreadable for longer than SWAP_WAIT_S is said on the page, not as a traceback."""
    path = database_path()
    deadline = time.monotonic() + SWAP_WAIT_S
    while True:
        try:
            return compute(_identity(path))
        except _Replaced:
            problem = "it kept changing while being read"
        except FileNotFoundError:
            problem = "there is no file there"
        except OSError as exc:
            problem = exc.strerror or str(exc)
        except DatabaseUnavailable as exc:
            problem = str(exc)
        if time.monotonic() >= deadline:
            # The load it replaced, if any, is not kept open (with its deleted file) meanwhile.
            _load.clear()
            _unavailable(path, problem)
        time.sleep(_RETRY_S)


def _unavailable(path: Path, problem: str) -> NoReturn:
    message = (
        f"The database at {path} cannot be read just now: {problem}. If a new load is being swapped "
        "in, reload the page in a moment; otherwise run `crossforce ingest` or `crossforce up`."
    )
    if get_script_run_ctx() is None:  # called outside a page (a test, a script)
        raise DatabaseUnavailable(message)
    st.error(message)
    st.stop()


def _query(sql: str, params: dict | None, identity: Identity) -> pl.DataFrame:
    with _cursor(identity) as cursor:
        return cursor.sql(sql, params=params).pl()


def query(sql: str, params: dict | None = None) -> pl.DataFrame:
    return _read(lambda identity: _query(sql, params, identity))


@st.cache_data(show_spinner=False)
def _cached(sql: str, params: tuple, identity: Identity) -> pl.DataFrame:
    return _query(sql, dict(params), identity)


def cached(sql: str, **params) -> pl.DataFrame:
    return _read(lambda identity: _cached(sql, tuple(sorted(params.items())), identity))


# --- what is loaded ------------------------------------------------------------------------------------


def sources_loaded() -> pl.DataFrame:
    return cached("""
        -- Each side summed on its own: joined first, a file's rows would count once per force-period it covers.
        with files as (
            select source, count(*) as files, cast(sum(rows_read) as bigint) as rows_read,
                   cast(sum(rows_quarantined) as bigint) as rows_quarantined
            from ingest_log group by source
        ), spans as (
            select source, min(period) as first_period, max(period) as last_period, count(distinct force_id) as forces
            from core_coverage group by source
            union all
            -- Population estimates are not counts of crime and supply no coverage rows: their span is their years.
            select source, make_date(min(year), 1, 1), make_date(max(year), 1, 1), count(distinct force_id)
            from core_population where source not in (select source from core_coverage) group by source
        )
        select source, files, rows_read, rows_quarantined, first_period, last_period, coalesce(forces, 0) as forces
        from files left join spans using (source)
        order by 1
    """)


def sources_for_display(loaded: pl.DataFrame) -> pl.DataFrame:
    """`sources_loaded` as the Overview shows it: each source's publisher beside its id, and its
    first and last periods in the words of its own grain ("Apr 2021", "year to Dec 2018", "2023")."""
    grains = dict(cached("select source, any_value(period_grain) as grain from coverage group by 1").iter_rows())
    grains.setdefault("ons_mid_year_estimates", "calendar_year")

    def words(column: str) -> pl.Expr:
        return pl.struct("source", column).map_elements(
            lambda r: charts.period_words(r[column], grains.get(r["source"], "month")) if r[column] else None,
            return_dtype=pl.String,
        )

    return loaded.with_columns(
        pl.col("source").replace_strict(PUBLISHERS, default=pl.col("source")).alias("publisher"),
        words("first_period").alias("first_period"),
        words("last_period").alias("last_period"),
    ).select("publisher", "source", "files", "rows_read", "rows_quarantined", "first_period", "last_period", "forces")


def grain_of(frame: pl.DataFrame) -> str:
    """The period grain of rows of one source (`month` when there are none)."""
    return frame["period_grain"][0] if frame.height and "period_grain" in frame.columns else "month"


def territorial_forces_with_data() -> int:
    return cached("""
        select count(distinct c.force_id) as n from core_coverage as c join forces as f using (force_id)
        where f.is_territorial_ew
    """)["n"][0]


def force_names() -> dict[str, str]:
    forces = reference.forces()
    return dict(zip(forces["force_id"], forces["short_name"]))


def comparability(force_id: str) -> dict:
    """Whether an area is comparable with the others by default and, if not, why (`forces` view)."""
    rows = cached(
        "select comparable_by_default, comparability_note from forces where force_id = $force_id", force_id=force_id
    )
    if rows.height == 0:
        return {"comparable_by_default": True, "comparability_note": None}
    return rows.row(0, named=True)


def territorial_forces() -> list[str]:
    return cached("select force_id from forces where is_territorial_ew order by short_name")["force_id"].to_list()


def coverage_sources() -> list[str]:
    return cached("select distinct source from coverage order by 1")["source"].to_list()


def coverage(source: str) -> pl.DataFrame:
    """The source's coverage rows for the periods some force supplied (at the source's own grain);
    months of a monthly source that no force supplied are left to `unloaded_periods`."""
    return cached(
        """
        select * from coverage
        where source = $source
          and period in (select period from coverage where source = $source and coverage_status = 'supplied')
        order by force_id, period
    """,
        source=source,
    )


def unloaded_periods(source: str) -> list[tuple]:
    """Runs of consecutive periods in the source's span that no force supplied, as (first, last):
    nothing was loaded for them, so they say nothing about any one force."""
    rows = cached(
        """
        with empty as (
            select period from coverage where source = $source group by period
            having count(*) filter (coverage_status = 'supplied') = 0
        ), runs as (
            select period, period - to_months(cast(row_number() over (order by period) as integer)) as run
            from empty
        )
        select min(period) as first, max(period) as last from runs group by run order by 1
    """,
        source=source,
    )
    return list(rows.iter_rows())


def coverage_summary(source: str) -> str:
    """What the coverage grid of `source` shows, in words: its grain, span, and the periods nothing was loaded for."""
    rows = coverage(source)
    if rows.height == 0:
        return f"Nothing from {source_label(source)} is loaded."
    grain = rows["period_grain"][0]
    first, last = charts.as_date(rows["period"].min()), charts.as_date(rows["period"].max())
    missing = rows.filter(pl.col("coverage_status") == "missing").height
    text = (
        f"{charts.GRAIN_NOUNS.get(grain, (grain, grain + 's'))[1].capitalize()} "
        f"from {charts.period_words(first, grain)} to "
        f"{charts.period_words(last, grain)}: {counted(rows['period'].n_unique(), 'period')} published, "
        f"{counted(missing, 'force-period')} missing."
    )
    gaps = unloaded_periods(source)
    if gaps:
        spans = ", ".join(
            charts.period_words(a, grain)
            if a == b
            else f"{charts.period_words(a, grain)} to {charts.period_words(b, grain)}"
            for a, b in gaps
        )
        text += f" Not drawn: {spans}, for which no force's data is loaded."
    return text


# --- divergence ------------------------------------------------------------------------------------------


def findings(peer_group: str = "all", window: str = "standard") -> pl.DataFrame:
    """Every finding for the peer group and window (`standard`, or a calendar year `YYYY`), as
    `for_peers_and_window` gives them (the table the load wrote for the standard view, computed on
    demand otherwise), cached per load."""
    return _read(lambda identity: _findings(peer_group, window, identity))


@st.cache_data(show_spinner="Comparing forces…")
def _findings(peer_group: str, window: str, identity: Identity) -> pl.DataFrame:
    with _cursor(identity) as con:
        return for_peers_and_window(con, peer_group, *window_months(window))


def peers_of(peer_group: str, force_id: str) -> list[str]:
    """The forces the force is compared with under the peer group, by name (its benchmark leaves it
    out, and leaves out areas not comparable by default)."""
    groups = _read(lambda identity: _peer_groups(peer_group, identity))
    comparable = set(
        cached("select force_id from forces where is_territorial_ew and comparable_by_default")["force_id"]
    )
    members = comparable if groups is None else set(groups.get(force_id, []))
    names = force_names()
    return sorted((members & comparable) - {force_id}, key=lambda f: names.get(f, f))


@st.cache_data(show_spinner=False)
def _peer_groups(peer_group: str, identity: Identity) -> dict[str, list[str]] | None:
    with _cursor(identity) as con:
        return peer_groups(con, peer_group)


def peer_names(peer_group: str, force_id: str) -> list[str]:
    names = force_names()
    return [names.get(f, f) for f in peers_of(peer_group, force_id)]


def peers_words(peer_group: str, force_id: str) -> str:
    """ "Compared with: Essex, Hertfordshire, …" for the force's peer group."""
    peers = peer_names(peer_group, force_id)
    if not peers:
        return f"{force_names().get(force_id, force_id)} has no comparable peers in this group."
    return f"Compared with {PEER_GROUPS.get(peer_group, peer_group).lower()} ({len(peers)}): {', '.join(peers)}."


def window_years() -> list[str]:
    """Calendar years some indicator's source covers, newest first."""
    sources = sorted(set(indicator_sources().values()))
    years = cached(
        """
        select distinct cast(year(period) as varchar) as year from recorded_crime where list_contains($sources, source)
        order by 1 desc
    """,
        sources=sources,
    )
    return years["year"].to_list()


@functools.cache
def _indicators() -> list[indicators.Indicator]:
    # The reference files ship with the code: read and checked once per process, not on every call.
    return indicators.load_indicators()


@functools.cache
def _mixes() -> list:
    return indicators.load_mixes()


@functools.cache
def indicator_labels() -> dict[str, str]:
    # Labels in the reference file name sources and outcome groups by id: a person reads their words.
    return {i.indicator_id: charts.readable(i.label) for i in _indicators()}


def indicator_sources() -> dict[str, str]:
    return {i.indicator_id: i.source for i in _indicators()}


def _indicator_source() -> pl.Expr:
    """`source`: the source of each row's indicator (None for an indicator not declared)."""
    return pl.col("indicator_id").replace_strict(indicator_sources(), default=None).alias("source")


def mix_labels() -> dict[str, str]:
    return {m.mix_id: m.label for m in _mixes()}


def mix_sources() -> dict[str, str]:
    return {m.mix_id: m.source for m in _mixes()}


def mix_categories(mix_id: str) -> pl.DataFrame:
    return cached("select * from divergence_mix_categories where mix_id = $mix_id", mix_id=mix_id)


def mix_distances(mix_id: str) -> pl.DataFrame:
    return cached("select * from divergence_mix where mix_id = $mix_id order by distance desc", mix_id=mix_id)


def homogeneity() -> pl.DataFrame:
    return cached("select * from divergence_homogeneity order by mix_id")


def outcome_ratios(force_id: str) -> pl.DataFrame:
    return cached("select * from outcome_ratios where force_id = $force_id order by outcome_group", force_id=force_id)


# --- one indicator, defined --------------------------------------------------------------------------------------

_DENOMINATOR_WORDS = {"*": "every category of the scheme"}


def _categories(text: str) -> str:
    if text in _DENOMINATOR_WORDS:
        return _DENOMINATOR_WORDS[text]
    if text.startswith("*-"):
        return "every category except " + ", ".join(text[2:].split(";"))
    return ", ".join(text.split(";"))


def _outcome_words(indicator: indicators.Indicator) -> str | None:
    """Home Office outcome types in words ("outcome 16: evidential difficulties: victim does not
    support"), for an indicator counting them; None for any other numerator."""
    if indicator.measure != "outcomes" or indicator.numerator_scheme != "outcome":
        return None
    types = dict(
        zip(reference.ho_outcome_types()["outcome_type"].cast(pl.String), reference.ho_outcome_types()["description"])
    )
    if not all(code in types for code in indicator.numerator):
        return None
    return "; ".join(f"outcome {code}: {types[code]}" for code in indicator.numerator)


def indicator_definition(indicator_id: str) -> list[tuple[str, str]]:
    """What an indicator is, term by term, as Fingertips defines its indicators: what it counts, out
    of what, from which publication and at which grain, and the guards its findings pass before they
    are ranked."""
    indicator = {i.indicator_id: i for i in _indicators()}[indicator_id]
    witnesses = indicators.witnesses().get(indicator_id, [])
    labels = indicator_labels()
    grains = cached(
        "select distinct period_grain from divergence_series as s join coverage as c "
        "on c.source = $source and c.force_id = s.force_id and c.period = s.period "
        "where s.indicator_id = $indicator_id",
        source=indicator.source,
        indicator_id=indicator_id,
    )
    grain_words = ", ".join(charts.GRAIN_NOUNS.get(g, (g,))[0] for g in grains["period_grain"]) or "—"
    if indicator.measure == "offences":
        counted_what = "offences recorded"
    else:
        basis = (
            "offences recorded in the period, by the outcome they had at publication"
            if indicator.count_basis == "offences_recorded_in_period"
            else "outcomes assigned in the period, whenever the offence was recorded"
        )
        counted_what = f"{_categories(indicator.offences)} ({indicator.offence_scheme} scheme): {basis},"
    terms = [
        ("Indicator", indicator.label),
        (
            "Numerator",
            f"{counted_what} in {_outcome_words(indicator) or _categories(';'.join(indicator.numerator))} "
            f"({indicator.numerator_scheme} scheme)",
        ),
        (
            "Denominator",
            f"{counted_what} in {_categories(indicator.denominator)} ({indicator.denominator_scheme} scheme)",
        ),
        *([("Caveat", SOURCE_CAVEATS[indicator.source])] if indicator.source in SOURCE_CAVEATS else []),
        ("Source", f"{source_label(indicator.source)}, Open Government Licence v3.0"),
        ("Grain", f"{grain_words}; findings use the window chosen in the sidebar"),
        (
            "Kind",
            "how a force classifies or closes crimes (ranked)"
            if indicator.kind == "classification"
            else "what a feed has not settled (listed apart, never ranked with classification)",
        ),
        (
            "Guards",
            f"a force needs at least {indicator.min_denominator:,} in the denominator; forces missing some of the "
            "window's periods, areas not comparable by default, abnormal supply and findings contradicted by another "
            "source are shown but not ranked; q-values (Benjamini–Yekutieli) control the false discovery rate within "
            "the indicator's family",
        ),
    ]
    if witnesses:
        terms.append(("Witnesses", "; ".join(f"{labels.get(w, w)} ({note})" for w, note in witnesses)))
    return terms


def force_values(everyone: pl.DataFrame, force_id: str, peer_group: str) -> pl.DataFrame:
    """The force profile's values table, as Fingertips puts beside its spine chart: per indicator,
    the force's share, its benchmark, the lowest and highest share among its peers, z, q (BY), and
    the finding's status in words."""
    if everyone.height == 0:
        return pl.DataFrame(schema={c: pl.String for c in VALUES_COLUMNS})
    peers = peers_of(peer_group, force_id)
    spread = (
        everyone.filter(pl.col("force_id").is_in(peers))
        .group_by("indicator_id")
        .agg(pl.col("share").min().alias("peers_lowest"), pl.col("share").max().alias("peers_highest"))
    )
    own = everyone.filter(pl.col("force_id") == force_id).join(spread, on="indicator_id", how="left")
    labels = indicator_labels()
    return (
        own.with_columns(
            pl.col("indicator_id").replace_strict(labels, default=pl.col("indicator_id")).alias("indicator"),
            pl.col("status").map_elements(status_label, return_dtype=pl.String).alias("status"),
        )
        .sort("indicator")
        .select(VALUES_COLUMNS)
    )


VALUES_COLUMNS = (
    "indicator",
    "share",
    "benchmark",
    "peers_lowest",
    "peers_highest",
    "z",
    "q_by",
    "status",
    "position",
    "indicator_id",
)


def indicator_findings(peer_group: str, indicator_id: str, window: str = "standard") -> pl.DataFrame:
    """Every force's finding on one indicator (any status), for its compare-forces chart, funnel and map."""
    return filtered_findings(peer_group, indicator_id=indicator_id, ranked_only=False, window=window)


def tiles() -> pl.DataFrame:
    """Where each territorial force sits on the tile map (reference data: force_id, row, col)."""
    return pl.read_csv(reference.REFERENCE_DIR / "force_tiles.csv")


def rates(force_id: str, peer_group: str) -> pl.DataFrame:
    """Recorded crime per 1,000 residents of the force area by ONS offence group, in the latest
    rolling year of the ONS force-area counts, beside the median and range of its peers'."""
    peers = peers_of(peer_group, force_id)
    return cached(
        """
        with latest as (
            select r.force_id, r.category, r.period, r.rate_per_1000, r.offence_count, r.population
            from recorded_crime_rates as r
            where r.source = 'ons_rec_crime_pfa' and r.scheme = 'ons_offence_group' and r.rate_per_1000 is not null
              and r.period = (select max(period) from recorded_crime_rates where source = 'ons_rec_crime_pfa')
        )
        select o.category as offence_group, o.period, o.offence_count, o.population, o.rate_per_1000,
               median(p.rate_per_1000) as peers_median, min(p.rate_per_1000) as peers_lowest,
               max(p.rate_per_1000) as peers_highest, count(p.force_id) as peers
        from latest as o left join latest as p on p.category = o.category and list_contains($peers, p.force_id)
        where o.force_id = $force_id
        group by all order by o.rate_per_1000 desc
    """,
        force_id=force_id,
        peers=peers,
    )


# --- trends ----------------------------------------------------------------------------------------------------


def series(indicator_id: str) -> pl.DataFrame:
    """numerator and denominator per force and period over the indicator's source's span (precomputed by the load)."""
    return cached(
        """
        select force_id, period, numerator, denominator from divergence_series
        where indicator_id = $indicator_id order by force_id, period
    """,
        indicator_id=indicator_id,
    )


def series_grain(indicator_id: str) -> str:
    """The period grain of an indicator's series: its source's own."""
    rows = cached(
        "select any_value(period_grain) as grain from coverage where source = $source",
        source=indicator_sources()[indicator_id],
    )
    return rows["grain"][0] or "month"


def _with_period_words(
    frame: pl.DataFrame, grain_column: str | None = None, grain: str = "month", column: str = "period"
) -> pl.Expr:
    if grain_column:
        return pl.struct(column, grain_column).map_elements(
            lambda r: charts.period_words(r[column], r[grain_column]) if r[column] else None, return_dtype=pl.String
        )
    return pl.col(column).map_elements(lambda p: charts.period_words(p, grain), return_dtype=pl.String)


def breaks_for_display(breaks: pl.DataFrame) -> pl.DataFrame:
    """Detected breaks with the force's name and the indicator's label beside their ids, periods in words."""
    if breaks.height == 0:
        return breaks
    names, labels = force_names(), indicator_labels()
    grain = series_grain(breaks["indicator_id"][0])
    return breaks.with_columns(
        pl.col("force_id").replace_strict(names, default=pl.col("force_id")).alias("force"),
        pl.col("indicator_id").replace_strict(labels, default=pl.col("indicator_id")).alias("indicator"),
        _with_period_words(breaks, grain=grain).alias("period"),
    ).select("force", "indicator", "period", *[c for c in breaks.columns if c not in ("period",)])


def reconciliation_for_display(rows: pl.DataFrame) -> pl.DataFrame:
    """Reconciliation rows with each source's publisher and each window in words."""
    return rows.with_columns(
        _with_period_words(rows, grain_column="period_grain").alias("window"),
        pl.col("source").replace_strict(PUBLISHERS, default=pl.col("source")).alias("publisher"),
    ).select("window", "publisher", *[c for c in rows.columns if c not in ("window", "publisher")])


def peers_band(series_frame: pl.DataFrame, forces: list[str]) -> pl.DataFrame:
    """Per period, the spread of the other territorial forces' shares: min, quartiles, median, max."""
    others = series_frame.filter(~pl.col("force_id").is_in(forces) & pl.col("force_id").is_in(territorial_forces()))
    return (
        others.with_columns((pl.col("numerator") / pl.col("denominator")).alias("share"))
        .group_by("period")
        .agg(
            pl.col("share").min().alias("lower"),
            pl.col("share").quantile(0.25).alias("q25"),
            pl.col("share").median().alias("median"),
            pl.col("share").quantile(0.75).alias("q75"),
            pl.col("share").max().alias("upper"),
            pl.len().alias("forces"),
        )
        .sort("period")
    )


def events() -> pl.DataFrame:
    return cached("select event_date, scope, kind, event, event_source from breaks order by event_date")


def detected_breaks(indicator_id: str) -> pl.DataFrame:
    """Breaks of the indicator, from each force's latest release only (a source republished in
    releases is tested in each; the trend line shows the latest), revisions left out."""
    return cached(
        """
        select * from divergence_breaks
        where indicator_id = $indicator_id and break_kind <> 'revision'
        qualify release_date is not distinct from max(release_date) over (partition by force_id)
        order by force_id, period
    """,
        indicator_id=indicator_id,
    )


# --- reconciliation and data quality ------------------------------------------------------------------------------


def reconciliation_groups() -> list[str]:
    return cached("select distinct reconciliation_group from ref_reconciliation_groups order by 1")[
        "reconciliation_group"
    ].to_list()


def reconciliation(force_id: str, group: str) -> pl.DataFrame:
    return cached(
        """
        select * from reconciliation
        where force_id = $force_id and reconciliation_group = $group
        order by period_grain, period, source
    """,
        force_id=force_id,
        group=group,
    )


def reconciliation_reasons(rows: pl.DataFrame) -> list[tuple[str, str, str]]:
    """(source in words, reference source in words, every known reason they differ) for each source
    compared in `rows` against another source."""
    found = (
        rows.filter(pl.col("known_differences").is_not_null())
        .select("source", "reference_source", "known_differences")
        .unique()
        .sort("source", "reference_source")
    )
    return [(source_label(a), source_label(b), reasons) for a, b, reasons in found.iter_rows()]


def missing_periods(force_id: str) -> pl.DataFrame:
    """The periods, at each source's own grain, that other forces supplied and this one did not."""
    rows = cached(
        """
        select c.source, c.period_grain, c.period from coverage as c
        where c.force_id = $force_id and c.coverage_status = 'missing'
          and exists (select 1 from coverage as o where o.source = c.source and o.period = c.period
                      and o.coverage_status = 'supplied')
        order by c.source, c.period
    """,
        force_id=force_id,
    )
    if rows.height == 0:
        return pl.DataFrame(schema={"source": pl.String, "period_grain": pl.String, "period": pl.String})
    return rows.with_columns(
        pl.col("source").replace_strict(PUBLISHERS, default=pl.col("source")),
        pl.struct("period", "period_grain")
        .map_elements(lambda r: charts.period_words(r["period"], r["period_grain"]), return_dtype=pl.String)
        .alias("period"),
    )


def ingest_log() -> pl.DataFrame:
    return cached("select * from ingest_log order by source, file_name")


def quarantine(search: str = "") -> pl.DataFrame:
    return cached(
        """
        select file_name, row_number, source, reason, raw_row from quarantine
        where $search = '' or contains(lower(reason), lower($search)) or contains(lower(file_name), lower($search))
        order by file_name, row_number limit 5000
    """,
        search=search,
    )


def quarantine_reasons() -> pl.DataFrame:
    return cached("""
        select source, regexp_replace(reason, '''[^'']*''', '''…''', 'g') as reason_kind, count(*) as rows
        from quarantine group by all order by rows desc
    """)


# --- labels and filters the pages share ---------------------------------------------------------------------

PUBLISHERS = charts.SOURCE_WORDS
# What a reader of a source's trend must know about how it was made.
SOURCE_CAVEATS = {
    "police_uk_force_year": "Last outcomes as police.uk showed them when the archive was downloaded in 2017, so older "
    "years carry more final outcomes and fewer crimes still under investigation",
    "ho_outcomes": "Rows for expired offence codes were dropped from this copy of the table",
}


PEER_GROUPS = {
    "all": "All territorial forces",
    "region": "Forces of the same region",
    "nearest": "7 nearest by offence mix and population",
}


def source_label(source: str) -> str:
    """A source in words: its publisher and publication (the id itself for a source not listed)."""
    return PUBLISHERS.get(source, source)


def source_note(source: str, start=None, end=None) -> str:
    """The line under a chart: publisher, licence and period (`end` is exclusive: the day after the last period)."""
    period = f"; {charts.window_words(start, end)}" if start is not None and end is not None else ""
    return f"Source: {source_label(source)}, Open Government Licence v3.0{period}. Analysis: crossforce."


def source_note_all() -> str:
    """The note under a chart that draws every indicator: the publishers of every indicator's source."""
    publishers = sorted({source_label(s) for s in indicator_sources().values()})
    return f"Sources: {'; '.join(publishers)}; Open Government Licence v3.0. Analysis: crossforce."


def distance_words(row: dict) -> str:
    return (
        f"Jensen–Shannon distance from the other forces' mix: **{row['distance']:.3f}** "
        f"(chance alone gives about {row['null_median']:.3f}; 95% of draws under {row['null_q95']:.3f})."
    )


def rates_note(rates_frame: pl.DataFrame) -> str:
    period = rates_frame["period"][0]
    return (
        f"ONS recorded crime by police force area, the {charts.period_words(period, 'rolling_year')}, per 1,000 "
        "residents of the force area (ONS mid-year estimates); the peers are those chosen in the sidebar. "
        "A rate for a whole year, so comparable across forces of different sizes."
    )


def rates_for_display(rates_frame: pl.DataFrame) -> pl.DataFrame:
    return rates_frame.drop("period")


def series_note(source: str, series_frame: pl.DataFrame, grain: str) -> str:
    """The note under a trend: publisher, licence and the first and last periods drawn, in the grain's words."""
    if series_frame.height == 0:
        return source_note(source)
    first, last = charts.as_date(series_frame["period"].min()), charts.as_date(series_frame["period"].max())
    span = (
        charts.period_words(first, grain)
        if first == last
        else f"{charts.period_words(first, grain)} to {charts.period_words(last, grain)}"
    )
    caveat = f" {SOURCE_CAVEATS[source]}." if source in SOURCE_CAVEATS else ""
    periods = series_frame["period"].n_unique()
    if charts.GRAIN_MONTHS.get(grain, 1) >= 12 and periods < 6:
        caveat += f" {periods} years: too few to test for breaks (three on each side of an event are needed)."
    return f"Source: {source_label(source)}, Open Government Licence v3.0; {span}.{caveat} Analysis: crossforce."


# --- windows, said as they are -----------------------------------------------------------------------------------


def window_name(window: str) -> str:
    return "Latest window each source (up to 12 months)" if window == "standard" else f"Calendar year {window}"


def window_months(window: str) -> tuple[date | None, date | None]:
    """The first and last months (each as its first day) of a window choice: January and December
    of a calendar year `YYYY`, or (None, None) for the latest window of each source."""
    if window == "standard":
        return None, None
    year = int(window)
    return date(year, 1, 1), date(year, 12, 1)


def window_summary(peer_group: str, window: str) -> pl.DataFrame:
    """For each source with findings in the window: its window (first period and exclusive end,
    grain), the periods its name asks for, and how many forces supplied all of them or fewer."""
    frame = findings(peer_group, window)
    if frame.height == 0:
        return pl.DataFrame(
            schema={
                "source": pl.String,
                "window_start": pl.Date,
                "window_end": pl.Date,
                "period_grain": pl.String,
                "periods_expected": pl.Int32,
                "months": pl.Int32,
                "forces_in_full": pl.UInt32,
                "forces_short": pl.UInt32,
            }
        )
    per_force = (
        frame.with_columns(_indicator_source())
        .group_by("source", "window_start", "window_end", "period_grain", "periods_expected", "force_id")
        .agg(pl.col("periods_supplied").max())
    )
    return (
        per_force.group_by("source", "window_start", "window_end", "period_grain", "periods_expected")
        .agg(
            (pl.col("periods_supplied") >= pl.col("periods_expected")).sum().alias("forces_in_full"),
            (pl.col("periods_supplied") < pl.col("periods_expected")).sum().alias("forces_short"),
        )
        .with_columns(
            (
                (pl.col("window_end").dt.year() - pl.col("window_start").dt.year()) * 12
                + pl.col("window_end").dt.month()
                - pl.col("window_start").dt.month()
            )
            .cast(pl.Int32)
            .alias("months")
        )
        .sort("source")
    )


def window_text(start, end, grain: str) -> str:
    """A window in words: one rolling or financial year by its own name ("year to Dec 2018"),
    otherwise its first and last months."""
    if (
        grain in ("rolling_year", "financial_year", "calendar_year")
        and (end.year - start.year) * 12 + end.month - start.month == 12
    ):
        return charts.period_words(start, grain)
    return charts.window_words(start, end)


def window_summary_words(peer_group: str, window: str) -> str:
    """Each source's window in words, saying plainly when it holds fewer months than the window's name."""
    rows = window_summary(peer_group, window)
    if rows.height == 0:
        return "No findings in this window."
    lines = []
    for r in rows.iter_rows(named=True):
        text = f"{source_label(r['source'])}: {window_text(r['window_start'], r['window_end'], r['period_grain'])}"
        if r["period_grain"] in ("month", "quarter") and r["months"] < 12:
            text += f" — {counted(r['months'], 'month')} only, not 12"
        if r["forces_short"]:
            text += (
                f"; {counted(r['forces_short'], 'force')} supplied fewer of its periods "
                "(not ranked: missing some of the window's periods)"
            )
        lines.append(text)
    return "Windows: " + "; ".join(lines) + "."


# Why a finding is not ranked, in the order a reviewer reads them: the area, the data, the test, the
# screens that depend on other findings. `ranked` is kept for the force profile's table.
STATUS_LABELS = {
    "ranked": "ranked",
    "non_comparable": "not comparable by default",
    "incomplete": "missing some of the window's periods",
    "degenerate": "nothing to test",
    "small_denominator": "denominator too small",
    "not_a_share": "counts net to no share",
    "no_benchmark": "no benchmark",
    "supply_suspect": "abnormal supply",
    "contradicted": "contradicted by another source",
}


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`1 finding`, `2 findings`, `1,234 rows`: a count with its noun in the right number."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def status_label(status: str) -> str:
    """A status in words; a status this module does not know is shown as its code, never hidden."""
    return STATUS_LABELS.get(status, status)


class Narrowing(TypedDict, total=False):
    """The finder's narrowing of the findings, by the column of each key; a key not given, or "all",
    does not narrow."""

    indicator_id: str
    force_id: str
    direction: str  # "above" or "below"


def _screened(peer_group: str, source: str, window: str, **narrowing: Unpack[Narrowing]) -> pl.DataFrame:
    """Every finding of the peer group and window, narrowed by the page's filters, with its `source`."""
    frame = findings(peer_group, window)
    if frame.height == 0:
        return frame
    frame = frame.with_columns(_indicator_source())
    for column, value in {"source": source, **narrowing}.items():
        if value != "all":
            frame = frame.filter(pl.col(column) == value)
    return frame


def filtered_findings(
    peer_group: str,
    source: str = "all",
    max_q: float = 1.0,
    ranked_only: bool = True,
    window: str = "standard",
    **narrowing: Unpack[Narrowing],
) -> pl.DataFrame:
    """With `ranked_only` (the default): the ranked classification findings whose BY q-value is at
    most `max_q`, by `rank`. Otherwise every finding of either kind and any status (for charts and
    the force profile), ranked ones first."""
    frame = _screened(peer_group, source, window, **narrowing)
    if frame.height == 0:
        return frame
    if ranked_only:
        frame = frame.filter(
            pl.col("rank").is_not_null()
            & (pl.col("indicator_kind") == "classification")
            & (pl.col("status") == "ranked")
            & (pl.col("q_by") <= max_q)
        )
    return frame.sort("rank", "supply_rank", "indicator_id", "force_id", nulls_last=True)


def supply_findings(
    peer_group: str, source: str = "all", max_q: float = 1.0, window: str = "standard", **narrowing: Unpack[Narrowing]
) -> pl.DataFrame:
    """The data-supply list (pending, unavailable): ranked supply findings whose BY q-value is at
    most `max_q`, by `supply_rank`. Kept apart: a feed that leaves crimes unsettled says nothing of
    how a force classifies them."""
    frame = _screened(peer_group, source, window, **narrowing)
    if frame.height == 0:
        return frame
    return frame.filter(
        pl.col("supply_rank").is_not_null() & (pl.col("indicator_kind") == "supply") & (pl.col("q_by") <= max_q)
    ).sort("supply_rank")


def unranked_findings(
    peer_group: str, source: str = "all", status: str = "all", window: str = "standard", **narrowing: Unpack[Narrowing]
) -> pl.DataFrame:
    """Findings of either kind that are shown but not ranked, each with its `status` and
    `status_reason`, in the order of `STATUS_LABELS`, then by indicator and force. The q filter
    does not apply: many were never tested."""
    frame = _screened(peer_group, source, window, **narrowing)
    if frame.height == 0:
        return frame
    frame = frame.filter(pl.col("status") != "ranked")
    if status != "all":
        frame = frame.filter(pl.col("status") == status)
    return frame.with_columns(_status_order()).sort("_order", "indicator_id", "force_id").drop("_order")


def _status_order() -> pl.Expr:
    """`_order`: each finding's status's place in `STATUS_LABELS` (a status it lacks goes last)."""
    order = {s: i for i, s in enumerate(STATUS_LABELS)}
    return pl.col("status").replace_strict(order, default=len(order), return_dtype=pl.Int32).alias("_order")


def screening_counts(
    peer_group: str, source: str = "all", window: str = "standard", **narrowing: Unpack[Narrowing]
) -> pl.DataFrame:
    """How many findings were not ranked, by `status` (with its words), most first."""
    frame = unranked_findings(peer_group, source, window=window, **narrowing)
    if frame.height == 0:
        return pl.DataFrame(schema={"status": pl.String, "label": pl.String, "findings": pl.UInt32})
    return (
        frame.group_by("status")
        .agg(pl.len().alias("findings"))
        .with_columns(pl.col("status").map_elements(status_label, return_dtype=pl.String).alias("label"))
        .sort(["findings", "status"], descending=[True, False])
        .select("status", "label", "findings")
    )


def screening_line(counts: pl.DataFrame) -> str:
    """`counts` (from `screening_counts`) in words: "12 findings not ranked: 7 contradicted by …"."""
    total = int(counts["findings"].sum()) if counts.height else 0
    if total == 0:
        return "No finding was screened out."
    parts = "; ".join(f"{label}: {n:,}" for _, label, n in counts.iter_rows())
    return f"{total:,} {'finding' if total == 1 else 'findings'} screened out and not ranked — {parts}."


def reasons_by_status(frame: pl.DataFrame) -> pl.DataFrame:
    """Not-ranked findings grouped by their reason: status, status_reason and the indicators it
    applies to (labels), so that one reason shared by many indicators is said once."""
    unranked = frame.filter(pl.col("status") != "ranked") if frame.height else frame
    if unranked.height == 0:
        return pl.DataFrame(
            schema=dict(status=pl.String, label=pl.String, status_reason=pl.String, indicators=pl.List(pl.String))
        )
    labels = indicator_labels()
    return (
        unranked.with_columns(
            pl.col("indicator_id").replace_strict(labels, default=pl.col("indicator_id")).alias("_label"),
            pl.col("status_reason").fill_null(""),
        )
        .group_by("status", "status_reason", maintain_order=True)
        .agg(pl.col("_label").sort().alias("indicators"))
        .with_columns(
            pl.col("status").map_elements(status_label, return_dtype=pl.String).alias("label"),
            _status_order(),
        )
        .sort("_order", "status_reason")
        .select("status", "label", "status_reason", "indicators")
    )


# Columns of the finder's tables, effect first; `benchmark_coverage` always sits beside `benchmark`.
# Every table shows the effect and its tests in this order.
EFFECT_COLUMNS = ("difference_pp", "ratio", "share", "benchmark", "benchmark_coverage", "z", "q_by", "q_bh")
RANKED_COLUMNS = (
    "rank",
    "force",
    "indicator",
    *EFFECT_COLUMNS,
    "witness_status",
    "sentence",
    "numerator",
    "denominator",
    "window_start",
    "window_end",
    "indicator_id",
    "force_id",
)
SUPPLY_COLUMNS = (
    "supply_rank",
    "force",
    "indicator",
    *EFFECT_COLUMNS,
    "sentence",
    "numerator",
    "denominator",
    "window_start",
    "window_end",
    "indicator_kind",
    "indicator_id",
    "force_id",
)
UNRANKED_COLUMNS = (
    "status",
    "status_reason",
    "force",
    "indicator",
    "indicator_kind",
    *EFFECT_COLUMNS,
    "witness_status",
    "sentence",
    "indicator_id",
    "force_id",
    "window_start",
    "window_end",
)
FORCE_COLUMNS = (
    "indicator",
    "status",
    "status_reason",
    "rank",
    "supply_rank",
    *EFFECT_COLUMNS,
    "witness_status",
    "indicator_kind",
    "indicator_id",
)

# Columns the dashboard derives; every other column's help comes from `pipelines.schema`.
DERIVED_HELP = {
    "publisher": "Who publishes the source, and the publication.",
    "force": "The force's short name.",
    "indicator": "The indicator's label.",
    "difference_pp": "share − benchmark in percentage points (difference × 100).",
    "peers_lowest": "The lowest value among the force's peers (the peer group chosen in the sidebar).",
    "peers_highest": "The highest value among the force's peers.",
    "peers_median": "The median of the force's peers' values.",
    "peers": "How many peers have a value.",
    "offence_group": "ONS offence group.",
    "window": "The window in words: a month, a quarter, or the rolling year it ends.",
}


def for_display(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """The findings as a page shows them: names beside ids, the difference in percentage points,
    exactly `columns` in that order."""
    names, labels = force_names(), indicator_labels()
    if frame.height == 0 and not frame.columns:
        return pl.DataFrame(schema={c: pl.String for c in columns})
    shown = frame.with_columns(
        pl.col("force_id").replace_strict(names, default=pl.col("force_id")).alias("force"),
        pl.col("indicator_id").replace_strict(labels, default=pl.col("indicator_id")).alias("indicator"),
        (pl.col("difference") * 100).alias("difference_pp"),
    )
    return shown.select(columns)


def column_help(columns) -> dict[str, str]:
    """Help for each column a page shows: the schema's description, or the dashboard's own."""
    from pipelines import schema

    return {c: DERIVED_HELP.get(c) or schema.describe(c) for c in columns if c in DERIVED_HELP or c in schema.FIELDS}


def _span(low: object, high: object, spec: str) -> str:
    low_text, high_text = format(low, spec), format(high, spec)
    if low_text == high_text:
        return low_text
    return f"{low_text.rstrip('%')}–{high_text}"  # 83–100%, not 83%–100%


def benchmark_note(frame: pl.DataFrame) -> str:
    """What the benchmarks of one indicator's findings cover, for a chart's note. Each force's
    benchmark leaves the force out, so forces and share of recorded crime are given as ranges over
    the forces shown, with the largest force missing most often."""
    if frame.height == 0 or "benchmark_forces" not in frame.columns:
        return ""
    with_benchmark = frame.filter(pl.col("benchmark").is_not_null() & pl.col("benchmark_forces").is_not_null())
    if with_benchmark.height == 0:
        return "Benchmark: no comparable force supplied data."
    forces = with_benchmark["benchmark_forces"]
    text = (
        f"Benchmarks (each leaves its force out): {_span(forces.min(), forces.max(), 'd')} of the other territorial "
        "forces"
    )
    shares = with_benchmark["benchmark_crime_share"].drop_nulls()
    if shares.len():
        text += f", holding {_span(shares.min(), shares.max(), '.0%')} of England and Wales recorded crime"
    missing = with_benchmark["benchmark_missing"].drop_nulls()
    if missing.len():
        text += f"; largest missing, most often: {missing.mode().sort()[0]}"
    return text + ". Hover a force for its own benchmark's coverage."


def chart_note(indicator_id: str, frame: pl.DataFrame) -> str:
    """The note under a divergence chart: publisher, licence and window, then what the benchmark covers."""
    if frame.height == 0:
        return source_note(indicator_sources()[indicator_id])
    first = frame.row(0, named=True)
    # `window_end` is the day after the window: the note names the window's last month.
    last = first["window_end"] - timedelta(days=1) if first["window_end"] is not None else None
    return (
        f"{source_note(indicator_sources()[indicator_id], first['window_start'], last)} {benchmark_note(frame)}".strip()
    )


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def _markdown_text(text: str) -> str:
    """Text safe inside a Markdown link: no brackets closing it, no `$` starting LaTeX."""
    return text.replace("[", "(").replace("]", ")").replace("$", "\\$")


def headline(row: dict) -> str:
    """A finding's effect in one line: force, indicator, percentage points and ratio against its benchmark."""
    force = force_names().get(row["force_id"], row["force_id"])
    label = indicator_labels().get(row["indicator_id"], row["indicator_id"])
    text = f"{force}, {label[:1].lower()}{label[1:]}"
    if not (_finite(row["difference"]) and _finite(row["benchmark"])):
        return f"{text}: no benchmark"
    text += f": {row['difference'] * 100:+.1f} percentage points against comparable forces' {row['benchmark']:.1%}"
    if _finite(row.get("ratio")):
        text += f" ({row['ratio']:.2f}× their share)"
    return text


def finding_label(row: dict) -> str:
    """A ranked finding as the words of its link: its rank, then its effect (`headline`)."""
    return f"{row['rank']}. {_markdown_text(headline(row))}"


def finding_details(row: dict) -> str:
    """What is said under a finding's link: z and q (BY), the witness, and what the benchmark covers."""
    stats_words = []
    if _finite(row.get("z")):
        stats_words.append(f"z {row['z']:+.1f}")
    if _finite(row.get("q_by")):
        stats_words.append(f"q {row['q_by']:.1e} (BY)")
    if row.get("witness_status"):
        stats_words.append(f"witness ({row['witness_label']}): {row['witness_status']}")
    coverage = row.get("benchmark_coverage") or "not stated"
    lead = "; ".join(stats_words) + ". " if stats_words else ""
    return _markdown_text(f"{lead}Benchmark: {coverage}.")


def comparability_words(name: str, note: str | None) -> str:
    """What the force profile says at the top for an area not comparable by default."""
    why = f": {note}" if note else ""
    return (
        f"{name} is not comparable with the other forces by default{why}. Its findings are shown but never "
        "ranked, and it is left out of every other force's benchmark (`crossforce divergence --include` "
        "compares it anyway)."
    )


def reason_lines(reasons: pl.DataFrame) -> list[str]:
    """`reasons_by_status` rows as Markdown lines: the status in words, the reason, and the
    indicators it applies to."""
    lines = []
    for row in reasons.iter_rows(named=True):
        shown = row["indicators"][:6]
        more = len(row["indicators"]) - len(shown)
        which = "; ".join(shown) + (f" and {more} more" if more else "")
        why = f": {row['status_reason']}" if row["status_reason"] else ""
        lines.append(
            _markdown_text(
                f"**{row['label']}** (`{row['status']}`){why}. "
                f"{len(row['indicators'])} {'indicator' if len(row['indicators']) == 1 else 'indicators'}: {which}."
            )
        )
    return lines


def force_profile(everyone: pl.DataFrame, force_id: str) -> dict:
    """One force's findings, split as its profile shows them: `own` (every finding, by indicator),
    `ranked` (classification, by rank), `supply` (the supply list, by supply_rank), `not_ranked`
    (how many are not ranked) and `reasons` (Markdown lines, one per reason)."""
    own = everyone.filter(pl.col("force_id") == force_id).sort("indicator_id") if everyone.height else everyone
    if own.height == 0:
        return {"own": own, "ranked": own, "supply": own, "not_ranked": 0, "reasons": []}
    return {
        "own": own,
        "ranked": own.filter(pl.col("rank").is_not_null() & (pl.col("indicator_kind") == "classification")).sort(
            "rank"
        ),
        "supply": own.filter(pl.col("supply_rank").is_not_null() & (pl.col("indicator_kind") == "supply")).sort(
            "supply_rank"
        ),
        "not_ranked": own.filter(pl.col("status") != "ranked").height,
        "reasons": reason_lines(reasons_by_status(own)),
    }


def indicators_with_findings(peer_group: str, source: str = "all", window: str = "standard") -> list[str]:
    frame = filtered_findings(peer_group, source, ranked_only=False, window=window)
    return sorted(frame["indicator_id"].unique().to_list()) if frame.height else []


def forces_with_findings(peer_group: str, window: str = "standard") -> list[str]:
    frame = findings(peer_group, window)
    return sorted(frame["force_id"].unique().to_list(), key=lambda f: force_names().get(f, f)) if frame.height else []


# --- the SQL workbench ----------------------------------------------------------------------------------------------


def run_sql(sql: str, params: dict | None = None) -> sandbox.QueryResult:
    """Run an analyst's SQL through the sandboxed engine that `crossforce query` uses. A result is
    kept for the load it read: the same query and values on the same database file give the same
    rows, so a revisit (a shared link, the page's saved question) is answered without starting a
    query process; a new load, or a refusal or timeout, runs it again."""
    path = database_path()
    if not path.is_file():
        return sandbox.run(path, sql, params or {})  # which says, in words, that there is no database
    return _sandboxed(sql, tuple(sorted((params or {}).items())), _identity(path), str(path))


@st.cache_data(show_spinner=False, max_entries=64)
def _sandboxed(sql: str, params: tuple, identity: Identity, path: str) -> sandbox.QueryResult:
    return sandbox.run(path, sql, dict(params))


def saved_queries():
    return sandbox.saved_queries()
