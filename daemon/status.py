"""`curmail status`: a health summary for people and monitoring, exit 0 OK, 1 warning, 2 critical."""

from __future__ import annotations

import argparse
import json
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from daemon.app import App
from daemon.config import Settings, load_settings
from daemon.db.models import Case, MailboxState, MessageStatus, OutboxMessage, OutboxStatus, StoredMessage
from daemon.errors import CurmailError

OK, WARNING, CRITICAL = 0, 1, 2
LEVEL_NAMES = {OK: "ok", WARNING: "warning", CRITICAL: "critical"}
STALE_OUTBOX = timedelta(minutes=15)  # a due row this late means no instance is sending


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    level: int
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusReport:
    checks: tuple[Check, ...]

    @property
    def level(self) -> int:
        return max((c.level for c in self.checks), default=OK)

    def as_json(self) -> dict[str, Any]:
        return {
            "status": LEVEL_NAMES[self.level],
            "exit_code": self.level,
            "checks": [{**asdict(c), "status": LEVEL_NAMES[c.level]} for c in self.checks],
        }


def _age(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def check_imap(settings: Settings) -> Check:
    """Connect, log in and log out with the configured timeout."""
    from daemon.intake import endpoint
    from daemon.mailbox import Mailbox

    box = settings.mailbox
    where = f"{box.host}:{box.port}"
    try:
        mailbox = Mailbox(endpoint(settings))
        mailbox.connect()
        mailbox.close()
    except CurmailError as exc:
        return Check("imap", CRITICAL, f"IMAP {where}: {exc}")
    return Check("imap", OK, f"IMAP {where}: login as {box.username} OK")


def check_smtp(settings: Settings) -> Check:
    """EHLO (STARTTLS and AUTH as configured) and QUIT; nothing is sent."""
    smtp = settings.smtp
    where = f"{smtp.host}:{smtp.port}"
    if settings.mail.dry_run:
        return Check("smtp", OK, f"SMTP {where}: not checked, [mail] dry_run = true")
    context = ssl.create_default_context()
    try:
        if smtp.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_seconds,
                                                    context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)
        with client:
            client.ehlo()
            if smtp.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if smtp.username:
                client.login(smtp.username, smtp.resolve_password() or "")
    except (OSError, smtplib.SMTPException, CurmailError) as exc:
        return Check("smtp", CRITICAL, f"SMTP {where}: {exc}")
    return Check("smtp", OK, f"SMTP {where}: EHLO OK" + (" and login" if smtp.username else ""))


def check_schema(app: App) -> Check:
    from daemon.db.migrate import current_revision, head_revision

    current, head = current_revision(app.engine), head_revision(app.engine)
    details = {"current": current, "head": head}
    if current is None:
        return Check("schema", CRITICAL, "database schema is not created (run: curmail db upgrade)", details)
    if current != head:
        hint = "applied at the next start" if app.settings.database.auto_migrate else "run: curmail db upgrade"
        return Check("schema", WARNING, f"schema {current}, latest {head} ({hint})", details)
    return Check("schema", OK, f"schema {current} (latest)", details)


def check_poll(app: App, now: datetime) -> Check:
    from daemon.intake import mailbox_key

    key = mailbox_key(app.settings)
    interval = app.settings.mailbox.poll_interval_seconds
    warn_after = timedelta(seconds=max(300, 3 * interval))
    critical_after = timedelta(seconds=max(1800, 10 * interval))
    with app.sessions() as session:
        state = session.scalars(select(MailboxState).where(MailboxState.mailbox == key)).first()
    if state is None or state.last_poll_at is None:
        return Check("poll", WARNING, f"{key}: never polled (is `curmail run` running?)")
    details = {"mailbox": key, "last_poll_at": state.last_poll_at.isoformat(), "last_error": state.last_error,
               "lease_owner": state.lease_owner,
               "lease_expires_at": state.lease_expires_at.isoformat() if state.lease_expires_at else None}
    age = now - state.last_poll_at
    summary = f"last poll {_age(state.last_poll_at, now)}"
    if state.lease_owner:
        summary += f" by {state.lease_owner}"
    if age > critical_after:
        return Check("poll", CRITICAL, summary + " — the daemon is not reading mail", details)
    if age > warn_after:
        return Check("poll", WARNING, summary + " — late", details)
    if state.last_error:
        return Check("poll", WARNING, f"{summary}; last error: {state.last_error}", details)
    return Check("poll", OK, summary, details)


def check_outbox(app: App, now: datetime) -> Check:
    with app.sessions() as session:
        counts = dict(session.execute(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.status != OutboxStatus.SENT)
            .group_by(OutboxMessage.status)
        ).all())
        stale = session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.QUEUED, OutboxMessage.next_attempt_at < now - STALE_OUTBOX))
    queued, failed, uncertain = (counts.get(s, 0) for s in
                                 (OutboxStatus.QUEUED, OutboxStatus.FAILED, OutboxStatus.UNCERTAIN))
    details = {"queued": queued, "sending": counts.get(OutboxStatus.SENDING, 0), "failed": failed,
               "uncertain": uncertain, "overdue": stale or 0}
    summary = f"outbox: {queued} queued, {failed} failed, {uncertain} uncertain"
    problems = []
    if failed or uncertain:
        problems.append("check with `curmail outbox list`, then confirm or resend")
    if stale:
        problems.append(f"{stale} due more than {int(STALE_OUTBOX.total_seconds() // 60)} min ago are not sent")
    if problems:
        return Check("outbox", WARNING, summary + " — " + "; ".join(problems), details)
    return Check("outbox", OK, summary, details)


def check_parked(app: App) -> Check:
    with app.sessions() as session:
        parked = session.scalar(select(func.count()).select_from(StoredMessage).where(
            StoredMessage.status == MessageStatus.PARKED, StoredMessage.tenant == app.tenant)) or 0
    if parked:
        return Check("parked", WARNING, f"{parked} parked message(s): see the log, then "
                     "`curmail replay --parked`", {"parked": parked})
    return Check("parked", OK, "no parked messages", {"parked": 0})


def check_overdue(app: App, now: datetime) -> Check:
    with app.sessions() as session:
        overdue = session.scalar(select(func.count()).select_from(Case).where(
            Case.closed_at.is_(None), Case.due_at < now, Case.tenant == app.tenant)) or 0
    if overdue:
        return Check("overdue", WARNING, f"{overdue} open case(s) past the deadline (`curmail cases list --open`)",
                     {"overdue": overdue})
    return Check("overdue", OK, "no overdue cases", {"overdue": 0})


def collect(settings: Settings, now: datetime | None = None) -> StatusReport:
    """Run every check; a database that cannot be read is critical and skips the checks that need it."""
    now = now or datetime.now(UTC)
    checks: list[Check] = []
    try:
        app = App.open(settings, migrate=False)
    except (CurmailError, SQLAlchemyError) as exc:
        app = None
        checks.append(Check("database", CRITICAL, f"database: {exc}"))
    if app is not None:
        try:
            with app.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            checks.append(Check("database", OK, f"database {app.engine.dialect.name} reachable"))
            database_checks: list[Callable[[], Check]] = [
                lambda: check_schema(app), lambda: check_poll(app, now), lambda: check_outbox(app, now),
                lambda: check_parked(app), lambda: check_overdue(app, now),
            ]
            schema = database_checks[0]()
            checks.append(schema)
            if schema.details.get("current") is not None:
                checks += [check() for check in database_checks[1:]]
        except SQLAlchemyError as exc:
            checks.append(Check("database", CRITICAL, f"database: {getattr(exc, 'orig', None) or exc}"))
        finally:
            app.close()
    checks.append(check_imap(settings))
    checks.append(check_smtp(settings))
    return StatusReport(tuple(checks))


def render(report: StatusReport) -> str:
    marks = {OK: "OK  ", WARNING: "WARN", CRITICAL: "CRIT"}
    lines = [f"curmail: {LEVEL_NAMES[report.level].upper()}"]
    lines += [f"  {marks[c.level]} {c.name:<9} {c.summary}" for c in report.checks]
    return "\n".join(lines)


def add_status_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("status", help="health summary; exit 0 OK, 1 warning, 2 critical")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_status(args: argparse.Namespace) -> int:
    report = collect(load_settings(args.config, check_secrets=False))  # an unreadable secret is a failed check
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        print(render(report))
    return report.level
