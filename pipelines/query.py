"""The one place that runs analysts' SQL: saved queries from `queries/`, and any read query typed in.

Both the dashboard's SQL workbench and `crossforce query` call `run()`. It promises:

- **Read only, in depth.** Two layers, each tested on its own against the hostile statements in
  `tests/test_query.py`. The statement check (`check()`) runs first and gives a clear message:
  exactly one statement, of a read kind (select, with, from, values, describe, show, summarize,
  pivot, explain of one of those), calling no function that reads files or URLs or runs SQL text.
  The real barrier is the connection (`connect()`): read-only, external access off (no files, no
  network, no ATTACH), no extension loading or installing, no spilling to a temporary directory,
  and the configuration locked so SQL cannot loosen any of it.
- **Values are bound, never spliced.** Parameters are written `$name` in SQL and passed to DuckDB.
- **Bounded.** At most `row_limit` rows come back (DuckDB stops after `row_limit + 1`, so a query
  of millions of rows is never held in memory) and a query still running after `timeout_s` is
  interrupted.

The saved-query header format is documented in `docs/sql_workbench.md`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

PROJECT_ROOT = Path(__file__).resolve().parent.parent
QUERIES_DIR = PROJECT_ROOT / "queries"

ROW_LIMIT = 10_000
TIMEOUT_S = 10.0
# After an interrupt, how long to wait for DuckDB to stop before giving up on the worker thread.
INTERRUPT_GRACE_S = 2.0

# The connection layer. Every name here is a DuckDB 2.0 setting (a test checks each one is in
# effect and documented in docs/sql_workbench.md). `lock_configuration` is given at connect time
# rather than by a later `SET`, so no connection is ever unlocked, even for a moment, and a second
# connection to an instance that is already locked opens with the same configuration.
SANDBOX_SETTINGS: dict[str, object] = {
    "enable_external_access": False,        # no files or URLs: COPY, read_*, glob, ATTACH, EXPORT, INSTALL
    "autoload_known_extensions": False,     # no extension loaded behind a function call
    "autoinstall_known_extensions": False,  # ... or downloaded
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_extension_repositories": "forbidden",
    "allow_persistent_secrets": False,      # no secrets read from or written to disk
    "temp_directory": "",                   # a large sort fails for memory rather than writing temporary files
    "max_temp_directory_size": "0B",
    "lock_configuration": True,             # SET, RESET and PRAGMA cannot change any of the above
}


class QueryError(Exception):
    """The query could not run; `message` says why in words for the person who wrote it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class QueryRefused(QueryError):
    """The query is not allowed here: it would write, read files or URLs, or change settings."""


class QueryTimeout(QueryError):
    """The query ran past its time limit and was interrupted."""


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
            raise ParameterError(f"parameter ${self.name} is {_article(self.type)} {self.type}; got {value!r}") from None
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
            raise ParameterError(f"{self.name}: unknown parameter {', '.join('$' + u for u in unknown)}; "
                                 f"its parameters are: {valid}")
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
                raise SavedQueryError(f"{path.name}: line {n}: unknown header key {key!r}; known: {', '.join(HEADER_KEYS)}")
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
            elif more:
                fields[last] = f"{fields[last]} {more}".strip()
        else:
            raise SavedQueryError(f"{path.name}: line {n}: header lines are `-- key: value` or an indented "
                                  f"continuation `--   ...`; got {line!r}")
    else:
        n += 1
    missing = [k for k in ("title", "description", "grain") if not fields.get(k)]
    if missing:
        raise SavedQueryError(f"{path.name}: the header lacks {', '.join(missing)}")
    sql = "\n".join(lines[n - 1:]).strip()
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
            f"differ from those declared in the header ({', '.join('$' + x for x in names) or 'none'})")
    return SavedQuery(path.stem, fields["title"], fields["description"], fields["grain"], params, sql, path)


def _parse_param(path: Path, n: int, spec: str) -> Param:
    m = _PARAM.match(spec)
    if not m:
        raise SavedQueryError(f"{path.name}: line {n}: a param line reads "
                              f"`-- param: NAME TYPE [default VALUE] [— description]`; got {spec!r}")
    if m["type"] not in PARAM_TYPES:
        raise SavedQueryError(f"{path.name}: line {n}: parameter type {m['type']!r} is not one of {', '.join(PARAM_TYPES)}")
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
    "getenv": "it reads the server's environment",
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
        kind = str(kind).rsplit(".", 1)[-1]
        if kind != "comment":
            out.append((sql[start:end].strip(), kind))
    return out


def _keyword(tokens: list[tuple[str, str]]) -> str:
    words = [t for t, _ in tokens[:2]]
    if not words:
        return ""
    if len(words) > 1 and (words[0].lower() == "force" or words[1].lower() == "extensions"):  # FORCE INSTALL, UPDATE EXTENSIONS
        return f"{words[0]} {words[1]}".upper()
    return words[0].upper()


def _unquote(identifier: str) -> str:
    if len(identifier) >= 2 and identifier[0] == identifier[-1] == '"':
        return identifier[1:-1].replace('""', '"')
    return identifier.lower()


def _references(sql: str, tokens: list[tuple[str, str]], parser: duckdb.DuckDBPyConnection) -> tuple[set[str], set[str]]:
    """(functions called, tables read) by a SELECT, from DuckDB's own parse tree where it can give one,
    and from the tokens always (`name(`), so that nothing the tree cannot show goes unchecked."""
    functions: set[str] = set()
    tables: set[str] = set()
    for (text, kind), (nxt, _) in zip(tokens, tokens[1:] + [("", "")]):
        if kind in ("identifier", "keyword") and nxt == "(":
            functions.add(_unquote(text))
    for (text, kind), (nxt, nxt_kind) in zip(tokens, tokens[1:] + [("", "")]):
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
    own = parser is None
    if own:
        parser = duckdb.connect(":memory:", config=SANDBOX_SETTINGS)
    try:
        return _check(sql, parser, nested=False)
    finally:
        if own:
            parser.close()


def _check(sql: str, parser: duckdb.DuckDBPyConnection, *, nested: bool) -> CheckedStatement:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"the SQL does not parse: {_first_line(exc)}") from None
    if not statements:
        raise QueryError("no SQL statement given")
    if len(statements) > 1:
        kinds = ", ".join(_keyword(_tokens(s.query)) or "?" for s in statements)
        raise QueryRefused(f"{len(statements)} statements given ({kinds}); the workbench runs exactly one "
                           f"read statement at a time")
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
        why = _REFUSED_TYPES.get(kind, "only read queries run here (select, with, from, values, describe, "
                                       "show, summarize, pivot, explain)")
        label = kind if keyword in ("WITH", "(", "") else keyword  # `with x as (...) insert ...` is an INSERT
        raise QueryRefused(f"{label} is not allowed: {why}")
    functions, tables = _references(statement.query, tokens, parser)
    for name in sorted(functions):
        if name in _FUNCTION_REASONS:
            raise QueryRefused(f"{name}() is not allowed: {_FUNCTION_REASONS[name]}")
        if _FILE_FUNCTIONS.match(name):
            raise QueryRefused(f"{name}() is not allowed: it reads files or URLs; {_READ_ONLY_REASON} "
                               f"(its tables and views)")
    for name in sorted(tables):
        if _PATH_LIKE.search(name):
            raise QueryRefused(f"reading {name!r} is not allowed: it names a file or URL, and "
                               f"{_READ_ONLY_REASON} (its tables and views)")
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
    inner = _check(sql[positions[i]:], parser, nested=True)
    return CheckedStatement("EXPLAIN", inner.parameters)


# --- running ------------------------------------------------------------------------------------------


def connect(db_path: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the database at `db_path` in the sandbox (`SANDBOX_SETTINGS`),
    checked to be in effect.

    Each call opens a database instance of its own: an in-memory instance with the file attached
    read-only as `crossforce` (the default catalog). DuckDB keeps one instance per path in a process
    and hands it to every `duckdb.connect(path)`, so a file swapped in by a new load would never be
    seen while any connection to the old one was open; an attached file is opened afresh each time,
    and the old file is released when its last connection closes.
    """
    path = Path(db_path)
    if not path.is_file():
        raise QueryError(f"{path}: no database there; run `crossforce ingest` or `crossforce up`")
    # External access and the lock come last: the ATTACH needs the first, and nothing may change
    # the settings after the second. The connection is not handed out before both are set.
    opening = {k: v for k, v in SANDBOX_SETTINGS.items() if k not in ("enable_external_access", "lock_configuration")}
    con = duckdb.connect(":memory:", config=opening)
    try:
        try:
            con.execute("attach ? as crossforce (read_only)", [str(path)])
        except duckdb.Error as exc:
            raise QueryError(f"{path} cannot be opened as a crossforce database ({_first_line(exc)})") from None
        con.execute("use crossforce")
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
        in_effect = dict(con.sql("select name, value from duckdb_settings() where list_contains($names, name)",
                                 params={"names": list(SANDBOX_SETTINGS)}).fetchall())
        for name, wanted in SANDBOX_SETTINGS.items():
            if not _same_setting(in_effect.get(name), wanted):
                raise RuntimeError(f"sandbox setting {name} is {in_effect.get(name)!r}, not {wanted!r}: refusing to run queries")
        if con.sql("select readonly from duckdb_databases() where database_name = 'crossforce'").fetchall() != [(True,)]:
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
    if wanted == "0B":
        return actual in ("0 bytes", "0B", "0")
    return actual.lower() == str(wanted).lower()


def _refusal_from_duckdb(exc: duckdb.Error) -> QueryError:
    """A DuckDB error as the person should read it: the sandbox's own refusals become QueryRefused."""
    message = _first_line(exc)
    if isinstance(exc, duckdb.PermissionException) or "configuration has been locked" in message \
            or "read-only mode" in message:
        return QueryRefused(f"refused by the read-only sandbox: {message}")
    if isinstance(exc, duckdb.OutOfMemoryException):
        return QueryError(f"the query needs more memory than the workbench allows (nothing is spilled to disk): {message}")
    return QueryError(message)


def run(db_path: Path | str, sql: str, params: Mapping[str, object] | None = None, *,
        row_limit: int = ROW_LIMIT, timeout_s: float = TIMEOUT_S) -> QueryResult:
    """Run one read query on the database, sandboxed, with `$name` parameters bound from `params`.

    Raises QueryRefused (not allowed), QueryTimeout (interrupted after `timeout_s`), ParameterError
    (a parameter missing or unknown) or QueryError (any other failure, with DuckDB's message).

    Each call opens its own connection and closes it: connecting read-only costs a few
    milliseconds, a connection is used by exactly one thread (the dashboard runs sessions in
    several), an interrupt can only stop this query, and a database swapped in by a new load is
    read by the next call with nothing to invalidate.
    """
    if row_limit < 1:
        raise ValueError("row_limit must be at least 1")
    checked = check(sql)
    values = dict(params or {})
    missing = sorted(checked.parameters - set(values))
    unknown = sorted(set(values) - checked.parameters)
    if missing or unknown:
        used = ", ".join(f"${p}" for p in sorted(checked.parameters)) or "none"
        problem = "; ".join(filter(None, [
            missing and f"no value for {', '.join('$' + m for m in missing)}",
            unknown and f"{', '.join('$' + u for u in unknown)} not used",
        ]))
        raise ParameterError(f"{problem}; the query's parameters are: {used}")

    con = connect(db_path)
    outcome: dict[str, object] = {}

    def execute() -> None:
        try:
            relation = con.sql(sql, params=values or None)
            # A relation limit is pushed into the plan: DuckDB stops producing rows after row_limit + 1.
            outcome["frame"] = relation.limit(row_limit + 1).pl()
        except BaseException as exc:  # handed to the calling thread
            outcome["error"] = exc
        finally:
            con.close()

    worker = threading.Thread(target=execute, name="crossforce-query", daemon=True)
    started = time.perf_counter()
    try:
        worker.start()
    except BaseException:
        con.close()
        raise
    worker.join(timeout_s)
    if worker.is_alive():
        try:
            con.interrupt()
        except duckdb.Error:  # it finished, and closed its connection, in the meantime
            pass
        worker.join(INTERRUPT_GRACE_S)
        if worker.is_alive() or isinstance(outcome.get("error"), duckdb.InterruptException):
            still = " (it is still stopping; its connection closes when it does)" if worker.is_alive() else ""
            raise QueryTimeout(f"the query was stopped after {timeout_s:g} s, the workbench's time limit{still}; "
                               f"narrow it (filter, aggregate) or raise the limit")
    elapsed = time.perf_counter() - started
    if "error" in outcome:
        exc = outcome["error"]
        if isinstance(exc, duckdb.InterruptException):
            raise QueryTimeout(f"the query was interrupted after {elapsed:.1f} s") from None
        if isinstance(exc, duckdb.Error):
            raise _refusal_from_duckdb(exc) from None
        raise exc  # type: ignore[misc]
    frame: pl.DataFrame = outcome["frame"]  # type: ignore[assignment]
    truncated = frame.height > row_limit
    return QueryResult(frame.head(row_limit) if truncated else frame, truncated, elapsed)


def run_saved(db_path: Path | str, query: SavedQuery | str, values: Mapping[str, object] | None = None, **limits) -> QueryResult:
    """Run a saved query by name (or as parsed), its parameters from `values` or their defaults."""
    saved = saved_query(query) if isinstance(query, str) else query
    return run(db_path, saved.sql, saved.bind(values), **limits)
