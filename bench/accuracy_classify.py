"""Accuracy of classification and threading keys over ../shared/corpora: bounces, the Fedora mbox, MIME robustness."""

from __future__ import annotations

import collections
import contextlib
import gzip
import html.parser
import itertools
import logging
import re
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bench.common import Figure, median_of, print_table
from parsers import ParsedMessage, classify, parse_message
from parsers.threadkeys import message_refs, subject_key

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
BOUNCES = CORPORA / "bounces"
THREADING = CORPORA / "threading" / "fedora-devel-mailman"
MIME = CORPORA / "mime"


# ---------------------------------------------------------------- bounces


@dataclass(frozen=True)
class BounceScore:
    """How the bounce corpus was classified: shares, and the files that missed."""

    total: int
    machine: int  # classified bounce or auto_reply
    rfc3834_total: int
    rfc3834_auto_reply: int
    not_total: int
    not_false_positives: int
    misses: tuple[str, ...]
    false_positives: tuple[str, ...]

    @property
    def machine_share(self) -> float:
        return self.machine / self.total if self.total else 0.0


def score_bounces(root: Path = BOUNCES) -> BounceScore:
    """Classify every file of bsd/ and not/; not/rb-issue-368-bug.eml may be auto_reply (corpus README)."""
    machine_kinds = {"bounce", "auto_reply"}
    total = machine = r_total = r_ok = 0
    misses: list[str] = []
    for path in sorted((root / "bsd").glob("*.eml")):
        kind = classify(parse_message(path.read_bytes())).kind
        total += 1
        if kind in machine_kinds:
            machine += 1
        else:
            misses.append(f"{path.name}: {kind}")
        if path.name.startswith("rfc3834-"):
            r_total += 1
            if kind == "auto_reply":
                r_ok += 1
            else:
                misses.append(f"{path.name}: {kind} (expected auto_reply)")
    n_total = 0
    false_pos: list[str] = []
    for path in sorted((root / "not").glob("*.eml")):
        kind = classify(parse_message(path.read_bytes())).kind
        n_total += 1
        allowed = {"auto_reply"} if path.name == "rb-issue-368-bug.eml" else set()
        if kind in machine_kinds - allowed:
            false_pos.append(f"{path.name}: {kind}")
    return BounceScore(total, machine, r_total, r_ok, n_total, len(false_pos), tuple(misses), tuple(false_pos))


# ---------------------------------------------------------------- threading


@dataclass(frozen=True)
class ThreadScore:
    """Pairwise precision and recall of a grouping against Mailman's (MHonArc's) thread index."""

    messages: int
    threads_truth: int
    threads_found: int
    precision: float
    recall: float


@lru_cache(maxsize=2)
def read_mbox(path: Path) -> tuple[ParsedMessage, ...]:
    """Messages of a gzipped mbox, in order; the "From " separator lines are dropped. Parsed once."""
    raw = gzip.decompress(path.read_bytes())
    chunks = re.split(rb"(?m)^From \S+ .*\n", raw)
    return tuple(parse_message(chunk) for chunk in chunks if chunk.strip())


class _ThreadIndex(html.parser.HTMLParser):
    """MHonArc's thread.html: top-level <li> under the main <ul> start threads; msgNNNNN is the mbox index."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.started = False
        self.threads: list[list[int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "hr":
            self.started = True
        if not self.started:
            return
        if tag == "ul":
            self.depth += 1
        name = dict(attrs).get("name")
        if tag == "a" and name and name.isdigit():
            if self.depth == 1 or not self.threads:
                self.threads.append([int(name)])
            else:
                self.threads[-1].append(int(name))

    def handle_endtag(self, tag: str) -> None:
        if self.started and tag == "ul":
            self.depth -= 1


def read_thread_index(path: Path) -> list[list[int]]:
    parser = _ThreadIndex()
    parser.feed(gzip.decompress(path.read_bytes()).decode("latin-1"))
    return parser.threads


def thread_messages(pms: Sequence[ParsedMessage], subject_fallback: bool = True) -> list[set[int]]:
    """Group messages the way curmail's keys would: In-Reply-To/References first, normalised subject second."""
    parent = list(range(len(pms)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    ids = {pm.message_id: i for i, pm in enumerate(pms)}
    first_with_subject: dict[str, int] = {}
    for i, pm in enumerate(pms):
        known = [ids[ref] for ref in message_refs(pm) if ref in ids]
        key = subject_key(pm.subject)
        if known:
            for ref in known:
                parent[find(i)] = find(ref)
        elif subject_fallback and key and key in first_with_subject:
            parent[find(i)] = find(first_with_subject[key])
        first_with_subject.setdefault(key, i)
    groups: dict[int, set[int]] = collections.defaultdict(set)
    for i in range(len(pms)):
        groups[find(i)].add(i)
    return list(groups.values())


def _pairs(groups: Sequence[Sequence[int] | set[int]]) -> set[tuple[int, int]]:
    return {pair for group in groups for pair in itertools.combinations(sorted(group), 2)}


def score_threading(root: Path = THREADING, subject_fallback: bool = True) -> ThreadScore:
    pms = read_mbox(root / "2010-January.txt.gz")
    truth = read_thread_index(root / "2010-January_thread.html.gz")
    found = thread_messages(pms, subject_fallback)
    truth_pairs, found_pairs = _pairs(truth), _pairs(found)
    hits = len(truth_pairs & found_pairs)
    return ThreadScore(
        messages=len(pms),
        threads_truth=len(truth),
        threads_found=len(found),
        precision=hits / len(found_pairs) if found_pairs else 1.0,
        recall=hits / len(truth_pairs) if truth_pairs else 1.0,
    )


# ---------------------------------------------------------------- mime robustness


@dataclass(frozen=True)
class MimeScore:
    """parse_message + classify over the malformed/unusual MIME corpus: what raised, hung or was slow."""

    files: int
    raised: tuple[str, ...]
    hung: tuple[str, ...]  # still running after the guard's seconds: stopped, counted, not waited for
    slowest_seconds: float
    slowest_file: str
    over_one_second: tuple[str, ...]


class _Hung(Exception):
    pass


def score_mime(root: Path = MIME, guard_seconds: int = 10) -> MimeScore:
    """Wall time of parse_message + classify per file; the bar is no exception and each file under 1 s."""
    raised: list[str] = []
    hung: list[str] = []
    slow: list[str] = []
    slowest, slowest_name = 0.0, ""

    def stop(signum: int, frame: object) -> None:
        raise _Hung

    previous = signal.signal(signal.SIGALRM, stop)
    try:
        paths = sorted(root.rglob("*.eml"))
        for path in paths:
            name = f"{path.parent.name}/{path.name}"
            raw = path.read_bytes()
            signal.alarm(guard_seconds)
            started = time.perf_counter()
            try:
                classify(parse_message(raw))
            except _Hung:
                hung.append(name)
            except Exception as exc:  # the bar counts these; parsers/ promises there are none
                raised.append(f"{name}: {type(exc).__name__}")
            finally:
                signal.alarm(0)
            took = time.perf_counter() - started
            if took > slowest:
                slowest, slowest_name = took, name
            if took >= 1.0:
                slow.append(f"{name}: {took:.2f} s")
    finally:
        signal.signal(signal.SIGALRM, previous)
    return MimeScore(len(paths), tuple(raised), tuple(hung), slowest, slowest_name, tuple(slow))


# ---------------------------------------------------------------- speed


def classify_speed(runs: int = 3) -> tuple[float, float]:
    """Median ms per message of classify() and, for scale, of bare mailparser.parse_from_bytes.

    Over the Fedora mbox plus the bounce corpus, parsed once beforehand: the figure is the cost
    that classification adds to parsing.
    """
    import mailparser

    logging.getLogger("mailparser").setLevel(logging.CRITICAL)  # it logs every unhandled part type
    raws = [p.read_bytes() for p in sorted((BOUNCES / "bsd").glob("*.eml"))]
    pms = [parse_message(raw) for raw in raws] + list(read_mbox(THREADING / "2010-January.txt.gz"))

    def classify_all() -> float:
        start = time.perf_counter()
        for pm in pms:
            classify(pm)
        return (time.perf_counter() - start) * 1000 / len(pms)

    def mailparser_all() -> float:
        start = time.perf_counter()
        for raw in raws:
            # mail-parser raises on some bounces; its time until then still counts
            with contextlib.suppress(Exception):
                mailparser.parse_from_bytes(raw)
        return (time.perf_counter() - start) * 1000 / len(raws)

    return median_of(runs, classify_all), median_of(runs, mailparser_all)


# ---------------------------------------------------------------- report


def run() -> list[Figure]:
    bounces = score_bounces()
    threads = score_threading()
    refs_only = score_threading(subject_fallback=False)
    classify_ms, mailparser_ms = classify_speed()
    mime = score_mime()
    return [
        Figure("bounces bsd/: share classified bounce or auto_reply", bounces.machine_share, target=">= 0.98"),
        Figure(
            "bounces bsd/rfc3834-*: share classified auto_reply",
            bounces.rfc3834_auto_reply / max(bounces.rfc3834_total, 1),
            target="= 1.0",
        ),
        Figure("bounces not/: false positives (count)", bounces.not_false_positives, target="= 0"),
        Figure("threading fedora 2010-01: pairwise precision", threads.precision, target=">= 0.95"),
        Figure(
            "threading fedora 2010-01: pairwise recall",
            threads.recall,
            baseline=refs_only.recall,
            target=">= 0.95 (baseline: references only)",
        ),
        Figure("threading fedora 2010-01: threads found / in Mailman's index",
               threads.threads_found / max(threads.threads_truth, 1), target="= 1.0"),
        Figure(f"mime/: files where parsing or classify raised or hung (of {mime.files})",
               len(mime.raised) + len(mime.hung), target="= 0"),
        Figure(f"mime/: slowest file, parse + classify ({mime.slowest_file})", mime.slowest_seconds,
               target="< 1.0 each", unit="s"),
        Figure(
            "classify(): ms per message (baseline: mailparser parse)",
            classify_ms,
            baseline=mailparser_ms,
            target="small next to parsing",
            unit="ms",
        ),
    ]


if __name__ == "__main__":
    print_table(run(), "classification and threading accuracy")
