"""The outbox sender: delivers due rows over one aiosmtplib connection, exactly once across crashes.

Row life (columns of `outbox`):

    queued, claimed_by NULL      due when next_attempt_at <= now
    queued, claimed_by = batch   reserved by a live sender; nothing sent yet
    sending                      DATA may have begun: the one window we cannot resolve alone
    sent | failed | uncertain    final (until `curmail outbox confirm|resend N`)

Steps, each its own committed transaction, and what a kill -9 at each point leaves behind:

1. **Claim.** Pick due rows (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so instances share the work) and
   set `claimed_by` to this batch (`owner|host@pidns|pid|batch`) and `claimed_at`. The UPDATE repeats
   the `status = queued AND claimed_by IS NULL` test, so two claimers never own the same row, on SQLite
   too. *Crash after the claim:* rows are `queued` with a dead claimer; recovery releases them and the
   next run sends them. Nothing was sent, nothing is lost.
2. **Mark in flight, MAIL FROM / RCPT TO, then DATA.** `status = sending` is committed (together with
   the previous letter's outcome: one commit per letter) while MAIL FROM and RCPT TO cross the wire,
   and DATA starts only once that commit is done. *Crash between the mark and the outcome commit* —
   during DATA, while waiting for the reply, or after "250" but before our commit — leaves `sending`.
   Only the server knows whether it queued the letter, so recovery marks it `uncertain` and alerts the
   contact official; it is never resent automatically. This is the genuinely ambiguous window of
   RFC 5321 §4.5.3.2, widened on the safe side by the MAIL/RCPT round trips (a crash there costs an
   alert, never a duplicate). Every other crash point resolves exactly.
3. **Outcome.** 250 → `sent`. A 4xx or a connection failure before DATA → back to `queued` with
   exponential backoff (Postfix: 300 s doubling to 4000 s, 5 days lifetime, then `failed`). A 5xx →
   `failed`. A timeout or a dropped connection during DATA → `uncertain`. Failed and uncertain rows
   enqueue an alert to the contact official in the same transaction (never about an alert).
4. **Sent copy.** After the SMTP work, each sent row not yet `appended_to_sent` is APPENDed through
   the `append_sent` callable and flagged. A failed APPEND is retried on the next run and never
   re-sends the mail; a crash between APPEND and its flag can leave a second copy in the Sent folder,
   which is harmless.

Durability: a kill -9 never loses a committed transaction, whatever the fsync policy, because the
data is already in SQLite's WAL file or in the PostgreSQL server. What fsync protects against is an
OS crash or power loss, and an fsync per letter (~3 ms here) would cap the sender at ~300 letters/s.
So claims, recoveries, batch ends and every `durable_every` (20) letters are fsync'ed, and the
per-letter marks in between are not (SQLite `synchronous=NORMAL` on the sender's own connection,
PostgreSQL `SET LOCAL synchronous_commit = off`). After a power loss at most those 20 letters can be
sent again; after a process crash, none.

All database steps of a run go to one worker thread, so SMTP talk and disk waits overlap and the
SQLite connection never changes threads.

A claimer is dead when it ran on this host (same pid namespace) and its pid no longer exists, or
when its lease (`claimed_at`, refreshed while the batch runs) is older than `claim_lease_seconds`.

`[mail] dry_run = true` writes each letter as `<dry-run dir>/<id>-<message-id>.eml` (temp file +
rename) instead of SMTP; a crash before the commit rewrites the same file, so no in-flight mark is
needed there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, TypeVar

import aiosmtplib
from sqlalchemy import Connection, bindparam, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from daemon.config import Settings
from daemon.db.engine import SQLITE_BEGIN_OPTION
from daemon.db.models import CaseEvent, OutboxMessage, OutboxStatus
from daemon.outbox import alert_contact

log = logging.getLogger(__name__)
T = TypeVar("T")

# Retry bounds, batch size, claim lease and fsync cadence are [smtp] settings (daemon/config.py).
MAX_BATCHES_PER_RUN = 100

# Test hook: CURMAIL_CRASH_AT="point" or "point:N" SIGKILLs this process at the N-th pass of `point`.
CRASH_ENV = "CURMAIL_CRASH_AT"
CRASH_POINTS = ("after_claim", "before_data", "after_data", "after_commit")
_crash_counts: dict[str, int] = {}

OUTBOX = OutboxMessage.__table__

# Batches this process is running now; a claim by this pid that is not here is left over from a crash.
_live_batches: set[str] = set()


@dataclass
class SendReport:
    """What one `send_due` run did, for logs, `curmail run --once` output and tests."""

    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    uncertain: int = 0
    released: int = 0
    recovered: int = 0
    appended: int = 0
    append_failures: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Claimed:
    id: int
    mail_from: str
    recipients: tuple[str, ...]
    message_id: str
    raw: bytes


@dataclass(frozen=True)
class _Outcome:
    row_id: int
    kind: str  # "sent" | "temporary" | "failed" | "uncertain" | "release" | "sending"
    error: str = ""


def _crash_point(name: str) -> None:
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _crash_counts[name] = _crash_counts.get(name, 0) + 1
    if _crash_counts[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def _read(path: str, *, link: bool = False) -> str:
    try:
        return os.readlink(path) if link else Path(path).read_text().strip()
    except OSError:
        return "?"


@lru_cache(maxsize=1)
def _host_identity() -> str:
    """`host@boot@pidns`: where a pid means something (the boot id tells a pid of the last boot)."""
    boot = _read("/proc/sys/kernel/random/boot_id")[:8]
    namespace = re.sub(r"\D", "", _read("/proc/self/ns/pid", link=True)) or "?"
    return f"{socket.gethostname()}@{boot}@{namespace}".replace("|", "_")


class _Clock:
    """`now` as the caller gave it, advanced by the real time elapsed since (tests drive `now`)."""

    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("send_due needs an aware `now`")
        self._now = now
        self._start = time.monotonic()

    def __call__(self) -> datetime:
        return self._now + timedelta(seconds=time.monotonic() - self._start)


class _Run:
    """One send_due run: its batches, its SMTP connection and the report."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings, clock: _Clock, owner: str,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.factory = factory
        # SIGTERM: the letter on the wire is finished and the rest handed back, so a stop takes one
        # letter's time, not a whole backlog's (systemd's TimeoutStopSec= would SIGKILL us mid-DATA).
        self.should_stop = should_stop or (lambda: False)
        self.settings = settings
        self.clock = clock
        self.owner = owner.replace("|", "_")
        self.report = SendReport()
        self.batch_size = settings.smtp.batch_size
        self.lease = timedelta(seconds=settings.smtp.claim_lease_seconds)
        self.durable_every = settings.smtp.durable_every
        self.since_durable = 0
        self.lease_refreshed = clock()
        self.smtp: aiosmtplib.SMTP | None = None
        self.engine = factory.kw["bind"]
        # SQLite: one connection of our own, so its `synchronous` pragma can change between units.
        self.connection: Connection | None = None
        self._synchronous = "FULL"
        # Every database call of the run goes to this one thread: the event loop keeps talking SMTP
        # while a commit waits for the disk, and the SQLite connection never changes threads.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="curmail-outbox-db")

    async def db(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a database step in the run's database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, partial(function, *args, **kwargs))

    def open(self) -> None:
        if self.engine.dialect.name == "sqlite":
            # Every unit of the sender writes: take the write lock at BEGIN, so a second sender waits
            # (busy_timeout) instead of failing when its read turns into a write.
            self.connection = self.engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})

    @contextmanager
    def unit(self, *, durable: bool = True) -> Iterator[Session]:
        """One transaction; `durable=False` skips the fsync, which only an OS crash or power loss can undo."""
        if self.connection is not None:
            self._sqlite_synchronous("FULL" if durable else "NORMAL")
            with Session(bind=self.connection, expire_on_commit=False) as session, session.begin():
                yield session
        else:
            with self.factory() as session, session.begin():
                if not durable:
                    session.execute(text("SET LOCAL synchronous_commit TO OFF"))
                yield session
        self.since_durable = 0 if durable else self.since_durable + 1

    @contextmanager
    def core_unit(self, *, durable: bool = True) -> Iterator[Connection]:
        """Like `unit`, without the ORM session (cheaper for the per-letter commits)."""
        if self.connection is not None:
            self._sqlite_synchronous("FULL" if durable else "NORMAL")
            with self.connection.begin():
                yield self.connection
        else:
            with self.engine.begin() as connection:
                if not durable:
                    connection.execute(text("SET LOCAL synchronous_commit TO OFF"))
                yield connection
        self.since_durable = 0 if durable else self.since_durable + 1

    def _sqlite_synchronous(self, mode: str) -> None:
        if self.connection is not None and self._synchronous != mode:
            # Straight to the driver: through SQLAlchemy it would run inside the engine's BEGIN IMMEDIATE,
            # and SQLite refuses to change the safety level inside a transaction.
            cursor = self.connection.connection.dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA synchronous={mode}")
            finally:
                cursor.close()
            self._synchronous = mode

    def dispose(self) -> None:
        if self.connection is not None:
            self._sqlite_synchronous("FULL")  # the engine's setting, before anyone else could reuse it
            self.connection.close()
            self.connection = None

    async def shutdown(self) -> None:
        try:
            await self.db(self.dispose)
        finally:
            self.executor.shutdown(wait=True)

    # -- claims -------------------------------------------------------------------------------------

    def new_batch_id(self) -> str:
        return f"{self.owner}|{_host_identity()}|{os.getpid()}|{secrets.token_hex(6)}"

    def claim(self, batch: str) -> list[_Claimed]:
        now = self.clock()
        with self.unit() as session:
            query = (
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.status == OutboxStatus.QUEUED,
                    OutboxMessage.next_attempt_at <= now,
                    OutboxMessage.claimed_by.is_(None),
                )
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(self.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(session.scalars(query))
            if not ids:
                return []
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.QUEUED,
                       OutboxMessage.claimed_by.is_(None))
                .values(claimed_by=batch, claimed_at=now)
                .execution_options(synchronize_session=False)
            )
            self.lease_refreshed = now
            rows = session.execute(
                select(OutboxMessage.id, OutboxMessage.mail_from, OutboxMessage.recipients,
                       OutboxMessage.message_id, OutboxMessage.raw)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == batch)
                .order_by(OutboxMessage.id)
            ).all()
        claimed = [_Claimed(r.id, r.mail_from, tuple(r.recipients), r.message_id, r.raw) for r in rows]
        self.report.claimed += len(claimed)
        return claimed

    def recover_dead_claims(self) -> None:
        """Release reserved rows of dead senders; mark their in-flight rows uncertain (see module doc)."""
        now = self.clock()
        with self.unit() as session:
            rows = session.execute(
                select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.claimed_by, OutboxMessage.claimed_at)
                .where(OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]),
                       OutboxMessage.claimed_by.is_not(None))
            ).all()
        dead = {r.claimed_by for r in rows if not _claimer_alive(r.claimed_by, r.claimed_at, now, self.lease)}
        for row in rows:
            if row.claimed_by not in dead:
                continue
            if row.status == OutboxStatus.QUEUED:
                outcome = _Outcome(row.id, "release")
            else:
                outcome = _Outcome(row.id, "uncertain", "отправка прервалась (процесс остановлен) после начала "
                                   "передачи письма; неизвестно, принял ли его сервер")
            with self.unit() as session:
                if outcome.kind == "release":
                    done = _apply_simple(session.connection(), outcome, self.clock(), expect_claim=row.claimed_by,
                                         report=self.report)
                else:
                    done = _apply_problem(session, self.settings, outcome, self.clock(), expect_claim=row.claimed_by,
                                          report=self.report)
                self.report.recovered += int(done)

    # -- committing outcomes -------------------------------------------------------------------------

    def commit(
        self, outcomes: list[_Outcome], batch: str, remaining: Sequence[int] = (), *, final: bool = True
    ) -> None:
        """Write outcomes in one transaction; fsync'ed at the end of a batch and every `durable_every` letters."""
        if not outcomes:
            return
        now = self.clock()
        durable = final or self.since_durable + 1 >= self.durable_every
        # The common case (mark, sent, release) needs no ORM session: plain Core on one connection.
        simple = all(outcome.kind in _SIMPLE for outcome in outcomes)
        with self.core_unit(durable=durable) if simple else self.unit(durable=durable) as target:
            connection = target if isinstance(target, Connection) else target.connection()
            for outcome in outcomes:
                if outcome.kind in _SIMPLE:
                    _apply_simple(connection, outcome, now, expect_claim=batch, report=self.report)
                else:
                    _apply_problem(target, self.settings, outcome, now, expect_claim=batch, report=self.report)
            if remaining and now - self.lease_refreshed > self.lease / 3:
                # Refresh the lease of the rows still waiting in this batch, so no one thinks us dead.
                connection.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id.in_(list(remaining)), OUTBOX.c.claimed_by == batch)
                    .values(claimed_at=now)
                )
                self.lease_refreshed = now
        outcomes.clear()

    # -- SMTP ----------------------------------------------------------------------------------------

    async def connect(self) -> aiosmtplib.SMTP:
        if self.smtp is not None and self.smtp.is_connected:
            return self.smtp
        smtp_settings = self.settings.smtp
        password = smtp_settings.resolve_password() if smtp_settings.username else None
        client = aiosmtplib.SMTP(
            hostname=smtp_settings.host,
            port=smtp_settings.port,
            username=smtp_settings.username,
            password=password,
            timeout=smtp_settings.timeout_seconds,
            use_tls=smtp_settings.security == "ssl",
            start_tls=smtp_settings.security == "starttls",
        )
        await client.connect()
        self.smtp = client
        return client

    async def close(self) -> None:
        if self.smtp is None:
            return
        try:
            if self.smtp.is_connected:
                await self.smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            self.smtp.close()
        self.smtp = None

    async def deliver(self, batch: str, rows: list[_Claimed]) -> bool:
        """Send one claimed batch; False when the run should stop (server unreachable or hanging)."""
        try:
            smtp = await self.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            error = f"нет соединения с SMTP-сервером {self.settings.smtp.host}:{self.settings.smtp.port}: {exc}"
            self.report.errors.append(error)
            log.warning("%s", error)
            await self.db(self.commit, [_Outcome(r.id, "temporary", error) for r in rows], batch)
            return False
        pending: list[_Outcome] = []
        for index, row in enumerate(rows):
            if self.should_stop():
                pending.extend(_Outcome(r.id, "release") for r in rows[index:])
                await self.db(self.commit, pending, batch)
                return False
            remaining = [r.id for r in rows[index + 1:]]
            # The in-flight mark (with the previous letter's outcome) commits in the database thread
            # while MAIL FROM and RCPT TO cross the wire: neither delivers anything, and DATA waits
            # for the mark. A crash before DATA thus leaves this letter `sending` (uncertain) even
            # though the server discarded the open envelope: caution costs one alert, not a duplicate.
            mark = asyncio.ensure_future(
                self.db(self.commit, [*pending, _Outcome(row.id, "sending")], batch, remaining, final=False))
            pending = []
            try:
                await smtp.mail(row.mail_from)
                for recipient in row.recipients:
                    await smtp.rcpt(recipient)
            except aiosmtplib.SMTPResponseException as exc:
                await mark
                pending.append(_Outcome(row.id, _by_code(exc.code), _reply(exc)))
                await _reset(smtp)
                continue
            except (ValueError, UnicodeError) as exc:
                await mark
                pending.append(_Outcome(row.id, "failed", f"адрес не подходит для SMTP: {exc}"))
                await _reset(smtp)
                continue
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                # The connection broke before DATA: nothing was delivered; retry later, stop this run.
                await mark
                pending.append(_Outcome(row.id, "temporary", f"соединение прервано: {exc}"))
                pending.extend(_Outcome(i, "release") for i in remaining)
                await self.db(self.commit, pending, batch)
                self.smtp = None
                return False
            await mark
            _crash_point("before_data")
            try:
                await smtp.data(row.raw)
            except aiosmtplib.SMTPDataError as exc:
                # An explicit answer (to DATA or to the end of data): the server did not take it.
                pending.append(_Outcome(row.id, _by_code(exc.code), _reply(exc)))
                await _reset(smtp)
                continue
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                kind = "timeout" if isinstance(exc, TimeoutError) else "разрыв соединения"
                error = f"{kind} во время передачи письма (DATA): {exc or type(exc).__name__}"
                pending.append(_Outcome(row.id, "uncertain", error))
                pending.extend(_Outcome(i, "release") for i in remaining)
                await self.db(self.commit, pending, batch)
                self.smtp = None
                # A server that hangs after DATA would hang for the next letter too: stop for this run.
                return False
            _crash_point("after_data")
            pending.append(_Outcome(row.id, "sent"))
        await self.db(self.commit, pending, batch)
        _crash_point("after_commit")
        return True

    def write_dry_run(self, batch: str, rows: list[_Claimed]) -> None:
        folder = self.settings.mail.dry_run_dir or self.settings.state.directory / "outbox-dry-run"
        folder.mkdir(parents=True, exist_ok=True)
        outcomes = []
        for row in rows:
            _write_atomically(folder / _dry_run_name(row), row.raw)
            outcomes.append(_Outcome(row.id, "sent"))
        self.commit(outcomes, batch)

    # -- the Sent folder -------------------------------------------------------------------------------

    def _unappended(self) -> list[int]:
        with self.unit() as session:
            return list(session.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.status == OutboxStatus.SENT, OutboxMessage.appended_to_sent.is_(False))
                .order_by(OutboxMessage.id)
                .limit(self.batch_size * MAX_BATCHES_PER_RUN)
            ))

    def _raw(self, row_id: int) -> bytes:
        with self.unit(durable=False) as session:
            return session.scalar(select(OutboxMessage.raw).where(OutboxMessage.id == row_id))

    def _mark_appended(self, row_id: int) -> None:
        with self.unit(durable=False) as session:
            session.execute(update(OUTBOX).where(OUTBOX.c.id == row_id).values(appended_to_sent=True))

    async def append_copies(self, append_sent: Callable[[bytes], None]) -> None:
        for row_id in await self.db(self._unappended):
            raw = await self.db(self._raw, row_id)
            try:
                append_sent(raw)
            except Exception as exc:  # any mailbox failure: retried next run, never re-sending the mail
                self.report.append_failures += 1
                self.report.errors.append(f"копия письма №{row_id} не сохранена в «Отправленных»: {exc}")
                log.warning("APPEND of outbox #%s to the Sent folder failed: %s", row_id, exc)
                return
            await self.db(self._mark_appended, row_id)
            self.report.appended += 1


def _by_code(code: int) -> str:
    return "failed" if 500 <= code < 600 else "temporary"


def _reply(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}".strip()


async def _reset(smtp: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
        await smtp.rset()


def _claimer_alive(claimed_by: str, claimed_at: datetime | None, now: datetime, lease: timedelta) -> bool:
    parts = claimed_by.split("|")
    here_host, here_boot, _ = _host_identity().split("@")
    if len(parts) == 4 and parts[1].count("@") == 2:
        host, boot, _ = parts[1].split("@")
        if host == here_host and boot != here_boot and "?" not in (boot, here_boot):
            return False  # claimed before this machine rebooted
    if len(parts) == 4 and parts[1] == _host_identity() and parts[2].isdigit():
        pid = int(parts[2])
        if pid == os.getpid():
            return claimed_by in _live_batches
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        # The pid exists (it may be reused by another program): only the lease can tell.
    return claimed_at is not None and claimed_at > now - lease


def _backoff(settings: Settings, attempts: int) -> timedelta:
    low = float(settings.smtp.retry_min_seconds)
    high = float(settings.smtp.retry_max_seconds)
    return timedelta(seconds=min(high, low * 2 ** max(0, attempts - 1)))


def _owned_update(**values: Any) -> Any:
    """A prepared UPDATE of one row still claimed by `:batch` (built once: statement building is costly)."""
    return (update(OUTBOX)
            .where(OUTBOX.c.id == bindparam("row_id"), OUTBOX.c.claimed_by == bindparam("batch"))
            .values(**values))


# Core statements on the table: the ORM's bulk-update machinery would cost more than the commit itself.
_MARK_SENDING = _owned_update(status=OutboxStatus.SENDING.value, claimed_at=bindparam("at"))
_RELEASE = _owned_update(status=OutboxStatus.QUEUED.value, claimed_by=None, claimed_at=None)
_MARK_SENT = _owned_update(status=OutboxStatus.SENT.value, sent_at=bindparam("at"), claimed_by=None, last_error=None,
                           attempts=OUTBOX.c.attempts + 1)
_SIMPLE = {"sending": _MARK_SENDING, "release": _RELEASE, "sent": _MARK_SENT}


def _apply_simple(
    connection: Connection, outcome: _Outcome, now: datetime, *, expect_claim: str, report: SendReport
) -> bool:
    """Write a mark, a success or a release if the row is still ours."""
    params = {"row_id": outcome.row_id, "batch": expect_claim}
    if outcome.kind != "release":
        params["at"] = now
    done = connection.execute(_SIMPLE[outcome.kind], params).rowcount == 1
    if done and outcome.kind == "sent":
        report.sent += 1
    elif done and outcome.kind == "release":
        report.released += 1
    return done


def _apply_problem(
    session: Session, settings: Settings, outcome: _Outcome, now: datetime, *, expect_claim: str, report: SendReport
) -> bool:
    """Write a retry, a failure or an uncertain outcome if the row is still ours; audit and alert alongside."""
    own = (OutboxMessage.id == outcome.row_id, OutboxMessage.claimed_by == expect_claim)
    row = session.scalars(select(OutboxMessage).where(*own)).one_or_none()
    if row is None:
        return False
    row.attempts += 1
    row.last_error = outcome.error[:2000]
    row.claimed_by = None
    kind = outcome.kind
    expired = False
    if kind == "temporary":
        lifetime = timedelta(hours=settings.smtp.retry_lifetime_hours)
        next_at = now + _backoff(settings, row.attempts)
        if next_at > row.created_at + lifetime:
            kind, expired = "failed", True
        else:
            row.status = OutboxStatus.QUEUED
            row.next_attempt_at = next_at
            row.claimed_at = None
            report.deferred += 1
            return True
    if kind == "failed":
        row.status = OutboxStatus.FAILED
        report.failed += 1
    else:
        row.status = OutboxStatus.UNCERTAIN
        report.uncertain += 1
    if row.case_id is not None:
        session.add(CaseEvent(case_id=row.case_id, at=now, actor="curmail", action=f"outbox_{kind}",
                              detail={"outbox_id": row.id, "message_id": row.message_id, "error": row.last_error}))
    session.flush()
    reason = "failed" if kind == "failed" else "uncertain"
    alert_contact(session, settings, row=row, reason=reason, error=row.last_error, now=now, expired=expired)
    return True


def _dry_run_name(row: _Claimed) -> str:
    safe = re.sub(r"[^A-Za-z0-9._@-]", "_", row.message_id.strip("<>"))[:150]
    return f"{row.id:08d}-{safe}.eml"


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


async def send_due(
    session_factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: datetime,
    owner: str,
    append_sent: Callable[[bytes], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SendReport:
    """Send every due outbox row once (see the module docstring for the crash analysis).

    `should_stop()` is asked before each letter; once true, the run hands its unsent rows back and ends.
    """
    run = _Run(session_factory, settings, _Clock(now), owner, should_stop)
    try:
        await run.db(run.open)
        await run.db(run.recover_dead_claims)
        for _ in range(MAX_BATCHES_PER_RUN):
            if run.should_stop():
                break
            batch = run.new_batch_id()
            _live_batches.add(batch)
            try:
                rows = await run.db(run.claim, batch)
                if not rows:
                    break
                _crash_point("after_claim")
                if settings.mail.dry_run:
                    await run.db(run.write_dry_run, batch, rows)
                elif not await run.deliver(batch, rows):
                    break
            finally:
                _live_batches.discard(batch)
        if append_sent is not None and not run.should_stop():  # unappended copies wait for the next run
            await run.append_copies(append_sent)
    finally:
        await run.close()
        await run.shutdown()
    return run.report


def send_due_sync(
    session_factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: datetime,
    owner: str,
    append_sent: Callable[[bytes], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SendReport:
    """`send_due` for synchronous callers (the scheduler, the CLI)."""
    return asyncio.run(send_due(session_factory, settings, now=now, owner=owner, append_sent=append_sent,
                                should_stop=should_stop))
