"""Parsing a backlog on the second core: a worker process parses and classifies while the daemon stores and threads.

At intake rates parsing is half of the work and all of it holds the GIL, so a thread cannot help.
A forked worker parses each IMAP chunk as soon as it is fetched; the intake stage then takes the
results by content hash instead of parsing in-process. Anything the worker does not deliver (it
died, it raised, the message came from elsewhere) is parsed in-process as before, so the worker
only ever makes intake faster, never different: `parse_message` and `classify` are the same pure
functions on both sides.

The worker lives for one poll that found a backlog, and is stopped at its end: in steady state,
with a message or two per poll, the daemon stays one process.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import multiprocessing
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from parsers import Classification, ParsedMessage, classify, parse_message
from parsers.morph import backend_name
from parsers.rules import ClassifierRules

log = logging.getLogger("curmail.parseahead")

# Messages per task: large enough that pickling round trips are noise, small enough that the
# intake stage's first batch of a chunk does not wait for the whole chunk.
TASK_SIZE = 25

Parsed = tuple[ParsedMessage, Classification]

_worker_rules: ClassifierRules | None = None


def _init_worker(rules: ClassifierRules) -> None:
    global _worker_rules
    _worker_rules = rules
    # The daemon's handlers came along with the fork. Stopping and reloading are the daemon's
    # business: it finishes its chunk and then stops the worker (systemd signals the whole cgroup).
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)


def _parse_many(raws: list[bytes]) -> list[Parsed | None]:
    """In the worker: parse and classify each message; None where that raised (in-process parsing then decides)."""
    results: list[Parsed | None] = []
    for raw in raws:
        try:
            pm = parse_message(raw)
            results.append((pm, classify(pm, _worker_rules)))
        except Exception:  # the in-process retry records the error against the message
            results.append(None)
    return results


def _worker_peak_rss_kb() -> int:
    """In the worker: its own peak RSS (VmHWM), for the benchmark's memory figure."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class _Promise:
    """Where a message's parse will be: its task, its place in the task, and how many copies await it."""

    future: Future[list[Parsed | None]]
    index: int
    takers: int = 0


@dataclass
class ParseAheadStats:
    """What one worker's life did, for the log and the benchmark."""

    submitted: int = 0
    delivered: int = 0
    shared: int = 0  # promised to the worker, but parsed in-process because the worker had not started them
    worker_peak_rss_kb: int = 0


class ParseAhead:
    """One worker process and the parses it has promised, keyed by the raw bytes' sha256."""

    def __init__(self, rules: ClassifierRules) -> None:
        # fork, not spawn: spawn re-imports the daemon's __main__ (the console script imports the
        # whole daemon) and would cost a second full interpreter. The forked worker shares the
        # already imported modules' pages and touches only the parsers.
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("fork"),
            initializer=_init_worker, initargs=(rules,),
        )
        # The daemon needs the lemmatizer anyway; loaded before the fork, its ~20 MB of dictionaries
        # are shared with the worker instead of loaded a second time there.
        backend_name()
        # The pool forks at its first submit, from the submitting thread: submit here, from the
        # caller's thread, before the fetch thread starts. The daemon's objects stay frozen while the
        # worker lives (the gc.freeze documentation's advice for fork): a full collection on either
        # side would otherwise write to every page of them, and each page written after the fork is
        # a page copied. Collected first, so that no garbage is frozen with them.
        gc.collect()
        gc.freeze()
        self._frozen = True
        try:
            self._pool.submit(_worker_peak_rss_kb)
        except BaseException:  # the fork failed: nothing of the pool may outlive this constructor
            self._thaw()
            with contextlib.suppress(Exception):
                self._pool.shutdown(wait=False, cancel_futures=True)
            raise
        self._promised: dict[str, _Promise] = {}
        self._broken = False
        self.stats = ParseAheadStats()

    def submit(self, raws: list[bytes]) -> None:
        """Start parsing these messages in the worker; safe to call from the fetch thread."""
        if self._broken:
            return
        for start in range(0, len(raws), TASK_SIZE):
            part = raws[start : start + TASK_SIZE]
            try:
                future = self._pool.submit(_parse_many, part)
            except RuntimeError:  # BrokenProcessPool, or shut down under us
                self._broken = True
                return
            for index, raw in enumerate(part):
                digest = hashlib.sha256(raw).hexdigest()
                promise = self._promised.setdefault(digest, _Promise(future, index))
                promise.takers += 1  # the same bytes twice (a resent copy): each copy takes once
            self.stats.submitted += len(part)

    def take(self, sha256: str) -> Parsed | None:
        """The worker's parse of the message with this hash, waiting for it; None if there is none."""
        promise = self._promised.get(sha256)
        if promise is None or self._broken:
            return None
        promise.takers -= 1
        if not promise.takers:
            del self._promised[sha256]  # its task's results can go once all of them are taken
        # Work sharing: a task the worker has not started yet is parsed here instead of waited for.
        # The intake stage then does the rest of that task on this core while the worker runs ahead
        # on the next chunk, so neither core idles when the worker is the slower one. (Only a task
        # still in the executor's queue can be cancelled; one the worker holds is waited for.)
        if promise.future.cancelled() or promise.future.cancel():
            self.stats.shared += 1
            return None
        try:
            parsed = promise.future.result()[promise.index]
        except Exception as exc:  # a dead worker: parse in-process from now on
            self._broken = True
            log.warning("the parse worker failed; parsing in-process", extra={"error": repr(exc)[:300]})
            return None
        if parsed is not None:
            self.stats.delivered += 1
        return parsed

    def close(self) -> ParseAheadStats:
        """Stop the worker (after its last task) and forget what was not taken."""
        self._promised.clear()
        if not self._broken:
            with contextlib.suppress(Exception):  # only a figure for the log
                self.stats.worker_peak_rss_kb = self._pool.submit(_worker_peak_rss_kb).result(timeout=30)
        try:
            self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            self._thaw()
        return self.stats

    def _thaw(self) -> None:
        """The daemon's objects back under the garbage collector, once the worker is gone."""
        if self._frozen:
            gc.unfreeze()
            self._frozen = False


def can_fork() -> bool:
    """The fork start method exists here (Linux and the BSDs; not Windows)."""
    return "fork" in multiprocessing.get_all_start_methods() and os.name == "posix"
