"""Reminders before a case's deadline and the escalation at it: planned per case, sent exactly once by `tick`.

How exactly-once holds:

* Every planned action has a stable key that includes the case, its deadline and the offset. Sent
  (or deliberately skipped) keys are kept in `case.data["reminders_done"]`, written in the SAME
  transaction as the outbox rows, and the outbox rows carry the key as their dedupe key. A crash
  either loses both or keeps both; a retried transaction adds nothing.
* `Case.next_action_at` (indexed) is the earliest pending action, so a tick reads only the cases
  that are due, never every open case.
* On PostgreSQL each due case is locked with `FOR UPDATE SKIP LOCKED`, so two daemons never both
  handle it; on SQLite writers are serialised by the database and the dedupe keys stop a repeat.
* After an outage several actions of one case may be overdue at once. Only the latest goes out,
  marked «с опозданием»; the earlier ones are recorded as skipped. Staff get one letter, not a burst.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from daemon.calendar import calendar_for
from daemon.cases import CaseKind, record_event
from daemon.config import Settings
from daemon.db.models import Case
from daemon.durations import Duration, DurationUnit
from daemon.errors import CurmailError
from daemon.outbox import enqueue
from daemon.workflow.deadlines import apply_duration
from daemon.workflow.states import CLOSED_STATES, WAITING_ON_STAFF

if TYPE_CHECKING:
    from daemon.app import App

log = logging.getLogger("curmail.reminders")

ActionKind = Literal["reminder", "escalation"]

# Kinds whose reminders go out day and night: a 3-hour refutation term cannot wait for 09:00.
# Escalations always go out at the deadline: an overdue case is never routine, and most terms of
# days end at 18:00, exactly when working hours end, so waiting would delay every one by 15 hours.
ROUND_THE_CLOCK_KINDS = frozenset({CaseKind.REFUTATION.value})

# An action sent later than this after its moment is marked «с опозданием» (the tick runs every minute).
LATE_AFTER = timedelta(minutes=5)
BATCH_SIZE = 500  # due cases handled per tick; the rest wait a minute, the index keeps them in order
DONE_KEY = "reminders_done"

KIND_RU = {
    CaseKind.REFUTATION.value: "опровержение (официальный комментарий)",
    CaseKind.REQUEST.value: "запрос ЦУР",
    CaseKind.APPEAL.value: "обращение гражданина",
    CaseKind.GENERIC.value: "письмо для распределения",
    CaseKind.REPORT.value: "отчёт",
}


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """One reminder or escalation of one case: `at` is when it may go out (working hours applied)."""

    key: str
    at: datetime
    kind: ActionKind
    offset: Duration | None  # None for the escalation at the deadline


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one tick did, for logs and tests."""

    cases: int = 0  # due cases looked at
    sent: int = 0  # reminders and escalations enqueued
    late: int = 0  # of those, sent «с опозданием»
    skipped: int = 0  # earlier overdue actions recorded as skipped (no burst)
    stopped: int = 0  # cases no longer waiting on staff: their reminders stopped
    errors: int = 0


def _utc_key(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


def _parse_time(text: Any) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(str(text))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def done_keys(case: Case) -> frozenset[str]:
    return frozenset((case.data or {}).get(DONE_KEY, ()))


def _mark_done(case: Case, keys: list[str]) -> None:
    data = dict(case.data or {})
    data[DONE_KEY] = [*data.get(DONE_KEY, ()), *keys]
    case.data = data  # a new dict: the JSON column does not track in-place changes


def plan(settings: Settings, case: Case) -> list[PlannedAction]:
    """Every reminder and the escalation of the case's current deadline, in time order.

    Offsets come from `[reminders] <kind>`. Routine reminders of kinds other than refutations wait
    for working time. A reminder that would fall at or before the moment the deadline was set (the
    notification states the deadline anyway) or at or after the deadline itself is not planned.
    """
    if case.due_at is None or case.id is None:
        return []
    calendar = calendar_for(settings)
    due = case.due_at.astimezone(UTC)
    planned_from = _parse_time((case.data or {}).get("due_set_at")) or case.opened_at
    stem = f"{case.id}:{_utc_key(due)}"
    actions: list[PlannedAction] = []
    for offset in getattr(settings.reminders, case.kind, ()):
        at = apply_duration(calendar, due, offset, roll_forward=False)
        if case.kind not in ROUND_THE_CLOCK_KINDS:
            at = calendar.next_working_time(at).astimezone(UTC)
        if at >= due or (planned_from is not None and at <= planned_from):
            continue
        actions.append(PlannedAction(key=f"reminder:{stem}:{offset}", at=at, kind="reminder", offset=offset))
    actions.append(PlannedAction(key=f"escalation:{stem}", at=due, kind="escalation", offset=None))
    actions.sort(key=lambda a: (a.at, a.kind == "escalation"))
    return actions


def _waiting(case: Case) -> bool:
    return case.state in WAITING_ON_STAFF and case.state not in CLOSED_STATES and case.closed_at is None


def refresh_next_action(session: Session, app: App, case: Case) -> datetime | None:
    """Set `case.next_action_at` to its earliest pending action, or None when it no longer waits on staff.

    Call it after every change of deadline or state; `tick` calls it after every case it handles.
    """
    next_at = None
    if _waiting(case):
        done = done_keys(case)
        pending = [a.at for a in plan(app.settings, case) if a.key not in done]
        next_at = min(pending, default=None)
    case.next_action_at = next_at
    return next_at


# --- Russian text for the templates ------------------------------------------------------------


def _plural(n: int, one: str, few: str, many: str) -> str:
    """Russian plural form for n: 1 день, 2 дня, 5 дней, 11 дней, 21 день."""
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def describe_span(span: timedelta) -> str:
    """«2 дня 3 часа», «1 час 5 минут», «15 минут»: at most two units, rounded to the minute."""
    minutes = max(0, round(span.total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        (days, f"{days} {_plural(days, 'день', 'дня', 'дней')}"),
        (hours, f"{hours} {_plural(hours, 'час', 'часа', 'часов')}"),
        (minutes, f"{minutes} {_plural(minutes, 'минута', 'минуты', 'минут')}"),
    ]
    shown = [text for amount, text in parts if amount][:2]
    return " ".join(shown) if shown else "менее минуты"


def _time_left(action: PlannedAction, due: datetime, now: datetime, late: bool) -> str:
    offset = action.offset
    if offset is not None and offset.unit == DurationUnit.WORKING_DAYS and not late:
        n = abs(offset.amount)
        return f"{n} {_plural(n, 'рабочий день', 'рабочих дня', 'рабочих дней')}"
    return describe_span(due - now)


# --- sending -----------------------------------------------------------------------------------


def _recipients(settings: Settings, case: Case, kind: ActionKind) -> list[str]:
    contacts = [m.email for m in settings.staff_with_role("contact")]
    if kind == "reminder":
        # Nobody assigned yet: the contact official must assign it, so the reminder is theirs.
        return [case.assignee] if case.assignee else contacts
    supervisors = [m.email for m in settings.staff_with_role("supervisor")]
    return [*([case.assignee] if case.assignee else []), *contacts, *supervisors]


def _context(settings: Settings, case: Case, action: PlannedAction, now: datetime, late: bool) -> dict[str, Any]:
    due = case.due_at.astimezone(UTC)
    member = settings.staff_by_email(case.assignee) if case.assignee else None
    notice = (case.data or {}).get("applicant_notice") or {}
    return {
        "kind_ru": KIND_RU.get(case.kind, case.kind),
        "due_at": due,
        "due_assumed": bool(case.due_assumed),
        "planned_at": action.at,
        "late": late,
        "time_left": _time_left(action, due, now, late),
        "overdue_for": describe_span(now - due),
        "assignee": case.assignee or "",
        "assignee_name": member.name if member else "",
        "applicant_notice": bool(notice.get("required")),
    }


def _send(session: Session, app: App, case: Case, action: PlannedAction, now: datetime) -> bool:
    """Enqueue one action to its recipients and record it; returns whether it went out late."""
    settings = app.settings
    late = now - action.at > LATE_AFTER
    recipients = _recipients(settings, case, action.kind)
    rows = enqueue(
        session, settings, kind=action.kind, to=recipients, context=_context(settings, case, action, now, late),
        case=case, dedupe_key=action.key, now=now,
    )
    if not recipients:
        log.warning("case %s: %s has no recipients (no assignee and no contact staff)", case.id, action.kind)
    record_event(
        session, case, action=f"{action.kind}_sent", at=now,
        detail={"key": action.key, "planned_at": action.at.isoformat(), "late": late,
                "offset": str(action.offset) if action.offset else None,
                "recipients": recipients, "outbox_ids": [row.id for row in rows]},
    )
    return late


def _handle(session: Session, app: App, case: Case, now: datetime) -> TickReport:
    """Everything due for one locked case, in the caller's transaction."""
    if not _waiting(case):
        record_event(session, case, action="reminders_stopped", at=now, detail={"state": case.state})
        case.next_action_at = None
        return TickReport(cases=1, stopped=1)
    done = done_keys(case)
    due = [a for a in plan(app.settings, case) if a.key not in done and a.at <= now]
    if not due:
        refresh_next_action(session, app, case)  # the schedule changed since next_action_at was set
        return TickReport(cases=1)
    latest, earlier = due[-1], due[:-1]
    for action in earlier:
        record_event(
            session, case, action=f"{action.kind}_skipped", at=now,
            detail={"key": action.key, "planned_at": action.at.isoformat(), "superseded_by": latest.key},
        )
    late = _send(session, app, case, latest, now)
    _mark_done(case, [a.key for a in due])
    refresh_next_action(session, app, case)
    return TickReport(cases=1, sent=1, late=int(late), skipped=len(earlier))


def _add(a: TickReport, b: TickReport) -> TickReport:
    return TickReport(*(x + y for x, y in zip(
        (a.cases, a.sent, a.late, a.skipped, a.stopped, a.errors),
        (b.cases, b.sent, b.late, b.skipped, b.stopped, b.errors), strict=True)))


def tick(app: App) -> TickReport:
    """Send every due reminder and escalation once; reads only cases with `next_action_at <= now`."""
    now = app.clock()
    with app.sessions() as session:
        due_ids = list(session.scalars(
            select(Case.id).where(Case.next_action_at <= now, Case.tenant == app.tenant)
            .order_by(Case.next_action_at).limit(BATCH_SIZE)
        ))
    report = TickReport()
    for case_id in due_ids:
        try:
            with app.sessions() as session, session.begin():
                case = session.scalars(
                    select(Case).where(Case.id == case_id, Case.next_action_at <= now)
                    .with_for_update(skip_locked=True)  # PostgreSQL; SQLite serialises writers itself
                ).first()
                if case is None:  # another instance has it, or already handled it
                    continue
                report = _add(report, _handle(session, app, case, now))
        except (SQLAlchemyError, CurmailError):
            log.exception("reminders for case %s failed; retried on the next tick", case_id)
            report = _add(report, TickReport(errors=1))
    if report.sent or report.stopped or report.errors:
        log.info("reminders: %s", report)
    return report
