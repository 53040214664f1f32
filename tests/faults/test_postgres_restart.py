"""PostgreSQL restarted under a running daemon: mail keeps flowing, nothing is stored or sent twice.

The server is a private cluster (tests/faults/private_postgres.py), never the shared one on 5432.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from daemon.db.models import MessageStatus, OutboxMessage, OutboxStatus, StoredMessage
from tests.faults.private_postgres import PrivatePostgres
from tests.support.env import CurmailEnv
from tests.support.fixtures import ImapAccount
from tests.support.mail import cur_signal
from tests.support.need import missing
from tests.support.smtp import SmtpSink

RECEIVED = datetime.now(UTC) - timedelta(minutes=2)  # the daemon runs on the real clock
REPO = Path(__file__).resolve().parents[2]
WAVE = 8


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if os.geteuid() != 0:
        missing("a private PostgreSQL cluster needs root (it runs as the postgres OS user)")
    try:
        server = PrivatePostgres()
        server.start()
    except RuntimeError as exc:
        missing(f"cannot start a private PostgreSQL: {exc}")
    yield server
    server.remove()


def state(url: str) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]] | None:
    """(messages, outbox rows), or None while the server is down."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            messages = [tuple(r) for r in connection.execute(select(StoredMessage.message_id, StoredMessage.status))]
            outbox = [tuple(r) for r in connection.execute(
                select(OutboxMessage.message_id, OutboxMessage.status, OutboxMessage.kind))]
        return messages, outbox
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def settled(snapshot, expected: int) -> bool:
    if snapshot is None:
        return False
    messages, outbox = snapshot
    final = {OutboxStatus.SENT, OutboxStatus.UNCERTAIN, OutboxStatus.FAILED}
    return (len(messages) >= expected and all(s == MessageStatus.PROCESSED for _, s in messages)
            and bool(outbox) and all(s in final for _, s, _ in outbox))


def deliver_wave(env: CurmailEnv, wave: int) -> None:
    env.dovecot.append_many(env.account.user, [cur_signal(100 * wave + n) for n in range(WAVE)],
                            internal_date=RECEIVED)


def wait_for(url: str, expected: int, timeout: float = 60):
    deadline = time.monotonic() + timeout
    snapshot = None
    while time.monotonic() < deadline:
        snapshot = state(url)
        if settled(snapshot, expected):
            break
        time.sleep(0.3)
    return snapshot


@pytest.mark.slow
def test_postgresql_restarted_mid_run(
    private_postgres: PrivatePostgres, imap_account: ImapAccount, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    url = private_postgres.create_database("curmail")
    env = CurmailEnv(tmp_path=tmp_path, account=imap_account, smtp=smtp_sink, db_url=url)
    env.configure(mailbox={"batch_size": 3})
    env.cli("db", "upgrade")
    log_path = tmp_path / "daemon.log"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "daemon.cli", "run"], env={**os.environ, "CURMAIL_CONFIG": str(env.config_path)},
        stdout=log_path.open("wb"), stderr=subprocess.STDOUT, cwd=REPO,
    )
    try:
        deliver_wave(env, 0)
        wait_for(url, WAVE)
        private_postgres.stop()
        deliver_wave(env, 1)  # IDLE wakes the daemon while the server is down: nothing may be flagged
        time.sleep(1.5)
        unflagged_while_down = sum("$Curmail" not in f for f in env.dovecot.flags(env.account.user).values())
        private_postgres.start()
        deliver_wave(env, 2)
        private_postgres.restart()  # again, while the daemon works through wave 2
        snapshot = wait_for(url, 3 * WAVE)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0, log_path.read_text()[-3000:]
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert settled(snapshot, 3 * WAVE), f"not settled in time: {snapshot}\n{log_path.read_text()[-3000:]}"
    assert unflagged_while_down == WAVE, "a message was flagged while the database could not commit it"
    assert "database" in log_path.read_text(), "the daemon never noticed the outage"
    messages, outbox = snapshot
    assert len(messages) == 3 * WAVE and len({m for m, _ in messages}) == 3 * WAVE
    flags = env.dovecot.flags(env.account.user)
    assert len(flags) == 3 * WAVE and all("$Curmail" in f for f in flags.values())
    accepted = Counter(m.message_id for m in smtp_sink.messages)
    assert not accepted or max(accepted.values()) == 1, "a letter reached the SMTP server twice"
    for message_id, status, _kind in outbox:
        # A letter whose outcome could not be committed while the server was down is `uncertain`.
        assert accepted[message_id] == (1 if status == OutboxStatus.SENT else accepted[message_id])
        assert status != OutboxStatus.FAILED
    uncertain = [m for m, s, _ in outbox if s == OutboxStatus.UNCERTAIN]
    alerts = [m for m, _, kind in outbox if kind == "send_uncertain"]
    assert len(alerts) == len(uncertain)
