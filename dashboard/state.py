"""What the person has chosen, and where it lives: the URL's query string and the session.

`dashboard/app.py` lays out the sidebar's global filters (peers, window, source) and builds one
`Filters` from them on every run; the pages, which run inside that run (`st.navigation`), read it
with `filters()` and pass its fields to `dashboard.data`, which reads no widget or URL state itself.
The widgets here (`url_select`, `url_multiselect`, `url_text`) keep their value in the URL, so that
a link reproduces a view, and the shared choices (`SHARED`) follow the person from page to page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import streamlit as st

# Choices a person makes once and expects every page to keep: the force, the indicator, the peers,
# the window and the source. Each page's widget for one of these starts from the person's last
# choice (kept for the session), or from the link that opened the page.
SHARED = ("force", "indicator", "peers", "window", "source", "forces")
_CHOICES = "_choices"
_FILTERS = "_filters"


@dataclass(frozen=True)
class Filters:
    """The sidebar's global filters for this run. `peers` is a peer group (`data.PEER_GROUPS`),
    `window` is `standard` (each source's latest window) or a calendar year `YYYY`
    (`data.window_months` gives its months), `source` is a source id or `all`."""

    peers: str = "all"
    window: str = "standard"
    source: str = "all"


def set_filters(chosen: Filters) -> None:
    """Make `chosen` this run's filters (called by `dashboard/app.py`, before the page runs)."""
    st.session_state[_FILTERS] = chosen


def filters() -> Filters:
    """The filters `dashboard/app.py` built from the sidebar in this run (every run sets them anew
    before the page runs)."""
    if _FILTERS not in st.session_state:
        raise RuntimeError("no filters for this run: pages run inside dashboard/app.py, which builds them")
    return st.session_state[_FILTERS]


def _choices() -> dict:
    return st.session_state.setdefault(_CHOICES, {})


def choice(key: str, default: str | None = None) -> str | None:
    """The person's current choice for `key`: what this run's widget shows, else their last choice
    on any page, else what the link that opened the page said."""
    if key in st.session_state and key != _CHOICES:
        return st.session_state[key]
    return _choices().get(key, st.query_params.get(key, default))


def keep(key: str, value: str) -> None:
    """Remember `value` as the person's choice for the shared `key`, for the next page to start from."""
    _choices()[key] = value


def carried() -> dict[str, str]:
    """The person's shared choices, as a link carries them."""
    return {k: v for k, v in _choices().items() if k in SHARED and isinstance(v, str) and v not in ("all", "")}


def _wish(key: str, default) -> object:
    """What the person asked for under `key`: a link to this page wins on its first run; after that
    the widget's own state; on a page they move to, their last choice elsewhere."""
    choices = _choices()
    if key not in st.session_state and key in st.query_params:
        choices[key] = st.query_params.get_all(key) if key == "forces" else st.query_params[key]
    return choices.get(key, default)


def _remember(key: str) -> None:
    _choices()[key] = st.session_state[key]


def url_select(
    label: str,
    options: Sequence[str],
    key: str,
    default: str | None = None,
    format_func: Callable[[str], str] = str,
    container=None,
    help: str | None = None,
) -> str:
    """A selectbox whose value is read from, and written to, the URL query string under `key`, so
    that a link reproduces what a person saw. A shared key (`SHARED`) carries the person's choice to
    every page that offers it; a choice this page cannot offer (the window changed, say) is said,
    not silently replaced, and comes back where it applies again."""
    options = list(options)
    if not options:
        return ""
    default = default if default in options else options[0]
    wish = (
        _wish(key, default)
        if key in SHARED
        else (st.session_state[key] if key in st.session_state else st.query_params.get(key, default))
    )
    value = wish if wish in options else default
    if wish not in options and wish not in ("all", "", None):
        (container or st).caption(
            f"{_words(format_func, wish)} is not available here; showing {_words(format_func, value)}."
        )
    st.session_state[key] = value
    value = (container or st).selectbox(
        label,
        options,
        key=key,
        format_func=format_func,
        help=help,
        on_change=_remember if key in SHARED else None,
        args=(key,) if key in SHARED else None,
    )
    if value == default:
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = value
    return value


def url_multiselect(
    label: str,
    options: Sequence[str],
    key: str,
    default: Sequence[str],
    format_func: Callable[[str], str] = str,
    container=None,
) -> list[str]:
    """A multiselect kept in the URL (`key=a&key=b`) and across pages; choices this page cannot
    offer are said and left out, and `default` is shown when none is left."""
    options = list(options)
    asked = _wish(key, list(default))
    if isinstance(asked, str):
        wish = [asked]
    else:
        wish = list(asked) if isinstance(asked, Iterable) else []
    value = [v for v in wish if v in options]
    dropped = [v for v in wish if v not in options]
    if dropped:
        (container or st).caption(f"No series here for {', '.join(_words(format_func, v) for v in dropped)}.")
    if not value:
        value = [v for v in default if v in options]
    st.session_state[key] = value
    value = (container or st).multiselect(
        label, options, key=key, format_func=format_func, on_change=_remember, args=(key,)
    )
    st.query_params[key] = value
    return value


def _words(format_func: Callable[[str], str], value) -> str:
    """`value` in words, or as it is when the format function does not know it (a lookup keyed to the options)."""
    try:
        words = format_func(value)
    except Exception:
        words = None
    return words if isinstance(words, str) and words else str(value)


def url_text(label: str, key: str, container=None, help: str | None = None) -> str:
    """A text input kept in the URL under `key` (left out of it while empty)."""
    if key not in st.session_state:
        st.session_state[key] = st.query_params.get(key, "")
    value = (container or st).text_input(label, key=key, help=help)
    if value:
        st.query_params[key] = value
    else:
        st.query_params.pop(key, None)
    return value
