"""Report settings from the configuration: repeat window, top-N, retention period, topic taxonomy."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from daemon.config import Settings


def repeat_window(settings: Settings) -> timedelta:
    """`[reports] repeat_window_days`: how far back an earlier appeal makes a repeat."""
    return timedelta(days=settings.reports.repeat_window_days)


def problems_top(settings: Settings) -> int:
    """`[reports] problems_top`: rows in the «top problems» tables."""
    return settings.reports.problems_top


def retention_years(settings: Settings) -> int:
    """`[retention] years`: how long after a case closes its mail and personal data are kept."""
    return settings.retention.years


def topic_names(settings: Settings) -> tuple[str, ...]:
    """The taxonomy's topic names in configured order: `[topics]` when present, else the built-in defaults."""
    from parsers.topics import DEFAULT_TOPICS

    return tuple(settings.topics) if settings.topics else tuple(DEFAULT_TOPICS)


def topic_table(settings: Settings) -> Mapping[str, tuple[str, ...]]:
    """Topic -> keywords (matched on lemmas): `[topics]` replaces the built-in taxonomy when present.

    A configured topic's own name is a keyword too, so «"ЖКХ" = ["отопление"]» also matches «ЖКХ».
    """
    from parsers.topics import DEFAULT_TOPICS

    if not settings.topics:
        return DEFAULT_TOPICS
    return {name: tuple(dict.fromkeys((*words, name))) for name, words in settings.topics.items()}


def known_topics(settings: Settings) -> tuple[str, ...]:
    """Every topic name cases can carry: the taxonomy's, then staff topics of their own, in order."""
    from daemon.workflow.routing import taxonomy

    names = [*topic_names(settings), *taxonomy(settings).staff_topics]
    return tuple(dict.fromkeys(names))


def canonical_topic(settings: Settings, text: str) -> str | None:
    """The taxonomy's spelling of `text` («жкх» -> «ЖКХ»), or None when it names no known topic."""
    def key(name: str) -> str:
        return " ".join(name.casefold().replace("ё", "е").split())

    wanted = key(text)
    return next((name for name in known_topics(settings) if key(name) == wanted), None)
