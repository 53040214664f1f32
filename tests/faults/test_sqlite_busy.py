"""SQLite busy (another process holds the write lock) while the outbox sends and while reminders tick.

tests/daemon/test_storage_faults.py covers a lock during intake. Here the lock is taken in the middle
of an SMTP transaction, so the sender cannot record what the server just answered, and during the
reminders tick, so nothing can be enqueued. In both cases no letter may go out twice and every letter
must go out once the lock is gone (the one in flight may be `uncertain`: the documented window).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from daemon.db.models import OutboxMessage, OutboxStatus
from daemon.runner import Runner
from daemon.workflow.reminders import tick
from tests.support.env import CurmailEnv
from tests.support.mail import cur_signal

RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
NOW = RECEIVED + timedelta(minutes=1)
BUSY_TIMEOUT = 0.3
HOLD_SECONDS = 1.5


def outbox(env: CurmailEnv) -> list[OutboxMessage]:
    with env.app().sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def hold_write_lock(path: str, seconds: float) -> threading.Event:
    """Take SQLite's write lock in another connection for `seconds`; the event is set once it is held."""
    held = threading.Event()

    def hold() -> None:
        blocker = sqlite3.connect(path, isolation_level=None, timeout=10)
        blocker.execute("BEGIN EXCLUSIVE")
        held.set()
        threading.Event().wait(seconds)
        blocker.execute("ROLLBACK")
        blocker.close()

    threading.Thread(target=hold, daemon=True).start()
    held.wait(10)
    return held


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_lock_taken_during_data_sends_nothing_twice_and_the_rest_later(env: CurmailEnv) -> None:
    env.configure(database={"busy_timeout_seconds": BUSY_TIMEOUT})
    for n in range(3):
        env.deliver(cur_signal(n), internal_date=RECEIVED)
    handler = env.smtp.handler
    original = handler.handle_DATA
    path = env.db_url.removeprefix("sqlite:///")

    async def lock_during_first_data(server, session, envelope):
        if not handler.attempts:
            hold_write_lock(path, HOLD_SECONDS)  # the answer arrives while the database is locked
        return await original(server, session, envelope)

    handler.handle_DATA = lock_during_first_data
    env.run_once(NOW)
    handler.handle_DATA = original
    threading.Event().wait(HOLD_SECONDS)
    env.run_once(NOW + timedelta(minutes=1))
    env.run_once(NOW + timedelta(minutes=2))

    rows = outbox(env)
    accepted = Counter(m.message_id for m in env.smtp.messages)
    assert max(accepted.values()) == 1, "no letter may reach the server twice"
    notifications = [r for r in rows if r.kind not in {"send_uncertain", "send_failed"}]
    for row in notifications:
        if row.status == OutboxStatus.UNCERTAIN:
            assert accepted[row.message_id] <= 1
        else:
            assert row.status == OutboxStatus.SENT and accepted[row.message_id] == 1
    uncertain = [r for r in notifications if r.status == OutboxStatus.UNCERTAIN]
    assert len(uncertain) <= 1, "only the letter whose answer could not be recorded may be uncertain"
    alerts = [r for r in rows if r.kind == "send_uncertain"]
    assert len(alerts) == len(uncertain) and all(accepted[a.message_id] == 1 for a in alerts)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_locked_database_during_the_reminders_tick_delays_them_and_sends_each_once(env: CurmailEnv) -> None:
    env.configure(database={"busy_timeout_seconds": BUSY_TIMEOUT})
    for n in range(3):
        env.deliver(cur_signal(n), internal_date=RECEIVED)
    env.run_once(NOW)
    before = len(outbox(env))
    reminder_time = RECEIVED + timedelta(hours=2, minutes=1)  # T−60 of every 3-hour refutation

    app = env.app(reminder_time)  # opened (and migrated) before the lock, as a running daemon is
    path = env.db_url.removeprefix("sqlite:///")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        # The daemon's own job runner: the tick fails on the lock, is logged, and the loop lives on.
        Runner(app).run_jobs_once()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert len(outbox(env)) == before

    after = tick(env.app(reminder_time + timedelta(minutes=1)))
    again = tick(env.app(reminder_time + timedelta(minutes=2)))
    assert (after.sent, after.late, again.sent) == (3, 0, 0)
    env.run_once(reminder_time + timedelta(minutes=3))
    reminders = [r for r in outbox(env) if r.kind == "reminder"]
    accepted = Counter(m.message_id for m in env.smtp.messages)
    assert len(reminders) == 3 and all(accepted[r.message_id] == 1 for r in reminders)
