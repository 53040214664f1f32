"""`curmail run` under a fake systemd: READY/STATUS/WATCHDOG on our NOTIFY_SOCKET, SIGHUP reload, SIGTERM."""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from daemon import sdnotify
from daemon.db.models import MessageStatus, OutboxMessage, OutboxStatus, StoredMessage
from daemon.runner import Runner
from tests.ops.support import Daemon, NotifyListener, fixture, numbered, wait_until
from tests.support.dovecot import free_loopback_port
from tests.support.env import CurmailEnv
from tests.support.settings import config_data, to_toml


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[NotifyListener]:
    sock = NotifyListener(str(tmp_path / "notify.sock"))
    yield sock
    sock.close()


def _count(env: CurmailEnv, *where) -> int:
    app = env.reader()
    with app.sessions() as session:
        return session.scalar(select(func.count()).select_from(StoredMessage).where(*where)) or 0


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_notify_reaches_path_and_abstract_sockets(tmp_path: Path, kind: str, monkeypatch) -> None:
    address = str(tmp_path / "n.sock") if kind == "path" else f"@curmail-test-{secrets.token_hex(6)}"
    sock = NotifyListener(address)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        assert sdnotify.ready("up")
        assert sdnotify.status("line one\nline two")
        sock.wait_for("READY", "1", timeout=10)
        assert sock.wait_for("STATUS", "line one line two", timeout=10)  # a newline would end the field
        assert sock.having("READY")[0]["STATUS"] == "up"
    finally:
        sock.close()


def test_notify_without_systemd_is_a_no_op(monkeypatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", "/nonexistent/notify.sock")
    assert sdnotify.notify("READY=1") is False  # logged at debug, never raised


def test_watchdog_only_for_this_pid(monkeypatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 2.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert sdnotify.watchdog_interval() is None


def test_ready_status_watchdog_reload_and_stop(sqlite_env: CurmailEnv, listener: NotifyListener,
                                               tmp_path: Path) -> None:
    env = sqlite_env
    daemon = Daemon(env.config_path, tmp_path / "daemon.log", NOTIFY_SOCKET=listener.address,
                    WATCHDOG_USEC="1000000")
    try:
        ready = listener.wait_for("READY", "1")
        assert "STATUS" in ready[0]
        # READY only after the first IMAP login: the mailbox row was written by a poll.
        assert "reading" in ready[0]["STATUS"]
        listener.wait_for("WATCHDOG", "1", count=2)
        listener.wait_for("STATUS")

        # SIGHUP with a valid new file: reloaded, and mail is still read.
        env.configure(mailbox={"poll_interval_seconds": 2})
        daemon.signal(signal.SIGHUP)
        daemon.wait_log("configuration reloaded")
        assert listener.wait_for("RELOADING", "1")
        env.deliver(numbered(fixture("citizen_letter.eml"), 1))
        wait_until(lambda: _count(env, StoredMessage.status == MessageStatus.PROCESSED) == 1, 60,
                   "the letter after a good reload")
        wait_until(lambda: any("1 processed since start" in m["STATUS"] for m in listener.having("STATUS")), 30,
                   "a STATUS line with the progress")

        # SIGHUP with a broken file: the error is logged, the old configuration stays and works.
        env.config_path.write_text("[organization\nname = ", encoding="utf-8")
        daemon.signal(signal.SIGHUP)
        daemon.wait_log("reload failed, keeping the previous configuration")
        assert "not valid TOML" in daemon.log()
        env.deliver(numbered(fixture("citizen_letter.eml"), 2))
        wait_until(lambda: _count(env, StoredMessage.status == MessageStatus.PROCESSED) == 2, 60,
                   "the letter after a bad reload")
        assert daemon.process.poll() is None
        watchdogs = len(listener.having("WATCHDOG"))
        listener.wait_for("WATCHDOG", "1", count=watchdogs + 1)  # still healthy after the failed reload
    finally:
        code = daemon.terminate()
    assert code == 0, daemon.log()
    assert listener.wait_for("STOPPING", "1")
    assert "stopped" in daemon.log()


def test_sigterm_during_a_batch_loses_nothing(env: CurmailEnv, tmp_path: Path) -> None:
    total = 60
    letters = [numbered(fixture("citizen_letter.eml"), n) for n in range(1, total // 2 + 1)]
    letters += [numbered(fixture("cur_signal.eml"), n) for n in range(1, total // 2 + 1)]
    env.dovecot.append_many(env.account.user, letters)
    env.configure(mailbox={"batch_size": 5})  # many small batches, so the stop lands between two of them
    daemon = Daemon(env.config_path, tmp_path / "daemon.log")
    try:
        wait_until(lambda: _count(env) > 0, 120, "the first stored message")
    finally:
        code = daemon.terminate()
    assert code == 0, daemon.log()
    assert "stop requested" in daemon.log()
    # The batch in hand was finished: nothing stored is left unprocessed (the rest is still only in IMAP).
    assert _count(env) == _count(env, StoredMessage.status == MessageStatus.PROCESSED)
    # Whatever the stop interrupted is picked up by the next run, and nothing is doubled.
    env.run_once()
    app = env.app()
    with app.sessions() as session:
        rows = session.execute(select(StoredMessage.uid, StoredMessage.status, StoredMessage.message_id)).all()
    assert len(rows) == total
    assert len({r.uid for r in rows}) == total
    assert {r.status for r in rows} == {MessageStatus.PROCESSED}
    unflagged = [m for m in env.dovecot.list_messages(env.account.user) if "$Curmail" not in m.flags]
    assert unflagged == []


def test_sigterm_while_sending_finishes_the_letter_and_hands_the_rest_back(sqlite_env: CurmailEnv,
                                                                          tmp_path: Path) -> None:
    """The stop is bounded by one letter, not by the backlog; nothing is lost, doubled or left uncertain."""
    env = sqlite_env
    env.configure(smtp={"timeout_seconds": 60})  # the held reply below must not time out
    # Eight cases of their own, so that their letters make a backlog whatever the day (one threaded
    # case had two letters, and a third only when the day's digest was due).
    env.dovecot.append_many(env.account.user, [numbered(fixture("citizen_letter.eml"), n, own_subject=True)
                                               for n in range(1, 9)])
    env.smtp.hold_after(1)  # the second letter's reply waits until the stop has been requested
    daemon = Daemon(env.config_path, tmp_path / "daemon.log")
    try:
        wait_until(env.smtp.handler.holding.is_set, 120, "the second letter on the wire")
        daemon.signal(signal.SIGTERM)
        daemon.wait_log("stop requested")
        env.smtp.release()
        code = daemon.process.wait(timeout=60)
    finally:
        daemon.terminate()
    assert code == 0, daemon.log()
    with env.reader().sessions() as session:
        rows = session.execute(select(OutboxMessage.message_id, OutboxMessage.status,
                                      OutboxMessage.claimed_by)).all()
    by_status = Counter(row.status for row in rows)
    assert by_status[OutboxStatus.SENT] == 2, by_status  # the letter in hand was finished, no further one begun
    assert by_status[OutboxStatus.QUEUED] == len(rows) - 2 > 0, by_status
    assert all(row.claimed_by is None for row in rows if row.status == OutboxStatus.QUEUED)
    assert len(env.smtp.messages) == 2

    env.run_once()  # the next start sends the rest, each exactly once
    with env.reader().sessions() as session:
        statuses = session.scalars(select(OutboxMessage.status)).all()
    assert set(statuses) == {OutboxStatus.SENT}
    received = Counter(m.message_id for m in env.smtp.messages)
    assert sorted(received) == sorted(row.message_id for row in rows)
    assert set(received.values()) == {1}


def test_sighup_while_sending_loses_and_doubles_nothing(sqlite_env: CurmailEnv, tmp_path: Path) -> None:
    env = sqlite_env
    env.configure(smtp={"timeout_seconds": 60})
    env.dovecot.append_many(env.account.user, [numbered(fixture("cur_signal.eml"), n) for n in range(1, 5)])
    env.smtp.hold_after(1)
    daemon = Daemon(env.config_path, tmp_path / "daemon.log")
    try:
        wait_until(env.smtp.handler.holding.is_set, 120, "the second letter on the wire")
        env.configure(mailbox={"poll_interval_seconds": 2})
        daemon.signal(signal.SIGHUP)
        daemon.wait_log("reload requested")
        env.smtp.release()
        daemon.wait_log("configuration reloaded")

        def settled() -> bool:
            with env.reader().sessions() as session:
                statuses = session.scalars(select(OutboxMessage.status)).all()
            return bool(statuses) and set(statuses) == {OutboxStatus.SENT}

        wait_until(settled, 120, "every letter sent after the reload")
    finally:
        code = daemon.terminate()
    assert code == 0, daemon.log()
    with env.reader().sessions() as session:
        expected = sorted(session.scalars(select(OutboxMessage.message_id)).all())
    received = Counter(m.message_id for m in env.smtp.messages)
    assert sorted(received) == expected and set(received.values()) == {1}
    assert _count(env) == _count(env, StoredMessage.status == MessageStatus.PROCESSED) == 4


@pytest.mark.parametrize("then", ["stop", "fix and reload"])
def test_unreachable_database_at_start(sqlite_env: CurmailEnv, listener: NotifyListener, tmp_path: Path,
                                       then: str) -> None:
    """No READY, the reason in the log, retries with backoff; SIGTERM exits cleanly, SIGHUP picks up a fix."""
    env = sqlite_env
    good_url = env.settings.database.url
    env.configure(database={"url": f"postgresql+psycopg://curmail@127.0.0.1:{free_loopback_port()}/curmail"})
    daemon = Daemon(env.config_path, tmp_path / "daemon.log", NOTIFY_SOCKET=listener.address)
    try:
        daemon.wait_log("cannot start: database unreachable", count=3)
        delays = [float(d) for d in re.findall(r"cannot start: .*; retrying in (\d+) s", daemon.log())]
        assert len(delays) >= 3 and delays == sorted(delays) and delays[0] < delays[2], delays  # backing off
        assert listener.wait_for("STATUS")[0]["STATUS"].startswith("database unreachable")
        assert listener.having("READY") == []
        if then == "fix and reload":
            env.configure(database={"url": good_url})
            daemon.signal(signal.SIGHUP)
            listener.wait_for("READY", "1")
    finally:
        code = daemon.terminate()
    assert code == 0
    assert ("stopped before start" in daemon.log()) == (then == "stop")


@pytest.mark.parametrize("breakage", ["missing file", "unknown key", "bad value", "database unreachable"])
def test_reload_keeps_the_old_configuration(sqlite_env: CurmailEnv, listener: NotifyListener, monkeypatch,
                                            caplog, breakage: str) -> None:
    """Every way a reload can fail leaves the running App as it was, logged and told to systemd."""
    env = sqlite_env
    monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
    runner = Runner(env.app())
    before = runner.app
    overrides = {"unknown key": {"mailbox": {"pol_interval_seconds": 5}},
                 "bad value": {"mailbox": {"poll_interval_seconds": -1}},
                 "database unreachable": {"database": {
                     "url": f"postgresql+psycopg://curmail@127.0.0.1:{free_loopback_port()}/curmail"}}}
    if breakage == "missing file":
        env.config_path.unlink()
    else:  # written as a sysadmin would, without the test's own validation
        env.config_path.write_text(to_toml(config_data(
            env.tmp_path, imap_port=env.account.server.port, imap_user=env.account.user,
            imap_password=env.account.password, smtp_port=env.smtp.port, db_url=env.db_url,
            **overrides[breakage])), encoding="utf-8")
    runner.request_reload()
    with caplog.at_level(logging.ERROR, logger="curmail.runner"):
        runner._reload()
    try:
        assert runner.app is before and runner.app.settings is before.settings
        assert runner.reload_requested is False
        assert any("reload failed, keeping the previous configuration" in r.getMessage() for r in caplog.records)
        # Opening the App may already have said «migrating the database schema…»: wait for the reload's own line,
        # which the listener thread may not have read yet when _reload returns.
        wait_until(lambda: any(m.get("READY") == "1" and m["STATUS"].startswith("reload failed")
                               for m in listener.having("STATUS")), 10, "READY=1 with STATUS=reload failed…")
        with runner.app.sessions() as session:  # the old App still works
            assert session.scalar(select(func.count()).select_from(StoredMessage)) == 0
    finally:
        runner.app.close()
