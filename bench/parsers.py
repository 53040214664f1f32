"""Every accuracy and speed bar of issue 3 (parsers) in one table: python -m bench.parsers [--runs N] [--n N].

The figures come from bench.accuracy_text (reply trimming, forwards), bench.accuracy_classify
(bounces, threading, MIME robustness) and bench.parse_speed (parse_message + classify against bare
mail-parser); this module only runs them together. bench.run_all runs those three itself and skips
this one, so no figure is measured twice there.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.common import Figure

if __name__ in ("__main__", "parsers"):
    # Started as a script (python bench/parsers.py), or imported as the top-level "parsers" by a
    # script of bench/ (whose folder is then sys.path[0]): that name belongs to the project's
    # package. Take bench/ off the path, put the project root on it, and hand the importer the
    # real package; nothing below runs at import time, so this file's own body is harmless.
    _BENCH = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
    sys.path.insert(0, str(_BENCH.parent))
    if __name__ == "parsers":
        import importlib

        del sys.modules["parsers"]
        sys.modules["parsers"] = importlib.import_module("parsers")


def run(runs: int = 3, n: int = 1000) -> list[Figure]:
    """The figures of every parser bar; the speed ones are medians over `runs` runs of `n` messages."""
    from bench import accuracy_classify, accuracy_text, parse_speed

    return [*accuracy_text.run(), *accuracy_classify.run(), *parse_speed.run(runs=runs, n=n, breakdown=False)]


def main(argv: list[str] | None = None) -> int:
    import argparse

    from bench.accuracy_text import CORPORA
    from bench.common import print_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="speed figures: median of N runs (default 3)")
    parser.add_argument("--n", type=int, default=1000, help="speed figures: generated messages per run")
    args = parser.parse_args(argv)
    if not CORPORA.exists():
        print(f"corpora not found under {CORPORA}", file=sys.stderr)
        return 2
    print_table(run(args.runs, args.n), "issue 3: parser accuracy and speed bars")
    return 0


if __name__ == "__main__":
    sys.exit(main())
