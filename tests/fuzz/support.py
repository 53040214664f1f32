"""Shared pieces of the parser fuzzers: seeds from the corpora, byte mutations, a hang guard and slow-input notes.

The issue's bar is "nothing raises, no input takes over 1 s". Timing is not asserted tightly (a
shared CI machine stalls); each call runs under a SIGALRM hang guard of HANG_GUARD_SECONDS, and the
slowest inputs are recorded so the report and docs/RELIABILITY.md can name them.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.support.need import corpora

T = TypeVar("T")

HANG_GUARD_SECONDS = float(os.environ.get("CURMAIL_FUZZ_HANG_SECONDS", "5"))
EXAMPLES = int(os.environ.get("CURMAIL_FUZZ_EXAMPLES", "150"))
SLOW_SECONDS = 1.0  # the bound; slower inputs are noted, not failed
REGRESSIONS = Path(__file__).resolve().parents[1] / "fixtures" / "fuzz"

# database=None: no .hypothesis/ folder in the shared working tree; failures print their input.
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES <= 500,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

slow_inputs: list[tuple[float, str, bytes | str]] = []


class Hang(AssertionError):
    """A call ran past the hang guard."""


@contextmanager
def hang_guard(what: str) -> Iterator[None]:
    def expire(_signum: int, _frame: object) -> None:
        raise Hang(f"{what} took more than {HANG_GUARD_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, HANG_GUARD_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def timed(what: str, function: Callable[..., T], value: bytes | str, *args: object) -> T:
    """Call function(value, *args) under the hang guard; note the input when it takes over SLOW_SECONDS."""
    start = time.monotonic()
    with hang_guard(what):
        result = function(value, *args)
    elapsed = time.monotonic() - start
    if elapsed > SLOW_SECONDS:
        slow_inputs.append((elapsed, what, value[:200]))
    return result


def seed_files() -> list[Path]:
    """Every .eml of ../shared/corpora/mime and ../shared/corpora/bounces (skips or fails when absent)."""
    files = sorted(p for sub in ("mime", "bounces") for p in corpora(sub).rglob("*.eml"))
    return files


def load_seeds() -> list[bytes]:
    return [path.read_bytes() for path in seed_files()]


def mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """A seed with a few byte-level mutations: flips, cuts, insertions, duplicated slices, splices."""
    seed = st.sampled_from(seeds)
    interesting = st.sampled_from([
        b"\r\n", b"\n\n", b"--", b"boundary=", b"Content-Type: multipart/mixed; boundary=x\r\n",
        b"=?utf-8?q?=0A?=", b"=?koi8-r?b?", b"\x00", b"\xff\xfe", b"charset=", b"Content-Transfer-Encoding: base64",
        b"message/rfc822", b";filename*0*=", b"'", b'"', b"<", b">", b"> ", b"-- \n", b"=\r\n", b"\t",
    ])

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(seed))
        for _ in range(draw(st.integers(1, 6))):
            size = len(data)
            action = draw(st.sampled_from(["flip", "cut", "insert", "duplicate", "splice", "truncate"]))
            at = draw(st.integers(0, size)) if size else 0
            if action == "flip" and size:
                data[min(at, size - 1)] = draw(st.integers(0, 255))
            elif action == "cut" and size:
                del data[at: at + draw(st.integers(1, 64))]
            elif action == "insert":
                data[at:at] = draw(st.one_of(interesting, st.binary(max_size=32)))
            elif action == "duplicate" and size:
                piece = bytes(data[at: at + draw(st.integers(1, 512))])
                data[at:at] = piece * draw(st.integers(1, 20))
            elif action == "splice":
                other = draw(seed)
                data[at:] = other[draw(st.integers(0, len(other))):]
            elif action == "truncate":
                del data[at:]
        return bytes(data)

    return build()


RUSSIAN_FRAGMENTS = [
    "до", "в срок до", "в течение", "рабочих дней", "рабочего дня", "часов", "не позднее", "12:00", "5 декабря",
    "10.12.2026", "завтра", "послезавтра", "#назначить", "#закрыть", "#срок", "#мои", "Ответ:", "От:", "Кому:",
    "-----Original Message-----", "-----Исходное сообщение-----", "> ", ">> ", "-- ", "С уважением,",
    "пишет:", "wrote:", "\n", "\r\n", "\u2028", "\u00a0", "2026", "31.02.2026", "25:61", "999999999999",
]


def russian_text() -> st.SearchStrategy[str]:
    """Text built from the phrases the grammars look for, glued with arbitrary characters."""
    piece = st.one_of(st.sampled_from(RUSSIAN_FRAGMENTS), st.text(max_size=12))
    return st.lists(piece, max_size=60).map(" ".join)
