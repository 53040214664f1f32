"""WATCHDOG=1 comes from the main loop only: while an IMAP call hangs, systemd hears nothing."""

from __future__ import annotations

import threading
from pathlib import Path

from daemon.intake import endpoint
from daemon.mailbox import Mailbox
from daemon.runner import Runner
from tests.ops.support import NotifyListener
from tests.support.env import CurmailEnv


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
