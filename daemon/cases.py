"""Case rows and their audit trail: open a case, attach a message, record every event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.db.models import Case, CaseEvent, StoredMessage
from daemon.workflow.states import State

SYSTEM_ACTOR = "curmail"


class CaseKind(StrEnum):
    """The kinds of work the regulation defines (see REGULATION.md)."""

    REFUTATION = "refutation"  # a ЦУР signal of unreliable information: draft comment within 3 hours
    REQUEST = "request"  # an official ЦУР request with a deadline
    APPEAL = "appeal"  # a citizen's appeal, by channel
    GENERIC = "generic"  # anything else from the ЦУР or staff: the contact official sorts it out
    REPORT = "report"  # a standing obligation such as the quarterly statistics


# Which message kinds open which case kind when nothing threads them into an existing case.
OPENING_KIND: dict[str, CaseKind] = {
    "cur_signal": CaseKind.REFUTATION,
    "cur_proposal": CaseKind.REFUTATION,
    "cur_request": CaseKind.REQUEST,
    "appeal": CaseKind.APPEAL,
    "cur_approval": CaseKind.GENERIC,
    "cur_remarks": CaseKind.GENERIC,
    "staff_reply": CaseKind.GENERIC,
    "unknown": CaseKind.GENERIC,
}

# Machine mail and commands never open a case on their own; they attach when they thread.
NEVER_OPENS = frozenset({"bounce", "auto_reply", "command"})



@dataclass(frozen=True, slots=True)
class CaseSummary:
    """A case as the CLI and reports show it."""

    number: int
    tag: str
    kind: str
    state: str
    subject: str
    assignee: str | None
    opened_at: datetime
    due_at: datetime | None
    closed_at: datetime | None
    topic: str | None
    channel: str | None


def record_event(
    session: Session,
    case: Case,
    *,
    action: str,
    at: datetime,
    actor: str = SYSTEM_ACTOR,
    from_state: str | None = None,
    to_state: str | None = None,
    message: StoredMessage | None = None,
    detail: dict[str, Any] | None = None,
) -> CaseEvent:
    """Append one audit row; every state change and every attached message goes through here."""
    event = CaseEvent(
        case=case,
        at=at,
        actor=actor,
        action=action,
        from_state=from_state,
        to_state=to_state,
        message_row_id=message.id if message is not None else None,
        detail=detail,
    )
    session.add(event)
    return event


def open_case(
    session: Session,
    *,
    kind: CaseKind,
    subject: str,
    normalized_subject: str,
    counterpart: str | None,
    opened_at: datetime,
    message: StoredMessage | None,
    tenant: str = "default",
    actor: str = SYSTEM_ACTOR,
    flush: bool = True,
    **fields: Any,
) -> Case:
    """Create a case in its opening state and link the message that opened it.

    `flush=False` leaves the case without a number until the session flushes: intake threads a whole
    batch and flushes once.
    """
    case = Case(
        tenant=tenant,
        kind=kind.value,
        state=State.NEW,
        subject=subject[:2000],
        normalized_subject=normalized_subject[:500],
        counterpart=counterpart,
        opened_at=opened_at,
        **fields,
    )
    session.add(case)
    if message is not None:
        message.case = case  # by relationship: the foreign key is filled in when the case gets its id
    if flush:
        session.flush()
    record_event(
        session, case, action="opened", at=opened_at, actor=actor, to_state=case.state, message=message,
        detail={"kind": kind.value},
    )
    return case


def attach_message(session: Session, case: Case, message: StoredMessage, *, at: datetime, how: str) -> None:
    """Link a message to an existing case and say in the audit trail how it was threaded."""
    message.case = case
    record_event(
        session, case, action="message_attached", at=at, actor=message.from_addr or SYSTEM_ACTOR,
        message=message, detail={"threaded_by": how, "kind": message.kind},
    )


def format_tag(case_tag: str, number: int) -> str:
    return f"[{case_tag}-{number}]"


def summarize(case: Case, case_tag: str) -> CaseSummary:
    return CaseSummary(
        number=case.id,
        tag=format_tag(case_tag, case.id),
        kind=case.kind,
        state=case.state,
        subject=case.subject,
        assignee=case.assignee,
        opened_at=case.opened_at,
        due_at=case.due_at,
        closed_at=case.closed_at,
        topic=case.topic,
        channel=case.channel,
    )


def get_case(session: Session, number: int, tenant: str = "default") -> Case | None:
    return session.scalars(select(Case).where(Case.id == number, Case.tenant == tenant)).first()
