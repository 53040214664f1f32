"""One statistics row per case (CaseFacts): what every report reads, and what retention keeps after deleting.

Reports never read mail: they read these rows, built from the case, its `data` (written by the
workflow) and its audit trail. When retention has anonymised a case, `case.data["stats"]` holds the
row it stored before deleting, and that row is used as is, so old quarters can still be reported.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.db.models import Case, CaseEvent, OutboxMessage

STATS_KEY = "stats"  # case.data key of the anonymised row retention stores
PRESS_TEMPLATE = "refutation_press"  # the outbox kind of the letter to the press service
EXTENDED_ACTION = "deadline_extended"  # audit action of daemon.workflow.deadlines.extend

_STREET_WORDS = re.compile(
    r"\b(?:ул|улица|пр|пр-т|проспект|пер|переулок|пл|площадь|б-р|бульвар|ш|шоссе|наб|набережная|мкр|микрорайон"
    r"|д|дом|кв|квартира|корп|корпус|стр|строение|г|город)\b\.?",
    re.IGNORECASE,
)
_HOUSE = re.compile(r"\b\d+[а-яa-z]?(?:/\d+)?\b", re.IGNORECASE)
_NON_WORD = re.compile(r"[^\w]+")


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def normalize_address(address: str | None) -> str | None:
    """«ул. Советская, д. 12» and «Советская улица 12» give the same key «советская 12»; None when empty."""
    if not address:
        return None
    text = address.lower().replace("ё", "е")
    text = _STREET_WORDS.sub(" ", text)
    words = [w for w in _NON_WORD.split(text) if w]
    return " ".join(sorted(words)) or None


def street_of(address: str | None) -> str | None:
    """The street without house numbers and street-type words, capitalised: «Советская»; None when unknown."""
    if not address:
        return None
    text = _STREET_WORDS.sub(" ", address.replace("ё", "е").replace("Ё", "Е"))
    text = _HOUSE.sub(" ", text)
    words = [w for w in _NON_WORD.split(text) if w and not w.isdigit()]
    if not words:
        return None
    return " ".join(w[:1].upper() + w[1:].lower() for w in words)


def applicant_key(applicant: dict[str, Any] | None) -> tuple[str, ...]:
    """Pseudonymous keys of an applicant (sha256 of the e-mail and of the phone digits): same person, same key."""
    if not applicant:
        return ()
    keys = []
    email = str(applicant.get("email") or "").strip().lower()
    if email:
        keys.append("e:" + hashlib.sha256(email.encode()).hexdigest()[:32])
    digits = re.sub(r"\D", "", str(applicant.get("phone") or ""))
    if len(digits) >= 10:
        keys.append("p:" + hashlib.sha256(digits[-10:].encode()).hexdigest()[:32])
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What the reports need to know about one case; no names, no texts (the address only until retention)."""

    case_id: int
    kind: str
    state: str
    channel: str | None
    topic: str | None
    opened_at: datetime
    closed_at: datetime | None = None
    due_at: datetime | None = None
    answered_on_time: bool | None = None  # None while open; for closed cases: answered by the deadline
    extended: bool = False
    repeat_of: tuple[int, ...] = ()  # earlier appeals this one repeats (repeats.py)
    outcome: str | None = None
    address_key: str | None = None  # normalised street address: repeats by address; deleted by retention
    street: str | None = None  # street only (no house), kept after retention for problem statistics
    applicant_keys: tuple[str, ...] = ()  # pseudonymous; deleted by retention
    draft_at: datetime | None = None  # refutation: first draft sent to the ЦУР
    drafts: int = 0
    approved_version: int | None = None
    approved_at: datetime | None = None
    press_at: datetime | None = None  # refutation: the letter to the press service (sent, else enqueued)
    anonymised: bool = False

    def is_closed_at(self, moment: datetime) -> bool:
        return self.closed_at is not None and self.closed_at <= moment

    def to_json(self) -> dict[str, Any]:
        """The row as JSON for `case.data["stats"]` (datetimes as ISO 8601 UTC)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, datetime):
                value = value.astimezone(UTC).isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseFacts:
        values: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            if name not in data:
                continue
            value = data[name]
            if name.endswith("_at"):
                value = _parse_time(value)
            elif name in ("repeat_of", "applicant_keys"):
                value = tuple(value or ())
            values[name] = value
        return cls(**values)

    def anonymous(self) -> CaseFacts:
        """The row without anything that could point to a person: what retention stores."""
        return replace(self, address_key=None, applicant_keys=(), outcome=_outcome_class(self.outcome),
                       anonymised=True)


def _outcome_class(outcome: str | None) -> str | None:
    """Keep the standard outcome words; a staff-written outcome text may name people, so only its presence stays."""
    if outcome is None:
        return None
    return outcome if outcome in ("answered", "published", "sent", "duplicate", "no_action") else "answered"


def facts_of(
    case: Case, events: Sequence[CaseEvent] = (), press_at: datetime | None = None, *, extended: bool | None = None
) -> CaseFacts:
    """The statistics row of a live case (or the stored one of an anonymised case).

    `extended` says whether the audit trail has an extension; when None, `events` are searched.
    """
    data = case.data or {}
    if STATS_KEY in data:
        return CaseFacts.from_json(data[STATS_KEY])
    answer = data.get("answer") or {}
    on_time: bool | None = None
    if case.closed_at is not None:
        if "on_time" in answer:
            on_time = bool(answer["on_time"])
        else:
            on_time = case.due_at is None or case.closed_at <= case.due_at
    if extended is None:
        extended = any(e.action == EXTENDED_ACTION for e in events)
    extended = extended or "original_due_at" in data
    drafts = data.get("drafts") or []
    approved = data.get("approved") or {}
    address = data.get("address")
    return CaseFacts(
        case_id=case.id,
        kind=case.kind,
        state=case.state,
        channel=case.channel,
        topic=case.topic,
        opened_at=case.opened_at,
        closed_at=case.closed_at,
        due_at=case.due_at,
        answered_on_time=on_time,
        extended=extended,
        repeat_of=tuple(int(x) for x in data.get("repeat_of") or ()),
        outcome=case.outcome,
        address_key=normalize_address(address),
        street=street_of(address),
        applicant_keys=applicant_key(data.get("applicant")),
        draft_at=_parse_time(data.get("draft_met_at")) or (_parse_time(drafts[0].get("at")) if drafts else None),
        drafts=len(drafts),
        approved_version=approved.get("version"),
        approved_at=_parse_time(approved.get("at")),
        press_at=press_at,
    )


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _extended_ids(session: Session, case_ids: Iterable[int]) -> set[int]:
    """Cases whose audit trail records an extension (one indexed query per 500 cases, not every event)."""
    found: set[int] = set()
    for chunk in _chunks(list(case_ids)):
        found.update(session.scalars(
            select(CaseEvent.case_id).where(CaseEvent.action == EXTENDED_ACTION, CaseEvent.case_id.in_(chunk))
        ))
    return found


def _press_times(session: Session, case_ids: Iterable[int]) -> dict[int, datetime]:
    """The first letter to the press service per case: when it was sent, else when it was enqueued."""
    found: dict[int, datetime] = {}
    for chunk in _chunks(list(case_ids)):
        rows = session.execute(
            select(OutboxMessage.case_id, OutboxMessage.sent_at, OutboxMessage.created_at)
            .where(OutboxMessage.kind == PRESS_TEMPLATE, OutboxMessage.case_id.in_(chunk))
        )
        for case_id, sent_at, created_at in rows:
            moment = sent_at or created_at
            if case_id not in found or moment < found[case_id]:
                found[case_id] = moment
    return found


def load_facts(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    kinds: Sequence[str] = ("appeal", "refutation", "request"),
    tenant: str = "default",
    closed: bool = False,
) -> list[CaseFacts]:
    """Statistics rows of the cases of `kinds` opened (or, with `closed`, closed) in [start, end), by number."""
    column = Case.closed_at if closed else Case.opened_at
    cases = list(session.scalars(
        select(Case)
        .where(Case.tenant == tenant, Case.kind.in_(list(kinds)), column >= start, column < end)
        .order_by(Case.id)
    ))
    press = _press_times(session, [c.id for c in cases if c.kind == "refutation"])
    extended = _extended_ids(session, [c.id for c in cases if c.kind == "appeal"])
    return [facts_of(c, press_at=press.get(c.id), extended=c.id in extended) for c in cases]
