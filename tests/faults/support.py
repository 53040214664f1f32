"""Helpers for fault tests: a second, fault-free installation, a forked daemon to SIGKILL, and state snapshots."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import undefer

from daemon.app import App
from daemon.clock import Clock
from daemon.db.models import Case, OutboxMessage, OutboxStatus, StoredMessage
from tests.support.env import CurmailEnv

_TAG = re.compile(r"\[KZM-(\d+)\]")


def run_in_child(env: CurmailEnv, now: datetime) -> int:
    """Fork and do `run --once --now` in the child, the daemon's real code path; return the child's pid.

    A fork is used instead of a fresh interpreter because a cold start costs ~2 s here and the test
    kills the daemon 50 times. The child opens its own engine after the fork and never returns.
    """
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        from daemon.runner import Runner

        app = App.open(env.settings, Clock(fixed=now))
        Runner(app).run_once()
        app.close()
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def kill_after(pid: int, delay: float) -> bool:
    """SIGKILL the child after `delay` seconds unless it already ended; reap it. True if it was killed."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
        time.sleep(0.005)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)  # reaped: a zombie would still look alive to the outbox's dead-claimer check
    return True


def finish_in_child(env: CurmailEnv, now: datetime, timeout: float = 60.0) -> None:
    """A clean `run --once` in a child (a hang guard kills it): the parent keeps no SQLite handle open."""
    pid = run_in_child(env, now)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0, "the clean run failed"
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"a clean run --once did not finish within {timeout} s")


@dataclass(frozen=True)
class Snapshot:
    """What a run left behind, with case numbers replaced by the Message-ID that opened the case.

    Case numbers can legitimately differ between runs (a message retried after a crash is processed
    after its fresh batch-mates), so everything is keyed by content, not by row ids.
    """

    messages: dict[str, tuple[Any, ...]]
    cases: dict[str, tuple[Any, ...]]
    outbox: Counter
    sent: Counter
    uncertain: int

    def differences(self, other: Snapshot) -> list[str]:
        problems = []
        for name in ("messages", "cases", "outbox", "sent"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                problems.append(
                    f"{name} differ:\n  only here: {_minus(mine, theirs)}\n  only there: {_minus(theirs, mine)}")
        return problems


def _minus(a: Any, b: Any) -> Any:
    if isinstance(a, Counter):
        return dict(a - b)
    return {k: v for k, v in a.items() if b.get(k) != v}


def case_keys(app: App) -> dict[int, str]:
    """case id -> the smallest Message-ID among its inbound messages (the one that opened it)."""
    keys: dict[int, str] = {}
    with app.sessions() as session:
        for case_id, message_id in session.execute(
            select(StoredMessage.case_id, StoredMessage.message_id).where(StoredMessage.case_id.is_not(None))
        ):
            keys[case_id] = min(keys.get(case_id, message_id), message_id)
    return keys


def normalise(text: str, keys: dict[int, str]) -> str:
    return _TAG.sub(lambda m: f"[case {keys.get(int(m.group(1)), '?')}]", text)


def snapshot(app: App, delivered: list[Any], *, ignore_kinds: frozenset[str] = frozenset()) -> Snapshot:
    """Messages, cases, outbox rows and the mail the SMTP sink accepted, in comparable form."""
    keys = case_keys(app)
    with app.sessions() as session:
        messages = {
            m.message_id: (m.status, m.kind, keys.get(m.case_id))
            for m in session.scalars(select(StoredMessage))
        }
        cases = {
            keys.get(c.id, f"#{c.id}"): (c.kind, c.state, c.due_at, c.assignee, c.next_action_at, c.closed_at)
            for c in session.scalars(select(Case))
        }
        rows = session.scalars(select(OutboxMessage).options(undefer(OutboxMessage.raw))).all()
        outbox = Counter(
            (r.kind, tuple(r.recipients), r.status, keys.get(r.case_id), normalise(r.subject, keys))
            for r in rows if r.kind not in ignore_kinds
        )
        ignored_ids = {r.message_id for r in rows if r.kind in ignore_kinds}
        uncertain = sum(1 for r in rows if r.status == OutboxStatus.UNCERTAIN)
    sent = Counter(
        (m.rcpt_tos, normalise(_subject(m.raw), keys)) for m in delivered if m.message_id not in ignored_ids
    )
    return Snapshot(messages, cases, outbox, sent, uncertain)


def _subject(raw: bytes) -> str:
    from email.header import decode_header, make_header
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    value = BytesHeaderParser(policy=compat32).parsebytes(raw).get("Subject", "")
    return str(make_header(decode_header(str(value))))
