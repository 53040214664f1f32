"""The daemon as a real process: mail arriving while it runs, SIGKILL at random points, SIGTERM."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from daemon.db.models import MessageStatus, StoredMessage
from tests.support.env import CurmailEnv
from tests.support.mail import make_message

RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def start_daemon(env: CurmailEnv, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "daemon.cli", "run"],
        env={**os.environ, "CURMAIL_CONFIG": str(env.config_path)},
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
    )


def message_ids_in_db(env: CurmailEnv) -> list[str]:
    with env.reader().sessions() as session:
        return list(session.scalars(select(StoredMessage.message_id)))


def statuses(env: CurmailEnv) -> set[str]:
    with env.reader().sessions() as session:
        return set(session.scalars(select(StoredMessage.status)))


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def numbered(n: int) -> bytes:
    return make_message(
        subject=f"Обращение {n}", body=f"Текст обращения номер {n}.", message_id=f"<load-{n}@mail.example>"
    )


def test_mail_arriving_while_the_daemon_runs_is_all_stored_once(env: CurmailEnv, tmp_path: Path) -> None:
    total = 500
    env.cli("db", "upgrade")
    daemon = start_daemon(env, tmp_path / "daemon.log")
    try:
        for start in range(0, total, 50):
            env.dovecot.append_many(env.account.user, [numbered(n) for n in range(start, start + 50)],
                                    internal_date=RECEIVED)
        wait_until(lambda: len(message_ids_in_db(env)) >= total, 120, f"{total} stored messages")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0, (tmp_path / "daemon.log").read_text()[-3000:]
    finally:
        if daemon.poll() is None:
            daemon.kill()
    ids = message_ids_in_db(env)
    assert sorted(ids) == sorted(f"<load-{n}@mail.example>" for n in range(total))
    # A stop lets the stage at work finish its chunk: everything stored is threaded; the act stage may
    # leave classified mail for the next start, which acts on it.
    assert statuses(env) <= {MessageStatus.CLASSIFIED, MessageStatus.PROCESSED}
    env.cli("run", "--once")
    assert statuses(env) == {MessageStatus.PROCESSED}


def test_sigkill_at_random_points_loses_and_duplicates_nothing(env: CurmailEnv, tmp_path: Path) -> None:
    total = 300
    rng = random.Random(20261203)
    env.cli("db", "upgrade")
    env.dovecot.append_many(env.account.user, [numbered(n) for n in range(total)], internal_date=RECEIVED)
    kills = 0
    for _ in range(6):
        daemon = start_daemon(env, tmp_path / "daemon.log")
        time.sleep(rng.uniform(0.8, 2.5))
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
        kills += 1
    env.cli("run", "--once")
    # Six kills a second or two after each start can land on the same message three times (the first
    # one acted on after a start also pays the warm-up): the crash-loop guard then parks it, as it
    # would a message that kills the daemon. Parked is not lost: its bytes are kept and replay runs it.
    with env.reader().sessions() as session:
        parked = list(session.scalars(select(StoredMessage.error).where(StoredMessage.status == MessageStatus.PARKED)))
    assert all("stopped the daemon" in (error or "") for error in parked), parked
    if parked:
        env.cli("replay", "--parked")

    ids = message_ids_in_db(env)
    assert len(ids) == total, f"{len(ids)} rows for {total} messages after {kills} kills"
    assert len(set(ids)) == total
    flags = env.dovecot.flags(env.account.user)
    flagged = {uid for uid, f in flags.items() if "$Curmail" in f}
    with env.app().sessions() as session:
        committed = set(session.scalars(select(StoredMessage.uid)))
        unprocessed = session.scalar(select(func.count()).where(StoredMessage.status != MessageStatus.PROCESSED))
    assert flagged <= committed, "a message was flagged without a committed row"
    assert flagged == set(flags), "after a clean run every message is flagged"
    assert unprocessed == 0
