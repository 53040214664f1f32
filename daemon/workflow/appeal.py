"""The appeal workflow (п. 6.3.1, 8): a deadline by channel, routing, the staff answer closes the case.

States: new → assigned → closed. The term runs from registration (the receipt time) and is set per
channel in `[deadlines.appeal]`: 59-ФЗ gives 30 calendar days, moved off a day off when
`[calendar] roll_forward_non_working` is on; ПОС, «Инцидент-менеджмент» and the others have their
own norms. The answer's «Итог: …» line, if any, is the outcome; otherwise «answered».
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from daemon.app import App
from daemon.db.models import Case
from daemon.notices import contact_addresses
from daemon.reports.repeats import mark_repeats, repeat_history
from daemon.workflow import refutation, routing
from daemon.workflow.deadlines import compute_due, set_due
from daemon.workflow.machine import Event, Inbound, can_apply, refuse, send, staff_name
from daemon.workflow.machine import update_data as _update
from daemon.workflow.request import close_answered

CHANNEL_RU = {
    "59fz": "обращение по 59-ФЗ",
    "pos": "ПОС («Госуслуги. Решаем вместе»)",
    "incident": "«Инцидент-менеджмент» (соцсети и мессенджеры)",
    "voice": "голосовая система обратной связи",
    "survey": "результаты опроса",
    "internet": "информация в интернете",
    "other": "иной источник",
}
_OUTCOME = re.compile(r"^[ \t]*(?:Итог|Результат|Решение)[ \t]*[:：][ \t]*(?P<v>.+)$", re.IGNORECASE | re.MULTILINE)


def on_open(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """An appeal opened the case: channel, applicant and address recorded, the channel's term, routing, notice."""
    c = inbound.classification
    channel = c.channel or case.channel or "other"
    case.channel = channel
    text = refutation.signal_text(inbound)
    applicant = c.applicant
    _update(case, origin_message_id=inbound.pm.message_id, appeal_text=text, address=c.address,
            applicant={"name": applicant.name, "email": applicant.email, "phone": applicant.phone} if applicant else {})
    routing.assign(session, app, case, routing.route(app, f"{case.subject}\n{text}"), actor="curmail",
                   message=inbound.row)
    # After routing, which sets the topic: a repeat is the same applicant, or the same address and topic (п. 6.3.2).
    mark_repeats(session, case, app.settings, at=app.clock())
    due = compute_due(app.settings, case.kind, inbound.received_at, channel=channel)
    set_due(session, app, case, due, assumed=False, reason=f"appeal term for channel {channel}",
                 actor="curmail", message=inbound.row)
    notify_new(session, app, case)


def notify_new(session: Session, app: App, case: Case) -> None:
    """Channel, applicant, address, deadline and the text, to the assignee and the contact official."""
    data = case.data or {}
    send(session, app, case, kind="appeal_new", to=[case.assignee or "", *contact_addresses(app)],
         context={"channel": CHANNEL_RU.get(case.channel or "other", case.channel),
                  "applicant": data.get("applicant", {}),
                  "address": data.get("address"), "appeal_text": data.get("appeal_text", ""), "due_at": case.due_at,
                  "assignee_name": staff_name(app.settings, case.assignee),
                  "repeats": repeat_history(session, data.get("repeat_of", []))},
         dedupe_key=f"appeal_new:{case.id}:{case.assignee}")


def on_message(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """The assignee's (or any staff member's) reply with the answer closes the case with its outcome."""
    if inbound.kind != "staff_reply" or app.settings.staff_by_email(inbound.sender) is None:
        return
    if not can_apply(case, Event.ANSWERED):
        refuse(session, app, case, action="answer_refused", reason=f"state {case.state}", actor=inbound.sender,
               message=inbound.row)
        return
    if not inbound.new_text:
        refutation.ask_for_text(session, app, case, inbound, what="ответ по обращению")
        return
    found = _OUTCOME.search(inbound.new_text)
    close_answered(session, app, case, inbound, outcome=found.group("v").strip()[:500] if found else "answered")
