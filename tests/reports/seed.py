"""Seed a database with cases directly (Case, CaseEvent, OutboxMessage rows), described by plain specs.

The specs are also what the tests compute their expected figures from, independently of the
report code: each spec says in plain values what happened to one case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.db.models import Case, CaseEvent, OutboxMessage, StoredMessage

MSK = ZoneInfo("Europe/Moscow")


def msk(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=MSK)


@dataclass
class Spec:
    """One case as a test describes it (local МСК times)."""

    kind: str
    opened: datetime
    channel: str | None = None
    topic: str | None = None
    due: datetime | None = None
    closed: datetime | None = None
    extended: bool = False
    applicant: dict[str, str] = field(default_factory=dict)
    address: str | None = None
    draft_after_h: float | None = None  # refutation: first draft this many hours after the signal
    approved_version: int | None = None
    press_after_h: float | None = None
    outcome: str | None = None
    store_on_time: bool = True  # write data["answer"]["on_time"] as the workflow does (else the report derives it)
    messages: int = 1
    case_id: int | None = None


def add(session: Session, spec: Spec) -> Case:
    """Insert the case of `spec` with its data, audit rows, a stored message and (refutations) a press letter."""
    from datetime import timedelta

    data: dict[str, Any] = {}
    state = "closed" if spec.closed else "assigned"
    if spec.applicant:
        data["applicant"] = spec.applicant
    if spec.address:
        data["address"] = spec.address
    if spec.closed and spec.store_on_time:
        data["answer"] = {"text": "Ответ заявителю", "on_time": spec.due is None or spec.closed <= spec.due,
                          "at": spec.closed.astimezone(UTC).isoformat()}
    if spec.extended:
        data["original_due_at"] = (spec.due - timedelta(days=10)).astimezone(UTC).isoformat()
    if spec.draft_after_h is not None:
        at = (spec.opened + timedelta(hours=spec.draft_after_h)).astimezone(UTC).isoformat()
        versions = max(spec.approved_version or 1, 1)
        data["drafts"] = [{"version": v, "at": at, "text": f"Проект {v}"} for v in range(1, versions + 1)]
        data["draft_met_at"] = at
    if spec.approved_version is not None:
        data["approved"] = {"version": spec.approved_version, "at": spec.opened.astimezone(UTC).isoformat()}
        state = "sent_to_press" if not spec.closed else state
    case = Case(kind=spec.kind, state=state, subject=f"Дело {spec.kind} {spec.opened:%d.%m}",
                normalized_subject="", counterpart=spec.applicant.get("email") or "cur@example.org",
                topic=spec.topic, channel=spec.channel, assignee="petrov@kozmo.example",
                opened_at=spec.opened, closed_at=spec.closed, due_at=spec.due, outcome=spec.outcome,
                data=data or None)
    session.add(case)
    session.flush()
    spec.case_id = case.id
    session.add(CaseEvent(case_id=case.id, at=spec.opened, actor=spec.applicant.get("email") or "cur@example.org",
                          action="opened", to_state="new", detail={"kind": spec.kind}))
    if spec.extended:
        session.add(CaseEvent(case_id=case.id, at=spec.opened, actor="ivanova@kozmo.example",
                              action="deadline_extended", detail={"reason": "запрос в ресурсоснабжающую организацию"}))
    if spec.closed:
        session.add(CaseEvent(case_id=case.id, at=spec.closed, actor="petrov@kozmo.example",
                              action="transition:answered", from_state="assigned", to_state="closed"))
    for n in range(spec.messages):
        raw = (f"From: {spec.applicant.get('email') or 'cur@example.org'}\r\nSubject: test\r\n\r\n"
               f"Обращение {spec.applicant.get('name', '')} {spec.address or ''}\r\n").encode()
        session.add(StoredMessage(
            direction="in", message_id=f"<seed-{case.id}-{n}@example.org>", sha256="0" * 64, size=len(raw),
            internal_date=spec.opened, stored_at=spec.opened, raw=raw, status="processed", kind=spec.kind,
            subject="Обращение", from_addr=spec.applicant.get("email") or "cur@example.org", case_id=case.id,
            details={"channel": spec.channel, "applicant": spec.applicant}))
    if spec.press_after_h is not None:
        sent = spec.opened + timedelta(hours=spec.press_after_h)
        session.add(OutboxMessage(
            case_id=case.id, kind="refutation_press", message_id=f"<press-{case.id}@curmail.example>",
            mail_from="adm@kozmo.example", recipients=["prpress@gov.mari.ru"], subject="Официальный комментарий",
            raw=b"Subject: x\r\n\r\ncomment\r\n", status="sent", created_at=sent, next_attempt_at=sent, sent_at=sent))
    return case


def add_all(session: Session, specs: list[Spec]) -> None:
    """Insert the cases, and index the appeals' repeat keys as the workflow does when an appeal opens."""
    from daemon.db.models import Case
    from daemon.reports.repeats import index_case

    for spec in specs:
        add(session, spec)
    session.flush()
    for case in session.scalars(select(Case).where(Case.kind == "appeal")):
        index_case(session, case)
    session.commit()
