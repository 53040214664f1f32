"""The daemon loop: IMAP IDLE or polling for mail, plus periodic jobs driven by `schedule`, until SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import schedule

from daemon.app import App
from daemon.backoff import Backoff
from daemon.errors import CurmailError, MailboxAuthError, MailboxError, StorageError
from daemon.intake import endpoint, poll
from daemon.mailbox import Mailbox
from daemon.pipeline import process_pending

log = logging.getLogger("curmail.runner")

IDLE_SLICE_SECONDS = 10.0  # how long one wait may block before we look at signals and the schedule


@dataclass
class Job:
    """One periodic piece of work; it must be idempotent, because `run --once` calls it too."""

    name: str
    every_seconds: int
    action: Callable[[Runner], object]


def send_outbox(runner: Runner) -> object:
    """Send due outbox rows; copies go to the Sent folder over the runner's IMAP connection when it has one."""
    from daemon.sender import send_due_sync

    app = runner.app
    mailbox = runner.mailbox
    append_sent = None
    if mailbox is not None and mailbox.connected:
        folder = app.settings.mailbox.sent_folder

        def append_sent(raw: bytes) -> None:
            mailbox.append(folder, raw)

    return send_due_sync(app.sessions, app.settings, now=app.clock(), owner=instance_name(), append_sent=append_sent)


def instance_name() -> str:
    """host:pid, recorded on claimed outbox rows and leases so a dead owner can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}"


def periodic_jobs() -> list[Job]:
    """The fixed, ordered set of periodic jobs (later issues add digests, reports, retention)."""
    jobs = [Job("outbox", 15, send_outbox)]
    try:  # TODO(lead): drop the guard once daemon.workflow.reminders has landed
        from daemon.workflow.reminders import tick as reminders_tick
    except ImportError:
        return jobs
    return [Job("reminders", 60, lambda runner: reminders_tick(runner.app)), *jobs]


@dataclass
class Runner:
    """Owns the IMAP connection and runs intake and jobs; `stop()` makes it finish its message and exit."""

    app: App
    mailbox: Mailbox | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    backoff: Backoff = field(default_factory=Backoff)
    last_poll_ok: float | None = None

    def stop(self, *_: object) -> None:
        log.info("stop requested; finishing current work")
        self.stopping.set()

    def _connected(self) -> Mailbox:
        if self.mailbox is None or not self.mailbox.connected:
            box = Mailbox(endpoint(self.app.settings))
            box.connect()
            self.mailbox = box
        return self.mailbox

    def intake(self) -> None:
        """Poll once and process what came in; connection errors propagate to the caller's backoff."""
        mailbox = self._connected()
        poll(self.app, mailbox, after_batch=lambda: process_pending(self.app))
        process_pending(self.app)
        self.last_poll_ok = time.time()

    def run_jobs_once(self) -> None:
        for job in periodic_jobs():
            self._guarded(job.name, lambda job=job: job.action(self))

    def _guarded(self, name: str, action: Callable[[], object]) -> bool:
        """Run a piece of work; log a failure clearly and keep the daemon alive."""
        try:
            action()
            return True
        except MailboxAuthError as exc:
            log.error("IMAP login refused: %s (check [mailbox] username/password)", exc, extra={"job": name})
        except MailboxError as exc:
            log.error("IMAP error: %s", exc, extra={"job": name})
        except StorageError as exc:
            log.error("database error, nothing was marked processed: %s", exc, extra={"job": name})
        except CurmailError as exc:
            log.error("%s", exc, extra={"job": name})
        except Exception:
            log.exception("unexpected error", extra={"job": name})
        if name == "intake" and self.mailbox is not None:
            self.mailbox.close()
            self.mailbox = None
        return False

    def run_once(self) -> None:
        """`curmail run --once`: all pending work once, then return."""
        self._guarded("intake", self.intake)
        self.run_jobs_once()
        self._close()

    def run_forever(self) -> None:
        """Until SIGTERM: wait for mail with IDLE (re-issued well within 29 min) or poll, and run jobs."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        scheduler = schedule.Scheduler()
        for job in periodic_jobs():
            scheduler.every(job.every_seconds).seconds.do(self._guarded, job.name, lambda job=job: job.action(self))
        settings = self.app.settings.mailbox
        next_poll = 0.0
        idle_started = 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            if now >= next_poll:
                if self._guarded("intake", self.intake):
                    self.backoff.reset()
                    next_poll = now + settings.poll_interval_seconds
                    idle_started = time.monotonic()
                    self.run_jobs_once()  # send what the new mail caused at once, not in 15 s
                else:
                    delay = self.backoff.next_delay()
                    log.info("retrying IMAP in %.0f s", delay)
                    next_poll = now + delay
            scheduler.run_pending()
            wait = max(0.0, min(IDLE_SLICE_SECONDS, next_poll - time.monotonic(), scheduler.idle_seconds or 60))
            mailbox = self.mailbox
            if mailbox is not None and mailbox.connected and settings.idle and mailbox.has_idle:
                if time.monotonic() - idle_started > settings.idle_renew_seconds:
                    next_poll = 0.0  # a fresh search now and then covers EXISTS missed between commands
                    continue
                try:
                    if mailbox.idle_wait(wait):
                        next_poll = 0.0
                except MailboxError as exc:
                    log.warning("IMAP IDLE failed: %s; reconnecting", exc)
                    mailbox.close()
                    self.mailbox = None
                    next_poll = 0.0
            else:
                self.stopping.wait(wait)
        self._close()
        log.info("stopped")

    def _close(self) -> None:
        if self.mailbox is not None:
            self.mailbox.close()
            self.mailbox = None
