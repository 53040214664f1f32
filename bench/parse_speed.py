"""Speed of parse_message + classify against bare mailparser.parse_from_bytes on the generated mail."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

# The baseline only: the project itself reads mail through parsers.parse, its one mail-parser importer.
import mailparser

from bench.common import Figure, print_table
from bench.generate import generate_messages
from parsers import parse_message


def _classifier() -> Callable[[object], object] | None:
    try:
        from parsers.classify import classify
    except ImportError:
        return None
    return classify


def _rate(messages: Sequence[bytes], handle: Callable[[bytes], object]) -> float:
    # CPU time of this process: these machines are shared, and wall time counts the neighbours' work too.
    started = time.process_time()
    for raw in messages:
        handle(raw)
    return len(messages) / (time.process_time() - started)


def run(runs: int = 5, n: int = 1000) -> list[Figure]:
    """Medians over `runs` of msg/s; each run measures the baseline and ours back to back on the same messages."""
    messages = list(generate_messages(n, seed=0))
    classify = _classifier()

    def ours(raw: bytes) -> object:
        pm = parse_message(raw)  # parsed once; classification reuses the result
        return classify(pm) if classify is not None else pm

    _rate(messages[:50], ours)  # warm-up: lazy imports and regex compilation
    _rate(messages[:50], mailparser.parse_from_bytes)
    baseline_rates, our_rates, parse_rates = [], [], []
    for _ in range(runs):
        baseline_rates.append(_rate(messages, mailparser.parse_from_bytes))
        our_rates.append(_rate(messages, ours))
        parse_rates.append(_rate(messages, parse_message))
    baseline = statistics.median(baseline_rates)
    what = "parse_message + classify" if classify is not None else "parse_message only (no parsers.classify yet)"
    size = sum(len(m) for m in messages) / len(messages) / 1024
    return [
        Figure(f"{what}, {n} msgs of {size:.0f} KB avg", statistics.median(our_rates), baseline, ">= 1.0x", "msg/s"),
        Figure("parse_message alone", statistics.median(parse_rates), baseline, "", "msg/s"),
        Figure("mailparser.parse_from_bytes (baseline)", baseline, None, "", "msg/s"),
    ]


if __name__ == "__main__":
    print_table(run(), title="parse speed vs bare mail-parser (CPU time, medians of 5 runs)")
