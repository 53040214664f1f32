"""Acknowledgements, loop protection and bounces: what curmail does with a mail after the workflow saw it.

* A new case from the ЦУР or a staff member gets a short acknowledgement with its tag and deadline
  (`[acks] kinds`; appeals forwarded by the ЦУР get none unless `[acks] cur_appeals = true`).
* Never an automatic answer to mail on the DESIGN.md list (`Classification.no_auto_reply`).
* At most `[security] auto_mail_per_address_per_day` answers per address and day (counted in the
  `kv` table per day and address), one acknowledgement per sender and case (a dedupe key); past the
  limit the contact official is told once that day.
* A bounce of our own letter marks its outbox row `delivery_failed_at` and tells the contact official:
  an official comment that never reached the press service is an incident.

`after_dispatch` is the one hook `daemon.dispatch.act` calls after the workflow: commands, bounces,
acknowledgements and calendar invitations.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon import ics
from daemon.app import App
from daemon.cases import CaseKind, record_event
from daemon.db.models import Case, KeyValue, OutboxMessage, StoredMessage
from daemon.notices import contact_addresses
from daemon.outbox import ALERT_KINDS, enqueue
from parsers import Classification, ParsedMessage

log = logging.getLogger("curmail.acks")

# Letters about delivery problems themselves: a bounce of one of them alerts nobody (no recursion).
QUIET_KINDS = frozenset({*ALERT_KINDS, "delivery_failed", "auto_mail_limit"})
# DSN actions that report no failure (RFC 3464 §2.3.3): a success notice must not raise an incident.
SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
# How far back a bounce without the original's Message-ID is matched by recipient: Postfix gives up
# on a message after 5 days (maximal_queue_lifetime), so no bounce of an older letter can still come.
RECIPIENT_WINDOW = timedelta(days=5)


def per_day_limit(app: App) -> int:
    return app.settings.security.auto_mail_per_address_per_day


# ---------------------------------------------------------------- the hook


def after_dispatch(
    session: Session,
    app: App,
    row: StoredMessage,
    pm: ParsedMessage,
    classification: Classification,
    case: Case | None,
    *,
    opened: bool,
) -> Case | None:
    """Run commands, settle bounces, acknowledge new cases, and keep calendar invitations current."""
    from daemon import commands  # late: commands imports this module for the rate limit

    kind = classification.kind
    if kind == "command":
        case = commands.execute(session, app, row, pm, classification, case)
    elif kind == "bounce":
        on_bounce(session, app, row, classification, case, pm)
    elif case is not None and opened and row.case_id == case.id:
        acknowledge(session, app, case, row, pm, classification)
    if case is not None:
        ics.sync(session, app, case)
    return case


# ---------------------------------------------------------------- rate limit


def _day(app: App, now: datetime) -> str:
    return now.astimezone(app.settings.organization.zone).date().isoformat()


def _kv_key(day: str, address: str) -> str:
    key = f"automail:{day}:{address}"
    if len(key) > 200:
        key = f"automail:{day}:sha256:{hashlib.sha256(address.encode()).hexdigest()}"
    return key


def allow_auto_mail(session: Session, app: App, address: str, *, what: str) -> bool:
    """Count one automatic answer to `address` today; False past the daily limit (the contact is told once)."""
    address = address.strip().lower()
    if not address:
        return False
    now = app.clock()
    day = _day(app, now)
    key = _kv_key(day, address)
    entry = session.get(KeyValue, (key, app.tenant))
    if entry is None:
        entry = KeyValue(key=key, tenant=app.tenant, value={"count": 0, "told": False}, updated_at=now)
        session.add(entry)
    value = dict(entry.value or {})
    limit = per_day_limit(app)
    if value.get("count", 0) >= limit:
        if not value.get("told"):
            value["told"] = True
            _tell_limit(session, app, address, day, limit, what)
        entry.value, entry.updated_at = value, now
        log.warning("auto-mail limit reached; not answering", extra={"address": address, "what": what})
        return False
    value["count"] = value.get("count", 0) + 1
    entry.value, entry.updated_at = value, now  # assign a new dict: JSON columns track assignment
    session.flush()
    return True


def _tell_limit(session: Session, app: App, address: str, day: str, limit: int, what: str) -> None:
    # When the limited address is the contact official's own (a flood of command answers), the
    # supervisor is told instead: somebody must learn that curmail went quiet towards her.
    to = [a for a in contact_addresses(app) if a != address] or [
        m.email for m in app.settings.staff_with_role("supervisor") if m.email != address]
    if not to:
        log.error("auto-mail limit reached and no other contact official to tell", extra={"address": address})
        return
    enqueue(session, app.settings, kind="auto_mail_limit", to=to,
            context={"address": address, "limit": limit, "day": day, "what": what},
            dedupe_key=f"auto_mail_limit:{day}:{hashlib.sha256(address.encode()).hexdigest()[:32]}",
            now=app.clock())


# ---------------------------------------------------------------- acknowledgements


def acknowledge(
    session: Session, app: App, case: Case, row: StoredMessage, pm: ParsedMessage, classification: Classification
) -> bool:
    """A short «принято» to the ЦУР or staff sender of a new case; True when one was enqueued."""
    settings = app.settings
    config = app.settings.acks
    sender = (pm.from_addr or "").lower()
    from_cur = settings.is_cur_address(sender)
    if not config.enabled or classification.no_auto_reply or not sender:
        return False
    if not (from_cur or settings.staff_by_email(sender) is not None):
        return False  # citizens are answered by the appeal workflow, never by a robot
    if case.kind not in config.kinds:
        return False
    if case.kind == CaseKind.APPEAL and from_cur and not config.cur_appeals:
        return False
    if sender in {case.assignee, *contact_addresses(app)}:
        return False  # they already got the case's own notification
    dedupe = f"ack:{case.id}"
    if session.scalars(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == f"{dedupe}:{sender}")).first():
        return False  # one acknowledgement per sender and case
    if not allow_auto_mail(session, app, sender, what="ack"):
        record_event(session, case, action="ack_suppressed", at=app.clock(), actor="curmail", message=row,
                     detail={"to": sender, "reason": "daily auto-mail limit"})
        return False
    enqueue(session, settings, kind="ack", to=[sender], case=case,
            context={"original_subject": pm.subject, "due_at": case.due_at, "kind": case.kind,
                     "assignee": settings.staff_by_email(case.assignee).name
                     if case.assignee and settings.staff_by_email(case.assignee) else None},
            in_reply_to=pm.message_id, references=list(pm.references), dedupe_key=dedupe,
            auto_submitted="auto-replied", now=app.clock())
    return True


# ---------------------------------------------------------------- bounces


def on_bounce(
    session: Session,
    app: App,
    row: StoredMessage,
    classification: Classification,
    case: Case | None,
    pm: ParsedMessage | None = None,
) -> OutboxMessage | None:
    """Match a bounce (RFC 3464) to our outbox row, mark it failed and tell the contact official once.

    The original's Message-ID decides; a bounce without one (Exim's plain-text bounces, a DSN that does
    not return the headers) is matched by its failed recipient to our latest letter to that address
    within RECIPIENT_WINDOW. A delay warning (Action: delayed) marks nothing failed: it is recorded, and
    for a letter to the press service the contact official hears that it is late.
    """
    report = pm.report if pm is not None else None
    original = classification.bounced_message_id or (report.original_message_id if report else None)
    sent = None
    if original:
        sent = session.scalars(select(OutboxMessage).where(OutboxMessage.message_id == original.strip())).first()
    matched_by_recipient = False
    if sent is None:
        sent = _latest_to(session, app, _failed_recipients(pm))
        matched_by_recipient = sent is not None
    if sent is None:
        log.info("bounce matches none of our letters", extra={"message": row.id, "message_id": original})
        return None
    action = (report.action or "").lower() if report is not None else ""
    if action in SUCCESS_ACTIONS:
        log.info("delivery status notification without a failure", extra={"outbox_id": sent.id, "action": action})
        return sent
    if sent.delivery_failed_at is not None:
        return sent
    now = app.clock()
    delayed = action == "delayed"
    detail = {"outbox_id": sent.id, "kind": sent.kind, "recipients": list(sent.recipients),
              "status": report.status if report else None,
              "diagnostic": (report.diagnostic or "")[:500] if report else None,
              "matched_by": "recipient" if matched_by_recipient else "message_id"}
    target = case if case is not None else (session.get(Case, sent.case_id) if sent.case_id else None)
    if target is not None:
        record_event(session, target, action="delivery_delayed" if delayed else "delivery_failed", at=now,
                     actor="curmail", message=row, detail=detail)
    press = app.settings.press.address
    to_press = press in sent.recipients
    if delayed and not to_press:
        return sent  # the MTA keeps trying; only the press letter's delay matters enough to interrupt anyone
    if not delayed:
        sent.delivery_failed_at = now
    if sent.kind in QUIET_KINDS:
        log.error("a delivery alert itself bounced; not alerting again", extra={"outbox_id": sent.id})
        return sent
    to = [a for a in contact_addresses(app) if a not in sent.recipients]
    if not to:
        log.error("bounce with nobody to tell", extra={"outbox_id": sent.id})
        return sent
    enqueue(session, app.settings, kind="delivery_failed", to=to, case=target,
            context={"recipient": ", ".join(sent.recipients), "original_subject": sent.subject,
                     "sent_at": sent.sent_at or sent.created_at, "status": detail["status"] or "",
                     "diagnostic": detail["diagnostic"] or "", "outbox_id": sent.id,
                     "to_press": to_press, "press": press, "delayed": delayed,
                     "matched_by_recipient": matched_by_recipient},
            dedupe_key=f"{'delivery_delayed' if delayed else 'delivery_failed'}:{sent.id}", bulk=False, now=now)
    return sent


def _failed_recipients(pm: ParsedMessage | None) -> set[str]:
    """The addresses a bounce says failed: its DSN's recipients and Exim's X-Failed-Recipients."""
    if pm is None:
        return set()
    found = {r.strip().lower() for r in (pm.report.recipients if pm.report else ()) if r}
    for value in pm.header_all("x-failed-recipients"):
        found.update(a.strip().strip("<>").lower() for a in value.split(",") if "@" in a)
    return found


def _latest_to(session: Session, app: App, recipients: set[str]) -> OutboxMessage | None:
    """Our latest letter sent to one of `recipients` within RECIPIENT_WINDOW (failed or not: a repeated
    bounce must find the letter it already reported, not an earlier one)."""
    if not recipients:
        return None
    now = app.clock()
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.recipients)
        .where(OutboxMessage.tenant == app.tenant, OutboxMessage.sent_at.is_not(None),
               OutboxMessage.sent_at >= now - RECIPIENT_WINDOW, OutboxMessage.sent_at <= now)
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
    )
    for outbox_id, sent_to in rows:
        if {str(r).lower() for r in sent_to or ()} & recipients:
            return session.get(OutboxMessage, outbox_id)
    return None
