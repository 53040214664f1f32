"""A locked database or a full disk: nothing is flagged in IMAP that is not committed, and the next run catches up."""

from __future__ import annotations

import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.db.models import MessageStatus, StoredMessage
from tests.support.env import CurmailEnv
from tests.support.mail import appeal, make_message
from tests.support.need import missing

RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def flagged(env: CurmailEnv) -> set[int]:
    return {uid for uid, flags in env.dovecot.flags(env.account.user).items() if "$Curmail" in flags}


def stored_count(env: CurmailEnv) -> int:
    with env.app().sessions() as session:
        return len(session.scalars(select(StoredMessage.id)).all())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_locked_database_flags_nothing_and_the_next_run_catches_up(env: CurmailEnv) -> None:
    env.configure(database={"busy_timeout_seconds": 0.5})
    app = env.app()  # opened (and migrated) before the lock is taken, as a running daemon would be
    for n in range(3):
        env.deliver(appeal(n), internal_date=RECEIVED)
    path = env.db_url.removeprefix("sqlite:///")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        from daemon.runner import Runner

        Runner(app).run_once()
        assert flagged(env) == set()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    env.run_once()
    assert stored_count(env) == 3
    assert len(flagged(env)) == 3


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1 MB tmpfs for the database: a real "disk full" (ENOSPC) from the kernel."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        missing(f"cannot mount a tmpfs to simulate a full disk: {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_full_disk_flags_only_committed_messages_and_recovers(env: CurmailEnv, small_disk: Path) -> None:
    env.db_url = f"sqlite:///{small_disk / 'curmail.db'}"
    env.configure(mailbox={"batch_size": 5})
    big = "Текст обращения. " * 6000  # ~200 KB each: the 1 MB disk holds a few, not all twelve
    for n in range(12):
        env.deliver(make_message(subject=f"Обращение {n}", body=big), internal_date=RECEIVED)

    env.run_once()

    with env.app().sessions() as session:
        committed = set(session.scalars(select(StoredMessage.uid)))
    assert len(committed) < 12, "the disk was meant to fill up"
    assert flagged(env) <= committed, "a message was flagged although its row never committed"

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    env.run_once()
    with env.app().sessions() as session:
        statuses = session.scalars(select(StoredMessage.status)).all()
    assert len(statuses) == 12
    assert set(statuses) == {MessageStatus.PROCESSED}
    assert len(flagged(env)) == 12
