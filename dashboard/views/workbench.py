import streamlit as st

from dashboard import data, ui
from pipelines import query, schema

st.title("SQL workbench")
st.caption("Saved questions from `queries/`, or your own SQL. Read-only and sandboxed: no files, no settings, "
           f"at most {query.ROW_LIMIT:,} rows, {query.TIMEOUT_S:g} s and {query.format_size(query.limits().memory_bytes)} "
           "of memory per query.")

main, side = st.columns([3, 1])
saved = {q.name: q for q in data.saved_queries()}
with main:
    mode = ui.url_select("Ask", ["saved", "free"], key="mode", default="free" if st.query_params.get("sql") else "saved",
                         format_func={"saved": "A saved question", "free": "Your own SQL"}.get)
    sql, params = None, {}
    if mode == "saved":
        name = ui.url_select("Question", list(saved), key="query", format_func=lambda n: saved[n].title)
        chosen = saved[name]
        st.write(chosen.description)
        st.caption(f"Grain: {chosen.grain}")
        with st.form("saved_query"):
            typed = {}
            for param in chosen.params:
                default = "" if param.default is None else str(param.default)
                typed[param.name] = st.text_input(param.name, value=st.query_params.get(f"p_{param.name}", default),
                                                  help=param.description, key=f"param_{param.name}")
            if st.form_submit_button("Run"):
                for k, v in typed.items():
                    st.query_params[f"p_{k}"] = v
                try:
                    params = chosen.bind({k: v for k, v in typed.items() if v != ""})
                    sql = chosen.sql
                except query.QueryError as problem:
                    st.error(str(problem))
        with st.expander("SQL"):
            st.code(chosen.sql, language="sql")
    else:
        if "sql" not in st.session_state:
            st.session_state["sql"] = st.query_params.get("sql", "select * from forces")
        text = st.text_area("SQL (Ctrl+Enter runs it)", key="sql", height=180)
        st.query_params["sql"] = text
        if st.button("Run", key="run_sql") or st.session_state.get("ran_sql") == text:
            sql = text
            st.session_state["ran_sql"] = text
    if sql:
        try:
            result = data.run_sql(sql, params)
            # Nested values (lists, structs, maps) and bytes are shown, and downloaded as CSV, as JSON text.
            shown, as_json, as_parquet = (query.for_display(result.frame), query.to_json_bytes(result.frame),
                                          query.to_parquet_bytes(result.frame))
        except query.QueryError as refusal:
            st.error(str(refusal))
        else:
            note = " (cut at the row limit)" if result.truncated else ""
            st.write(f"{result.frame.height:,} rows{note} in {result.elapsed_s * 1000:.0f} ms")
            ui.table(shown, "result", file_name="query_result")
            json_column, parquet_column = st.columns(2)
            json_column.download_button("Download the table (JSON)", as_json, file_name="query_result.json",
                                        mime="application/json", key="result_json")
            parquet_column.download_button("Download the table (Parquet)", as_parquet, file_name="query_result.parquet",
                                           mime="application/vnd.apache.parquet", key="result_parquet")
with side:
    st.subheader("Schema")
    for table in schema.TABLES.values():
        if table.is_view or table.name.startswith(("divergence", "outcome_ratios")):
            with st.expander(table.name):
                st.caption(table.description)
                st.markdown("\n".join(f"- `{c}`: {schema.describe(c)}" for c in table.columns))
