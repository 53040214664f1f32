"""The generic workflow: anything else from the ЦУР or staff goes to the contact official, 1 working day.

States: new → assigned → closed. The contact official reads it and either closes it, re-assigns
it, or re-classifies it into a proper kind (`reclassify`), whose workflow then starts afresh.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from daemon.app import App
from daemon.cases import CaseKind
from daemon.db.models import Case, StoredMessage
from daemon.notices import contact_addresses
from daemon.workflow import refutation
from daemon.workflow.deadlines import compute_due, set_due
from daemon.workflow.machine import Event, Inbound, apply, send, update_data
from daemon.workflow.routing import Route, assign, contact_official


def on_open(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """To the contact official with the generic term (1 working day by default)."""
    text = refutation.signal_text(inbound)
    update_data(case, origin_message_id=inbound.pm.message_id, text=text, message_kind=inbound.kind)
    contact = contact_official(app)
    assign(session, app, case, Route(assignee=contact, topic=None, words=(), by="contact" if contact else "nobody"),
           actor="curmail", message=inbound.row)
    due = compute_due(app.settings, case.kind, inbound.received_at)
    set_due(session, app, case, due, assumed=False, reason="generic case: configured term", actor="curmail",
                 message=inbound.row)
    update_data(case, sender=inbound.sender, original_subject=inbound.pm.subject)
    notify_new(session, app, case)


def notify_new(session: Session, app: App, case: Case) -> None:
    """The mail to sort out, to the assignee (the contact official unless re-assigned) and the contact officials."""
    data = case.data or {}
    sender = data.get("sender") or ""
    send(session, app, case, kind="generic_new", to=[case.assignee or "", *contact_addresses(app)],
         context={"text": data.get("text", ""), "sender": sender or "(не указан)",
                  "original_subject": data.get("original_subject", case.subject),
                  "received_at": case.opened_at, "due_at": case.due_at, "message_kind": data.get("message_kind"),
                  "from_cur": app.settings.is_cur_address(sender)},
         dedupe_key=f"generic_new:{case.id}:{case.assignee}")


def on_message(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """Later mail is attached (the dispatcher did that); the contact official acts by command."""


def reclassify(
    session: Session, app: App, case: Case, kind: CaseKind, *, actor: str, message: StoredMessage | None = None
) -> None:
    """Turn a generic case into a refutation, request or appeal, and start that workflow on its first message."""
    from daemon.dispatch import start_workflow  # late: the dispatcher imports every workflow

    apply(session, app, case, Event.RECLASSIFIED, actor=actor, message=message,
          detail={"from_kind": case.kind, "to_kind": kind.value})
    case.kind = kind.value
    start_workflow(session, app, case, actor=actor)
