"""Run every benchmark in bench/ and print one table: figure, value, baseline, ratio and target (issue 8).

Each benchmark module exposes `run(...) -> list[Figure]` and also runs on its own
(`python -m bench.intake`, …). Here `--runs N` is handed to every `run` that takes `runs` (it then
reports the median of N itself); a `run` without it is called N times and each figure's median is
taken. Module parameters can be set from the command line, e.g. `--set memory.seconds=3600`.

    python -m bench.run_all [--runs 3] [--only latency,growth] [--skip accuracy_text] [--quick]
                            [--set intake.n=2000] [--json figures.json]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import Figure, print_table  # noqa: E402

# bench.parsers only regroups the figures of accuracy_text, accuracy_classify and parse_speed.
NOT_BENCHMARKS = {"__init__", "common", "generate", "run_all", "parsers"}
# A pass that finishes in minutes rather than an hour: smaller backlogs, fewer signals, a short soak.
QUICK = {"intake.n": 2000, "intake.latency_signals": 50, "latency.signals": 50, "memory.seconds": 60,
         "growth.sizes": (1_000, 10_000), "growth.batch": 100, "outbox.n": 500, "parse_speed.n": 500}


def benchmark_modules() -> list[str]:
    """Names of the modules in bench/ that define run(); in file-name order, so the table is stable."""
    names = []
    for path in sorted(BENCH.glob("*.py")):
        if path.stem in NOT_BENCHMARKS:
            continue
        if "def run(" in path.read_text(encoding="utf-8"):
            names.append(path.stem)
    return names


def parse_value(text: str) -> Any:
    """`3` → 3, `0.5` → 0.5, `1000,10000` → (1000, 10000), anything else stays a string."""
    if "," in text:
        return tuple(parse_value(part) for part in text.split(","))
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parameters(module: str, settings: dict[str, Any], run: Callable[..., list[Figure]]) -> dict[str, Any]:
    accepted = inspect.signature(run).parameters
    chosen = {}
    for key, value in settings.items():
        name, _, param = key.partition(".")
        if name != module:
            continue
        if param not in accepted:
            raise SystemExit(f"bench.{module}.run() has no parameter {param!r} (it takes {list(accepted)})")
        chosen[param] = value
    return chosen


def run_module(module: str, runs: int, settings: dict[str, Any]) -> list[Figure]:
    """The module's figures; the median over `runs` calls when its run() does not take `runs` itself."""
    run = importlib.import_module(f"bench.{module}").run
    kwargs = parameters(module, settings, run)
    if "runs" in inspect.signature(run).parameters:
        return run(runs=runs, **kwargs)
    rounds = [run(**kwargs) for _ in range(runs)]
    merged = []
    for figure in rounds[0]:
        same = [f for r in rounds for f in r if f.name == figure.name]
        baselines = [f.baseline for f in same if f.baseline is not None]
        merged.append(Figure(figure.name, statistics.median(f.value for f in same),
                             statistics.median(baselines) if baselines else None, figure.target, figure.unit))
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="median of N runs (default 1)")
    parser.add_argument("--only", default="", help="comma-separated module names")
    parser.add_argument("--skip", default="", help="comma-separated module names")
    parser.add_argument("--quick", action="store_true", help="smaller sizes: " + ", ".join(QUICK))
    parser.add_argument("--set", action="append", default=[], metavar="MODULE.PARAM=VALUE")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    settings: dict[str, Any] = dict(QUICK) if args.quick else {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise SystemExit(f"--set wants MODULE.PARAM=VALUE, got {item!r}")
        settings[key] = parse_value(value)
    modules = benchmark_modules()
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - set(modules)
        if unknown:
            raise SystemExit(f"unknown benchmark(s) {sorted(unknown)}; there are {modules}")
        modules = [m for m in modules if m in wanted]
    modules = [m for m in modules if m not in args.skip.split(",")]

    figures: list[Figure] = []
    failures: list[str] = []
    timings: dict[str, float] = {}
    for module in modules:
        print(f"-- bench.{module} …", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            figures += run_module(module, args.runs, settings)
        except Exception:  # one broken benchmark must not hide the others' figures
            failures.append(f"bench.{module}: {traceback.format_exc(limit=3)}")
        timings[module] = time.monotonic() - started
        print(f"-- bench.{module} took {timings[module]:.0f} s", file=sys.stderr, flush=True)

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print_table(figures, f"curmail benchmarks, median of {args.runs} run(s), {stamp}")
    if args.json:
        args.json.write_text(json.dumps({
            "measured_at": stamp, "runs": args.runs, "settings": {k: v for k, v in settings.items()},
            "figures": [{"name": f.name, "value": f.value, "baseline": f.baseline, "ratio": f.ratio,
                         "target": f.target, "unit": f.unit} for f in figures],
            "seconds": timings, "failures": failures,
        }, ensure_ascii=False, indent=1), encoding="utf-8")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
