"""Dovecot stopped and restarted in the middle of a batch: every message is stored, processed and flagged once.

tests/daemon/test_intake.py restarts the server *between* runs; here it goes away while a batch is
being fetched, or after the batch committed but before its flag (the commit-before-flag window), and
once under a running daemon that must reconnect by itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.db.models import MessageStatus, StoredMessage
from daemon.mailbox import Mailbox
from tests.support.dovecot import Dovecot
from tests.support.env import CurmailEnv
from tests.support.fixtures import new_account
from tests.support.mail import appeal, make_message
from tests.support.smtp import SmtpSink

RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
TOTAL = 20


@pytest.fixture
def private_env(private_dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path):
    """curmail on a Dovecot of its own (the test stops it), with SQLite and batches of 5."""
    environment = CurmailEnv(tmp_path=tmp_path, account=new_account(private_dovecot), smtp=smtp_sink,
                             db_url=f"sqlite:///{tmp_path / 'curmail.db'}")
    environment.configure(mailbox={"batch_size": 5})
    yield environment
    environment.close()


def stored(env: CurmailEnv) -> list[tuple[str, str]]:
    with env.app().sessions() as session:
        return [(m.message_id, m.status) for m in session.scalars(select(StoredMessage))]


def assert_all_once(env: CurmailEnv, expected_ids: list[str]) -> None:
    rows = stored(env)
    counts = Counter(mid for mid, _ in rows)
    assert counts == Counter(expected_ids), "each message must be stored exactly once"
    assert {status for _, status in rows} == {MessageStatus.PROCESSED}
    flags = env.dovecot.flags(env.account.user)
    assert all("$Curmail" in f for f in flags.values()) and len(flags) == len(expected_ids)


def numbered(n: int) -> bytes:
    return make_message(subject=f"Обращение {n}", body=f"Текст обращения {n}.", message_id=f"<imap-{n}@mail.example>")


@pytest.mark.parametrize("where", ["fetch", "mark_processed"])
def test_dovecot_stopped_mid_batch_then_restarted(
    private_env: CurmailEnv, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    env = private_env
    env.dovecot.append_many(env.account.user, [numbered(n) for n in range(TOTAL)], internal_date=RECEIVED)
    original = getattr(Mailbox, where)
    calls = Counter()

    def stop_on_second_batch(self, *args, **kwargs):
        calls[where] += 1
        if calls[where] == 2:
            env.dovecot.stop()  # the server dies with the batch in our hands
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Mailbox, where, stop_on_second_batch)
    env.run_once(RECEIVED + timedelta(minutes=1))
    committed = {mid for mid, _ in stored(env)}
    # fetch: batch 1 only; mark_processed: batch 2 committed but its flag never reached the server.
    assert len(committed) == (5 if where == "fetch" else 10)

    env.dovecot.start()
    monkeypatch.setattr(Mailbox, where, original)
    env.run_once(RECEIVED + timedelta(minutes=2))
    assert_all_once(env, [f"<imap-{n}@mail.example>" for n in range(TOTAL)])


@pytest.mark.slow
def test_a_running_daemon_survives_a_dovecot_restart_mid_stream(private_env: CurmailEnv, tmp_path: Path) -> None:
    env = private_env
    env.cli("db", "upgrade")
    log_path = tmp_path / "daemon.log"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "daemon.cli", "run"], env={**os.environ, "CURMAIL_CONFIG": str(env.config_path)},
        stdout=log_path.open("wb"), stderr=subprocess.STDOUT, cwd=REPO,
    )
    ids = []
    try:
        for wave in range(4):
            raws = [appeal(100 * wave + n) for n in range(10)]
            ids += [raw.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0].strip().decode() for raw in raws]
            env.dovecot.append_many(env.account.user, raws, internal_date=RECEIVED)
            if wave == 1:
                time.sleep(0.3)  # somewhere in the middle of its batches
                env.dovecot.restart()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = stored(env)
            if len(rows) >= len(ids) and all(status == MessageStatus.PROCESSED for _, status in rows):
                break
            time.sleep(0.3)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0, log_path.read_text()[-3000:]
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert_all_once(env, ids)
