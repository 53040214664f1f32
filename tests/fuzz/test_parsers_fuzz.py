"""Fuzz the parsers: parse_message, extract_reply, parse_commands and extract_deadline never raise or hang.

Seeds are every .eml of ../shared/corpora/mime and bounces; hypothesis mutates them byte by byte and
builds Russian text from the phrases the grammars look for. A short run by default; a long one by
hand with CURMAIL_FUZZ_EXAMPLES=20000. Inputs that once broke a parser live in tests/fixtures/fuzz/.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers import ParsedMessage, extract_deadline, extract_reply, parse_message
from parsers.commands import CommandParse, parse_commands
from tests.fuzz.support import FUZZ, REGRESSIONS, load_seeds, mutated, russian_text, seed_files, slow_inputs, timed

RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    found = load_seeds()
    assert len(found) > 100, "the corpora should give hundreds of seed messages"
    return found


def every_parser(raw: bytes, label: str) -> ParsedMessage:
    """parse_message, then the text parsers on what it produced, each under the hang guard."""
    pm = timed(f"parse_message({label})", parse_message, raw)
    assert isinstance(pm, ParsedMessage)
    assert isinstance(timed(f"extract_reply({label})", extract_reply, pm.text), str)
    assert isinstance(timed(f"parse_commands({label})", parse_commands, pm.new_text, pm.subject), CommandParse)
    timed(f"extract_deadline({label})", extract_deadline, pm.text, RECEIVED)
    return pm


def test_every_seed_goes_through_every_parser() -> None:
    files = seed_files()
    for path in files:
        every_parser(path.read_bytes(), path.name)
    slowest = sorted(slow_inputs, reverse=True)[:5]
    print(f"{len(files)} seeds; inputs over 1 s: {[(round(s, 2), w) for s, w, _ in slowest]}")


@FUZZ
@given(data=st.data())
def test_mutated_mail_never_raises_or_hangs(seeds: list[bytes], data: st.DataObject) -> None:
    raw = data.draw(mutated(seeds), label="raw")
    pm = every_parser(raw, "mutated")
    assert pm.size == len(raw)


@FUZZ
@given(raw=st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    every_parser(raw, "bytes")


@FUZZ
@given(text=russian_text())
def test_reply_extraction_never_raises(text: str) -> None:
    new_text = timed("extract_reply", extract_reply, text)
    assert isinstance(new_text, str) and len(new_text) <= len(text) + 1


@FUZZ
@given(text=russian_text(), subject=st.one_of(st.just(""), russian_text()))
def test_command_grammar_never_raises(text: str, subject: str) -> None:
    assert isinstance(timed("parse_commands", parse_commands, text, subject), CommandParse)


@FUZZ
@given(text=russian_text(), received=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1),
                                                  timezones=st.just(UTC)))
def test_deadline_phrases_never_raise(text: str, received: datetime) -> None:
    deadline = timed("extract_deadline", extract_deadline, text, received)
    assert deadline is None or deadline.at.tzinfo is not None


REGRESSION_FILES = sorted(REGRESSIONS.glob("*.eml")) if REGRESSIONS.exists() else []


@pytest.mark.parametrize("path", REGRESSION_FILES, ids=[p.name for p in REGRESSION_FILES])
def test_inputs_that_once_broke_a_parser(path: Path) -> None:
    every_parser(path.read_bytes(), path.name)


@pytest.mark.slow
def test_atheris_short_run(tmp_path: Path) -> None:
    """Five seconds of coverage-guided fuzzing from 20 seeds when atheris is installed (it is optional).

    The full corpus takes ~30 s just to load under instrumentation; the long run is by hand (see
    tests/fuzz/atheris_parsers.py).
    """
    pytest.importorskip("atheris")
    scratch = tmp_path / "corpus"
    scratch.mkdir()
    for path in seed_files()[::35][:20]:
        shutil.copy(path, scratch / path.name)
    result = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.atheris_parsers", str(scratch), "-max_total_time=5", "-runs=5000",
         "-timeout=5", f"-artifact_prefix={tmp_path}/"],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300, check=False,
    )
    artifacts = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))]
    assert result.returncode == 0 and not artifacts, f"{artifacts}\n{result.stderr[-3000:]}"
