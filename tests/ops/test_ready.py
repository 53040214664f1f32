"""READY=1 follows the first IMAP login, not the end of the backlog; STATUS= lines show the backlog's progress."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from daemon.db.models import MessageStatus, StoredMessage
from daemon.intake import endpoint
from daemon.mailbox import Mailbox
from daemon.runner import Runner
from tests.ops.support import NotifyListener, fixture, numbered, wait_until
from tests.support.env import CurmailEnv


class GatedMailbox(Mailbox):
    """A real IMAP session whose first FETCH waits until the test opens the gate."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fetching = threading.Event()
        self.gate = threading.Event()

    def fetch(self, *args, **kwargs):
        self.fetching.set()
        self.gate.wait(60)
        return super().fetch(*args, **kwargs)


def test_ready_comes_with_the_login_and_the_backlog_reports_progress(sqlite_env: CurmailEnv, tmp_path: Path,
                                                                     monkeypatch) -> None:
    env = sqlite_env
    letters = 12
    env.dovecot.append_many(env.account.user, [numbered(fixture("citizen_letter.eml"), n)
                                               for n in range(1, letters + 1)])
    env.configure(mailbox={"batch_size": 4})
    listener = NotifyListener(str(tmp_path / "notify.sock"))
    monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    runner = Runner(env.app())
    mailbox = GatedMailbox(endpoint(env.settings))
    mailbox.connect()
    runner.mailbox = mailbox
    observed: dict[str, object] = {}

    def processed() -> int:
        with env.reader().sessions() as session:
            return session.scalar(select(func.count()).select_from(StoredMessage)
                                  .where(StoredMessage.status == MessageStatus.PROCESSED)) or 0

    def observe() -> None:
        try:
            mailbox.fetching.wait(60)
            # The backlog is not fetched yet, and systemd has already been told that we are up.
            observed["ready"] = bool(wait_until(lambda: listener.having("READY", "1"), 30, "READY=1"))
            observed["processed at ready"] = processed()
        finally:
            mailbox.gate.set()
            try:
                wait_until(lambda: processed() == letters, 120, "the backlog processed")
            finally:
                runner.stopping.set()

    watcher = threading.Thread(target=observe)
    watcher.start()
    try:
        runner.run_forever()
    finally:
        mailbox.gate.set()
        watcher.join(timeout=180)
        runner.app.close()
    try:
        assert observed == {"ready": True, "processed at ready": 0}
        statuses = [m["STATUS"] for m in listener.having("STATUS")]
        during = [s for s in statuses if s.startswith("reading ") and "last poll" not in s]
        # One line per committed batch of the backlog, with the count of messages read growing.
        read = [int(s.split("; ")[-1].split()[0]) for s in during]
        assert read == sorted(read) and read[-1] <= letters and len(set(read)) >= 3, statuses
        assert any("last poll" in s and f"{letters} read, {letters} processed since start" in s
                   for s in statuses), statuses
    finally:
        listener.close()
