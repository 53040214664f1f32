"""The quarterly obligation (п. 10.1): draft to the contact official, `#отправить` to the ЦУР, reminder, escalation.

Each quarter's report is a case of kind `report` (so it threads and shows in `curmail cases list`):
- on the first working day after the quarter ends, `tick` builds the report and mails it, with the
  XLSX, CSV and text summary attached, to the contact official as a draft for review;
- the official replies `#отправить` (`#send`) and the command executor calls `send_quarterly`,
  which mails the same files (those the official reviewed, kept in the case) to the ЦУР;
- until then a reminder goes out on the 3rd and an escalation to the supervisor on the 4th of the
  month after the quarter (moved to the next working time when that day is a day off, and skipped
  when it would come no later than the draft itself);
- the deadline is the 5th on the production calendar, moved to the next working day when the 5th
  is a day off and `[calendar] roll_forward_non_working` is on; the case carries it as `due_at`,
  so the general reminder machinery escalates once more if it passes.
Exactly once: the case of a quarter is found through the KeyValue key `report:quarterly:<2026Q4>`
(a primary key, so two instances cannot both create it), and every letter has a dedupe key.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from daemon.app import App
from daemon.calendar import calendar_for
from daemon.cases import CaseKind, open_case, record_event
from daemon.config import Settings
from daemon.db.engine import transaction
from daemon.db.models import Case, KeyValue
from daemon.errors import CurmailError, NotAuthorised, WorkflowError
from daemon.notices import contact_addresses
from daemon.outbox import OutgoingAttachment, enqueue
from daemon.reports import quarterly
from daemon.reports.files import ReportFile, quarterly_files
from daemon.reports.period import Period, previous, quarter, quarter_of
from daemon.reports.summary import summary_text
from daemon.workflow.machine import Event, apply, case_data, update_data

log = logging.getLogger("curmail.reports")

REPORT = "quarterly"
DRAFT_TEMPLATE = "quarterly_draft"
FINAL_TEMPLATE = "quarterly_report"
REMINDER_TEMPLATE = "quarterly_reminder"
ESCALATION_TEMPLATE = "quarterly_escalation"
REMINDER_DAY, ESCALATION_DAY, DEADLINE_DAY = 3, 4, 5
GENERATE_WITHIN = timedelta(days=31)  # a daemon first started later than this does not mail an old quarter


@dataclass(frozen=True, slots=True)
class QuarterDates:
    """When the obligation of one quarter falls due, as aware UTC moments."""

    period: Period
    generate_at: datetime
    reminder_at: datetime
    escalation_at: datetime
    due_at: datetime


def kv_key(period: Period) -> str:
    return f"report:{REPORT}:{period.key}"


def dates_for(settings: Settings, period: Period) -> QuarterDates:
    """The generation day, the reminder (3rd), the escalation (4th) and the deadline (5th) of `period`."""
    calendar = calendar_for(settings)
    generate_at = period.first_working_morning_after(calendar)

    def day(n: int) -> date:
        return date(period.after.year, period.after.month, n)

    reminder_at = calendar.next_working_time(calendar.start_of_work(day(REMINDER_DAY))).astimezone(UTC)
    escalation_at = calendar.next_working_time(calendar.start_of_work(day(ESCALATION_DAY))).astimezone(UTC)
    due_day = day(DEADLINE_DAY)
    if not calendar.is_working_day(due_day) and settings.calendar.roll_forward_non_working:
        due_day = calendar.next_working_day(due_day)
    due_at = max(calendar.end_of_work(due_day).astimezone(UTC), generate_at)
    return QuarterDates(period, generate_at, reminder_at, escalation_at, due_at)


def report_case(session: Session, period: Period, tenant: str = "default") -> Case | None:
    row = session.get(KeyValue, (kv_key(period), tenant))
    if row is None or not row.value:
        return None
    return session.get(Case, row.value.get("case_id"))


def _encode(files: list[ReportFile]) -> list[dict[str, Any]]:
    return [{"filename": f.filename, "content_type": f.content_type, "sha256": f.sha256,
             "b64": base64.b64encode(f.content).decode("ascii")} for f in files]


def stored_files(case: Case) -> list[OutgoingAttachment]:
    """The report files kept in the case: exactly what the contact official reviewed."""
    return [OutgoingAttachment(filename=f["filename"], content=base64.b64decode(f["b64"]),
                               content_type=f["content_type"]) for f in (case.data or {}).get("files", [])]


def _context(settings: Settings, case: Case, dates: QuarterDates, **extra: Any) -> dict[str, Any]:
    data = case.data or {}
    return {"period_title": dates.period.title, "due_at": dates.due_at, "summary": data.get("summary", ""),
            "files": [f["filename"] for f in data.get("files", [])], "cur_name": settings.cur.name,
            "cur_addresses": list(settings.cur.addresses), "empty": bool(data.get("empty")), **extra}


def generate(session: Session, app: App, period: Period, *, now: datetime) -> Case:
    """Build the report of `period`, open its case, mail the draft to the contact official(s)."""
    settings = app.settings
    dates = dates_for(settings, period)
    figures = quarterly.build(session, settings, period, now, tenant=app.tenant)
    files = quarterly_files(figures)
    subject = f"Статистика работы с обращениями за {period.title}"
    contacts = contact_addresses(app)
    case = open_case(
        session, kind=CaseKind.REPORT, subject=subject, normalized_subject=subject, counterpart=None,
        opened_at=now, message=None, tenant=app.tenant, assignee=contacts[0] if contacts else None, topic=None,
        data={"report": REPORT, "period": period.key, "generated_at": now.isoformat(), "files": _encode(files),
              "summary": summary_text(figures), "empty": figures.empty},
    )
    session.add(KeyValue(key=kv_key(period), tenant=app.tenant, value={"case_id": case.id}, updated_at=now))
    session.flush()  # the primary key makes a second instance fail here, before any mail is enqueued
    apply(session, app, case, Event.ROUTED, actor="curmail", detail={"assignee": case.assignee, "by": "contact"})
    case.due_at = dates.due_at
    update_data(case, due_set_at=now.isoformat())
    record_event(session, case, action="deadline_set", at=now,
                 detail={"new_due_at": dates.due_at.isoformat(), "reason": "п. 10.1: до 5-го числа"})
    from daemon.workflow.reminders import refresh_next_action

    refresh_next_action(session, app, case)
    from daemon import ics  # the report's deadline goes to the contact official's calendar like any other

    ics.sync(session, app, case)
    enqueue(session, settings, kind=DRAFT_TEMPLATE, to=contacts, case=case, now=now, bulk=False,
            context=_context(settings, case, dates), dedupe_key=f"{DRAFT_TEMPLATE}:{period.key}",
            attachments=stored_files(case))
    if not contacts:
        log.error("quarterly report %s: no contact official configured", period.key)
    record_event(session, case, action="report_generated", at=now,
                 detail={"period": period.key, "files": [f.filename for f in files], "empty": figures.empty,
                         "to": contacts})
    return case


def period_of(settings: Settings, case: Case) -> Period:
    key = (case.data or {})["period"]
    return quarter(int(key[:4]), int(key[-1]), settings.organization.timezone)


def regenerate(session: Session, app: App, case: Case, *, now: datetime, actor: str) -> str:
    """`#отчёт` in the report's thread before it is sent: recount (after `#тема` fixes, late answers), mail a new draft.

    `#отправить` then sends the new files. The version number keeps every draft letter distinct.
    """
    settings = app.settings
    if (case.data or {}).get("sent_at"):
        raise WorkflowError("Отчёт уже направлен в ЦУР; пересчитать его можно командой «#отчёт <квартал>» "
                            "в новом письме — он придёт вам, а не в ЦУР.")
    period = period_of(settings, case)
    dates = dates_for(settings, period)
    figures = quarterly.build(session, settings, period, now, tenant=app.tenant)
    files = quarterly_files(figures)
    version = int((case.data or {}).get("version", 1)) + 1
    update_data(case, files=_encode(files), summary=summary_text(figures), empty=figures.empty,
                generated_at=now.isoformat(), version=version)
    contacts = contact_addresses(app)
    enqueue(session, settings, kind=DRAFT_TEMPLATE, to=contacts, case=case, now=now, bulk=False,
            context=_context(settings, case, dates), dedupe_key=f"{DRAFT_TEMPLATE}:{period.key}:v{version}",
            attachments=stored_files(case))
    record_event(session, case, action="report_regenerated", at=now, actor=actor,
                 detail={"period": period.key, "version": version, "to": contacts})
    return (f"отчёт за {period.title} пересчитан, новый проект (версия {version}) направлен контактному "
            f"должностному лицу; #отправить отправит в ЦУР эту версию")


def _remind(session: Session, app: App, case: Case, dates: QuarterDates, now: datetime) -> None:
    """The reminder of the 3rd and the escalation of the 4th, each once, while the report is not sent."""
    settings = app.settings
    data = case_data(case)
    generated = datetime.fromisoformat(data["generated_at"])
    for name, at, template, to in (
        ("reminder", dates.reminder_at, REMINDER_TEMPLATE, contact_addresses(app)),
        ("escalation", dates.escalation_at, ESCALATION_TEMPLATE,
         [*(m.email for m in settings.staff_with_role("supervisor")), *contact_addresses(app)]),
    ):
        if data.get(f"{name}_done") or now < at:
            continue
        skipped = at <= generated  # the draft itself came that late: it says the deadline
        # The 3rd and the 4th both fell on days off (or the daemon was down): the escalation, which goes
        # to the contact official too, says it all; two letters in the same minute would be noise.
        skipped = skipped or (name == "reminder" and now >= dates.escalation_at)
        if not skipped:
            enqueue(session, settings, kind=template, to=to, case=case, now=now,
                    context=_context(settings, case, dates, late=now - at > timedelta(hours=1), planned_at=at),
                    dedupe_key=f"{template}:{dates.period.key}")
        update_data(case, **{f"{name}_done": now.isoformat()})
        record_event(session, case, action=f"report_{name}" + ("_skipped" if skipped else "_sent"), at=now,
                     detail={"planned_at": at.isoformat(), "to": [] if skipped else to})


def tick(app: App) -> str | None:
    """The scheduler's job: generate the last quarter's report when due, then remind and escalate; idempotent."""
    now = app.clock()
    settings = app.settings
    zone = settings.organization.timezone
    period = previous(quarter_of(now.astimezone(settings.organization.zone).date(), zone))
    dates = dates_for(settings, period)
    if now < dates.generate_at:
        return None
    try:
        with transaction(app.sessions) as session:
            case = report_case(session, period, app.tenant)
            if case is None:
                if now - dates.generate_at > GENERATE_WITHIN:
                    return None
                case = generate(session, app, period, now=now)
                log.info("quarterly report %s generated as case %s", period.key, case.id)
                return "generated"
            if case.state == "closed":
                return None
            _remind(session, app, case, dates, now)
            return "checked"
    except (SQLAlchemyError, CurmailError):
        # Another instance created the case first (KeyValue primary key), or the database is busy:
        # the next tick sees the outcome.
        log.exception("quarterly report tick failed; retried on the next tick")
        return None


def send_quarterly(session: Session, app: App, case: Case, actor: str) -> str:
    """`#отправить` on a report case: mail the reviewed files to the ЦУР and close the case; a Russian result line.

    Raises NotAuthorised (its text is the reason) for anyone but a contact official, WorkflowError
    for a case that is no quarterly report or when no ЦУР address is configured. A second
    `#отправить` sends nothing and says when the report went.
    """
    settings = app.settings
    data = case.data or {}
    if case.kind != CaseKind.REPORT or data.get("report") != REPORT:
        raise WorkflowError("Команда #отправить для этого дела не предназначена: это не квартальный отчёт.")
    period = period_of(settings, case)
    actor = (actor or "").strip().lower()
    contacts = [m.email for m in settings.staff_with_role("contact")]
    if actor not in contacts:
        names = ", ".join(f"{m.name} <{m.email}>" for m in settings.staff_with_role("contact")) or "не назначено"
        reason = (f"Отправить отчёт в {settings.cur.name} может только контактное должностное лицо (п. 9 Порядка): "
                  f"{names}. Адрес {actor or '(не указан)'} к ним не относится.")
        record_event(session, case, action="report_send_refused", at=app.clock(), actor=actor or "unknown",
                     detail={"reason": "not a contact official"})
        raise NotAuthorised(reason)
    calendar = calendar_for(settings)
    if data.get("sent_at"):
        when = calendar.format_msk(datetime.fromisoformat(data["sent_at"]))
        return f"Отчёт за {period.title} уже направлен в {settings.cur.name} {when}; повторно не отправлялся."
    to = list(settings.cur.addresses)
    if not to:
        raise WorkflowError("Адрес ЦУР не указан в настройках ([cur] addresses): отчёт отправить некуда.")
    now = app.clock()
    dates = dates_for(settings, period)
    enqueue(session, settings, kind=FINAL_TEMPLATE, to=to, case=case, now=now, bulk=False,
            context=_context(settings, case, dates, organization_name=settings.organization.name,
                             sender_name=settings.staff_by_email(actor).name),  # type: ignore[union-attr]
            dedupe_key=f"{FINAL_TEMPLATE}:{period.key}", attachments=stored_files(case))
    update_data(case, sent_at=now.isoformat(), sent_by=actor, sent_to=to, sent_on_time=now <= dates.due_at)
    case.outcome = "sent"
    apply(session, app, case, Event.CLOSED, actor=actor, detail={"outcome": "sent", "to": to})
    return f"Отчёт за {period.title} направлен в {settings.cur.name} ({', '.join(to)})."
