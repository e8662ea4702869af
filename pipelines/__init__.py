"""crossforce pipelines: read police returns, normalise them onto one grain, load them into DuckDB.

Layout: `schema` declares every table once; `reference` holds the version-controlled lookups and
the shared resolving steps; `textfile` reads delimited files; `sources/` has one module per
publication (a pure `to_canonical`); `load` is the only writer of the database; `cli` is the one
command-line entry point; `config` the settings it shares with the dashboard.
"""
