"""Exponential backoff with jitter, so a wrong password or a dead server never becomes a tight loop."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    """Delay doubling from `initial` to `maximum` seconds; `reset()` after a success."""

    initial: float = 2.0
    maximum: float = 300.0
    failures: int = 0

    def next_delay(self) -> float:
        self.failures += 1
        base = min(self.maximum, self.initial * 2 ** (self.failures - 1))
        return base * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.failures = 0
