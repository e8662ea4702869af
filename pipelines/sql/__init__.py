"""The sandboxed SQL engine behind `crossforce query` and the dashboard's workbench."""
