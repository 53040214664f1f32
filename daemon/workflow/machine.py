"""The generic state-machine mechanism: workflow events, one transition table per case kind, audited moves.

Every case kind has an explicit table `(state, event) -> next state`. `apply` is the only code that
changes `Case.state`: it refuses a move the table lacks with `IllegalTransition` (a Russian text that
can be shown to staff) and writes every accepted move to the audit table through `record_event`.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from daemon.app import App
from daemon.cases import CaseKind, record_event
from daemon.config import Settings
from daemon.db.models import Case, OutboxMessage, StoredMessage
from daemon.errors import IllegalTransition
from daemon.outbox import OutgoingAttachment, enqueue
from daemon.workflow.reminders import refresh_next_action
from daemon.workflow.states import CLOSED_STATES, State
from parsers import Classification, ParsedMessage
from parsers.threadkeys import message_refs

log = logging.getLogger("curmail.workflow")


class Event(StrEnum):
    """What can happen to a case; the audit row's `action` is `transition:<event>`."""

    ROUTED = "routed"  # assignee chosen, notification sent
    REASSIGNED = "reassigned"  # another assignee (the contact official re-assigns)
    DRAFT = "draft"  # refutation: the official's draft arrived and went to the ЦУР
    APPROVED = "approved"  # refutation: the ЦУР approved the current draft version
    REMARKS = "remarks"  # refutation: the ЦУР sent the draft back with remarks
    PUBLISHED = "published"  # refutation: the web editor reported the page URL
    ANSWERED = "answered"  # request/appeal: the staff answer is done
    CLOSED = "closed"  # closed by hand (a command), with an outcome
    REOPENED = "reopened"
    RECLASSIFIED = "reclassified"  # generic: the contact official gave it a proper kind


Table = Mapping[tuple[State, Event], State]

_OPEN_BY_HAND = (State.NEW, State.ASSIGNED, State.REWORK, State.AWAITING_APPROVAL, State.SENT_TO_PRESS)


def _common(states: tuple[State, ...]) -> dict[tuple[State, Event], State]:
    """Moves every kind has: close by hand from any open state, reopen, reassign while work is owed."""
    table = {(state, Event.CLOSED): State.CLOSED for state in states}
    table[(State.CLOSED, Event.REOPENED)] = State.ASSIGNED
    for state in states:
        if state is not State.NEW:
            table[(state, Event.REASSIGNED)] = state
    return table


REFUTATION: Table = {
    **_common(_OPEN_BY_HAND),
    (State.NEW, Event.ROUTED): State.ASSIGNED,
    (State.ASSIGNED, Event.DRAFT): State.AWAITING_APPROVAL,
    (State.REWORK, Event.DRAFT): State.AWAITING_APPROVAL,
    # A corrected draft while the ЦУР has not answered yet: a new version replaces the old one,
    # and an approval of the old version is then refused.
    (State.AWAITING_APPROVAL, Event.DRAFT): State.AWAITING_APPROVAL,
    (State.AWAITING_APPROVAL, Event.APPROVED): State.SENT_TO_PRESS,
    (State.AWAITING_APPROVAL, Event.REMARKS): State.REWORK,
    (State.SENT_TO_PRESS, Event.PUBLISHED): State.CLOSED,
}

_ANSWERABLE: Table = {
    **_common((State.NEW, State.ASSIGNED)),
    (State.NEW, Event.ROUTED): State.ASSIGNED,
    (State.ASSIGNED, Event.ANSWERED): State.CLOSED,
}
REQUEST: Table = _ANSWERABLE
APPEAL: Table = _ANSWERABLE

GENERIC: Table = {
    **_common((State.NEW, State.ASSIGNED)),
    (State.NEW, Event.ROUTED): State.ASSIGNED,
    (State.ASSIGNED, Event.ANSWERED): State.CLOSED,
    (State.ASSIGNED, Event.RECLASSIFIED): State.NEW,  # the new kind's workflow routes it again
}

REPORT: Table = {**_common((State.NEW, State.ASSIGNED)), (State.NEW, Event.ROUTED): State.ASSIGNED}

TABLES: Mapping[str, Table] = {
    CaseKind.REFUTATION: REFUTATION,
    CaseKind.REQUEST: REQUEST,
    CaseKind.APPEAL: APPEAL,
    CaseKind.GENERIC: GENERIC,
    CaseKind.REPORT: REPORT,
}

_STATE_RU = {
    State.NEW: "новое", State.ASSIGNED: "назначено исполнителю", State.AWAITING_APPROVAL: "на согласовании в ЦУР",
    State.REWORK: "на доработке", State.SENT_TO_PRESS: "направлено в пресс-службу", State.CLOSED: "закрыто",
}
_EVENT_RU = {
    Event.ROUTED: "назначение исполнителя", Event.REASSIGNED: "переназначение", Event.DRAFT: "приём проекта",
    Event.APPROVED: "согласование", Event.REMARKS: "возврат на доработку", Event.PUBLISHED: "отметка о публикации",
    Event.ANSWERED: "приём ответа", Event.CLOSED: "закрытие", Event.REOPENED: "повторное открытие",
    Event.RECLASSIFIED: "смена вида дела",
}


def state_ru(state: str) -> str:
    """A state as staff read it."""
    try:
        return _STATE_RU[State(state)]
    except ValueError:
        return state


def can_apply(case: Case, event: Event) -> bool:
    """Whether the case's table has a move for `event` from its current state."""
    table = TABLES.get(case.kind, {})
    try:
        return (State(case.state), event) in table
    except ValueError:
        return False


def apply(
    session: Session,
    app: App,
    case: Case,
    event: Event,
    *,
    actor: str,
    message: StoredMessage | None = None,
    detail: dict[str, Any] | None = None,
) -> State:
    """Move the case by its kind's table and audit the move; IllegalTransition when the table has no such move."""
    table = TABLES.get(case.kind)
    if table is None:
        raise IllegalTransition(f"У дела вида «{case.kind}» нет схемы работы.")
    try:
        current = State(case.state)
    except ValueError:
        raise IllegalTransition(f"Дело в неизвестном состоянии «{case.state}».") from None
    target = table.get((current, event))
    if target is None:
        raise IllegalTransition(
            f"Действие «{_EVENT_RU[event]}» невозможно: дело {state_ru(current)}."
        )
    now = app.clock()
    case.state = target.value
    if target in CLOSED_STATES and current not in CLOSED_STATES:
        case.closed_at = now
    elif target not in CLOSED_STATES:
        case.closed_at = None
    record_event(
        session, case, action=f"transition:{event.value}", at=now, actor=actor,
        from_state=current.value, to_state=target.value, message=message, detail=detail,
    )
    refresh_next_action(session, app, case)  # reminders stop (or start) when the case moves
    log.info("case transition", extra={"case": case.id, "event": event.value, "from": current, "to": target})
    return target


def close(
    session: Session, app: App, case: Case, outcome: str, *, actor: str, message: StoredMessage | None = None
) -> None:
    """Close the case by hand with an outcome (`#закрыть <итог>`); IllegalTransition when already closed."""
    apply(session, app, case, Event.CLOSED, actor=actor, message=message, detail={"outcome": outcome})
    case.outcome = outcome


def reopen(session: Session, app: App, case: Case, *, actor: str, message: StoredMessage | None = None) -> None:
    """Reopen a closed case (`#открыть`): back to its assignee, outcome cleared."""
    apply(session, app, case, Event.REOPENED, actor=actor, message=message, detail={"previous_outcome": case.outcome})
    case.outcome = None


def refuse(
    session: Session,
    app: App,
    case: Case,
    *,
    action: str,
    reason: str,
    actor: str,
    message: StoredMessage | None = None,
    **detail: Any,
) -> None:
    """Record an attempt the rules refused (illegal move, unauthorised approval, …) in the case history."""
    record_event(
        session, case, action=action, at=app.clock(), actor=actor, message=message,
        detail={"reason": reason, "state": case.state, **detail},
    )
    log.warning("refused", extra={"case": case.id, "action": action, "reason": reason})


# ---------------------------------------------------------------- deadlines


# ---------------------------------------------------------------- what every workflow reads and sends


@dataclass(frozen=True)
class Inbound:
    """One classified message handed to a workflow: the stored row, its parse and its classification."""

    row: StoredMessage
    pm: ParsedMessage
    classification: Classification

    @property
    def sender(self) -> str:
        return (self.pm.from_addr or "").lower()

    @property
    def kind(self) -> str:
        return self.classification.kind

    @property
    def new_text(self) -> str:
        """What the sender wrote in this mail: no quote, no signature, never a bare sign-off."""
        return substantive(self.pm.new_text)

    @property
    def refs(self) -> tuple[str, ...]:
        """Message-IDs it answers (In-Reply-To, then References)."""
        return message_refs(self.pm)

    @property
    def may_answer(self) -> bool:
        """False for mail we must never answer automatically (loop rules, DESIGN.md)."""
        return not self.classification.no_auto_reply

    @property
    def received_at(self) -> datetime:
        return self.row.internal_date


_SIGN_OFF = re.compile(r"^(?:с уважением|с наилучшими пожеланиями|всего доброго|спасибо)[\s,.!]*$", re.IGNORECASE)


def substantive(text: str) -> str:
    """The text without a «-- » signature block, and empty when all that is left is a sign-off.

    The reply parser keeps a signature or «С уважением, Петров» when nothing else precedes it
    (it cannot tell it from a one-line answer); for a draft or an answer that is still no text.
    """
    lines = text.strip().splitlines()
    for index, line in enumerate(lines):
        if line.rstrip() in ("--", "-- ", "—"):
            lines = lines[:index]
            break
    kept = [line for line in lines if line.strip()]
    if kept and _SIGN_OFF.match(kept[0].strip()) and len(kept) <= 4 and all(len(x) < 80 for x in kept):
        return ""
    return "\n".join(lines).strip()


def send(
    session: Session,
    app: App,
    case: Case,
    *,
    kind: str,
    to: Sequence[str],
    context: Mapping[str, Any],
    dedupe_key: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    attachments: Sequence[OutgoingAttachment] = (),
    bulk: bool = True,
    tag_subject: bool = True,
) -> list[OutboxMessage]:
    """Enqueue a letter of the case in the caller's transaction; log when it has nobody to go to."""
    recipients = [address for address in to if address]
    if not recipients:
        log.error("letter has no recipient", extra={"case": case.id, "template": kind})
        return []
    return enqueue(
        session, app.settings, kind=kind, to=recipients, context=dict(context), case=case,
        in_reply_to=in_reply_to, references=references, dedupe_key=dedupe_key, attachments=attachments,
        bulk=bulk, tag_subject=tag_subject, now=app.clock(),
    )


def case_data(case: Case) -> dict[str, Any]:
    """A fresh copy of `Case.data` to modify and assign back (JSON columns track assignment, not mutation)."""
    return copy.deepcopy(case.data) if case.data else {}


def update_data(case: Case, **values: Any) -> dict[str, Any]:
    """Set keys of `Case.data` and assign the new dict, so the change is persisted."""
    data = case_data(case)
    data.update(values)
    case.data = data
    return data


def attachments_of(pm: ParsedMessage) -> list[OutgoingAttachment]:
    """The files of an incoming mail, ready to go out again (a draft's or an answer's attachments)."""
    return [
        OutgoingAttachment(filename=a.filename or "file", content=a.content, content_type=a.content_type)
        for a in pm.attachments
        if a.content_type != "message/rfc822"
    ]


def staff_name(settings: Settings, address: str | None) -> str:
    """«Петров Сергей Иванович» for a staff address, else the address itself."""
    member = settings.staff_by_email(address) if address else None
    return member.name if member else (address or "не назначен")
