"""bench/parsers.py shares its name with the package: scripts of bench/ must still import the real parsers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_script_in_bench_imports_the_package_not_the_benchmark() -> None:
    # `python bench/accuracy_text.py` puts bench/ first on sys.path, where parsers.py is the benchmark.
    code = (
        "import sys; sys.path.insert(0, 'bench'); "
        "import parsers.forward, parsers; print(parsers.parse_message.__module__, parsers.forward.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["parsers.parse", "parsers.forward"]


def test_the_benchmark_runs_as_a_script_from_anywhere(tmp_path: Path) -> None:
    script = REPO / "bench" / "parsers.py"
    done = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "--runs" in done.stdout
