"""The SQL workbench's logic: saved questions, free SQL and the table browser, each with its URL state.

The page `dashboard/views/workbench.py` holds only its layout and calls into this module.
"""

from collections.abc import Callable, Mapping

import streamlit as st

from dashboard import browse, data, state, ui
from pipelines import schema
from pipelines.sql import sandbox

MODES = {"saved": "A saved question", "free": "Your own SQL", "browse": "Browse a table"}
SQL_LABEL = "SQL (Ctrl+Enter, or ⌘+Enter on a Mac, runs it)"


def drop_params(keys) -> None:
    for key in list(keys):
        st.query_params.pop(key, None)


def show_result(result: sandbox.QueryResult, key: str, file_name: str) -> None:
    """A query's result: its size and time, the table, and downloads as CSV, JSON and Parquet."""
    try:
        # Nested values (lists, structs, maps) and bytes are shown, and downloaded as CSV, as JSON text.
        shown, as_json, as_parquet = (
            sandbox.for_display(result.frame),
            sandbox.to_json_bytes(result.frame),
            sandbox.to_parquet_bytes(result.frame),
        )
    except sandbox.QueryError as refusal:
        st.error(str(refusal))
        return
    note = " (cut at the row limit)" if result.truncated else ""
    st.write(f"{data.counted(result.frame.height, 'row')}{note} in {result.elapsed_s * 1000:.0f} ms")
    ui.table(shown, key, file_name=file_name)
    json_column, parquet_column = st.columns(2)
    ui.download(json_column, "Download the table (JSON)", as_json, f"{file_name}.json", f"{key}_json")
    ui.download(parquet_column, "Download the table (Parquet)", as_parquet, f"{file_name}.parquet", f"{key}_parquet")


def run(sql: str, params: dict, key: str = "result", file_name: str = "query_result") -> None:
    try:
        result = data.run_sql(sql, params)
    except sandbox.QueryError as refusal:
        st.error(str(refusal))
    else:
        show_result(result, key, file_name)


def saved_mode(saved: dict) -> None:
    name = state.url_select("Question", list(saved), key="query", format_func=lambda n: saved[n].title)
    st.query_params["query"] = name  # named even when it is the first, so that a link says what it asks
    chosen = saved[name]
    # `p_` parameters belong to the question they were set for: another question starts from its defaults.
    if st.session_state.get("_wb_params_for") not in (None, name):
        drop_params(k for k in st.query_params if k.startswith("p_"))
    st.session_state["_wb_params_for"] = name
    st.write(chosen.description)
    st.caption(f"Grain: {chosen.grain}")
    keys = {p.name: f"param_{name}_{p.name}" for p in chosen.params}
    with st.form("saved_query"):
        for param in chosen.params:
            if keys[param.name] not in st.session_state:
                st.session_state[keys[param.name]] = st.query_params.get(f"p_{param.name}", browse.default_text(param))
            st.text_input(param.name, key=keys[param.name], help=param.description)
        submitted = st.form_submit_button("Run", key="run_saved")
    typed = (
        {p: st.session_state[k] for p, k in keys.items()}
        if submitted
        else {p.name: st.query_params[f"p_{p.name}"] for p in chosen.params if f"p_{p.name}" in st.query_params}
    )
    wanted = browse.saved_params(chosen, typed)
    drop_params(k for k in st.query_params if k.startswith("p_") and k[2:] not in wanted)
    for param_name, value in wanted.items():
        st.query_params[f"p_{param_name}"] = value
    with st.expander("SQL"):
        st.code(chosen.sql, language="sql")
    try:
        params = chosen.bind({p: v for p, v in typed.items() if v != ""})
    except sandbox.QueryError as problem:
        st.error(str(problem))
        return
    run(chosen.sql, params, file_name=name)


def free_mode() -> None:
    if "sql" not in st.session_state:
        st.session_state["sql"] = st.query_params.get("sql", "select * from forces")
    with st.form("free_sql"):
        st.text_area(SQL_LABEL, key="sql", height=180)
        submitted = st.form_submit_button("Run", key="run_sql")
    if submitted:
        if st.session_state["sql"].strip():
            st.query_params["sql"] = st.session_state["sql"]
            st.query_params.pop("mode", None)  # with its SQL in it, a link opens on the SQL anyway
        else:
            st.query_params.pop("sql", None)
    sql = st.query_params.get("sql", "")
    if sql.strip():
        run(sql, {})
    else:
        st.caption("Write a query and press Run or Ctrl+Enter.")


def filter_widget(table: str, f: browse.Filter, profile: browse.Profile) -> str:
    """One filter's widget, its state first read from the URL; returns its value ("" when unset)."""
    key = f"bf_{table}_{f.column}__{f.op}"
    if key not in st.session_state:
        st.session_state[key] = f.value
    label = f.column if f.op == "exact" else f"{f.column} {browse.OP_WORDS[f.op]}"
    help_text = schema.describe(f.column)
    if f.op == "exact" and f.column in profile.choices:
        options = ["", *profile.choices[f.column]]
        if st.session_state[key] not in options:  # a value from a link that the table does not hold
            options.append(st.session_state[key])
        return st.selectbox(label, options, key=key, help=help_text, format_func=lambda v: v if v != "" else "(any)")
    bound = {"gte": profile.low, "lte": profile.high}.get(f.op, {}).get(f.column)
    placeholder = f"{'from' if f.op == 'gte' else 'to'} {bound}" if bound is not None else None
    return st.text_input(label, key=key, help=help_text, placeholder=placeholder)


def choose_facet(table: str, column: str) -> None:
    value = st.session_state.get(f"facet_{table}_{column}")
    if value is None:
        return
    st.session_state[f"bf_{table}_{column}__exact"] = value
    columns_key = f"bf_{table}__columns"
    st.session_state[columns_key] = [*st.session_state.get(columns_key, []), column]
    st.session_state[f"bf_{table}__page"] = 1


def facet_words(counts: Mapping[str, int]) -> Callable[[str], str]:
    """A facet's values in words: each with its number of rows."""
    return lambda value: f"{value} · {counts[value]:,}"


def browse_mode() -> None:
    names = browse.tables()
    if not names:
        st.info("The database holds none of the schema's tables.")
        return
    table = state.url_select(
        "Table or view",
        names,
        key="table",
        default="forces",
        format_func=lambda n: f"{n} (view)" if schema.TABLES[n].is_view else n,
    )
    st.query_params["table"] = table
    # Filters belong to the table they were set on: another table starts unfiltered.
    if st.session_state.get("_wb_browse_for") not in (None, table):
        drop_params(k for k in st.query_params if k.startswith(browse.URL_PREFIX) or k == browse.PAGE_KEY)
    st.session_state["_wb_browse_for"] = table
    st.markdown(browse.description(table))
    try:
        profile = browse.profile(table)
    except sandbox.QueryError as refusal:
        st.error(str(refusal))
        return

    from_url, problems = browse.filters_from_params(table, st.query_params.to_dict())
    for problem in problems:
        st.warning(problem)
    columns_key = f"bf_{table}__columns"
    if columns_key not in st.session_state:
        st.session_state[columns_key] = list(dict.fromkeys(f.column for f in from_url))
    chosen = st.multiselect(
        "Filter on columns",
        schema.TABLES[table].columns,
        key=columns_key,
        help="Text columns with few values offer them to choose from; others are searched "
        "(any case). Numbers and dates take a lowest and a highest value.",
    )
    filters: list[browse.Filter] = []
    wanted = browse.filter_slots(table, chosen, profile, from_url)
    if wanted:
        grid = st.columns(3)
        for i, slot in enumerate(wanted):
            with grid[i % 3]:
                value = filter_widget(table, slot, profile)
            if value != "":
                filters.append(browse.Filter(slot.column, slot.op, value))
    filters, problems = browse.valid_filters(filters)
    for problem in problems:
        st.warning(problem)
    drop_params(k for k in st.query_params if k.startswith(browse.URL_PREFIX))
    for key, value in browse.params_of(filters).items():
        st.query_params[key] = value

    page_key = f"bf_{table}__page"
    signature = (table, tuple(filters))
    if page_key not in st.session_state:
        st.session_state[page_key] = browse.page_from(st.query_params.get(browse.PAGE_KEY))
    elif st.session_state.get("_wb_browse_filters") not in (None, signature):
        st.session_state[page_key] = 1  # new filters: back to the first page
    st.session_state["_wb_browse_filters"] = signature
    facets = browse.facet_columns(table, profile, filters)
    try:
        page = browse.browse(table, filters, st.session_state[page_key], facets=facets)
    except (browse.BrowseError, sandbox.QueryError) as refusal:
        st.error(str(refusal))
        return
    st.markdown(
        f"**{data.counted(page.rows, 'row')}**" + (f" where {'; '.join(f.words() for f in filters)}" if filters else "")
    )
    if any(page.facets.values()):
        st.caption("Facets: the most frequent values of columns with few of them. Choose one to filter on it.")
        facet_grid = st.columns(min(len(facets), 3))
        for i, column in enumerate(facets):
            counts = dict(page.facets[column])
            if not counts:
                continue
            with facet_grid[i % len(facet_grid)]:
                st.pills(
                    column,
                    list(counts),
                    key=f"facet_{table}_{column}",
                    on_change=choose_facet,
                    args=(table, column),
                    format_func=facet_words(counts),
                    help=schema.describe(column),
                )
    total_pages = browse.pages(page.rows)
    current = page.offset // browse.PAGE_SIZE + 1
    st.session_state[page_key] = current
    if total_pages > 1:
        st.number_input(f"Page (of {total_pages:,})", min_value=1, max_value=total_pages, step=1, key=page_key)
    if current > 1:
        st.query_params[browse.PAGE_KEY] = str(current)
    else:
        st.query_params.pop(browse.PAGE_KEY, None)
    st.caption(browse.page_words(page))
    ui.table(sandbox.for_display(page.frame), "browse", file_name=f"{table}_page{current}")
    if page.rows:
        st.caption(f"Every matching row (at most {sandbox.ROW_LIMIT:,}), not only this page:")
        csv_column, json_column, parquet_column = st.columns(3)
        for download_column, (kind, (mime, convert)) in zip(
            (csv_column, json_column, parquet_column), browse.DOWNLOADS.items()
        ):
            ui.download(
                download_column,
                f"Download every matching row ({kind})",
                browse.download(table, filters, convert),
                f"{table}.{kind.lower()}",
                f"browse_all_{kind.lower()}",
                mime,
            )


def caption() -> str:
    """The page's caption: what the workbench offers and the limits every query runs under."""
    return (
        "Saved questions from `queries/`, your own SQL, or any table browsed without SQL. Read-only and sandboxed: "
        f"no files, no settings, at most {sandbox.ROW_LIMIT:,} rows, {sandbox.TIMEOUT_S:g} s and "
        f"{sandbox.format_size(sandbox.limits().memory_bytes)} of memory per query. A link to this page runs its query "
        "when opened."
    )


def default_mode() -> str:
    """A link with SQL and no saved question opens on the SQL; any other opens on the saved questions."""
    return "free" if st.query_params.get("sql") and "query" not in st.query_params else "saved"


def show_mode(mode: str, saved: dict) -> None:
    """The chosen mode, after dropping from the URL whatever another mode or question left behind."""
    # The URL holds only the current query's state: nothing another mode or question left behind.
    drop_params(browse.stale_keys(mode, list(st.query_params)))
    if mode == "saved":
        saved_mode(saved)
    elif mode == "free":
        free_mode()
    else:
        browse_mode()


def schema_sidebar() -> None:
    """The schema of the views and derived tables, one expander each."""
    st.subheader("Schema")
    for table in schema.TABLES.values():
        if table.is_view or table.name.startswith(("divergence", "outcome_ratios")):
            with st.expander(table.name):
                st.caption(table.description)
                st.markdown("\n".join(f"- `{c}`: {schema.describe(c)}" for c in table.columns))
