"""The one place that runs analysts' SQL: saved queries from `queries/`, and any read query typed in.

Both the dashboard's SQL workbench and `crossforce query` call `run()`. It promises:

- **Read only, in depth.** Two layers, each tested on its own against the hostile statements in
  `tests/test_query.py`. The statement check (`check()`) runs first and gives a clear message:
  exactly one statement, of a read kind (select, with, from, values, describe, show, summarize,
  pivot, explain of one of those), calling no function that reads files or URLs, runs SQL text, or
  shows the server's settings, paths or process. The real barrier is the connection (`connect()`):
  read-only, external access off (no files, no network, no ATTACH), no extension loading or
  installing, no spilling to a temporary directory, and the configuration locked so SQL cannot
  loosen any of it.
- **Values are bound, never spliced.** Parameters are written `$name` in SQL and passed to DuckDB.
- **Bounded, in a process of its own.** Each query runs in a short-lived process forked from a
  server process (`multiprocessing`'s fork server, started once): at most `row_limit` rows come back
  (DuckDB stops after `row_limit + 1`), and the process is killed when it runs past `timeout_s` or
  its memory grows by more than the memory limit (`Limits`), so that no query can take the
  server's memory, keep running after its time, or bring down the dashboard by aborting: some DuckDB
  functions (`repeat`, `lpad`, list `range`, `printf`, ...) allocate outside DuckDB's own memory
  limit and do not answer an interrupt.

The saved-query header format, the limits and their settings are documented in `docs/sql_workbench.md`.
"""

from __future__ import annotations

import io
import json
import math
import multiprocessing
import numbers
import os
import re
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl

PROJECT_ROOT = Path(__file__).resolve().parents[2]
QUERIES_DIR = PROJECT_ROOT / "queries"

ROW_LIMIT = 10_000
TIMEOUT_S = 10.0
MAX_ROW_LIMIT = 1_000_000
MAX_TIMEOUT_S = 3600.0
MAX_SQL_CHARS = 100_000

# What one query may use (see `limits()`): each is read from its environment variable when a query
# runs, else the default. Low defaults: the workbench runs on a server shared by every user.
MEMORY_LIMIT_ENV = "CROSSFORCE_SQL_MEMORY_LIMIT"
THREADS_ENV = "CROSSFORCE_SQL_THREADS"
MAX_QUERIES_ENV = "CROSSFORCE_SQL_MAX_QUERIES"
MEMORY_LIMIT = "512MB"
THREADS = 2
MAX_QUERIES = 4  # query processes running at once in one server process; more wait their turn
MIN_MEMORY_LIMIT = 64_000_000
# DuckDB's own `memory_limit` counts only its buffer manager, and DuckDB allocates beside it: it is
# set to this share of the limit, so that DuckDB usually stops a query with its own message before
# the query's process outgrows the whole limit and is killed.
DUCKDB_MEMORY_SHARE = 0.75
# How often the server looks at a running query's memory and clock.
WATCH_INTERVAL_S = 0.005
# After killing a query's process, how long to wait for it to be gone.
STOP_GRACE_S = 2.0

# The connection layer. Every name here is a DuckDB 2.0 setting (a test checks each one is in
# effect and documented in docs/sql_workbench.md); `sandbox_settings()` adds `memory_limit` and
# `threads` from the limits. `connect()` opens the instance with all but `enable_external_access` and
# `lock_configuration`, attaches the database, then sets those two before anything else runs.
SANDBOX_SETTINGS: dict[str, str | int | float] = {
    # (first: given at connect time after `temp_directory`, DuckDB refuses that one)
    "enable_external_access": False,  # no files or URLs: COPY, read_*, glob, ATTACH, EXPORT, INSTALL
    "autoload_known_extensions": False,  # no extension loaded behind a function call
    "autoinstall_known_extensions": False,  # ... or downloaded
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_extension_repositories": "forbidden",
    "allow_persistent_secrets": False,  # no secrets read from or written to disk
    "temp_directory": "",  # a large sort fails for memory rather than writing temporary files
    "max_temp_directory_size": "0B",
    "enable_progress_bar": False,  # a long query draws nothing on the server's terminal
    "lock_configuration": True,  # SET, RESET and PRAGMA cannot change any of the above
}
# Settings DuckDB takes only for a connection, not when an instance opens: `connect()` sets them.
_CONNECTION_SETTINGS = ("enable_progress_bar",)


class QueryError(Exception):
    """The query could not run; `message` says why in words for the person who wrote it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class QueryRefused(QueryError):
    """The query is not allowed here: it would write, read files or URLs, or change settings."""


class QueryTimeout(QueryError):
    """The query ran past its time limit and was stopped."""


class QueryTooLarge(QueryError):
    """The query needed more memory than the limit: DuckDB refused it, or its process was stopped."""


class ParameterError(QueryError, ValueError):
    """A parameter is unknown, missing, or not of its declared type."""


class SavedQueryError(ValueError):
    """A file in `queries/` does not follow the header format."""


@dataclass(frozen=True)
class QueryResult:
    frame: pl.DataFrame
    truncated: bool  # more rows than the row limit: `frame` holds the first `row_limit`
    elapsed_s: float


# --- saved queries ------------------------------------------------------------------------------------

PARAM_TYPES = ("text", "integer", "number", "date", "boolean")
HEADER_KEYS = ("title", "description", "grain", "param")
_KEY_LINE = re.compile(r"^-- (?P<key>[a-z_]+):\s*(?P<value>.*)$")
_CONTINUATION = re.compile(r"^--(?: {2,}(?P<value>.*))?$")
_PARAM = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>[a-z]+)"
    r"(?:\s+default\s+(?P<default>'(?:[^']|'')*'|[^\s']+))?"
    r"\s*(?:(?:—|--)\s*(?P<description>.*))?$"
)


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: object | None = None  # already of its type (int, float, date, bool, str); None: required
    description: str = ""

    def convert(self, value: object) -> object:
        """The value as DuckDB should receive it; text (from a form or `--param`) is parsed by type."""
        if not isinstance(value, str):
            return value
        try:
            if self.type == "integer":
                return int(value)
            if self.type == "number":
                return float(value)
            if self.type == "date":
                return date.fromisoformat(value if len(value) > 7 else f"{value}-01")
            if self.type == "boolean":
                lowered = value.strip().lower()
                if lowered not in ("true", "false", "yes", "no", "1", "0"):
                    raise ValueError(value)
                return lowered in ("true", "yes", "1")
        except ValueError:
            raise ParameterError(
                f"parameter ${self.name} is {_article(self.type)} {self.type}; got {value!r}"
            ) from None
        return value


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


@dataclass(frozen=True)
class SavedQuery:
    name: str  # the file's stem: `crossforce query NAME`
    title: str
    description: str
    grain: str
    params: list[Param] = field(default_factory=list)
    sql: str = ""
    path: Path | None = None

    def bind(self, values: Mapping[str, object] | None = None) -> dict[str, object]:
        """Every parameter's value: given (converted to its type) or its default."""
        values = dict(values or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            valid = ", ".join(f"${p}" for p in known) or "none"
            raise ParameterError(
                f"{self.name}: unknown parameter {', '.join('$' + u for u in unknown)}; its parameters are: {valid}"
            )
        bound = {}
        for p in self.params:
            if p.name in values:
                bound[p.name] = p.convert(values[p.name])
            elif p.default is not None:
                bound[p.name] = p.convert(p.default)
            else:
                raise ParameterError(f"{self.name}: parameter ${p.name} ({p.type}) has no default: give it a value")
        return bound


def parse_saved_query(path: Path) -> SavedQuery:
    """Read one saved query: the header comment at the top of the file, then the SQL."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    fields: dict[str, str] = {}
    params: list[Param] = []
    last: str | None = None
    lines = text.splitlines()
    n = 0
    for n, line in enumerate(lines, start=1):
        line = line.rstrip()
        if not line.startswith("--"):
            break
        if m := _KEY_LINE.match(line):
            key, value = m["key"], m["value"].strip()
            if key not in HEADER_KEYS:
                raise SavedQueryError(
                    f"{path.name}: line {n}: unknown header key {key!r}; known: {', '.join(HEADER_KEYS)}"
                )
            if key == "param":
                params.append(_parse_param(path, n, value))
            elif key in fields:
                raise SavedQueryError(f"{path.name}: line {n}: {key!r} given twice")
            else:
                fields[key] = value
            last = key
        elif m := _CONTINUATION.match(line):
            more = (m["value"] or "").strip()
            if more and last is None:
                raise SavedQueryError(f"{path.name}: line {n}: continuation line before any header key")
            if more and last == "param":
                p = params[-1]
                params[-1] = Param(p.name, p.type, p.default, f"{p.description} {more}".strip())
            elif more and last is not None:  # (None was refused above)
                fields[last] = f"{fields[last]} {more}".strip()
        else:
            raise SavedQueryError(
                f"{path.name}: line {n}: header lines are `-- key: value` or an indented "
                f"continuation `--   ...`; got {line!r}"
            )
    else:
        n += 1
    missing = [k for k in ("title", "description", "grain") if not fields.get(k)]
    if missing:
        raise SavedQueryError(f"{path.name}: the header lacks {', '.join(missing)}")
    sql = "\n".join(lines[n - 1 :]).strip()
    if not sql:
        raise SavedQueryError(f"{path.name}: no SQL after the header")
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise SavedQueryError(f"{path.name}: a parameter is declared twice: {', '.join(names)}")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SavedQueryError(f"{path.name}: the SQL does not parse: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise SavedQueryError(f"{path.name}: holds {len(statements)} statements; a saved query is exactly one")
    used = set(statements[0].named_parameters)
    if used != set(names):
        raise SavedQueryError(
            f"{path.name}: parameters used in the SQL ({', '.join(sorted('$' + u for u in used)) or 'none'}) "
            f"differ from those declared in the header ({', '.join('$' + x for x in names) or 'none'})"
        )
    return SavedQuery(path.stem, fields["title"], fields["description"], fields["grain"], params, sql, path)


def _parse_param(path: Path, n: int, spec: str) -> Param:
    m = _PARAM.match(spec)
    if not m:
        raise SavedQueryError(
            f"{path.name}: line {n}: a param line reads "
            f"`-- param: NAME TYPE [default VALUE] [— description]`; got {spec!r}"
        )
    if m["type"] not in PARAM_TYPES:
        raise SavedQueryError(
            f"{path.name}: line {n}: parameter type {m['type']!r} is not one of {', '.join(PARAM_TYPES)}"
        )
    default = m["default"]
    if default is not None and default.startswith("'"):
        default = default[1:-1].replace("''", "'")
    param = Param(m["name"], m["type"], None, (m["description"] or "").strip())
    if default is not None:
        try:
            param = Param(param.name, param.type, param.convert(default), param.description)
        except ParameterError as exc:
            raise SavedQueryError(f"{path.name}: line {n}: default {exc.message}") from None
    return param


def saved_queries(folder: Path = QUERIES_DIR) -> list[SavedQuery]:
    """Every `*.sql` file in `folder`, by name. A malformed file raises `SavedQueryError`."""
    return [parse_saved_query(p) for p in sorted(Path(folder).glob("*.sql"))]


def saved_query(name: str, folder: Path = QUERIES_DIR) -> SavedQuery:
    """One saved query by name; an unknown name raises `ParameterError` listing the valid names."""
    queries = {q.name: q for q in saved_queries(folder)}
    if name not in queries:
        raise ParameterError(f"no saved query named {name!r}; saved queries: {', '.join(queries) or 'none'}")
    return queries[name]


# --- the statement check ------------------------------------------------------------------------------

_READ_ONLY_REASON = "the workbench only reads the crossforce database"
# Why each kind of statement is refused. `import database` parses as PRAGMA, `install` as LOAD,
# `reset` and `use` as SET, `checkpoint` as CALL: the message names the keyword the user wrote.
_REFUSED_TYPES = {
    "INSERT": "it changes data; " + _READ_ONLY_REASON,
    "UPDATE": "it changes data; " + _READ_ONLY_REASON,
    "DELETE": "it changes data; " + _READ_ONLY_REASON,
    "MERGE_INTO": "it changes data; " + _READ_ONLY_REASON,
    "CREATE": "it creates objects (temporary ones too); " + _READ_ONLY_REASON + " (use a CTE: `with x as (...)`)",
    "CREATE_FUNC": "it creates objects; " + _READ_ONLY_REASON,
    "DROP": "it removes objects; " + _READ_ONLY_REASON,
    "ALTER": "it changes the schema; " + _READ_ONLY_REASON,
    "COPY": "it reads or writes files; " + _READ_ONLY_REASON + " (download results from the workbench instead)",
    "COPY_DATABASE": "it copies databases; " + _READ_ONLY_REASON,
    "EXPORT": "it writes files; " + _READ_ONLY_REASON,
    "ATTACH": "it opens other databases or files; " + _READ_ONLY_REASON,
    "DETACH": "it closes databases; " + _READ_ONLY_REASON,
    "LOAD": "extensions can read files and the network, and none may be installed or loaded here",
    "EXTENSION": "extensions can read files and the network, and none may be installed or loaded here",
    "SET": "the workbench's settings are fixed (they are what keep it read-only)",
    "VARIABLE_SET": "the workbench's settings are fixed (they are what keep it read-only)",
    "PRAGMA": "pragmas change settings or run commands; use the `pragma_...` table functions in a select",
    "CALL": "it runs a procedure; use `select * from f(...)` for a table function",
    "VACUUM": "it maintains (writes) the database; " + _READ_ONLY_REASON,
    "ANALYZE": "it maintains (writes) the database; " + _READ_ONLY_REASON,
    "TRANSACTION": "each query runs in its own read-only transaction",
    "PREPARE": "prepared statements are not supported; write `$name` parameters instead",
    "EXECUTE": "prepared statements are not supported; write `$name` parameters instead",
    # DuckDB runs a PIVOT without an IN list as several statements, which cannot be checked one by one.
    "MULTI": "a PIVOT must list its values here: `pivot t on col in ('a', 'b') using ...`",
}
_KEYWORD_REASONS = {
    "IMPORT": "it reads files; " + _READ_ONLY_REASON,
    "CHECKPOINT": "it writes the database; " + _READ_ONLY_REASON,
    "DEALLOCATE": "prepared statements are not supported; write `$name` parameters instead",
}
_FILE_FUNCTIONS = re.compile(
    r"^(read_\w+|glob|sniff_csv|parquet_\w+|\w+_scan|iceberg_\w+|delta_\w+|sqlite_\w+|postgres_\w+|mysql_\w+"
    r"|ducklake_\w+|st_read\w*|st_drivers|http_\w+|load_aws_credentials|from_csv_auto|excel_\w+)$"
)
_FUNCTION_REASONS = {
    "query": "it runs SQL given as text, which cannot be checked; write the query itself",
    "query_table": "it reads tables named as text, which cannot be checked; name the table itself",
    "json_execute_serialized_sql": "it runs SQL given as text, which cannot be checked; write the query itself",
    "checkpoint": "it writes the database; " + _READ_ONLY_REASON,
    "force_checkpoint": "it writes the database; " + _READ_ONLY_REASON,
}
# Functions and views that show the server rather than the data: its settings (secret and extension
# directories, the limits), the files and paths it has open, its environment, and the state of its
# process. `connect()` reads some of them itself before it hands out a connection.
_SETTINGS_REASON = "it shows the server's settings, which are not the workbench's to read"
_PATHS_REASON = "it shows the server's files, paths or environment"
_PROCESS_REASON = "it shows or changes the state of the server's process (memory, connections, logs, profiling)"
_ENVIRONMENT_FUNCTIONS = {
    **dict.fromkeys(
        (
            "current_setting",
            "duckdb_settings",
            "which_secret",
            "duckdb_secrets",
            "duckdb_secret_types",
            "duckdb_secret_type_parameters",
            "duckdb_variables",
            "duckdb_profiling_settings",
        ),
        _SETTINGS_REASON,
    ),
    **dict.fromkeys(
        (
            "duckdb_databases",
            "duckdb_extensions",
            "duckdb_extension_repositories",
            "duckdb_temporary_files",
            "duckdb_external_file_cache",
            "duckdb_external_resources",
            "duckdb_external_resource_types",
            "getenv",
            "version",
            "platform",
            "user_agent",
        ),
        _PATHS_REASON,
    ),
    **dict.fromkeys(
        (
            "duckdb_memory",
            "duckdb_eviction_queues",
            "duckdb_connection_count",
            "duckdb_approx_database_count",
            "duckdb_live_query_metrics",
            "duckdb_logs",
            "duckdb_logs_parsed",
            "duckdb_log_contexts",
            "truncate_duckdb_logs",
            "enable_logging",
            "disable_logging",
            "enable_profiling",
            "disable_profiling",
            "duckdb_prepared_statements",
            "duckdb_grammar_extensions",
            "add_grammar_extension",
            "remove_grammar_extension",
            "register_external_resource",
            "register_external_resource_type",
            "create_external_resource",
            "destroy_external_resource",
            "deregister_external_resource",
            "python_map_function",
            "current_connection_id",
            "current_transaction_id",
            "current_query_id",
        ),
        _PROCESS_REASON,
    ),
}
# `pragma_*` table functions show the platform, version, storage and database list; these two only
# describe a table, as `describe` does.
_PRAGMA_FUNCTIONS = re.compile(r"^pragma_(?!(table_info|show)$)\w+$")
# Views (any catalog or schema) that show the same: names read as tables, with or without a call.
_ENVIRONMENT_VIEWS = {
    "duckdb_databases": _PATHS_REASON,
    "pragma_database_list": _PATHS_REASON,
    "pg_settings": _SETTINGS_REASON,
    "duckdb_logs": _PROCESS_REASON,
    "pg_prepared_statements": _PROCESS_REASON,
}
_PATH_LIKE = re.compile(r"[/\\:]|\.[A-Za-z0-9]{1,8}(\.gz|\.zst)?$")


@dataclass(frozen=True)
class CheckedStatement:
    keyword: str  # the statement's first word, upper case: SELECT, WITH, EXPLAIN, ...
    parameters: frozenset[str]  # named parameters it uses, without the `$`


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _tokens(sql: str) -> list[tuple[str, str]]:
    """(text, kind) of each token, comments dropped; kinds are DuckDB's (keyword, identifier, ...)."""
    raw = duckdb.tokenize(sql)
    out = []
    for i, (start, kind) in enumerate(raw):
        end = raw[i + 1][0] if i + 1 < len(raw) else len(sql)
        name = str(kind).rsplit(".", 1)[-1]
        if name != "comment":
            out.append((sql[start:end].strip(), name))
    return out


def _keyword(tokens: list[tuple[str, str]]) -> str:
    words = [t for t, _ in tokens[:2]]
    if not words:
        return ""
    if len(words) > 1 and (
        words[0].lower() == "force" or words[1].lower() == "extensions"
    ):  # FORCE INSTALL, UPDATE EXTENSIONS
        return f"{words[0]} {words[1]}".upper()
    return words[0].upper()


def _unquote(identifier: str) -> str:
    if len(identifier) >= 2 and identifier[0] == identifier[-1] == '"':
        return identifier[1:-1].replace('""', '"')
    return identifier.lower()


def _references(
    sql: str, tokens: list[tuple[str, str]], parser: duckdb.DuckDBPyConnection
) -> tuple[set[str], set[str]]:
    """(functions called, tables read) by a SELECT, from DuckDB's own parse tree where it can give one,
    and from the tokens always (`name(`), so that nothing the tree cannot show goes unchecked."""
    functions: set[str] = set()
    tables: set[str] = set()
    for (text, kind), (nxt, _) in zip(tokens, tokens[1:] + [("", "")]):
        if kind in ("identifier", "keyword") and nxt == "(":
            functions.add(_unquote(text).lower())
        # a view that shows the server, wherever it is named (`summarize pg_settings` too)
        if kind in ("identifier", "keyword") and _unquote(text).lower() in _ENVIRONMENT_VIEWS:
            tables.add(_unquote(text).lower())
    for (text, _kind), (nxt, nxt_kind) in zip(tokens, tokens[1:] + [("", "")]):
        # a quoted string right after FROM or JOIN is a file DuckDB would scan ("replacement scan")
        if text.lower() in ("from", "join") and nxt_kind == "string_const":
            tables.add(nxt[1:-1])
    tree = json.loads(parser.sql("select json_serialize_sql($q)", params={"q": sql}).fetchall()[0][0])
    if not tree.get("error"):
        stack: list = [tree]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if node.get("class") == "FUNCTION" and node.get("function_name"):
                    functions.add(str(node["function_name"]).lower())
                if node.get("type") == "BASE_TABLE" and node.get("table_name"):
                    tables.add(str(node["table_name"]))
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return functions, tables


def check(sql: str, *, parser: duckdb.DuckDBPyConnection | None = None) -> CheckedStatement:
    """Refuse, with a clear message, anything but one read statement; say which parameters it uses.

    This is the first layer and gives the messages; the sandboxed connection is the barrier.
    `parser` is any DuckDB connection, used only to parse (a throwaway in-memory one by default).
    """
    if not isinstance(sql, str):
        raise QueryError(f"the SQL must be text, not {type(sql).__name__}")
    if len(sql) > MAX_SQL_CHARS:
        raise QueryRefused(f"the SQL is {len(sql):,} characters long; the workbench takes at most {MAX_SQL_CHARS:,}")
    own = parser is None
    con = (
        parser
        if parser is not None
        else duckdb.connect(
            ":memory:",
            config={
                **{k: v for k, v in SANDBOX_SETTINGS.items() if k not in _CONNECTION_SETTINGS},
                "memory_limit": "64MB",
                "threads": 1,
            },
        )
    )
    try:
        return _check(sql, con, nested=False)
    finally:
        if own:
            con.close()


def _check(sql: str, parser: duckdb.DuckDBPyConnection, *, nested: bool) -> CheckedStatement:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"the SQL does not parse: {_first_line(exc)}") from None
    if not statements:
        raise QueryError("no SQL statement given")
    if len(statements) > 1:
        kinds = ", ".join(_keyword(_tokens(s.query)) or "?" for s in statements)
        raise QueryRefused(
            f"{len(statements)} statements given ({kinds}); the workbench runs exactly one read statement at a time"
        )
    statement = statements[0]
    tokens = _tokens(statement.query)
    keyword = _keyword(tokens)
    try:
        kind = statement.type.name
    except ValueError:  # a statement type the Python client cannot name (e.g. UPDATE EXTENSIONS)
        kind = "UNKNOWN"
    if keyword in _KEYWORD_REASONS:
        raise QueryRefused(f"{keyword} is not allowed: {_KEYWORD_REASONS[keyword]}")
    if kind == "EXPLAIN" and not nested:
        return _check_explain(tokens, statement.query, parser)
    if kind != "SELECT":
        why = _REFUSED_TYPES.get(
            kind, "only read queries run here (select, with, from, values, describe, show, summarize, pivot, explain)"
        )
        label = kind if keyword in ("WITH", "(", "") else keyword  # `with x as (...) insert ...` is an INSERT
        raise QueryRefused(f"{label} is not allowed: {why}")
    functions, tables = _references(statement.query, tokens, parser)
    for name in sorted(functions):
        if name in _FUNCTION_REASONS:
            raise QueryRefused(f"{name}() is not allowed: {_FUNCTION_REASONS[name]}")
        if name in _ENVIRONMENT_FUNCTIONS:
            raise QueryRefused(
                f"{name}() is not allowed: {_ENVIRONMENT_FUNCTIONS[name]}; {_READ_ONLY_REASON} (its tables and views)"
            )
        if _PRAGMA_FUNCTIONS.match(name):
            raise QueryRefused(
                f"{name}() is not allowed: {_PATHS_REASON}; to describe a table, `describe t` or pragma_table_info('t')"
            )
        if _FILE_FUNCTIONS.match(name):
            raise QueryRefused(
                f"{name}() is not allowed: it reads files or URLs; {_READ_ONLY_REASON} (its tables and views)"
            )
    for name in sorted(tables):
        if name.lower() in _ENVIRONMENT_VIEWS:
            raise QueryRefused(
                f"reading {name} is not allowed: {_ENVIRONMENT_VIEWS[name.lower()]}; "
                f"{_READ_ONLY_REASON} (its tables and views)"
            )
        if _PATH_LIKE.search(name):
            raise QueryRefused(
                f"reading {name!r} is not allowed: it names a file or URL, and "
                f"{_READ_ONLY_REASON} (its tables and views)"
            )
    names = frozenset(statement.named_parameters)
    positional = sorted(n for n in names if n.isdigit())
    if positional:
        raise QueryRefused("positional parameters (`?`, `$1`) are not supported: name them, like `$force_id`")
    return CheckedStatement(keyword, names)


def _check_explain(tokens: list[tuple[str, str]], sql: str, parser: duckdb.DuckDBPyConnection) -> CheckedStatement:
    """EXPLAIN ANALYZE runs its statement, so what it explains must itself pass the check."""
    i = 1
    if i < len(tokens) and tokens[i][0].lower() in ("analyze", "analyse"):
        i += 1
    if i < len(tokens) and tokens[i][0] == "(":  # EXPLAIN (FORMAT json) ...
        depth = 0
        while i < len(tokens):
            depth += {"(": 1, ")": -1}.get(tokens[i][0], 0)
            i += 1
            if depth == 0:
                break
    if i >= len(tokens):
        raise QueryError("EXPLAIN of nothing: give a query to explain")
    # Find where the explained statement starts in the text: the i-th non-comment token.
    positions = [start for start, kind in duckdb.tokenize(sql) if str(kind).rsplit(".", 1)[-1] != "comment"]
    inner = _check(sql[positions[i] :], parser, nested=True)
    return CheckedStatement("EXPLAIN", inner.parameters)


# --- limits -------------------------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(bytes?|b|kb|mb|gb|tb|kib|mib|gib|tib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "byte": 1,
    "bytes": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_size(value: str | int) -> int:
    """Bytes in `value`: an int, or text as DuckDB writes sizes (`512MB`, `1.5GB`, `256MiB`, `0 bytes`;
    KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024). Text without a unit is refused: `512` is
    ambiguous."""
    if isinstance(value, bool):
        raise ValueError(f"a memory size is a number with a unit, like 512MB; got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    m = _SIZE.match(str(value))
    if not m or m[2] is None:
        raise ValueError(
            f"a memory size is a number with a unit (kB, MB, GB, or KiB, MiB, GiB), like 512MB; got {value!r}"
        )
    return int(float(m[1]) * _SIZE_UNITS[m[2].lower()])


def format_size(n: int) -> str:
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:.4g} {unit}"
    return f"{n} bytes"


@dataclass(frozen=True)
class Limits:
    """What one query may use: `memory_bytes` of memory above its process's size when it starts,
    and `threads` DuckDB threads."""

    memory_bytes: int
    threads: int

    @property
    def duckdb_memory_bytes(self) -> int:
        """DuckDB's own `memory_limit`: a share of the limit (see DUCKDB_MEMORY_SHARE)."""
        return int(self.memory_bytes * DUCKDB_MEMORY_SHARE)


def _configured(value: object, env: str, default: object) -> tuple[object, str]:
    if value is not None:
        return value, "the limit given"
    if os.environ.get(env, "").strip():
        return os.environ[env].strip(), f"${env}"
    return default, "the default"


def limits(memory_limit: str | int | None = None, threads: int | str | None = None) -> Limits:
    """The limits for one query: those given, else $CROSSFORCE_SQL_MEMORY_LIMIT and
    $CROSSFORCE_SQL_THREADS, else the defaults (MEMORY_LIMIT, THREADS). A bad value raises ValueError
    naming where it came from."""
    memory, where = _configured(memory_limit, MEMORY_LIMIT_ENV, MEMORY_LIMIT)
    try:
        memory_bytes = check_memory_limit(memory)
    except ValueError as exc:
        raise ValueError(f"{exc} ({where})") from None
    count, where = _configured(threads, THREADS_ENV, THREADS)
    try:
        count = check_threads(count)
    except ValueError as exc:
        raise ValueError(f"{exc} ({where})") from None
    return Limits(memory_bytes, count)


def check_memory_limit(value: object) -> int:
    """`value` (`512MB`, `2GB`, or bytes) as bytes, or ValueError: at least MIN_MEMORY_LIMIT."""
    try:
        memory_bytes = parse_size(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"the memory limit: {exc}") from None
    if memory_bytes < MIN_MEMORY_LIMIT:
        raise ValueError(f"the memory limit is at least {format_size(MIN_MEMORY_LIMIT)}; got {value!r}")
    return memory_bytes


def check_threads(value: object) -> int:
    """`value` as a number of DuckDB threads, or ValueError: a whole number from 1 to 64."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= int(value) <= 64:
        raise ValueError(f"threads is a whole number from 1 to 64; got {value!r}")
    return int(value)


def check_row_limit(value: object) -> int:
    """`value` as a row limit, or ValueError: a whole number from 1 to MAX_ROW_LIMIT."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= int(value) <= MAX_ROW_LIMIT:
        raise ValueError(f"the row limit is a whole number from 1 to {MAX_ROW_LIMIT:,}; got {value!r}")
    return int(value)


def check_timeout(value: object) -> float:
    """`value` as a time limit in seconds, or ValueError: above 0, at most MAX_TIMEOUT_S (no nan, no inf)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or not 0 < float(value) <= MAX_TIMEOUT_S
    ):
        raise ValueError(f"the time limit is a number of seconds above 0 and at most {MAX_TIMEOUT_S:g}; got {value!r}")
    return float(value)


def sandbox_settings(limits_: Limits | None = None) -> dict[str, str | int | float]:
    """Every DuckDB setting a sandboxed connection has: SANDBOX_SETTINGS, and the limits'
    `memory_limit` and `threads`."""
    limits_ = limits_ or limits()
    return {**SANDBOX_SETTINGS, "memory_limit": f"{limits_.duckdb_memory_bytes}B", "threads": limits_.threads}


# --- the connection -----------------------------------------------------------------------------------


def connect(
    db_path: Path | str, *, memory_limit: str | int | None = None, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the database at `db_path` in the sandbox (`sandbox_settings()`, with
    the limits of `limits(memory_limit, threads)`), checked to be in effect.

    Each call opens a database instance of its own: an in-memory instance with the file attached
    read-only as `crossforce` (the default catalog). DuckDB keeps one instance per path in a process
    and hands it to every `duckdb.connect(path)`, so a file swapped in by a new load would never be
    seen while any connection to the old one was open; an attached file is opened afresh each time,
    and the old file is released when its last connection closes.
    """
    path = Path(db_path)
    if not path.is_file():
        raise QueryError(f"{path}: no database there; run `crossforce ingest` or `crossforce up`")
    settings = sandbox_settings(limits(memory_limit, threads))
    # External access and the lock come last: the ATTACH needs the first, and nothing may change
    # the settings after the second. The connection is not handed out before both are set.
    later = ("enable_external_access", "lock_configuration", *_CONNECTION_SETTINGS)
    con = duckdb.connect(":memory:", config={k: v for k, v in settings.items() if k not in later})
    try:
        try:
            con.execute("attach ? as crossforce (read_only)", [str(path)])
        except duckdb.Error as exc:
            raise QueryError(f"{path} cannot be opened as a crossforce database ({_first_line(exc)})") from None
        con.execute("use crossforce")
        for name in _CONNECTION_SETTINGS:
            con.execute(f"set {name} = {str(settings[name]).lower()}")
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
        in_effect = dict(
            con.sql(
                "select name, value from duckdb_settings() where list_contains($names, name)",
                params={"names": list(settings)},
            ).fetchall()
        )
        for name, wanted in settings.items():
            if not _same_setting(in_effect.get(name), wanted):
                raise RuntimeError(
                    f"sandbox setting {name} is {in_effect.get(name)!r}, not {wanted!r}: refusing to run queries"
                )
        if con.sql("select readonly from duckdb_databases() where database_name = 'crossforce'").fetchall() != [
            (True,)
        ]:
            raise RuntimeError(f"{path} is not attached read-only: refusing to run queries")
    except BaseException:
        con.close()
        raise
    return con


def _same_setting(actual: str | None, wanted: object) -> bool:
    if actual is None:
        return False
    if isinstance(wanted, bool):
        return actual.lower() == str(wanted).lower()
    if isinstance(wanted, str) and wanted.endswith("B") and _SIZE.match(wanted):
        try:  # DuckDB shows sizes rounded: 402653184B is "384.0 MiB"
            return abs(parse_size(actual) - parse_size(wanted)) <= 0.0005 * parse_size(wanted) + 2**20 // 10
        except ValueError:
            return False
    return actual.lower() == str(wanted).lower()


def _refusal_from_duckdb(exc: duckdb.Error, limits_: Limits | None = None) -> QueryError:
    """A DuckDB error as the person should read it: the sandbox's own refusals become QueryRefused."""
    message = _first_line(exc)
    if (
        isinstance(exc, duckdb.PermissionException)
        or "configuration has been locked" in message
        or "read-only mode" in message
    ):
        return QueryRefused(f"refused by the read-only sandbox: {message}")
    if isinstance(exc, duckdb.OutOfMemoryException):
        allowed = f" ({format_size(limits_.memory_bytes)} per query)" if limits_ else ""
        return QueryTooLarge(
            f"the query needs more memory than the workbench allows{allowed}, and nothing is "
            f"spilled to disk; narrow it (filter, aggregate): {message}"
        )
    return QueryError(message)


# --- the query process ---------------------------------------------------------------------------------
# The server (the dashboard, or `crossforce query`) forks nothing itself: it is multithreaded, and a
# fork of it could inherit a lock another thread holds. `multiprocessing`'s fork server is a
# single process started once, with this module (DuckDB, Polars) imported; each query is a fresh fork
# of it, which exits after one query.

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_ERRORS = {cls.__name__: cls for cls in (QueryError, QueryRefused, QueryTimeout, QueryTooLarge, ParameterError)}
_start_lock = threading.Lock()
_context: multiprocessing.context.BaseContext | None = None
_slots: threading.BoundedSemaphore | None = None
_slot_count = 0


def _rss(pid: int) -> int | None:
    """Resident memory of process `pid` in bytes, or None where it cannot be read (gone, not Linux)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


def _query_context() -> multiprocessing.context.BaseContext:
    global _context
    with _start_lock:
        if _context is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                context: multiprocessing.context.BaseContext = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["pipelines.sql.sandbox", "pyarrow"])
            else:
                context = multiprocessing.get_context("spawn")
            _context = context
        return _context


def _query_slots() -> tuple[threading.BoundedSemaphore, int]:
    global _slots, _slot_count
    with _start_lock:
        if _slots is None:
            count, where = _configured(None, MAX_QUERIES_ENV, MAX_QUERIES)
            if not str(count).isdigit() or not 1 <= int(str(count)) <= 256:
                raise ValueError(f"queries at once ({where}): a whole number from 1 to 256; got {count!r}")
            _slot_count = int(str(count))
            _slots = threading.BoundedSemaphore(_slot_count)
        return _slots, _slot_count


if "forkserver" in multiprocessing.get_all_start_methods():
    from multiprocessing import context as _mp_context
    from multiprocessing import forkserver as _forkserver
    from multiprocessing import popen_forkserver, spawn
    from multiprocessing import util as _mp_util
    from multiprocessing.context import ForkServerProcess

    class _QueryPopen(popen_forkserver.Popen):
        """Launch from the fork server as multiprocessing does, but without re-running the parent's
        `__main__` script in the child (it would import Streamlit's command line into every query's
        process, and an unguarded script would run again)."""

        def _launch(self, process_obj):
            prep_data = {
                k: v
                for k, v in spawn.get_preparation_data(process_obj._name).items()
                if k not in ("init_main_from_path", "init_main_from_name")
            }
            buf = io.BytesIO()
            _mp_context.set_spawning_popen(self)
            try:
                _mp_context.reduction.dump(prep_data, buf)  # type: ignore[attr-defined]
                _mp_context.reduction.dump(process_obj, buf)  # type: ignore[attr-defined]
            finally:
                _mp_context.set_spawning_popen(None)
            self.sentinel, w = _forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
            # As multiprocessing does: a duplicate of the data pipe's write end is the child's sign
            # that its parent is alive.
            _parent_w = os.dup(w)
            self.finalizer = _mp_util.Finalize(self, _mp_util.close_fds, (_parent_w, self.sentinel))  # type: ignore[attr-defined]
            with open(w, "wb", closefd=True) as f:
                f.write(buf.getbuffer())
            self.pid = _forkserver.read_signed(self.sentinel)

    class _QueryProcess(ForkServerProcess):
        @staticmethod
        def _Popen(process_obj):
            return _QueryPopen(process_obj)
else:  # pragma: no cover - not Linux
    _QueryProcess = None  # type: ignore[assignment,misc]


def start_query_server() -> None:
    """Start the fork server now rather than on the first query (its imports take a few seconds)."""
    context = _query_context()
    if context.get_start_method() == "forkserver":
        _forkserver.ensure_running()


def stop_query_server() -> None:
    """Stop the fork server (the next query starts it again). It also stops when this process exits."""
    server = getattr(_forkserver, "_forkserver", None) if _QueryProcess is not None else None
    stop = getattr(server, "_stop", None)
    if stop is not None:
        stop()


def _query_process(
    sender, db_path: str, sql: str, values: dict, row_limit: int, limits_: Limits, timeout_s: float
) -> None:
    """The body of a query's process: connect, say how big the process is, run, send the frame."""
    # If the server that watches this process is gone, nothing else would stop it.
    signal.alarm(int(math.ceil(timeout_s + STOP_GRACE_S)) + 1)
    try:
        con = connect(db_path, memory_limit=limits_.memory_bytes, threads=limits_.threads)
    except QueryError as exc:
        sender.send(("error", type(exc).__name__, exc.message))
        return
    except BaseException as exc:
        sender.send(("error", "QueryError", f"the database cannot be opened: {_first_line(exc)}"))
        return
    try:
        sender.send(("ready", _rss(os.getpid())))
        relation = _readable(con.sql(sql, params=values or None))
        # A relation limit is pushed into the plan: DuckDB stops producing rows after row_limit + 1.
        frame = relation.limit(row_limit + 1).pl()
        sender.send(("done", frame))
    except duckdb.Error as exc:
        refusal = _refusal_from_duckdb(exc, limits_)
        sender.send(("error", type(refusal).__name__, refusal.message))
    except BaseException as exc:  # Polars cannot read a type, say (and a Rust panic is no Exception)
        sender.send(("error", "QueryError", f"the result cannot be read: {type(exc).__name__}: {_first_line(exc)}"))
    finally:
        con.close()
        sender.close()


# Types Polars cannot read from DuckDB: such columns come back as text.
_UNREADABLE_TYPE = re.compile(r"\bINTERVAL\b|\bUNION\(")


def _readable(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    if relation is None:
        raise QueryError("the statement returns no result")
    types = [str(t) for t in relation.types]
    if not any(_UNREADABLE_TYPE.search(t) for t in types):
        return relation
    columns = []
    for name, kind in zip(relation.columns, types):
        quoted = '"' + name.replace('"', '""') + '"'
        columns.append(f"cast({quoted} as varchar) as {quoted}" if _UNREADABLE_TYPE.search(kind) else quoted)
    return relation.project(", ".join(columns))


def _run_in_process(
    db_path: Path, sql: str, values: dict, row_limit: int, limits_: Limits, timeout_s: float
) -> pl.DataFrame:
    slots, count = _query_slots()
    if not slots.acquire(timeout=timeout_s):
        raise QueryTimeout(
            f"the workbench is busy ({count} queries running); this one did not start within "
            f"{timeout_s:g} s: try again in a moment"
        )
    try:
        context = _query_context()
        receiver, sender = context.Pipe(duplex=False)
        kind = _QueryProcess if context.get_start_method() == "forkserver" else context.Process  # type: ignore[attr-defined]
        process = kind(
            target=_query_process,
            name="crossforce-query",
            daemon=True,
            args=(sender, str(db_path), sql, values, row_limit, limits_, timeout_s),
        )
        try:
            process.start()
        finally:
            sender.close()
        try:
            # The time limit counts from the start of the query's process: not the wait for a turn,
            # nor, on the first query, for the fork server to start.
            return _watch(process, receiver, limits_, time.perf_counter() + timeout_s, timeout_s)
        finally:
            receiver.close()
            if process.exitcode is None:
                process.kill()
            process.join(STOP_GRACE_S)
    finally:
        slots.release()


def _watch(process, receiver, limits_: Limits, deadline: float, timeout_s: float) -> pl.DataFrame:
    """Wait for the query's answer; kill its process when it outgrows the memory limit or its time."""
    baseline: int | None = None
    while True:
        if receiver.poll(WATCH_INTERVAL_S):
            try:
                message = receiver.recv()
            except EOFError:  # the process ended without a word
                message = ("crashed",)
            if message[0] == "ready":
                baseline = message[1]
                continue
            if message[0] == "done":
                return message[1]
            if message[0] == "error":
                raise _ERRORS.get(message[1], QueryError)(message[2])
            process.join(STOP_GRACE_S)
            code = process.exitcode
            how = (
                f"signal {signal.Signals(-code).name}"
                if code is not None and code < 0 and -code in signal.valid_signals()
                else f"exit code {code}"
            )
            raise QueryError(
                f"the query's process ended unexpectedly ({how}) before it answered; DuckDB could not "
                f"run this query within the workbench's limits: narrow it (the workbench itself is unharmed)"
            )
        if time.perf_counter() >= deadline:
            process.kill()
            raise QueryTimeout(
                f"the query was stopped after {timeout_s:g} s, the workbench's time limit; "
                f"narrow it (filter, aggregate) or raise the limit"
            )
        rss = _rss(process.pid)
        if baseline is not None and rss is not None and rss - baseline > limits_.memory_bytes:
            process.kill()
            raise QueryTooLarge(
                f"the query was stopped: it needed more than {format_size(limits_.memory_bytes)} of memory, "
                f"the workbench's limit per query; narrow it (filter, aggregate, fewer or shorter values)"
            )


# --- running ------------------------------------------------------------------------------------------


def run(
    db_path: Path | str,
    sql: str,
    params: Mapping[str, object] | None = None,
    *,
    row_limit: int = ROW_LIMIT,
    timeout_s: float = TIMEOUT_S,
    memory_limit: str | int | None = None,
    threads: int | None = None,
) -> QueryResult:
    """Run one read query on the database, sandboxed, with `$name` parameters bound from `params`.

    Raises QueryRefused (not allowed), QueryTimeout (stopped after `timeout_s`), QueryTooLarge
    (more memory than `limits(memory_limit, threads)` allow), ParameterError (a parameter missing or
    unknown) or QueryError (any other failure, with DuckDB's message). A row limit or time limit out
    of range (`check_row_limit`, `check_timeout`) raises ValueError before anything runs.

    Each call runs in a process of its own (see the module's docstring) with a connection of its
    own: a query is bounded and stopped without touching the caller's process, a connection is used
    by exactly one query, and a database swapped in by a new load is read by the next call with
    nothing to invalidate.
    """
    row_limit = check_row_limit(row_limit)
    timeout_s = check_timeout(timeout_s)
    limits_ = limits(memory_limit, threads)
    checked = check(sql)
    values = dict(params or {})
    missing = sorted(checked.parameters - set(values))
    unknown = sorted(set(values) - checked.parameters)
    if missing or unknown:
        used = ", ".join(f"${p}" for p in sorted(checked.parameters)) or "none"
        problem = "; ".join(
            filter(
                None,
                [
                    f"no value for {', '.join('$' + m for m in missing)}" if missing else None,
                    f"{', '.join('$' + u for u in unknown)} not used" if unknown else None,
                ],
            )
        )
        raise ParameterError(f"{problem}; the query's parameters are: {used}")
    path = Path(db_path)
    if not path.is_file():
        raise QueryError(f"{path}: no database there; run `crossforce ingest` or `crossforce up`")

    started = time.perf_counter()
    frame = _run_in_process(path, sql, values, row_limit, limits_, timeout_s)
    elapsed = time.perf_counter() - started
    truncated = frame.height > row_limit
    return QueryResult(frame.head(row_limit) if truncated else frame, truncated, elapsed)


def run_saved(
    db_path: Path | str, query: SavedQuery | str, values: Mapping[str, object] | None = None, **limits_
) -> QueryResult:
    """Run a saved query by name (or as parsed), its parameters from `values` or their defaults."""
    saved = saved_query(query) if isinstance(query, str) else query
    return run(db_path, saved.sql, saved.bind(values), **limits_)


# --- results as files ---------------------------------------------------------------------------------
# A result may hold nested values (LIST, STRUCT, MAP, fixed-size ARRAY), bytes (BLOB) or types CSV
# has no place for. CSV and the table on the page show such a value as JSON text; JSON keeps its
# structure; Parquet keeps its type.


def _plain(dtype: pl.DataType) -> bool:
    """Whether CSV can hold a column of this type as it is."""
    return (
        dtype.is_numeric()
        or dtype.is_temporal()
        or dtype in (pl.String, pl.Boolean, pl.Null)
        or isinstance(dtype, (pl.Categorical, pl.Enum))
    )


def _jsonable(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime, date, clock_time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def _json_text(value: object) -> str | None:
    return None if value is None else json.dumps(_jsonable(value), ensure_ascii=False)


def _column_values(frame: pl.DataFrame, name: str) -> list:
    try:
        return frame[name].to_list()
    except BaseException as exc:  # a date beyond Python's range, say (a Rust panic is no Exception)
        raise QueryError(
            f"column {name!r} holds values that cannot be written out ({_first_line(exc)}); "
            f"cast it to text in the query, or download Parquet"
        ) from None


def for_display(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every column CSV cannot hold as text: nested values as JSON, bytes as hex. For the
    table on the page and its CSV download; other columns are unchanged."""
    awkward = [name for name, dtype in frame.schema.items() if not _plain(dtype)]
    if not awkward:
        return frame
    return frame.with_columns(
        pl.Series(
            name,
            [
                None
                if v is None
                else bytes(v).hex()
                if isinstance(v, (bytes, bytearray, memoryview))
                else _json_text(v)
                for v in _column_values(frame, name)
            ],
            dtype=pl.String,
        )
        for name in awkward
    )


def to_csv_bytes(frame: pl.DataFrame) -> bytes:
    """The result as CSV (UTF-8, a header row); nested values and bytes as JSON text."""
    return for_display(frame).write_csv().encode("utf-8")


def to_json_bytes(frame: pl.DataFrame) -> bytes:
    """The result as a JSON array of objects, one per row; nested values keep their structure, dates
    and times are ISO text, bytes hex, NaN and infinity null."""
    columns = {name: _column_values(frame, name) for name in frame.columns}
    rows = [{name: _jsonable(values[i]) for name, values in columns.items()} for i in range(frame.height)]
    return (json.dumps(rows, ensure_ascii=False, indent=None) + "\n").encode("utf-8")


def to_parquet_bytes(frame: pl.DataFrame) -> bytes:
    """The result as a Parquet file, with its types (a type Parquet cannot hold is written as JSON text)."""
    buffer = io.BytesIO()
    try:
        frame.write_parquet(buffer)
    except BaseException:  # a STRUCT with no fields, say
        buffer = io.BytesIO()
        for_display(frame).write_parquet(buffer)
    return buffer.getvalue()


FORMATS = ("table", "csv", "json", "parquet")
