"""`python -m dashboard.server run dashboard/app.py …`: Streamlit's own command line, in a process
that has already imported the dashboard's modules.

Streamlit imports a page's modules on the first visit after a start; the dashboard's (Polars,
DuckDB, SciPy, Plotly) take about 2 s here, which the first reviewer to open the page would wait
for. Importing them before the server starts moves that wait to `crossforce serve` itself.
"""

import logging
import sys

# Caches declared before the server's runtime exists say so once each; they are the same in-memory
# caches the runtime would give them.
from streamlit.runtime.caching import cache_data_api  # noqa: E402

cache_data_api._LOGGER.setLevel(logging.ERROR)

from streamlit.web import cli  # noqa: E402

import dashboard.browse  # noqa: E402, F401  (imported for their side effect: loaded once, before any visit)
import dashboard.charts  # noqa: E402, F401
import dashboard.data  # noqa: E402, F401
import dashboard.pack  # noqa: E402, F401
import dashboard.state  # noqa: E402, F401
import dashboard.ui  # noqa: E402, F401
import dashboard.workbench  # noqa: E402, F401

if __name__ == "__main__":
    sys.exit(cli.main())
