"""The parse worker: the same parses as in-process, a dead worker costs nothing, and a backlog threads the same."""

from __future__ import annotations

import gc
import hashlib
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bench.generate import generate_messages
from daemon.app import App
from daemon.clock import Clock
from daemon.db.engine import transaction
from daemon.db.models import MessageStatus, StoredMessage
from daemon.parseahead import ParseAhead, can_fork
from daemon.pipeline import classify_pending
from daemon.rules import classifier_rules
from daemon.runner import Runner
from daemon.store import IncomingRaw, store_messages
from parsers import classify, parse_message
from tests.support.env import CurmailEnv
from tests.support.need import corpora
from tests.workflow.conftest import FIXTURES, make_settings
from tests.workflow.test_batch_threading import threading_of

RECEIVED = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(not can_fork(), reason="the parse worker needs the fork start method")


def sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def workload() -> list[bytes]:
    """Generated office mail, the workflow fixtures, and the malformed MIME corpus."""
    raws = list(generate_messages(60, seed=5))
    raws += [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]
    raws += [path.read_bytes() for path in sorted(corpora("mime/malformed").rglob("*.eml"))]
    return raws


def test_the_worker_parses_and_classifies_exactly_as_in_process(tmp_path: Path) -> None:
    rules = classifier_rules(make_settings(tmp_path, f"sqlite:///{tmp_path}/c.db"))
    raws = workload()
    ahead = ParseAhead(rules)
    try:
        ahead.submit(raws)
        for raw in raws:
            pm = parse_message(raw)
            from_worker = ahead.take(sha(raw))
            if from_worker is not None:  # None: a task the worker had not started, handed back (below)
                assert from_worker == (pm, classify(pm, rules)), pm.subject
        assert ahead.take(sha(b"never submitted")) is None
    finally:
        stats = ahead.close()
    assert stats.submitted == stats.delivered + stats.shared == len(raws)
    assert stats.delivered > len(raws) // 2  # parsing here as well, the test is no faster than the worker
    assert stats.worker_peak_rss_kb > 0


def test_a_task_the_worker_has_not_started_is_handed_back_not_waited_for(tmp_path: Path) -> None:
    rules = classifier_rules(make_settings(tmp_path, f"sqlite:///{tmp_path}/c.db"))
    raws = list(generate_messages(200, seed=7))  # eight tasks: the executor holds at most two at a time
    ahead = ParseAhead(rules)
    try:
        ahead.submit(raws)
        assert ahead.take(sha(raws[-1])) is None  # the last task: still queued, so cancelled and handed back
        assert ahead.take(sha(raws[-2])) is None  # the rest of that task follows it
        first = ahead._promised[sha(raws[0])].future  # the test reaches in: when the worker starts is not public
        deadline = time.monotonic() + 30
        while not (first.running() or first.done()) and time.monotonic() < deadline:
            time.sleep(0.01)  # the executor's own thread hands the task to the worker
        assert ahead.take(sha(raws[0])) is not None  # started: its parse is waited for, not handed back
    finally:
        stats = ahead.close()
    assert (stats.shared, stats.delivered) == (2, 1)


def test_a_dead_worker_means_parsing_in_process_and_nothing_else(tmp_path: Path) -> None:
    rules = classifier_rules(make_settings(tmp_path, f"sqlite:///{tmp_path}/c.db"))
    raws = list(generate_messages(30, seed=6))
    ahead = ParseAhead(rules)
    try:
        for pid in list(ahead._pool._processes):  # the test reaches in: there is no public handle on the pid
            os.kill(pid, signal.SIGKILL)
        ahead.submit(raws)
        assert [ahead.take(sha(raw)) for raw in raws] == [None] * len(raws)
        ahead.submit(raws)  # broken: a no-op, not an exception
    finally:
        stats = ahead.close()
    assert stats.delivered == 0


def test_a_backlog_parsed_by_the_worker_threads_exactly_as_without_it(env: CurmailEnv, tmp_path: Path) -> None:
    raws = list(generate_messages(150, seed=3))
    raws[20:20] = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]
    for raw in raws:
        env.deliver(raw, internal_date=RECEIVED)
    env.configure(intake={"parse_worker_from": 1})
    with_worker = env.app(RECEIVED)
    Runner(with_worker).intake()
    stats = with_worker.caches["parse_worker_stats"]
    assert stats.delivered + stats.shared == len(raws)  # each parsed once, by the worker or handed back
    assert stats.delivered > 0
    with with_worker.sessions() as session:
        assert set(session.scalars(select(StoredMessage.status))) == {MessageStatus.CLASSIFIED}

    # The same messages, parsed in-process, into a database of their own.
    reference = App.open(make_settings(tmp_path / "ref", f"sqlite:///{tmp_path}/ref.db"), Clock(fixed=RECEIVED),
                         migrate=True)
    try:
        with transaction(reference.sessions) as session:
            store_messages(session, mailbox=None, uidvalidity=None, now=RECEIVED,
                           messages=[IncomingRaw(raw, RECEIVED) for raw in raws])
        assert classify_pending(reference).classified == len(raws)
        assert threading_of(with_worker) == threading_of(reference)
    finally:
        reference.close()


def test_the_daemons_objects_are_frozen_only_while_the_worker_lives(tmp_path: Path) -> None:
    rules = classifier_rules(make_settings(tmp_path, f"sqlite:///{tmp_path}/c.db"))
    assert gc.get_freeze_count() == 0
    ahead = ParseAhead(rules)
    try:
        assert gc.get_freeze_count() > 0  # neither side's collector writes to the pages they share
    finally:
        ahead.close()
    assert gc.get_freeze_count() == 0  # back under the collector: nothing is kept for ever


def test_a_worker_that_cannot_start_means_parsing_in_process(env: CurmailEnv, monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")  # as a seccomp or sandbox refusal looks

    monkeypatch.setattr("daemon.parseahead.ProcessPoolExecutor", refused)
    raws = list(generate_messages(5, seed=8))
    for raw in raws:
        env.deliver(raw, internal_date=RECEIVED)
    env.configure(intake={"parse_worker_from": 1})
    app = env.app(RECEIVED)
    Runner(app).intake()
    assert "parse_worker_stats" not in app.caches
    assert "parse worker not started" in caplog.text
    with app.sessions() as session:
        assert list(session.scalars(select(StoredMessage.status))) == [MessageStatus.CLASSIFIED] * len(raws)
