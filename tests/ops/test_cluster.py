"""Two `curmail run` on one PostgreSQL and one Dovecot; the mailbox reader is SIGKILLed in the middle of the work."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from daemon.db.models import CaseEvent, MailboxState, MessageStatus, OutboxMessage, OutboxStatus, StoredMessage
from daemon.intake import mailbox_key
from tests.ops.support import Daemon, fixture, numbered, wait_until
from tests.support.env import CurmailEnv

LEASE_SECONDS = 5
LETTERS = 60


def _lease_owner(env: CurmailEnv) -> str | None:
    app = env.apps[0]
    with app.sessions() as session:
        return session.scalar(select(MailboxState.lease_owner).where(MailboxState.mailbox == mailbox_key(env.settings)))


def _lease_left(env: CurmailEnv) -> timedelta:
    """How long the holder's lease still runs, by the database server's clock (what `acquire` compares)."""
    with env.apps[0].sessions() as session:
        expires = session.scalar(select(MailboxState.lease_expires_at)
                                 .where(MailboxState.mailbox == mailbox_key(env.settings)))
        return expires - session.scalar(select(func.now()))


def _processed(env: CurmailEnv) -> int:
    with env.apps[0].sessions() as session:
        return session.scalar(select(func.count()).select_from(StoredMessage)
                              .where(StoredMessage.status == MessageStatus.PROCESSED)) or 0


def _unfinished_outbox(env: CurmailEnv) -> int:
    with env.apps[0].sessions() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]))) or 0


def test_two_instances_one_killed(tmp_path: Path, imap_account, smtp_sink, pg_url: str) -> None:
    env = CurmailEnv(tmp_path=tmp_path, account=imap_account, smtp=smtp_sink, db_url=pg_url)
    # Many small batches; a long SMTP timeout, because the sink holds a reply below on purpose.
    env.configure(mailbox={"batch_size": 3}, smtp={"timeout_seconds": 60})
    env.app()  # the schema, once (two instances racing on the first migration would just retry)
    # Named instances, as on two hosts: the survivor cannot see that the holder's pid is gone and
    # must wait for the lease to expire.
    lease_env = {"CURMAIL_LEASE_SECONDS": str(LEASE_SECONDS)}
    first = Daemon(env.config_path, tmp_path / "first.log", CURMAIL_INSTANCE="node-a", **lease_env)
    second = Daemon(env.config_path, tmp_path / "second.log", CURMAIL_INSTANCE="node-b", **lease_env)
    daemons = {"node-a": first, "node-b": second}
    try:
        first.wait_log("ready")
        second.wait_log("ready")
        holder = daemons.pop(wait_until(lambda: _lease_owner(env), 30, "a lease holder"))
        ((survivor_name, survivor),) = daemons.items()
        assert "standby" in survivor.log()

        half = LETTERS // 4
        waves = [[numbered(fixture(name), n) for name in ("citizen_letter.eml", "cur_signal.eml")
                  for n in range(first_n, first_n + half)] for first_n in (1, 1 + half)]
        # The kill lands mid-run for certain: the holder has processed the first wave and is in the
        # middle of sending its letters (the sink holds the third reply), while the second wave
        # waits in the mailbox for whoever reads it next.
        env.smtp.hold_after(2)
        env.dovecot.append_many(env.account.user, waves[0])
        wait_until(env.smtp.handler.holding.is_set, 120, "a letter on the wire")
        env.dovecot.append_many(env.account.user, waves[1])
        holder.kill()
        killed_at = time.monotonic()
        # The dead holder's lease ends within the lease time of its death, so a standby may take over by then.
        assert _lease_left(env) <= timedelta(seconds=LEASE_SECONDS)
        processed_at_kill = _processed(env)
        env.smtp.release()

        wait_until(lambda: _lease_owner(env) == survivor_name, 60, "the takeover")
        takeover = time.monotonic() - killed_at
        print(f"takeover {takeover:.1f} s after SIGKILL (lease {LEASE_SECONDS} s); "
              f"processed at kill {processed_at_kill}/{LETTERS}")
        wait_until(lambda: _processed(env) == LETTERS and _unfinished_outbox(env) == 0, 120,
                   "all mail processed and all outbox rows settled")
    finally:
        for daemon in (first, second):
            if daemon.process.poll() is None:
                assert daemon.terminate() == 0, daemon.log()
    survivor_log = survivor.log()
    assert "mailbox lease taken" in survivor_log

    app = env.apps[0]
    with app.sessions() as session:
        messages = session.execute(select(StoredMessage.id, StoredMessage.uid, StoredMessage.status)).all()
        events = session.execute(select(CaseEvent.message_row_id, CaseEvent.action)
                                 .where(CaseEvent.message_row_id.is_not(None))).all()
        outbox = session.execute(select(OutboxMessage.message_id, OutboxMessage.status)).all()
    # Every message stored once and processed once: no message's events were written twice.
    assert len(messages) == LETTERS
    assert len({m.uid for m in messages}) == LETTERS
    assert {m.status for m in messages} == {MessageStatus.PROCESSED}
    assert {row for row, _ in events} == {m.id for m in messages}
    doubled = [key for key, n in Counter(events).items() if n > 1]
    assert doubled == []
    # Every outbox row sent exactly once; a row caught mid-DATA by the kill is `uncertain`, never resent.
    received = Counter(m.message_id for m in smtp_sink.messages)
    assert outbox, "processing this mail enqueues letters"
    for message_id, status in outbox:
        if status == OutboxStatus.SENT:
            assert received[message_id] == 1, message_id
        else:
            assert status == OutboxStatus.UNCERTAIN and received[message_id] <= 1, (message_id, status)
    assert sum(1 for _, status in outbox if status == OutboxStatus.UNCERTAIN) <= 1
