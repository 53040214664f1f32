"""WATCHDOG=1 comes from the main loop only: while an IMAP call hangs, systemd hears nothing."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from daemon.intake import endpoint
from daemon.mailbox import Mailbox
from daemon.outbox import enqueue
from daemon.runner import Runner, send_outbox
from tests.ops.support import NotifyListener
from tests.support.env import CurmailEnv

FAILED_CONTEXT = {"recipient": "petrov@kozmo.example", "original_subject": "Тема",
                  "created_at": datetime(2026, 12, 3, 12, 42, tzinfo=UTC), "attempts": 1, "expired": False,
                  "error": "550 нет такого ящика"}


class HangingMailbox(Mailbox):
    """A real IMAP session whose third IDLE never returns until the test lets it go."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.idles = 0
        self.hung = threading.Event()
        self.release = threading.Event()

    def idle_wait(self, timeout: float) -> bool:
        self.idles += 1
        if self.idles >= 3:
            self.hung.set()
            self.release.wait(60)
            return False
        return super().idle_wait(timeout)


def test_no_watchdog_while_imap_hangs(sqlite_env: CurmailEnv, tmp_path: Path, monkeypatch) -> None:
    listener = NotifyListener(str(tmp_path / "notify.sock"))
    monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    runner = Runner(sqlite_env.app())
    mailbox = HangingMailbox(endpoint(sqlite_env.settings))
    mailbox.connect()
    runner.mailbox = mailbox
    observed: dict[str, int] = {}

    def observe() -> None:
        try:
            mailbox.hung.wait(60)
            observed["before"] = len(listener.having("WATCHDOG"))
            # The main thread is stuck in the IDLE call: nothing can ping, however long we look.
            mailbox.release.wait(2.0)
            observed["during"] = len(listener.having("WATCHDOG")) - observed["before"]
        finally:
            runner.stopping.set()
            mailbox.release.set()

    watcher = threading.Thread(target=observe)
    watcher.start()
    try:
        runner.run_forever()  # the main thread, as in the daemon (signal handlers need it)
    finally:
        mailbox.release.set()
        watcher.join(timeout=60)
        runner.app.close()
    try:
        assert listener.having("READY", "1")
        assert observed["before"] >= 1, "the healthy loop pinged before the hang"
        assert observed["during"] == 0
        assert listener.wait_for("STOPPING", "1", timeout=10)
    finally:
        listener.close()


def test_watchdog_follows_a_long_send_and_stops_while_smtp_hangs(sqlite_env: CurmailEnv, tmp_path: Path,
                                                                  monkeypatch) -> None:
    """A backlog of letters keeps the pings coming (one per settled letter); a reply that never comes does not."""
    listener = NotifyListener(str(tmp_path / "notify.sock"))
    monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
    monkeypatch.setenv("WATCHDOG_USEC", "4")  # so small that every chance to ping is taken
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    env = sqlite_env
    env.configure(smtp={"timeout_seconds": 60})
    app = env.app()
    letters = 12
    with app.sessions() as session, session.begin():
        for n in range(letters):
            enqueue(session, app.settings, kind="send_failed", to=["petrov@kozmo.example"],
                    context={**FAILED_CONTEXT, "outbox_id": n}, now=app.clock())
    runner = Runner(app)
    runner.ready = True  # as after READY=1 in the daemon
    env.smtp.hold_after(letters // 2)
    observed: dict[str, int] = {}

    def observe() -> None:
        try:
            env.smtp.handler.holding.wait(60)
            observed["before"] = len(listener.having("WATCHDOG"))
            time.sleep(1.0)  # the main thread waits for the held reply: nothing may ping meanwhile
            observed["during"] = len(listener.having("WATCHDOG")) - observed["before"]
        finally:
            env.smtp.release()

    watcher = threading.Thread(target=observe)
    watcher.start()
    try:
        send_outbox(runner)
    finally:
        env.smtp.release()
        watcher.join(timeout=60)
    try:
        assert len(env.smtp.messages) == letters
        assert observed["before"] >= letters // 2 - 1, observed
        assert observed["during"] == 0
        listener.wait_for("WATCHDOG", "1", count=letters - 1, timeout=10)
    finally:
        listener.close()
