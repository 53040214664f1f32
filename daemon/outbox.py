"""The transactional outbox: enqueue rendered letters in the caller's transaction, one row per recipient.

The caller commits: a state change and the mail it causes land together or not at all (the
transactional outbox pattern, DESIGN.md step 6). Each row gets its own per-recipient Message-ID at
enqueue (see daemon.tokens), and keeps it on every retry and on `curmail outbox resend`.
`daemon.sender` delivers the rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.compose import (
    Letter,
    OutgoingAttachment,
    case_pseudo_id,
    compose,
    tag_for,
    tagged_subject,
    thread_references,
)
from daemon.config import Settings
from daemon.db.models import Case, CaseEvent, OutboxMessage, OutboxStatus
from daemon.errors import WorkflowError
from daemon.render import Renderer
from daemon.tokens import new_nonce, tokens_for
from parsers.workcalendar import CalendarSettings, WorkCalendar

log = logging.getLogger(__name__)

__all__ = [
    "ALERT_KINDS",
    "OutgoingAttachment",
    "alert_contact",
    "confirm",
    "enqueue",
    "list_rows",
    "renderer_for",
    "resend",
]

# Letters about the outbox itself: if one of them fails, nobody is alerted about it (no recursion).
ALERT_KINDS = frozenset({"send_failed", "send_uncertain"})
DEFAULT_TENANT = "default"


@lru_cache(maxsize=8)
def _renderer(search_path: tuple[Path, ...], timezone: str) -> Renderer:
    return Renderer(search_path, calendar=WorkCalendar(CalendarSettings(timezone=timezone)))


def renderer_for(settings: Settings) -> Renderer:
    """The renderer for these settings: the operator's template folder first (if set), then the built-in one."""
    override = settings.mail.templates_dir
    search = (Path(override),) if override else ()
    return _renderer(search, settings.organization.timezone)


def _base_context(settings: Settings, case: Case | None, now: datetime) -> dict[str, Any]:
    org = settings.organization
    return {
        "organization": {"name": org.name, "address": org.address, "short_name": org.short_name or org.name},
        "case": case,
        "case_tag": tag_for(org.case_tag, case.id) if case is not None and case.id is not None else "",
        "now": now,
    }


def _recipients(to: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for address in to:
        address = address.strip().lower()
        if address and address not in seen:
            seen.append(address)
    return seen


def enqueue(
    session: Session,
    settings: Settings,
    *,
    kind: str,
    to: Sequence[str],
    context: Mapping[str, Any],
    case: Case | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    dedupe_key: str | None = None,
    attachments: Sequence[OutgoingAttachment] = (),
    auto_submitted: str = "auto-generated",
    bulk: bool = True,
    tag_subject: bool = True,
    now: datetime,
) -> list[OutboxMessage]:
    """Render `kind` and add one queued row per recipient to `session`; the caller commits.

    The returned rows are flushed (they have their ids) but not committed.

    With `dedupe_key`, each recipient's row is keyed `"{dedupe_key}:{recipient}"`, and a key that
    already exists adds nothing: a reminder enqueued twice (a retried transaction, a restart) is sent
    once. Two transactions racing on the same key make the second one fail at flush/commit with an
    IntegrityError, which rolls back its whole unit of work, state change included — the right
    outcome, since the other transaction did that work.
    """
    if now.tzinfo is None:
        raise ValueError("enqueue needs an aware `now`")
    recipients = _recipients(to)
    if not recipients:
        return []
    if case is not None and case.id is None:
        session.flush()  # the case number goes into the subject tag and the References pseudo-id
    keys = {r: f"{dedupe_key}:{r}" for r in recipients} if dedupe_key else {}
    if keys:
        existing = select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys.values()))
        taken = set(session.scalars(existing))
        recipients = [r for r in recipients if keys[r] not in taken]
        if not recipients:
            return []

    org = settings.organization
    rendered = renderer_for(settings).render(kind, {**_base_context(settings, case, now), **context})
    subject = rendered.subject
    pseudo_id = None
    tenant = DEFAULT_TENANT
    if case is not None:
        if tag_subject:  # only letters to outsiders with a prescribed subject (the press service) go untagged
            subject = tagged_subject(subject, tag_for(org.case_tag, case.id))
        tenant = case.tenant or DEFAULT_TENANT
        pseudo_id = case_pseudo_id(tenant, case.id, org.id_domain)
    parent, chain = thread_references(in_reply_to, references, pseudo_id)
    tokens = tokens_for(settings.state.directory)
    local_now = now.astimezone(org.zone)

    rows = []
    for recipient in recipients:
        message_id = tokens.make_message_id(recipient, new_nonce(), org.id_domain)
        raw = compose(
            Letter(
                from_name=org.name,
                from_address=org.address,
                to=recipient,
                subject=subject,
                text=rendered.text,
                html=rendered.html,
                message_id=message_id,
                date=local_now,
                in_reply_to=parent,
                references=chain,
                auto_submitted=auto_submitted,
                bulk=bulk,
                loop_address=org.address,
                attachments=attachments,
            )
        )
        row = OutboxMessage(
            tenant=tenant,
            case_id=case.id if case is not None else None,
            kind=kind,
            message_id=message_id,
            dedupe_key=keys.get(recipient),
            mail_from=org.address,
            recipients=[recipient],
            subject=subject,
            raw=raw,
            status=OutboxStatus.QUEUED,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
            appended_to_sent=False,
        )
        session.add(row)
        rows.append(row)
    session.flush()  # callers record the new rows' ids in the case history
    return rows


def list_rows(
    session: Session, *, status: str | Sequence[str] | None = None, limit: int = 100
) -> list[OutboxMessage]:
    """The newest rows first, optionally only those in the given status(es): `curmail outbox list`."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        query = query.where(OutboxMessage.status.in_(statuses))
    return list(session.scalars(query))


def _row(session: Session, number: int) -> OutboxMessage:
    row = session.get(OutboxMessage, number, with_for_update=True)
    if row is None:
        raise WorkflowError(f"В очереди нет письма № {number}.")
    return row


def _audit(session: Session, row: OutboxMessage, action: str, now: datetime, actor: str, **detail: Any) -> None:
    if row.case_id is None:
        return
    session.add(CaseEvent(case_id=row.case_id, at=now, actor=actor, action=action,
                          detail={"outbox_id": row.id, "message_id": row.message_id, **detail}))


def confirm(session: Session, number: int, *, now: datetime, actor: str = "cli") -> OutboxMessage:
    """`curmail outbox confirm N`: a human checked that the uncertain letter arrived; mark it sent."""
    row = _row(session, number)
    if row.status != OutboxStatus.UNCERTAIN:
        raise WorkflowError(f"Письмо № {number} в состоянии «{row.status}»; подтвердить можно только "
                            "письмо в состоянии «uncertain».")
    row.status = OutboxStatus.SENT
    row.sent_at = row.claimed_at or now
    row.claimed_by = None
    row.last_error = f"подтверждено вручную ({actor}): {row.last_error or ''}".strip()
    _audit(session, row, "outbox_confirmed", now, actor)
    return row


def resend(session: Session, number: int, *, now: datetime, actor: str = "cli") -> OutboxMessage:
    """`curmail outbox resend N`: queue an uncertain or failed letter again, with the SAME Message-ID.

    Keeping the Message-ID lets the recipient's server and client drop a duplicate if the first copy
    did arrive after all.
    """
    row = _row(session, number)
    if row.status not in (OutboxStatus.UNCERTAIN, OutboxStatus.FAILED):
        raise WorkflowError(f"Письмо № {number} в состоянии «{row.status}»; повторно отправить можно только "
                            "письмо в состоянии «uncertain» или «failed».")
    previous = row.status
    row.status = OutboxStatus.QUEUED
    row.next_attempt_at = now
    row.claimed_by = None
    row.claimed_at = None
    row.delivery_failed_at = None
    _audit(session, row, "outbox_resend", now, actor, previous=previous)
    return row


def alert_contact(
    session: Session,
    settings: Settings,
    *,
    row: OutboxMessage,
    reason: Literal["failed", "uncertain"],
    error: str,
    now: datetime,
    expired: bool = False,
) -> list[OutboxMessage]:
    """Tell the contact official(s) that `row` failed or is uncertain; never alert about an alert."""
    if row.kind in ALERT_KINDS:
        log.error("outbox alert #%s (%s) itself %s: %s; not alerting about an alert", row.id, row.kind, reason, error)
        return []
    contacts = [m.email for m in settings.staff_with_role("contact")]
    if not contacts:
        log.error("outbox #%s %s (%s) and no staff member has the role contact", row.id, reason, error)
        return []
    context = {
        "outbox_id": row.id,
        "recipient": ", ".join(row.recipients),
        "original_subject": row.subject,
        "error": error,
        "attempts": row.attempts,
        "created_at": row.created_at,
        "attempted_at": row.claimed_at or now,
        "message_id": row.message_id,
        "expired": expired,
    }
    case = session.get(Case, row.case_id) if row.case_id is not None else None
    return enqueue(
        session, settings,
        kind=f"send_{reason}",
        to=contacts,
        context=context,
        case=case,
        # attempts distinguishes a second failure after `resend` from the first one.
        dedupe_key=f"alert:{reason}:{row.id}:{row.attempts}",
        now=now,
    )
