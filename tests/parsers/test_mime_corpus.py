"""Every message of the public malformed/unusual MIME corpus parses, quickly, and agrees with its ground truth."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from parsers import parse_message
from tests.support.need import CORPORA, corpora

pytestmark = pytest.mark.corpora

HANG_GUARD_SECONDS = 10  # a hang guard only; the speed bar is measured by bench/, never asserted here


def _eml_files() -> list[Path]:
    root = CORPORA / "mime"
    return sorted(root.rglob("*.eml")) if root.exists() else []


@contextmanager
def hang_guard(seconds: int) -> Iterator[None]:
    def fail(signum: int, frame: object) -> None:
        raise TimeoutError(f"parse_message still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _ground_truth(path: Path) -> dict[str, object]:
    """Decoded subject and first From mailbox from the corpus's own parse, where it has them."""
    truth_file = path.with_suffix(".json")
    if not truth_file.exists():
        return {}
    top = json.loads(truth_file.read_text(encoding="utf-8"))["parts"][0]["headers"]
    truth: dict[str, object] = {}
    for header in top:
        value = header["value"]
        if header["name"] == "subject" and isinstance(value, dict) and "Text" in value:
            truth["subject"] = " ".join(value["Text"].split())
        if header["name"] == "from" and isinstance(value, dict) and isinstance(value.get("Address"), dict):
            mailboxes = value["Address"].get("List") or []
            if mailboxes and "@" in (mailboxes[0].get("address") or ""):
                truth["from"] = (mailboxes[0]["address"].lower(), " ".join((mailboxes[0]["name"] or "").split()))
    return truth


def test_corpus_is_present() -> None:
    assert len(list(corpora("mime").rglob("*.eml"))) >= 50


@pytest.mark.parametrize("path", _eml_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_parses_without_exception_or_hang(path: Path) -> None:
    raw = path.read_bytes()
    with hang_guard(HANG_GUARD_SECONDS):
        pm = parse_message(raw)
    assert pm.size == len(raw)
    assert pm.message_id
    truth = _ground_truth(path)
    if "subject" in truth:
        assert pm.subject == truth["subject"]
    if "from" in truth:
        assert (pm.from_addr, pm.from_name) == truth["from"]


@pytest.mark.parametrize("path", _eml_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fast_tree_agrees_with_full_parser(path: Path) -> None:
    from tests.parsers.test_parse import fast_and_full_agree

    fast_and_full_agree(path.read_bytes())
