"""Repeat appeals (п. 6.3.2): the same applicant, or the same address and topic, within a window (default a year).

`find_repeats` is what the appeal workflow calls when an appeal opens; `mark_repeats` also stores the
links in `case.data["repeat_of"]` and audits them. Reports use the same rule (`match_repeats`) on
statistics rows, so a case opened before this module existed is still counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, cast, or_, select
from sqlalchemy.orm import Session

from daemon.cases import record_event
from daemon.config import Settings
from daemon.db.models import Case
from daemon.reports.facts import CaseFacts, applicant_key, facts_of, normalize_address
from daemon.reports.settings import repeat_window

ACTION = "repeat_detected"


def is_repeat_of(case: CaseFacts, earlier: CaseFacts, window: timedelta) -> bool:
    """Whether `case` repeats `earlier`: opened before it within the window, same applicant or same address+topic."""
    if earlier.case_id == case.case_id or earlier.kind != "appeal":
        return False
    if (earlier.opened_at, earlier.case_id) >= (case.opened_at, case.case_id):
        return False
    if case.opened_at - earlier.opened_at > window:
        return False
    if set(case.applicant_keys) & set(earlier.applicant_keys):
        return True
    return (case.address_key is not None and case.address_key == earlier.address_key
            and case.topic is not None and case.topic == earlier.topic)


class RepeatIndex:
    """Earlier appeals by applicant key and by (address, topic), so matching a quarter is not quadratic."""

    def __init__(self, candidates: Sequence[CaseFacts]) -> None:
        self.by_applicant: dict[str, list[CaseFacts]] = defaultdict(list)
        self.by_place: dict[tuple[str, str], list[CaseFacts]] = defaultdict(list)
        for row in candidates:
            if row.kind != "appeal":
                continue
            for key in row.applicant_keys:
                self.by_applicant[key].append(row)
            if row.address_key is not None and row.topic is not None:
                self.by_place[(row.address_key, row.topic)].append(row)

    def match(self, case: CaseFacts, window: timedelta) -> tuple[int, ...]:
        """Numbers of the earlier appeals `case` repeats, oldest first."""
        near: dict[int, CaseFacts] = {}
        for key in case.applicant_keys:
            near.update((c.case_id, c) for c in self.by_applicant.get(key, ()))
        if case.address_key is not None and case.topic is not None:
            near.update((c.case_id, c) for c in self.by_place.get((case.address_key, case.topic), ()))
        hits = [c for c in near.values() if is_repeat_of(case, c, window)]
        return tuple(c.case_id for c in sorted(hits, key=lambda c: (c.opened_at, c.case_id)))


def match_repeats(case: CaseFacts, candidates: Sequence[CaseFacts], window: timedelta) -> tuple[int, ...]:
    """Numbers of the earlier appeals `case` repeats, oldest first."""
    return RepeatIndex(candidates).match(case, window)


def with_repeats(facts: Sequence[CaseFacts], earlier: Sequence[CaseFacts], window: timedelta) -> list[CaseFacts]:
    """Fill `repeat_of` of the appeals that have no stored links, matching against `earlier` and each other."""
    index = RepeatIndex([*earlier, *facts])
    out = []
    for row in facts:
        if row.kind == "appeal" and not row.repeat_of and not row.anonymised:
            row = replace(row, repeat_of=index.match(row, window))
        out.append(row)
    return out


def _light_facts(case_id: int, opened_at: datetime, topic: str | None, data: dict[str, Any] | None) -> CaseFacts:
    """Only what matching needs, without building a whole statistics row (intake calls this per appeal)."""
    data = data or {}
    return CaseFacts(case_id=case_id, kind="appeal", state="", channel=None, topic=topic, opened_at=opened_at,
                     address_key=normalize_address(data.get("address")),
                     applicant_keys=applicant_key(data.get("applicant")))


def _candidates(session: Session, case: Case, own: CaseFacts, since: datetime) -> list[CaseFacts]:
    """Earlier appeals in the window that could match, narrowed in SQL where the keys allow it.

    Same address and topic needs the same topic; the same e-mail appears in the case's JSON text. A
    phone number is written in too many ways for SQL, so an applicant with a phone scans the window.
    """
    applicant = (case.data or {}).get("applicant") or {}
    email = str(applicant.get("email") or "").strip().lower()
    has_phone = any(key.startswith("p:") for key in own.applicant_keys)
    narrow = []
    if own.address_key is not None and own.topic is not None:
        narrow.append(Case.topic == own.topic)
    if email:
        narrow.append(cast(Case.data, Text).ilike(f"%{email}%"))
    if not narrow and not has_phone:
        return []
    query = select(Case.id, Case.opened_at, Case.topic, Case.data).where(
        Case.tenant == case.tenant, Case.kind == "appeal", Case.id != case.id,
        Case.opened_at >= since, Case.opened_at <= case.opened_at,
    )
    if not has_phone:
        query = query.where(or_(*narrow))
    return [_light_facts(*row) for row in session.execute(query.order_by(Case.opened_at, Case.id))]


def find_repeats(session: Session, case: Case, settings: Settings) -> list[int]:
    """Numbers of the earlier appeals that `case` (an appeal with its data set) repeats, oldest first."""
    if case.kind != "appeal":
        return []
    window = repeat_window(settings)
    if case.id is None:
        session.flush()
    own = facts_of(case)
    return list(match_repeats(own, _candidates(session, case, own, case.opened_at - window), window))


def mark_repeats(session: Session, case: Case, settings: Settings, *, at: datetime) -> list[int]:
    """find_repeats, then store the links in `case.data["repeat_of"]` and audit them (when there are any)."""
    found = find_repeats(session, case, settings)
    if found:
        case.data = {**(case.data or {}), "repeat_of": found}
        record_event(session, case, action=ACTION, at=at, detail={"repeat_of": found})
    return found


def repeat_history(session: Session, numbers: Sequence[int]) -> list[dict[str, Any]]:
    """The earlier appeals for the assignee's notification: number, date, topic, state and outcome."""
    if not numbers:
        return []
    rows = session.scalars(select(Case).where(Case.id.in_(list(numbers))).order_by(Case.opened_at))
    return [
        {"number": c.id, "opened_at": c.opened_at, "topic": c.topic, "state": c.state, "outcome": c.outcome,
         "subject": c.subject, "closed_at": c.closed_at}
        for c in rows
    ]
