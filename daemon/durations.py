"""Durations as staff write them in config ("3h", "45m", "30d", "2wd", "8wh"), parsed into typed values."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class DurationUnit(StrEnum):
    MINUTES = "m"
    HOURS = "h"
    CALENDAR_DAYS = "d"
    WORKING_DAYS = "wd"
    WORKING_HOURS = "wh"


_DURATION = re.compile(r"^\s*([+-]?\d+)\s*(wd|wh|m|h|d)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Duration:
    """A signed amount of one unit; negative offsets are used for reminders before a deadline."""

    amount: int
    unit: DurationUnit

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION.match(str(text))
        if not match:
            raise ValueError(
                f"«{text}» is not a duration; use e.g. 45m, 3h, 30d (calendar days), "
                "2wd (working days) or 8wh (working hours)"
            )
        return cls(int(match.group(1)), DurationUnit(match.group(2).lower()))

    def __str__(self) -> str:
        return f"{self.amount}{self.unit.value}"
