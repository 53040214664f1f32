"""Case deadlines: a configured Duration made a moment on the production calendar; set and extended, audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from daemon.calendar import calendar_for
from daemon.cases import CaseKind, record_event
from daemon.config import Settings
from daemon.db.models import Case, StoredMessage
from daemon.durations import Duration, DurationUnit
from daemon.errors import WorkflowError
from parsers.workcalendar import WorkCalendar

if TYPE_CHECKING:
    from daemon.app import App

# 59-ФЗ ст. 12 ч. 2: the applicant must be told that the term was extended.
APPLICANT_NOTICE_TEXT = (
    "Срок рассмотрения обращения продлён: уведомите заявителя о продлении срока "
    "(59-ФЗ ст. 12 ч. 2) и укажите причину."
)


def apply_duration(calendar: WorkCalendar, start: datetime, d: Duration, *, roll_forward: bool) -> datetime:
    """The moment `d` after (or, when negative, before) `start`: the one place a Duration becomes a time.

    Minutes and hours are absolute time, day and night. Working hours count only inside working
    hours. A positive term of calendar or working days ends when work ends on its last day
    (ГК РФ ст. 191–194), and `roll_forward` moves a calendar-day term off a day off. Negative day
    offsets are reminders: calendar days keep the clock time, working days use
    `working_days_before`, so the reminder lands inside working hours.
    """
    amount = d.amount
    match d.unit:
        case DurationUnit.MINUTES:
            moment = calendar.add_hours(start, timedelta(minutes=amount))
        case DurationUnit.HOURS:
            moment = calendar.add_hours(start, timedelta(hours=amount))
        case DurationUnit.WORKING_HOURS:
            moment = calendar.add_working_hours(start, timedelta(hours=amount))
        case DurationUnit.CALENDAR_DAYS if amount >= 0:
            moment = calendar.add_calendar_days(start, amount, roll_forward=roll_forward)
        case DurationUnit.CALENDAR_DAYS:
            local = start.astimezone(calendar.tz)
            # Wall-clock arithmetic in the organisation's zone: "3 days before" keeps the clock time.
            moment = datetime.combine(
                local.date() + timedelta(days=amount), local.timetz().replace(tzinfo=None), tzinfo=calendar.tz
            )
        case DurationUnit.WORKING_DAYS if amount >= 0:
            moment = calendar.add_working_days(start, amount)
        case DurationUnit.WORKING_DAYS:
            moment = calendar.working_days_before(start, -amount)
        case _:  # pragma: no cover - DurationUnit is closed
            raise ValueError(f"unknown duration unit {d.unit!r}")
    return moment.astimezone(UTC)


def duration_for(settings: Settings, kind: str, *, channel: str | None = None) -> Duration:
    """The configured term of a case kind (and, for appeals, of its channel; unknown channels use "other")."""
    terms = settings.deadlines
    match kind:
        case CaseKind.REFUTATION:
            return terms.refutation_draft
        case CaseKind.REQUEST:
            return terms.request_default
        case CaseKind.GENERIC:
            return terms.generic
        case CaseKind.APPEAL:
            by_channel = terms.appeal
            if channel and channel in by_channel:
                return by_channel[channel]
            if "other" in by_channel:
                return by_channel["other"]
            raise WorkflowError(
                f"Не задан срок для обращений канала «{channel}» и нет срока по умолчанию "
                "([deadlines.appeal] other)."
            )
    raise ValueError(f"case kind {kind!r} has no default deadline")


def compute_due(settings: Settings, kind: str, received_at: datetime, *, channel: str | None = None) -> datetime:
    """The default deadline of a case of `kind` received at `received_at` (IMAP INTERNALDATE), aware UTC."""
    return apply_duration(
        calendar_for(settings),
        received_at,
        duration_for(settings, kind, channel=channel),
        roll_forward=settings.calendar.roll_forward_non_working,
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _with_data(case: Case, **values: Any) -> None:
    # Assign a new dict: the JSON column does not track in-place mutation.
    case.data = {**(case.data or {}), **values}


def _change_due(
    session: Session,
    app: App,
    case: Case,
    due_at: datetime,
    *,
    assumed: bool,
    action: str,
    actor: str,
    message: StoredMessage | None,
    detail: dict[str, Any],
) -> None:
    from daemon.workflow.reminders import refresh_next_action

    if due_at.tzinfo is None or due_at.utcoffset() is None:
        raise ValueError("a deadline must be an aware datetime")
    now = app.clock()
    old_due = case.due_at
    case.due_at = due_at.astimezone(UTC)
    case.due_assumed = assumed
    # Reminders planned before this moment are pointless: the letter that sets the deadline states it.
    _with_data(case, due_set_at=_iso(now))
    record_event(
        session, case, action=action, at=now, actor=actor, message=message,
        detail={"old_due_at": _iso(old_due), "new_due_at": _iso(case.due_at), "assumed": assumed, **detail},
    )
    refresh_next_action(session, app, case)


def set_due(
    session: Session,
    app: App,
    case: Case,
    due_at: datetime,
    *,
    assumed: bool,
    reason: str,
    actor: str,
    message: StoredMessage | None = None,
) -> None:
    """Set the case's deadline, record old and new in the audit trail, and re-plan its reminders.

    Reminder keys include the deadline, so a changed deadline gets a fresh set of reminders.
    """
    _change_due(session, app, case, due_at, assumed=assumed, action="deadline_set", actor=actor, message=message,
                detail={"reason": reason})


def extension_limit(settings: Settings, original_due: datetime) -> datetime:
    """The latest deadline an extension may set: `max_extension_days` calendar days past the original."""
    days = Duration(settings.deadlines.max_extension_days, DurationUnit.CALENDAR_DAYS)
    return apply_duration(
        calendar_for(settings), original_due, days, roll_forward=settings.calendar.roll_forward_non_working
    )


def extend(session: Session, app: App, case: Case, new_due: datetime, *, reason: str, actor: str) -> None:
    """Extend an appeal's term (59-ФЗ ст. 12 ч. 2): a reason is required, and at most N days past the original.

    The original deadline is kept in `case.data["original_due_at"]`, so repeated extensions together
    stay within the limit. The duty to notify the applicant is recorded in the audit trail and in
    `case.data["applicant_notice"]`, where the reminders pick it up.
    """
    settings = app.settings
    if case.kind != CaseKind.APPEAL:
        raise WorkflowError("Продлить срок можно только по обращению граждан.")
    if not reason or not reason.strip():
        raise WorkflowError("Для продления срока укажите причину продления.")
    if case.due_at is None:
        raise WorkflowError("У дела нет срока, продлевать нечего.")
    if new_due.tzinfo is None or new_due.utcoffset() is None:
        raise ValueError("a deadline must be an aware datetime")
    original_text = (case.data or {}).get("original_due_at")
    original = datetime.fromisoformat(original_text) if original_text else case.due_at
    calendar = calendar_for(settings)
    if new_due <= case.due_at:
        raise WorkflowError(
            f"Новый срок ({calendar.format_msk(new_due)}) должен быть позже текущего "
            f"({calendar.format_msk(case.due_at)})."
        )
    limit = extension_limit(settings, original)
    if new_due > limit:
        raise WorkflowError(
            f"Срок можно продлить не более чем на {settings.deadlines.max_extension_days} дн. от первоначального "
            f"({calendar.format_msk(original)}): не позднее {calendar.format_msk(limit)}."
        )
    now = app.clock()
    _with_data(
        case,
        original_due_at=_iso(original),
        applicant_notice={"required": True, "extended_at": _iso(now), "reason": reason.strip()},
    )
    _change_due(
        session, app, case, new_due, assumed=False, action="deadline_extended", actor=actor, message=None,
        detail={"reason": reason.strip(), "original_due_at": _iso(original), "limit": _iso(limit)},
    )
    record_event(
        session, case, action="applicant_notice_required", at=now, actor=actor,
        detail={"text": APPLICANT_NOTICE_TEXT, "new_due_at": _iso(case.due_at)},
    )
