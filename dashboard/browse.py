"""The workbench's table browser: browse, filter and facet any table or view, no SQL needed.

Every statement is built here. Identifiers (tables, columns) come only from `pipelines.schema` and
are quoted; a name the schema does not know is refused before any SQL is written. Filter values are
never spliced into SQL: each is converted to its column's type and bound as a `$v<n>` parameter.
Everything runs through the sandboxed engine (`data.run_sql`), as typed SQL does.

The browser's state lives in the URL, Datasette-like but prefixed so that no column name meets the
dashboard's own parameters (`source`, `window`, ...):

- `table=<name>`,
- `f_<column>=<value>` (equal to), `f_<column>__contains=<text>` (contains, any case),
  `f_<column>__gte=<value>` (at least), `f_<column>__lte=<value>` (at most),
- `page=<n>` (from 1; omitted on the first page).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl
import streamlit as st

from dashboard import data
from pipelines import schema
from pipelines.sql import sandbox

PAGE_SIZE = 100
# A text column with at most this many distinct values is filtered by choosing one of them.
MAX_CHOICES = 200
# Facets: up to FACETS text or true/false columns with 2 to FACET_MAX_DISTINCT distinct values, in
# the schema's column order, each showing its FACET_TOP most frequent values with their counts.
FACETS = 5
FACET_MAX_DISTINCT = 30
FACET_TOP = 10

OPS = ("exact", "contains", "gte", "lte")
OP_WORDS = {"exact": "is", "contains": "contains", "gte": "at least", "lte": "at most"}
URL_PREFIX = "f_"
PAGE_KEY = "page"
TABLE_KEY = "table"

_KINDS = {
    "VARCHAR": "text",
    "BIGINT": "number",
    "INTEGER": "number",
    "DOUBLE": "number",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "BOOLEAN": "boolean",
}
# Which filters each kind of column takes.
KIND_OPS = {
    "text": ("exact", "contains"),
    "boolean": ("exact",),
    "number": ("gte", "lte"),
    "date": ("gte", "lte"),
    "timestamp": ("gte", "lte"),
}


class BrowseError(ValueError):
    """A table, column, filter or value the browser refuses; the message says why in words."""


@dataclass(frozen=True)
class Filter:
    column: str
    op: str  # one of OPS
    value: str  # as typed or read from the URL; converted to the column's type when SQL is built

    @property
    def url_key(self) -> str:
        return url_key(self.column, self.op)

    def words(self) -> str:
        return f"{self.column} {OP_WORDS[self.op]} {self.value!r}"


@dataclass(frozen=True)
class Profile:
    """What the page needs to offer filters and facets for a table, read once per load of the file."""

    rows: int
    distinct: dict[str, int]  # text columns: approximate number of distinct values
    choices: dict[str, list[str]]  # text and true/false columns with at most MAX_CHOICES values: every value
    low: dict[str, object]  # number and date columns: lowest value
    high: dict[str, object]  # and highest


@dataclass(frozen=True)
class Page:
    rows: int  # rows matching the filters
    frame: pl.DataFrame  # this page of them
    offset: int
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # column: (value, rows), most first
    elapsed_s: float = 0.0


# --- names, only from the schema ------------------------------------------------------------------------


def table(name: str) -> schema.Table:
    if name not in schema.TABLES:
        raise BrowseError(f"no table or view named {name!r} in the schema")
    return schema.TABLES[name]


def column(table_name: str, name: str) -> str:
    if name not in table(table_name).columns:
        raise BrowseError(f"{table_name} has no column named {name!r}")
    return name


def quote(identifier: str) -> str:
    """A schema name as a quoted SQL identifier (never given a name the schema does not hold)."""
    return '"' + identifier.replace('"', '""') + '"'


def kind(column_name: str) -> str:
    """text, number, date, timestamp or boolean, from the column's declared type."""
    return _KINDS.get(schema.FIELDS[column_name].sql_type, "text")


def url_key(column_name: str, op: str) -> str:
    return URL_PREFIX + column_name + ("" if op == "exact" else f"__{op}")


def convert(column_name: str, op: str, value: str) -> object:
    """A filter's text as the value bound for its column; BrowseError if it is not of its type."""
    if op not in KIND_OPS[kind(column_name)]:
        raise BrowseError(f"{column_name} ({kind(column_name)}) cannot be filtered by “{OP_WORDS.get(op, op)}”")
    text = value.strip()
    column_kind = kind(column_name)
    try:
        if column_kind == "text":
            return value
        if column_kind == "boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError(value)
            return text.lower() == "true"
        if column_kind == "number":
            return int(text) if schema.FIELDS[column_name].sql_type in ("BIGINT", "INTEGER") else float(text)
        if column_kind == "date":
            return date.fromisoformat(text if len(text) > 7 else f"{text}-01")
        if column_kind == "timestamp":
            return datetime.fromisoformat(text)
    except ValueError:
        pass
    example = {
        "number": "a number",
        "date": "a date such as 2021-04-01",
        "timestamp": "a date and time such as 2021-04-01 09:30",
        "boolean": "true or false",
    }[column_kind]
    raise BrowseError(f"{column_name}: {value!r} is not {example}")


# --- SQL, with every value bound -------------------------------------------------------------------------


def where(table_name: str, filters: list[Filter]) -> tuple[str, dict[str, object]]:
    """The WHERE clause (or "") for `filters` and its parameters."""
    table(table_name)
    clauses, params = [], {}
    for i, f in enumerate(filters):
        name = quote(column(table_name, f.column))
        value = convert(f.column, f.op, f.value)
        param = f"v{i}"
        params[param] = value
        if f.op == "exact":
            clauses.append(f"{name} = ${param}")
        elif f.op == "contains":
            clauses.append(f"contains(lower({name}), lower(${param}))")
        elif f.op == "gte":
            clauses.append(f"{name} >= ${param}")
        else:
            clauses.append(f"{name} <= ${param}")
    return (" where " + " and ".join(clauses) if clauses else ""), params


def order_by(table_name: str) -> str:
    """A total order, so that pages neither repeat nor skip rows: the key, then every column."""
    t = table(table_name)
    return "order by " + ", ".join(
        quote(c) for c in (*t.primary_key, *(c for c in t.columns if c not in t.primary_key))
    )


def rows_sql(table_name: str, filters: list[Filter], limit: int = PAGE_SIZE, offset: int = 0) -> tuple[str, dict]:
    condition, params = where(table_name, filters)
    if not (isinstance(limit, int) and isinstance(offset, int) and limit > 0 and offset >= 0):
        raise BrowseError("a page needs a positive size and an offset of zero or more")
    columns = ", ".join(quote(c) for c in table(table_name).columns)
    return (
        f"select {columns} from {quote(table_name)}{condition} {order_by(table_name)} limit {limit} offset {offset}",
        params,
    )


def count_sql(
    table_name: str, filters: list[Filter], facet_columns: Sequence[str] = (), top: int = FACET_TOP
) -> tuple[str, dict]:
    """One statement for the number of matching rows (facet 0) and each facet's top values with their
    counts (facet i for the i-th column): rows of (facet, value as text, n)."""
    condition, params = where(table_name, filters)
    parts = ["select 0 as facet, null::varchar as value, count(*) as n from matching"]
    for i, name in enumerate(facet_columns, start=1):
        c = quote(column(table_name, name))
        parts.append(
            f"(select {i}, cast({c} as varchar), count(*) from matching where {c} is not null "
            f"group by 2 order by 3 desc, 2 limit {int(top)})"
        )
    return (
        f"with matching as (select * from {quote(table_name)}{condition})\n"
        f"select facet, value, n from ({' union all '.join(parts)}) order by facet, n desc, value",
        params,
    )


def profile_sql(table_name: str) -> str:
    """The table's row count, and per column: approximate distinct values (text), lowest and highest
    (numbers, dates). Aliases are `kind:column`."""
    parts = ['count(*) as "rows"']
    for c in table(table_name).columns:
        q = quote(c)
        if kind(c) == "text":
            parts.append(f"approx_count_distinct({q}) as {quote('distinct:' + c)}")
        elif kind(c) in ("number", "date", "timestamp"):
            parts += [f"min({q}) as {quote('low:' + c)}", f"max({q}) as {quote('high:' + c)}"]
    return f"select {', '.join(parts)} from {quote(table_name)}"


def choices_sql(table_name: str, columns: list[str]) -> str:
    """Every distinct value of each of `columns`, sorted, one list each."""
    parts = [
        f"list(distinct cast({quote(column(table_name, c))} as varchar) order by cast({quote(c)} as varchar)) "
        f"filter (where {quote(c)} is not null) as {quote(c)}"
        for c in columns
    ]
    return f"select {', '.join(parts)} from {quote(table_name)}"


# --- state in the URL ----------------------------------------------------------------------------------------


def filters_from_params(table_name: str, params: Mapping[str, str]) -> tuple[list[Filter], list[str]]:
    """The filters a query string holds for the table, and a sentence for each `f_` parameter it
    cannot use (an unknown column, a filter the column does not take, a value not of its type)."""
    t = table(table_name)
    filters, problems = [], []
    for key in params:
        if not key.startswith(URL_PREFIX):
            continue
        value = params[key]
        name, _, op = key[len(URL_PREFIX) :].partition("__")
        op = op or "exact"
        if name not in t.columns:
            problems.append(f"{table_name} has no column {name!r}: the filter {key} is left out")
            continue
        if op not in KIND_OPS[kind(name)]:
            problems.append(f"{name} cannot be filtered by “{OP_WORDS.get(op, op)}”: the filter {key} is left out")
            continue
        if value == "":
            continue
        try:
            convert(name, op, value)
        except BrowseError as problem:
            problems.append(f"{problem}: the filter is left out")
            continue
        filters.append(Filter(name, op, value))
    order = {c: i for i, c in enumerate(t.columns)}
    return sorted(filters, key=lambda f: (order[f.column], OPS.index(f.op))), problems


def params_of(filters: list[Filter]) -> dict[str, str]:
    return {f.url_key: f.value for f in filters}


def is_browse_param(key: str) -> bool:
    return key.startswith(URL_PREFIX) or key in (PAGE_KEY, TABLE_KEY)


def facet_columns(table_name: str, profile: Profile, filters: list[Filter]) -> list[str]:
    """The columns to facet: few distinct values (2 to FACET_MAX_DISTINCT), not already chosen."""
    chosen = {f.column for f in filters if f.op == "exact"}
    picked = [
        c
        for c in table(table_name).columns
        if kind(c) in ("text", "boolean")
        and c not in chosen
        and 2 <= len(profile.choices.get(c, ())) <= FACET_MAX_DISTINCT
    ]
    return picked[:FACETS]


def description(table_name: str) -> str:
    t = table(table_name)
    what = "View" if t.is_view else "Table"
    return f"{what} `{t.name}`: {t.description} Grain: {t.grain}."


# --- reading, through the sandbox ------------------------------------------------------------------------------


def _file_identity() -> tuple[int, int, int, int]:
    """Which database file is at the path now: cached reads are keyed to it, as `data` keys its own."""
    try:
        info = os.stat(data.database_path())
    except OSError:
        return (0, 0, 0, 0)
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


@st.cache_data(show_spinner=False, max_entries=8)
def _present(identity: tuple) -> list[str]:
    present = set(data.run_sql("select table_name from information_schema.tables").frame["table_name"].to_list())
    views = [t.name for t in schema.TABLES.values() if t.is_view]
    others = [t.name for t in schema.TABLES.values() if not t.is_view]
    return [n for n in (*views, *others) if n in present]


def tables() -> list[str]:
    """Every table and view of the schema that the database holds: views first (they are the stable
    names analysts use), then tables, each in the schema's order."""
    return _present(_file_identity())


@st.cache_data(show_spinner=False, max_entries=64)
def _profile(table_name: str, identity: tuple) -> Profile:
    row = data.run_sql(profile_sql(table_name)).frame.row(0, named=True)
    t = table(table_name)
    distinct = {c: int(row[f"distinct:{c}"] or 0) for c in t.columns if kind(c) == "text"}
    # approx_count_distinct errs by a few per cent: ask for the values of columns near the limit too.
    few = [c for c in t.columns if kind(c) == "text" and 0 < distinct[c] <= MAX_CHOICES * 1.25]
    choices: dict[str, list[str]] = {c: ["false", "true"] for c in t.columns if kind(c) == "boolean"}
    if few:
        values = data.run_sql(choices_sql(table_name, few)).frame.row(0, named=True)
        for c in few:
            listed = values[c] or []
            if len(listed) <= MAX_CHOICES:
                choices[c] = listed
            distinct[c] = len(listed)
    ranged = [c for c in t.columns if kind(c) in ("number", "date", "timestamp")]
    return Profile(
        int(row["rows"]), distinct, choices, {c: row[f"low:{c}"] for c in ranged}, {c: row[f"high:{c}"] for c in ranged}
    )


def profile(table_name: str) -> Profile:
    return _profile(table(table_name).name, _file_identity())


def browse(
    table_name: str, filters: list[Filter], page: int = 1, page_size: int = PAGE_SIZE, facets: Sequence[str] = ()
) -> Page:
    """One page of the rows matching `filters`, how many match, and each facet's top values.
    Raises BrowseError for a name or value it refuses, sandbox.QueryError if the query fails."""
    page = max(1, int(page))
    count_statement, count_params = count_sql(table_name, filters, list(facets))
    counted = data.run_sql(count_statement, count_params)
    rows = int(counted.frame.filter(pl.col("facet") == 0)["n"][0])
    pages = max(1, -(-rows // page_size))
    offset = (min(page, pages) - 1) * page_size
    statement, params = rows_sql(table_name, filters, page_size, offset)
    result = data.run_sql(statement, params)
    top = {
        name: [(value, int(n)) for _, value, n in counted.frame.filter(pl.col("facet") == i).iter_rows()]
        for i, name in enumerate(facets, start=1)
    }
    return Page(rows, result.frame, offset, top, counted.elapsed_s + result.elapsed_s)


def all_rows(table_name: str, filters: list[Filter]) -> pl.DataFrame:
    """Every matching row up to the workbench's row limit, for the downloads."""
    statement, params = rows_sql(table_name, filters, sandbox.ROW_LIMIT, 0)
    return data.run_sql(statement, params).frame


def page_words(page: Page, page_size: int = PAGE_SIZE) -> str:
    """ "Rows 101–200 of 1,234 (100 a page)", or "No rows match"."""
    if page.rows == 0:
        return "No rows match."
    last = page.offset + page.frame.height
    return f"Rows {page.offset + 1:,}–{last:,} of {page.rows:,}, {page_size:,} a page, in the order of the table's key."


def pages(rows: int, page_size: int = PAGE_SIZE) -> int:
    return max(1, -(-rows // page_size))


def page_from(text: str | None) -> int:
    """A page number from the URL: 1 unless it is a whole number of at least 1."""
    try:
        return max(1, int(text)) if text is not None else 1
    except ValueError:
        return 1


def filter_slots(table_name: str, columns: list[str], profile: Profile, from_url: list[Filter]) -> list[Filter]:
    """The filter widgets to draw for the chosen columns, each with its value from the URL ("" if
    none): a choice of values or a search for text, a lowest and highest value for numbers and dates,
    and any other filter the URL holds for the column."""
    url_values = {(f.column, f.op): f.value for f in from_url}
    slots = []
    for name in dict.fromkeys(columns):
        column(table_name, name)
        column_kind = kind(name)
        if column_kind == "text":
            ops = ["exact" if name in profile.choices else "contains"]
        else:
            ops = list(KIND_OPS[column_kind])
        ops += [op for (c, op) in url_values if c == name and op not in ops]
        slots += [Filter(name, op, url_values.get((name, op), "")) for op in sorted(ops, key=OPS.index)]
    return slots


def valid_filters(filters: list[Filter]) -> tuple[list[Filter], list[str]]:
    """The filters whose values are of their column's type, and a sentence for each left out."""
    kept, problems = [], []
    for f in filters:
        try:
            convert(f.column, f.op, f.value)
        except BrowseError as problem:
            problems.append(f"{problem}: the filter is left out")
        else:
            kept.append(f)
    return kept, problems


# --- the workbench's URL ------------------------------------------------------------------------------------


def stale_keys(mode: str, keys: list[str]) -> list[str]:
    """Workbench parameters in the URL that belong to another mode than `mode`: the free SQL (`sql`),
    a saved question (`query`, `p_*`) or the table browser (`table`, `f_*`, `page`). The dashboard's
    own parameters (peers, window, source) are kept."""
    owner = {"sql": "free", "query": "saved", TABLE_KEY: "browse", PAGE_KEY: "browse"}
    stale = []
    for key in keys:
        belongs = owner.get(key) or (
            "saved" if key.startswith("p_") else "browse" if key.startswith(URL_PREFIX) else None
        )
        if belongs is not None and belongs != mode:
            stale.append(key)
    return stale


def default_text(param: sandbox.Param) -> str:
    return "" if param.default is None else str(param.default)


def saved_params(saved: sandbox.SavedQuery, typed: Mapping[str, str]) -> dict[str, str]:
    """The `p_` values a link to `saved` needs: those given for its own parameters that differ from
    their defaults (a value that does not parse is kept, so the link shows why it is refused)."""
    wanted = {}
    for param in saved.params:
        text = typed.get(param.name, "")
        if text == "":
            continue
        if param.default is not None:
            try:
                if param.convert(text) == param.convert(param.default):
                    continue
            except sandbox.QueryError:
                pass
        wanted[param.name] = text
    return wanted


# --- downloads of every matching row ---------------------------------------------------------------------------

DOWNLOADS = {
    "CSV": ("text/csv", sandbox.to_csv_bytes),
    "JSON": ("application/json", sandbox.to_json_bytes),
    "Parquet": ("application/vnd.apache.parquet", sandbox.to_parquet_bytes),
}


def download(table_name: str, filters: list[Filter], convert_frame):
    """A callable for `st.download_button`: it reads the rows only when the button is pressed."""
    filters = list(filters)

    def read() -> bytes:
        return convert_frame(all_rows(table_name, filters))

    return read
