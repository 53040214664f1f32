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


def run(runs: int = 5, n: int = 1000, breakdown: bool = True) -> list[Figure]:
    """Medians over `runs` of msg/s; each run measures the baseline and ours back to back on the same messages.

    `breakdown` adds the CPU ms per message of each stage (bench.parsers leaves it out: not a bar).
    """
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
        *(_breakdown(messages[: max(1, n // 2)], runs, classify) if breakdown else []),
    ]


def _breakdown(messages: Sequence[bytes], runs: int, classify: Callable[[object], object] | None) -> list[Figure]:
    """CPU ms per message of each stage, so the owner of the slowest one knows where the time goes."""
    from parsers.forward import find_forwarded
    from parsers.reply import split_reply

    parsed = [parse_message(raw) for raw in messages]

    def ms(handle: Callable[[object], object], items: Sequence[object]) -> float:
        return statistics.median(1000 / _rate(items, handle) for _ in range(runs))  # type: ignore[arg-type]

    stages = [
        ("  stage: mailparser.parse_from_bytes (baseline)", mailparser.parse_from_bytes, messages),
        ("  stage: parse_message (all of it)", parse_message, messages),
        ("  stage:   of which split_reply(text)", lambda pm: split_reply(pm.text), parsed),
        ("  stage:   of which find_forwarded(text, subject)", lambda pm: find_forwarded(pm.text, pm.subject), parsed),
    ]
    if classify is not None:
        stages.append(("  stage: classify(pm)", classify, parsed))
    return [Figure(name, ms(handle, items), None, "", "ms/msg CPU") for name, handle, items in stages]


if __name__ == "__main__":
    print_table(run(), title="parse speed vs bare mail-parser (CPU time, medians of 5 runs)")
