"""The daemon loop: IMAP IDLE or polling for mail, periodic jobs, sd_notify, signals and the mailbox lease.

One thread does everything that matters, so its progress is the health signal: WATCHDOG=1 is sent
only from this loop, and a call that hangs (a dead IMAP link, a locked database) silences it until
systemd restarts us. READY=1 follows the first successful database check and IMAP login.

Signals only set flags, except while the loop is *waiting* (IDLE or sleep): then the handler also
breaks the wait, so SIGTERM and SIGHUP are acted on at once. SIGTERM lets the current message batch
(one transaction) finish, releases the lease, logs out and exits 0; nothing is lost because every
step is committed before it is acknowledged (see daemon/intake.py and daemon/sender.py). SIGHUP
re-reads the configuration and rebuilds the App; a bad file is logged and the old one kept.

Several instances may share one PostgreSQL database: only the holder of a mailbox's lease
(daemon/lease.py) polls and processes its mail; every instance sends the outbox and ticks reminders,
which are exactly-once by row locks and dedupe keys.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType

import schedule
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from daemon import lease, sdnotify
from daemon.app import App
from daemon.backoff import Backoff
from daemon.clock import Clock, parse_now
from daemon.config import Settings, load_settings
from daemon.db.engine import transaction
from daemon.errors import ConfigError, CurmailError, MailboxAuthError, MailboxError, StorageError
from daemon.intake import endpoint, mailbox_key, poll
from daemon.mailbox import Mailbox
from daemon.pipeline import BATCH, ProcessReport, act_pending, classify_pending
from daemon.reports import contacts
from daemon.store import mailbox_state

log = logging.getLogger("curmail.runner")

IDLE_SLICE_SECONDS = 10.0  # how long one wait may block before we look at the schedule and the lease
DEFAULT_LEASE_SECONDS = 120.0  # well above [mailbox] timeout_seconds, so a slow call never loses it
LEASE_ENV = "CURMAIL_LEASE_SECONDS"  # overrides [mailbox] lease_seconds (drills and tests)
DB_RETRY = Backoff(initial=2.0, maximum=60.0)


class LeaseLost(CurmailError):
    """Another instance took the mailbox over while we were reading it: stop touching it at once."""


class _WakeUp(BaseException):
    """Raised by a signal handler to break a wait; BaseException so no `except Exception` swallows it."""


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

    def between_letters() -> bool:
        runner.watchdog_pet()  # a letter was settled: a long backlog is progress, a hung DATA is not
        return runner.stopping.is_set()

    return send_due_sync(app.sessions, app.settings, now=app.clock(), owner=instance_name(), append_sent=append_sent,
                         should_stop=between_letters)


INSTANCE_ENV = "CURMAIL_INSTANCE"  # a name of the sysadmin's choosing instead of host@namespace:pid


def _host_identity() -> str:
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:
        namespace = "?"
    return f"{socket.gethostname()}@{namespace}"


def instance_name() -> str:
    """host@pid-namespace:pid: stable for this process, distinct between processes, hosts and containers."""
    return os.environ.get(INSTANCE_ENV) or f"{_host_identity()}:{os.getpid()}"


def local_owner_dead(owner: str) -> bool:
    """True when `owner` was a process of this host and pid namespace that no longer exists."""
    host, _, pid = owner.rpartition(":")
    if host != _host_identity() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, under another user
    return False


def lease_seconds(settings: Settings) -> float:
    """The mailbox lease time: $CURMAIL_LEASE_SECONDS when set, else [mailbox] lease_seconds."""
    try:
        return float(os.environ[LEASE_ENV])
    except (KeyError, ValueError):
        return float(settings.mailbox.lease_seconds)


def periodic_jobs() -> list[Job]:
    """The fixed, ordered set of periodic jobs; each is idempotent and exactly-once by its own keys.

    Reminders and the obligations come before the outbox, so what they enqueue leaves in the same run.
    """
    from daemon import digest
    from daemon.reports import monthly, obligations, retention
    from daemon.workflow import reminders

    return [
        Job("reminders", 60, lambda runner: reminders.tick(runner.app)),
        Job("digest", 60, lambda runner: digest.tick(runner.app)),
        Job("quarterly-report", 300, lambda runner: obligations.tick(runner.app)),
        Job("problems-report", 300, lambda runner: monthly.tick(runner.app)),  # п. 10.2, monthly
        Job("contact-officials", 300, lambda runner: contacts.tick(runner.app)),  # п. 9, also after a reload
        Job("retention", 3600, lambda runner: retention.tick(runner.app)),
        Job("outbox", 15, send_outbox),
    ]


def _one_line(exc: BaseException) -> str:
    """The driver's message on one line (psycopg adds a hint line; journald would split it)."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


def open_app(settings: Settings, clock: Clock | None = None) -> App:
    """App.open plus a round trip to the database, so "opened" means "reachable" (PostgreSQL is lazy)."""
    try:
        app = App.open(settings, clock)
    except SQLAlchemyError as exc:
        raise StorageError(f"database unreachable: {_one_line(exc)}") from exc
    try:
        with app.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        app.close()
        raise StorageError(f"database unreachable: {_one_line(exc)}") from exc
    return app


@dataclass
class Runner:
    """Owns the IMAP connection and runs intake and jobs; `stop()` makes it finish its message and exit."""

    app: App
    mailbox: Mailbox | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    backoff: Backoff = field(default_factory=Backoff)
    last_poll_ok: float | None = None
    owner: str = field(default_factory=instance_name)
    holds_lease: bool = False
    reload_requested: bool = False
    ready: bool = False
    serving: bool = False  # under run_forever: READY=1 and STATUS= lines are due
    watchdog: sdnotify.Watchdog = field(default_factory=sdnotify.Watchdog)
    on_imap_error: Callable[[], None] | None = None  # the metrics counter, when metrics are on
    classified_total: int = 0  # since start, for the STATUS= line
    processed_total: int = 0
    parked_total: int = 0
    _lease_checked: float = -1e9
    _waiting: bool = False
    _lease_key: str | None = None

    # -- signals -------------------------------------------------------------------------------------

    def stop(self, *_: object) -> None:
        log.info("stop requested; finishing current work")
        self.stopping.set()
        self._wake()

    def request_reload(self, *_: object) -> None:
        log.info("reload requested")
        self.reload_requested = True
        self._wake()

    def _wake(self) -> None:
        if self._waiting:
            self._waiting = False  # only one wake-up per wait: a second signal must not hit the cleanup
            raise _WakeUp

    def _install_signals(self) -> None:
        def handler(method: Callable[[], None]) -> Callable[[int, FrameType | None], None]:
            return lambda _signum, _frame: method()

        signal.signal(signal.SIGTERM, handler(self.stop))
        signal.signal(signal.SIGINT, handler(self.stop))
        signal.signal(signal.SIGHUP, handler(self.request_reload))

    # -- the lease -----------------------------------------------------------------------------------

    @property
    def lease_ttl(self) -> float:
        return lease_seconds(self.app.settings)

    def _lease_check_period(self) -> float:
        """Holder: renew every quarter of the lease time. Standby: try every tenth, to take over soon."""
        ttl = self.lease_ttl
        return ttl / 4 if self.holds_lease else max(0.5, ttl / 10)

    @property
    def _lease_span(self) -> float:
        """What a renewal writes: the lease time less one standby check, so that a standby takes a dead
        holder's mailbox over within the configured lease time of the death, not a check later."""
        ttl = self.lease_ttl
        return max(ttl / 2, ttl - max(0.5, ttl / 10))

    def _take_lease(self) -> bool:
        key = mailbox_key(self.app.settings)
        had = self.holds_lease
        self.holds_lease = lease.acquire(self.app, key, self.owner, self._lease_span, holder_is_dead=local_owner_dead)
        self._lease_key = key if self.holds_lease else None
        self._lease_checked = time.monotonic()
        if self.holds_lease and not had:
            log.info("mailbox lease taken", extra={"mailbox": key, "owner": self.owner})
        elif had and not self.holds_lease:
            log.warning("mailbox lease lost to another instance", extra={"mailbox": key})
            self._close_mailbox()
        return self.holds_lease

    def _check_lease(self) -> None:
        """Renew every quarter of the lease time; a standby instance tries every tenth, to take over soon."""
        if time.monotonic() - self._lease_checked >= self._lease_check_period():
            self._guarded("lease", self._take_lease)

    def _keep_lease(self) -> None:
        """Between batches: renew, and abort the intake if someone else has the mailbox now."""
        self.watchdog_pet()  # a batch committed: the loop is making progress
        if self.serving and self.ready:
            sdnotify.status(self._status_text())  # a long backlog shows its progress in `systemctl status`
        if self._lease_key is None:
            return  # no lease taken (a bench or a test driving intake directly)
        if not lease.renew(self.app, self._lease_key, self.owner, self._lease_span):
            self.holds_lease = False
            raise LeaseLost(f"mailbox {self._lease_key} was taken over by another instance")
        self._lease_checked = time.monotonic()

    def _release_lease(self) -> None:
        if self._lease_key is not None:
            try:
                lease.release(self.app, self._lease_key, self.owner)
            except (CurmailError, SQLAlchemyError) as exc:
                log.warning("could not release the mailbox lease (it expires by itself): %s", exc)
        self._lease_key = None
        self.holds_lease = False

    # -- the work ------------------------------------------------------------------------------------

    def _connected(self) -> Mailbox:
        if self.mailbox is None or not self.mailbox.connected:
            box = Mailbox(endpoint(self.app.settings))
            box.connect()
            self.mailbox = box
        return self.mailbox

    def intake(self) -> None:
        """Poll once, and parse, classify and thread what came in; connection errors propagate to the backoff."""
        mailbox = self._connected()
        if self.serving:
            self._mark_ready()  # at the first login, not after the backlog: a big one outlasts TimeoutStartSec=
        try:
            poll(self.app, mailbox, after_batch=self._classify_some)
            self._classify_some()
        except _Stopping:
            return
        self.last_poll_ok = time.time()

    def act(self) -> None:
        """Run the workflows of every classified message: after intake, so a backlog is threaded first."""
        try:
            self._drain(act_pending)
        except _Stopping:
            return

    def _classify_some(self) -> None:
        self._drain(classify_pending)

    def _drain(self, stage: Callable[..., ProcessReport]) -> None:
        """Walk a stage's queue one bounded chunk at a time, renewing the lease in between."""
        after_id = 0
        while True:
            self._keep_lease()
            report = stage(self.app, limit=BATCH, after_id=after_id)
            after_id = report.last_id
            self.classified_total += report.classified
            self.processed_total += report.processed
            self.parked_total += report.parked
            if self.stopping.is_set():
                raise _Stopping  # what was fetched is stored; the rest is picked up at the next start
            if report.seen < BATCH:
                return

    def _record_error(self, error: str) -> None:
        """Keep the last intake error on the mailbox row, for `curmail status`; best effort."""
        try:
            with transaction(self.app.sessions) as session:
                mailbox_state(session, mailbox_key(self.app.settings), self.app.tenant).last_error = error[:2000]
        except (CurmailError, SQLAlchemyError):
            pass

    def run_jobs_once(self) -> None:
        for job in periodic_jobs():
            if self.stopping.is_set():
                return
            self._guarded(job.name, lambda job=job: job.action(self))

    def _guarded(self, name: str, action: Callable[[], object]) -> bool:
        """Run a piece of work; log a failure clearly and keep the daemon alive."""
        error = None
        try:
            action()
            return True
        except MailboxAuthError as exc:
            error = f"IMAP login refused: {exc}"
            log.error("IMAP login refused: %s (check [mailbox] username/password)", exc, extra={"job": name})
        except MailboxError as exc:
            error = f"IMAP error: {exc}"
            log.error("IMAP error: %s", exc, extra={"job": name})
        except StorageError as exc:
            log.error("database error, nothing was marked processed: %s", exc, extra={"job": name})
        except SQLAlchemyError as exc:
            log.error("database error: %s", getattr(exc, "orig", None) or exc, extra={"job": name})
        except CurmailError as exc:
            log.error("%s", exc, extra={"job": name})
        except Exception:
            log.exception("unexpected error", extra={"job": name})
        if error is not None:
            if self.on_imap_error is not None:
                self.on_imap_error()
            if name == "intake":
                self._record_error(error)
        if name == "intake":
            self._close_mailbox()
        return False

    def run_once(self) -> None:
        """`curmail run --once`: all pending work once, then return (the mailbox only if no one else reads it)."""
        if self._guarded("lease", self._take_lease) and self.holds_lease:
            self._guarded("intake", self.intake)
            self._guarded("act", self.act)
        else:
            log.warning("mailbox is read by another running instance; only the periodic jobs run now")
        self.run_jobs_once()
        self._close()

    # -- the loop ------------------------------------------------------------------------------------

    def watchdog_pet(self) -> None:
        if self.ready:
            self.watchdog.pet()

    def _mark_ready(self) -> None:
        if not self.ready:
            self.ready = True
            sdnotify.ready(self._status_text())
            log.info("ready", extra={"owner": self.owner, "lease": "held" if self.holds_lease else "standby"})

    def _status_text(self) -> str:
        key = mailbox_key(self.app.settings)
        if not self.holds_lease:
            return f"standby: {key} is read by another instance; sending outbox and reminders"
        if self.last_poll_ok is None:
            return f"reading {key}; {self.classified_total} read, {self.processed_total} processed since start"
        at = datetime.fromtimestamp(self.last_poll_ok, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        parked = f", {self.parked_total} parked" if self.parked_total else ""
        return (f"reading {key}; last poll {at}; {self.classified_total} read, "
                f"{self.processed_total} processed since start{parked}")

    def _login_check(self) -> None:
        """A standby instance proves its IMAP credentials once, for READY, then logs out."""
        box = Mailbox(endpoint(self.app.settings))
        box.connect()
        box.close()

    def _reload(self) -> None:
        """SIGHUP: a valid new file replaces the App; an invalid one is logged and the old one stays."""
        self.reload_requested = False
        sdnotify.reloading()
        source = self.app.settings.source
        try:
            settings = load_settings(source)
            app = open_app(settings, self.app.clock)
        except CurmailError as exc:
            log.error("reload failed, keeping the previous configuration: %s", exc, extra={"config": source})
            sdnotify.notify("READY=1", f"STATUS=reload failed, previous configuration kept: {str(exc)[:200]}")
            return
        self._close_mailbox()
        old_key = mailbox_key(self.app.settings)
        if mailbox_key(settings) != old_key:
            self._release_lease()
        old, self.app = self.app, app
        old.close()
        self._lease_checked = -1e9  # re-check the lease under the new settings at once
        log.info("configuration reloaded", extra={"config": source})
        # п. 9: a changed contact official is reported to the ЦУР at once, not at the next periodic check.
        self._guarded("contact-officials", lambda: contacts.tick(self.app))
        sdnotify.notify("READY=1", f"STATUS={self._status_text()}")

    def _wait(self, seconds: float, idle: bool) -> bool:
        """Block up to `seconds` (IDLE on the mailbox when `idle`); True when new mail was reported.

        A signal arriving here raises _WakeUp out of the wait; the IMAP link is then in an unknown
        state and is closed (the next poll reconnects).
        """
        try:
            return self._interruptible_wait(seconds, idle)
        except _WakeUp:  # caught out here too: the signal may land in the inner `finally`
            if idle:
                self._close_mailbox()
            return False

    def _interruptible_wait(self, seconds: float, idle: bool) -> bool:
        mailbox = self.mailbox
        self._waiting = True
        try:
            if self.stopping.is_set() or self.reload_requested:
                return False
            if idle and mailbox is not None:
                return mailbox.idle_wait(seconds)
            self.stopping.wait(seconds)
            return False
        finally:
            self._waiting = False

    def run_forever(self) -> None:
        """Until SIGTERM: wait for mail with IDLE (re-issued well within 29 min) or poll, and run jobs."""
        self._install_signals()
        self.serving = True
        sdnotify.status("starting: logging in to IMAP")
        scheduler = schedule.Scheduler()
        for job in periodic_jobs():
            scheduler.every(job.every_seconds).seconds.do(self._run_job, job)
        next_poll = 0.0
        idle_started = 0.0
        try:
            while not self.stopping.is_set():
                if self.reload_requested:
                    self._reload()
                    next_poll = 0.0
                self.watchdog_pet()
                was_holder = self.holds_lease
                self._check_lease()
                if self.holds_lease and not was_holder:
                    next_poll = 0.0  # a takeover: read the mailbox now, not after the standby's interval
                now = time.monotonic()
                if now >= next_poll:
                    work = self.intake if self.holds_lease else self._login_check
                    if self.ready and not self.holds_lease:
                        work = _nothing
                    if self._guarded("intake" if self.holds_lease else "login", work):
                        self.backoff.reset()
                        next_poll = now + self.app.settings.mailbox.poll_interval_seconds
                        idle_started = time.monotonic()
                        self._mark_ready()
                        sdnotify.status(self._status_text())
                        if self.holds_lease:
                            self._guarded("act", self.act)
                            sdnotify.status(self._status_text())
                            self.run_jobs_once()  # send what the new mail caused at once, not in 15 s
                    else:
                        if self.holds_lease:
                            self._guarded("act", self.act)  # what was classified before IMAP failed
                        delay = self.backoff.next_delay()
                        log.info("retrying IMAP in %.0f s", delay)
                        sdnotify.status(f"IMAP unavailable; retrying in {delay:.0f} s")
                        next_poll = now + delay
                if self.stopping.is_set():
                    break
                if self.ready:
                    scheduler.run_pending()
                lease_due = self._lease_checked + self._lease_check_period()
                job_due = scheduler.idle_seconds
                wait = max(0.0, min(IDLE_SLICE_SECONDS, next_poll - time.monotonic(),
                                    lease_due - time.monotonic(), 60.0 if job_due is None else job_due))
                settings = self.app.settings.mailbox
                mailbox = self.mailbox
                if self.holds_lease and mailbox is not None and mailbox.connected and settings.idle \
                        and mailbox.has_idle:
                    if time.monotonic() - idle_started > settings.idle_renew_seconds:
                        next_poll = 0.0  # a fresh search now and then covers EXISTS missed between commands
                        continue
                    try:
                        if self._wait(wait, idle=True):
                            next_poll = 0.0
                    except MailboxError as exc:
                        log.warning("IMAP IDLE failed: %s; reconnecting", exc)
                        if self.on_imap_error is not None:
                            self.on_imap_error()
                        self._close_mailbox()
                        next_poll = 0.0
                else:
                    self._wait(wait, idle=False)
        finally:
            sdnotify.stopping()
            self._close()
        log.info("stopped")

    def _run_job(self, job: Job) -> None:
        if not self.stopping.is_set():
            self._guarded(job.name, lambda: job.action(self))

    def _close_mailbox(self) -> None:
        if self.mailbox is not None:
            self.mailbox.close()
            self.mailbox = None

    def _close(self) -> None:
        self._close_mailbox()
        self._release_lease()


class _Stopping(Exception):
    """SIGTERM arrived during an intake: stop after the batch that was just committed."""


def _nothing() -> None:
    return None


def serve(settings: Settings) -> int:
    """`curmail run`: open the database (retrying with backoff, no READY meanwhile), then run the loop."""
    stopping = threading.Event()
    reload_requested = threading.Event()
    wake = threading.Event()  # either signal ends the current backoff wait

    def on_stop(*_: object) -> None:
        stopping.set()
        wake.set()

    def on_reload(*_: object) -> None:
        reload_requested.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_reload)
    retry = Backoff(initial=DB_RETRY.initial, maximum=DB_RETRY.maximum)
    while True:
        if reload_requested.is_set():  # e.g. the sysadmin fixed [database] url while we were waiting
            reload_requested.clear()
            try:
                settings = load_settings(settings.source)
                log.info("configuration reloaded", extra={"config": settings.source})
            except ConfigError as exc:
                log.error("reload failed, keeping the previous configuration: %s", exc)
        try:
            app = open_app(settings)
            break
        except StorageError as exc:
            delay = retry.next_delay()
            log.error("cannot start: %s; retrying in %.0f s", exc, delay)
            sdnotify.status(f"database unreachable; retrying in {delay:.0f} s")
            wake.wait(delay)
            wake.clear()
            if stopping.is_set():
                log.info("stopped before start")
                return 0
    runner = Runner(app, stopping=stopping)
    from daemon.metrics import start_metrics

    metrics = start_metrics(runner)
    try:
        runner.run_forever()
    finally:
        if metrics is not None:
            metrics.stop()
        runner.app.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """`curmail run [--once [--now T]]`."""
    if args.now and not args.once:
        raise ConfigError("--now is only allowed with --once")
    settings = load_settings(args.config)
    if not args.once:
        return serve(settings)
    clock = Clock(fixed=parse_now(args.now, settings.organization.timezone)) if args.now else Clock()
    app = App.open(settings, clock)
    try:
        Runner(app).run_once()
    finally:
        app.close()
    return 0
