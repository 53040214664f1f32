"""The report settings read with defaults until `daemon.config` has the [reports], [retention] and [topics] tables."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from daemon.config import Settings

DEFAULT_REPEAT_WINDOW_DAYS = 365
DEFAULT_RETENTION_YEARS = 5
DEFAULT_TOP = 10


def _section(settings: Settings, name: str) -> Any:
    return getattr(settings, name, None)


def _value(settings: Settings, section: str, key: str, default: Any) -> Any:
    value = getattr(_section(settings, section), key, None)
    return default if value is None else value


def repeat_window(settings: Settings) -> timedelta:
    """`[reports] repeat_window_days` (default 365): how far back an earlier appeal makes a repeat."""
    return timedelta(days=int(_value(settings, "reports", "repeat_window_days", DEFAULT_REPEAT_WINDOW_DAYS)))


def problems_top(settings: Settings) -> int:
    """`[reports] problems_top` (default 10): rows in the «top problems» tables."""
    return int(_value(settings, "reports", "problems_top", DEFAULT_TOP))


def retention_years(settings: Settings) -> int:
    """`[retention] years` (default 5): how long after a case closes its mail and personal data are kept."""
    return int(_value(settings, "retention", "years", DEFAULT_RETENTION_YEARS))


def topic_names(settings: Settings) -> tuple[str, ...]:
    """The taxonomy's topic names in configured order: `[topics]` when present, else the built-in defaults."""
    from parsers.topics import DEFAULT_TOPICS

    table = _section(settings, "topics")
    if isinstance(table, Mapping) and table:
        return tuple(table)
    names = getattr(table, "names", None) if table is not None else None
    return tuple(names) if names else tuple(DEFAULT_TOPICS)
