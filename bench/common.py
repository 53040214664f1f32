"""Shared helpers for benchmarks: a Figure row, medians over runs, and the printed table."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    """One measured figure, compared with a baseline measured in the same run."""

    name: str
    value: float
    baseline: float | None = None  # same unit as value; None when the figure is absolute
    target: str = ""  # human-readable target, e.g. ">= 0.8x" or "<= 200 MB"
    unit: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.baseline:
            return None
        return self.value / self.baseline


def median_of(runs: int, measure: Callable[[], float]) -> float:
    """Run `measure` `runs` times and return the median: these machines are shared and noisy."""
    return statistics.median(measure() for _ in range(runs))


def print_table(figures: Sequence[Figure], title: str = "") -> None:
    """Print figures as an aligned table: figure, value, baseline, ratio, target."""
    if title:
        print(f"== {title}")
    header = f"{'figure':<58} {'value':>12} {'baseline':>12} {'ratio':>8}  target"
    print(header)
    print("-" * len(header))
    for f in figures:
        base = "" if f.baseline is None else f"{f.baseline:.3f}"
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}x"
        print(f"{f.name:<58} {f.value:>12.3f} {base:>12} {ratio:>8}  {f.target} {f.unit}".rstrip())


@contextmanager
def bench_database(backend: str, workdir: Path, name: str = "bench") -> Iterator[str]:
    """A throw-away database URL: a SQLite file in `workdir`, or a fresh PostgreSQL database (dropped after)."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'{name}.db'}"
        return
    from tests.support.postgres import fresh_database  # the same throw-away databases as the tests

    with fresh_database("curmail_bench") as url:
        yield url
