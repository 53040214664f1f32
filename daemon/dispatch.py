"""Thread a classified message into its case (intake), then hand it to the case's workflow (the act stage).

Machine mail (bounces, auto-replies) and commands are only attached: bounces belong to the outbox,
commands to the command handler, and an auto-reply must never set a workflow (or a loop) going.
Mail for a closed case is attached and its assignee told; a fresh case is opened for it only when
`[workflow] new_case_for_closed` is on (see `_new_case_for_closed`).
"""

from __future__ import annotations

import logging
from types import ModuleType

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon import absence
from daemon.app import App
from daemon.cases import NEVER_OPENS, OPENING_KIND, CaseKind, attach_message, open_case, record_event
from daemon.db.models import Case, StoredMessage
from daemon.errors import IllegalTransition
from daemon.notices import contact_addresses
from daemon.rules import classifier_rules
from daemon.threader import ThreadOutcome
from daemon.workflow import appeal, generic, refutation, request, routing
from daemon.workflow.machine import Inbound, refuse, send, staff_name
from daemon.workflow.states import CLOSED_STATES
from parsers import Classification, Kind, ParsedMessage, classify, parse_message
from parsers.classify import is_out_of_office
from parsers.threadkeys import normalize_subject

log = logging.getLogger("curmail.dispatch")

WORKFLOWS: dict[str, ModuleType] = {
    CaseKind.REFUTATION: refutation,
    CaseKind.REQUEST: request,
    CaseKind.APPEAL: appeal,
    CaseKind.GENERIC: generic,
}

# Kinds that are attached to their case but never drive a workflow (see the module docstring).
ATTACH_ONLY = NEVER_OPENS


def _new_case_for_closed(app: App) -> bool:
    return app.settings.workflow.new_case_for_closed


def thread_into_case(
    session: Session,
    app: App,
    row: StoredMessage,
    pm: ParsedMessage,
    classification: Classification,
    outcome: ThreadOutcome,
) -> Case | None:
    """Attach the message to the case found for it, or open one; None for unthreaded machine mail.

    This is the intake half: it makes the case row exist, so that later messages of the same backlog
    thread to it, but runs no workflow and writes no letter (that is `act`, the second stage).
    """
    now = app.clock()
    if outcome.match is not None:
        attach_message(session, outcome.match.case, row, at=now, how=outcome.match.how)
        return outcome.match.case
    if classification.kind in NEVER_OPENS:
        return None
    case = _open(session, app, Inbound(row=row, pm=pm, classification=classification), flush=False)
    if outcome.refused_tag is not None:
        record_event(
            session, case, action="tag_refused", at=now, actor=pm.from_addr or "unknown", message=row,
            detail={"tag_case": outcome.refused_tag, "reason": "sender is not related to that case"},
        )
    return case


def act(
    session: Session,
    app: App,
    row: StoredMessage,
    pm: ParsedMessage,
    classification: Classification,
    case: Case | None,
    *,
    opened: bool,
) -> Case | None:
    """Run the workflow, then the e-mail interface's hook (commands, bounces, acknowledgements, invitations).

    `opened` says the message opened `case` at intake. The hook is called here, once, so that the
    pipeline has one call per message; it must not call `daemon.acks.after_dispatch` itself.
    """
    from daemon.acks import after_dispatch  # late: the interface imports the workflow modules

    case = run_workflow(session, app, row, pm, classification, case, opened=opened)
    return after_dispatch(session, app, row, pm, classification, case, opened=opened)


def run_workflow(
    session: Session,
    app: App,
    row: StoredMessage,
    pm: ParsedMessage,
    classification: Classification,
    case: Case | None,
    *,
    opened: bool,
) -> Case | None:
    """Hand a threaded message to its case's workflow: the opening step, the next step, or closed-case mail."""
    if case is None:
        return None
    inbound = Inbound(row=row, pm=pm, classification=classification)
    if opened:
        _run(session, app, case, inbound, opening=True)
        return case
    if classification.kind in ATTACH_ONLY:
        if classification.kind == Kind.AUTO_REPLY and case.state not in CLOSED_STATES:
            _assignee_out_of_office(session, app, case, inbound)
        return case
    if case.state in CLOSED_STATES:
        return _closed_case_mail(session, app, case, inbound)
    _run(session, app, case, inbound, opening=False)
    return case


def _assignee_out_of_office(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """The assignee's out-of-office reply on an open case: the contact officials (else the supervisor) hear of it, once.

    Nobody else reads that reply (it is machine mail, attached and never answered), and the case's
    term keeps running; the letter says how to re-assign it and how the member records an absence.
    The letter goes to the contact officials, never to the auto-responder, so it cannot loop.
    """
    sender = inbound.sender
    if not sender or sender != case.assignee or absence.current(session, app, sender) is not None:
        return
    if not is_out_of_office(inbound.pm, classifier_rules(app.settings)):
        return
    if any(e.action == "assignee_out_of_office" and (e.detail or {}).get("assignee") == sender for e in case.events):
        return
    record_event(session, case, action="assignee_out_of_office", at=app.clock(), actor=sender, message=inbound.row,
                 detail={"assignee": sender})
    from daemon.acks import allow_auto_mail  # late: the interface imports the workflow modules

    # When the absent member is the only contact official, the supervisor is the one who can act.
    managers = [a for a in contact_addresses(app) if a != sender] or [
        m.email for m in app.settings.staff_with_role("supervisor") if m.email != sender]
    to = [a for a in managers if allow_auto_mail(session, app, a, what="out_of_office")]
    if not to:
        log.warning("assignee is out of office and no contact official to tell", extra={"case": case.id})
        return
    send(session, app, case, kind="assignee_out_of_office", to=to,
         context={"assignee": f"{staff_name(app.settings, sender)} <{sender}>", "due_at": case.due_at,
                  "surname": routing.name_for_commands(app.settings, sender),
                  "original_subject": inbound.pm.subject, "received_at": inbound.received_at,
                  "text": (inbound.pm.new_text or inbound.pm.text).strip()[:3000]},
         dedupe_key=f"assignee_out_of_office:{case.id}:{sender}")


def _open(session: Session, app: App, inbound: Inbound, *, flush: bool = True) -> Case:
    pm, classification, row = inbound.pm, inbound.classification, inbound.row
    kind = OPENING_KIND.get(classification.kind, CaseKind.GENERIC)
    counterpart = pm.forwarded.from_addr if kind is CaseKind.APPEAL and pm.forwarded else pm.from_addr
    return open_case(
        session,
        kind=kind,
        subject=pm.subject,
        normalized_subject=normalize_subject(pm.subject),
        counterpart=counterpart or pm.from_addr or None,
        opened_at=row.internal_date,
        message=row,
        tenant=row.tenant,
        channel=classification.channel,
        publication_url=classification.publication_urls[0] if classification.publication_urls else None,
        flush=flush,
    )


def _run(session: Session, app: App, case: Case, inbound: Inbound, *, opening: bool) -> None:
    """Hand the message to the workflow of the case's kind; an illegal move is recorded, never accepted."""
    workflow = WORKFLOWS.get(case.kind)
    if workflow is None:
        return
    try:
        if opening:
            workflow.on_open(session, app, case, inbound)
        else:
            workflow.on_message(session, app, case, inbound)
    except IllegalTransition as exc:
        refuse(session, app, case, action="illegal_transition", reason=str(exc), actor=inbound.sender or "unknown",
               message=inbound.row, message_kind=inbound.kind)


def _closed_case_mail(session: Session, app: App, case: Case, inbound: Inbound) -> Case:
    """Mail for a closed case: the assignee is told; a new case is opened only when configured."""
    record_event(session, case, action="mail_after_close", at=app.clock(), actor=inbound.sender or "unknown",
                 message=inbound.row, detail={"kind": inbound.kind})
    new_case: Case | None = None
    if _new_case_for_closed(app) and inbound.kind not in ("command",):
        new_case = _open(session, app, inbound)
        record_event(session, case, action="followup_opened", at=app.clock(), detail={"new_case": new_case.id})
        record_event(session, new_case, action="follows_closed_case", at=app.clock(), detail={"closed_case": case.id})
        _run(session, app, new_case, inbound, opening=True)
    from daemon.acks import allow_auto_mail  # late: the interface imports the workflow modules

    told = case.assignee if case.assignee and case.assignee != inbound.sender else None
    to = [told] if told else [a for a in contact_addresses(app) if a != inbound.sender]
    # Each relayed letter is an automatic mail caused by someone else's mail: two staff auto-responders
    # would otherwise pass it back and forth through a closed case for ever (the daily limit stops them).
    to = [a for a in to if allow_auto_mail(session, app, a, what="closed_case_mail")]
    if not to:
        return new_case or case
    send(session, app, case, kind="closed_case_mail", to=to,
         context={"sender": inbound.sender or "(не указан)", "original_subject": inbound.pm.subject,
                  "received_at": inbound.received_at, "text": inbound.new_text or inbound.pm.text.strip(),
                  "outcome": case.outcome, "closed_at": case.closed_at,
                  "new_case_tag": f"[{app.settings.organization.case_tag}-{new_case.id}]" if new_case else None},
         dedupe_key=f"closed_case_mail:{case.id}:{inbound.row.id}")
    return new_case or case


def reassign_case(
    session: Session, app: App, case: Case, new_assignee: str, *, actor: str, message: StoredMessage | None = None
) -> None:
    """`#назначить`: give the case to another staff member, who gets the full case letter of its kind."""
    routing.reassign(session, app, case, new_assignee, actor=actor, message=message)
    workflow = WORKFLOWS.get(case.kind)
    if workflow is not None:
        workflow.notify_new(session, app, case)


def start_workflow(session: Session, app: App, case: Case, *, actor: str) -> None:
    """Run the opening step of the case's (new) kind on its first message: used after a re-classification."""
    first = session.scalars(
        select(StoredMessage).where(StoredMessage.case_id == case.id).order_by(StoredMessage.id).limit(1)
    ).first()
    if first is None:
        log.warning("case has no message to start its workflow from", extra={"case": case.id, "actor": actor})
        return
    pm = parse_message(first.raw)
    inbound = Inbound(row=first, pm=pm, classification=classify(pm, classifier_rules(app.settings)))
    _run(session, app, case, inbound, opening=True)
