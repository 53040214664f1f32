"""The working-day digest: overdue, due today, due this week, each assignee's load, published since the last one.

`tick(app)` is the scheduler's job. On a working day, from `[digest] time` (default 09:00 in the
organisation's zone) on, it sends once per day (a `kv` marker and dedupe keys carry the date):
* to the contact official(s) and the supervisor an HTML digest with a text alternative, only when
  there is something to show;
* to each assignee with open cases, their own short list.
HTML for Outlook and phones: tables and inline CSS only (Outlook's Word engine ignores <style>).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.app import App
from daemon.calendar import calendar_for
from daemon.commands import KIND_RU, open_cases
from daemon.db.engine import transaction
from daemon.db.models import Case, KeyValue
from daemon.outbox import enqueue
from daemon.workflow.machine import state_ru

log = logging.getLogger("curmail.digest")

ROW_LIMIT = 50  # per section: a digest must stay readable on a phone; the counts stay exact


@dataclass(frozen=True, slots=True)
class DigestRow:
    """One case line of the digest."""

    tag: str
    subject: str
    kind: str
    state: str
    assignee: str
    due_at: datetime | None
    url: str | None = None


@dataclass
class Digest:
    """What one day's digest shows."""

    day: date
    overdue: list[DigestRow] = field(default_factory=list)
    today: list[DigestRow] = field(default_factory=list)
    week: list[DigestRow] = field(default_factory=list)
    load: list[tuple[str, int, int]] = field(default_factory=list)  # (assignee, open, overdue)
    published: list[DigestRow] = field(default_factory=list)
    published_since: date | None = None  # the previous working day: on a Monday the weekend is included

    @property
    def published_title(self) -> str:
        """«Опубликовано вчера», or «Опубликовано с 04.12.2026» after a weekend or holidays."""
        if self.published_since is None or (self.day - self.published_since).days <= 1:
            return "Опубликовано вчера"
        return f"Опубликовано с {self.published_since:%d.%m.%Y}"

    @property
    def empty(self) -> bool:
        return not (self.overdue or self.today or self.week or self.load or self.published)


@dataclass(frozen=True, slots=True)
class TickResult:
    """What one tick did: sent (the day's digest went out now), skipped reason otherwise."""

    sent: int = 0
    reason: str = ""


def digest_time(app: App) -> time:
    """`[digest] time`: when the day's digest goes out, in the organisation's zone."""
    return app.settings.digest.time


def digest_enabled(app: App) -> bool:
    return app.settings.digest.enabled


def _name(app: App, address: str | None) -> str:
    if not address:
        return "не назначен"
    member = app.settings.staff_by_email(address)
    return member.name if member else address


def _row(app: App, case: Case) -> DigestRow:
    return DigestRow(
        tag=f"[{app.settings.organization.case_tag}-{case.id}]", subject=case.subject[:120],
        kind=KIND_RU.get(case.kind, case.kind), state=state_ru(case.state), assignee=_name(app, case.assignee),
        due_at=case.due_at, url=(case.data or {}).get("published_url"),
    )


def collect(session: Session, app: App, now: datetime) -> Digest:
    """The day's digest from the open cases and yesterday's publications."""
    zone = app.settings.organization.zone
    local = now.astimezone(zone)
    day = local.date()
    start_today = datetime.combine(day, time(0), tzinfo=zone)
    end_today = start_today + timedelta(days=1)
    end_week = datetime.combine(day + timedelta(days=7 - day.weekday()), time(0), tzinfo=zone)
    digest = Digest(day=day)
    load: Counter[str] = Counter()
    late: Counter[str] = Counter()
    for case in open_cases(session, app.tenant):
        key = case.assignee or ""
        load[key] += 1
        if case.due_at is None:
            continue
        if case.due_at < now:
            digest.overdue.append(_row(app, case))
            late[key] += 1
        elif case.due_at < end_today:
            digest.today.append(_row(app, case))
        elif case.due_at < end_week:
            digest.week.append(_row(app, case))
    digest.load = sorted(((_name(app, k), n, late[k]) for k, n in load.items()), key=lambda x: (-x[1], x[0]))
    # «Вчера» is the previous working day and what followed it: a Friday evening publication must
    # not fall between the Friday and the Monday digests.
    since = calendar_for(app.settings).previous_working_day(day)
    digest.published_since = since
    start_since = datetime.combine(since, time(0), tzinfo=zone)
    published = session.scalars(
        select(Case).where(Case.tenant == app.tenant, Case.outcome == "published",
                           Case.closed_at >= start_since.astimezone(UTC),
                           Case.closed_at < start_today.astimezone(UTC))
        .order_by(Case.id)
    )
    digest.published = [_row(app, case) for case in published]
    return digest


def _marker(day: date) -> str:
    return f"digest:{day.isoformat()}"


def tick(app: App) -> TickResult:
    """Send today's digests if it is a working day, past the configured time, and not yet done today."""
    if not digest_enabled(app):
        return TickResult(reason="disabled")
    now = app.clock()
    local = now.astimezone(app.settings.organization.zone)
    if not calendar_for(app.settings).is_working_day(local.date()):
        return TickResult(reason="day off")
    if local.time() < digest_time(app):
        return TickResult(reason="too early")
    with transaction(app.sessions) as session:
        marker = session.get(KeyValue, (_marker(local.date()), app.tenant))
        if marker is not None:
            return TickResult(reason="already sent")
        sent = send_digests(session, app, now)
        session.add(KeyValue(key=_marker(local.date()), tenant=app.tenant, value={"sent": sent}, updated_at=now))
    if sent:
        log.info("digest sent", extra={"letters": sent, "day": local.date().isoformat()})
    return TickResult(sent=sent, reason="sent" if sent else "nothing to show")


def send_digests(session: Session, app: App, now: datetime) -> int:
    """Enqueue the day's digest and the personal lists in the caller's transaction; return the letter count."""
    digest = collect(session, app, now)
    day = digest.day.isoformat()
    settings = app.settings
    letters = 0
    managers = [m.email for m in (*settings.staff_with_role("contact"), *settings.staff_with_role("supervisor"))]
    if not digest.empty and managers:
        letters += len(enqueue(session, settings, kind="digest", to=managers,
                               context={"digest": digest, "day": digest.day, "limit": ROW_LIMIT},
                               dedupe_key=f"digest:{day}", now=now))
    by_assignee: dict[str, list[DigestRow]] = {}
    for case in open_cases(session, app.tenant):
        if case.assignee and settings.staff_by_email(case.assignee) is not None:
            by_assignee.setdefault(case.assignee, []).append(_row(app, case))
    for person, rows in by_assignee.items():
        letters += len(enqueue(session, settings, kind="digest_personal", to=[person],
                               context={"rows": rows, "day": digest.day, "now": now, "limit": ROW_LIMIT,
                                        "name": _name(app, person)},
                               dedupe_key=f"digest_personal:{day}", now=now))
    return letters

