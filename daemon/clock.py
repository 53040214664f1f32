"""The daemon's notion of "now": the wall clock, or a fixed instant given by `--now` for drills and tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime


def parse_now(text: str, default_zone: str = "Europe/Moscow") -> datetime:
    """Parse `--now`: ISO 8601; a value without a zone is taken in the organisation's zone."""
    from zoneinfo import ZoneInfo

    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(default_zone))
    return value.astimezone(UTC)


@dataclass
class Clock:
    """Callable clock returning aware UTC datetimes; `fixed` pins it for `run --once --now`."""

    fixed: datetime | None = None
    source: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.fixed if self.fixed is not None else self.source()
