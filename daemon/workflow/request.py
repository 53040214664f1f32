"""The ЦУР official request workflow (п. 10 of the Порядок): deadline from the text, routing, answer, close.

States: new → assigned → closed (outcome «answered»). The deadline is the one the request states
(«в срок до 10.12.2026», «в течение 2 рабочих дней»); without one the configured default applies and
the notification says the deadline was assumed. The staff reply, with its files, goes to the ЦУР.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy.orm import Session

from daemon.app import App
from daemon.calendar import calendar_for
from daemon.cases import record_event
from daemon.db.models import Case
from daemon.notices import contact_addresses
from daemon.workflow import refutation, routing
from daemon.workflow.deadlines import compute_due, set_due
from daemon.workflow.machine import (
    Event,
    Inbound,
    apply,
    attachments_of,
    can_apply,
    refuse,
    send,
    staff_name,
    update_data,
)
from parsers.deadline import extract_deadline
from parsers.threadkeys import normalize_subject


def on_open(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """A ЦУР request opened the case: its deadline (stated or assumed), routing, the notification."""
    text = refutation.signal_text(inbound)
    found = extract_deadline(f"{inbound.pm.subject}\n{text}", inbound.received_at, calendar_for(app.settings))
    update_data(
        case, origin_message_id=inbound.pm.message_id, request_text=text,
        cur_address=refutation.cur_origin(app, inbound),
        deadline_phrase=found.phrase if found else None,
    )
    routing.assign(session, app, case, routing.route(app, f"{case.subject}\n{text}"), actor="curmail",
                   message=inbound.row)
    if found is not None:
        set_due(session, app, case, found.at, assumed=False, reason=f"stated in the request: «{found.phrase}»",
                     actor="curmail", message=inbound.row)
    else:
        due = compute_due(app.settings, case.kind, inbound.received_at)
        set_due(session, app, case, due, assumed=True, reason="no deadline in the text: configured default",
                     actor="curmail", message=inbound.row)
    notify_new(session, app, case)


def notify_new(session: Session, app: App, case: Case) -> None:
    """The request, its deadline (and whether it was assumed) and what to do, to the assignee and the contact."""
    data = case.data or {}
    send(session, app, case, kind="request_new", to=[case.assignee or "", *contact_addresses(app)],
         context={"request_text": data.get("request_text", ""), "due_at": case.due_at, "assumed": case.due_assumed,
                  "phrase": data.get("deadline_phrase"), "assignee_name": staff_name(app.settings, case.assignee),
                  "cur_name": app.settings.cur.name, "sender": case.counterpart or "",
                  "request_subject": normalize_subject(case.subject, (app.settings.organization.case_tag,))
                  or "без темы"},
         dedupe_key=f"request_new:{case.id}:{case.assignee}")


def on_message(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """A staff reply is the answer; anything else is only attached (the dispatcher did that)."""
    if inbound.kind == "staff_reply" and app.settings.staff_by_email(inbound.sender) is not None:
        take_answer(session, app, case, inbound)


def take_answer(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """Send the staff answer with its files to the ЦУР in the request's thread, and close the case."""
    if not can_apply(case, Event.ANSWERED):
        refuse(session, app, case, action="answer_refused", reason=f"state {case.state}", actor=inbound.sender,
               message=inbound.row)
        return
    files = attachments_of(inbound.pm)
    if not inbound.new_text and not files:
        refutation.ask_for_text(session, app, case, inbound, what="ответ на запрос ЦУР")
        return
    data = case.data or {}
    to = [data["cur_address"]] if data.get("cur_address") else list(app.settings.cur.addresses)
    context: dict[str, Any] = {
        "answer_text": inbound.new_text, "files": [a.filename for a in files],
        "request_text": data.get("request_text", ""), "cur_name": app.settings.cur.name,
        "author_name": staff_name(app.settings, inbound.sender),
        "request_subject": normalize_subject(case.subject, (app.settings.organization.case_tag,)),
    }
    send(session, app, case, kind="request_answer", to=to, context=context, attachments=files, bulk=False,
         in_reply_to=data.get("origin_message_id"), dedupe_key=f"request_answer:{case.id}:{inbound.row.id}")
    close_answered(session, app, case, inbound, outcome="answered")


def close_answered(session: Session, app: App, case: Case, inbound: Inbound, *, outcome: str) -> None:
    """Record the answer (text, author, timeliness) and close the case with its outcome."""
    now = app.clock()
    on_time = case.due_at is None or now <= case.due_at
    update_data(case, answer={"text": inbound.new_text, "from": inbound.sender, "at": now.astimezone(UTC).isoformat(),
                              "message_row_id": inbound.row.id, "on_time": on_time,
                              "files": [a.filename for a in inbound.pm.attachments]})
    case.outcome = outcome
    apply(session, app, case, Event.ANSWERED, actor=inbound.sender, message=inbound.row,
          detail={"outcome": outcome, "on_time": on_time})
    record_event(session, case, action="answered", at=now, actor=inbound.sender, message=inbound.row,
                 detail={"on_time": on_time})
