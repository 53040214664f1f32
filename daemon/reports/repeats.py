"""Repeat appeals (п. 6.3.2): the same applicant, or the same address and topic, within a window (default a year).

`find_repeats` is what the appeal workflow calls when an appeal opens; `mark_repeats` also stores the
links in `case.data["repeat_of"]` and audits them. Reports use the same rule (`match_repeats`) on
statistics rows, so a case opened before this module existed is still counted.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from daemon.cases import record_event
from daemon.config import Settings
from daemon.db.models import Case, CaseKey
from daemon.reports.facts import CaseFacts, facts_of
from daemon.reports.settings import repeat_window

ACTION = "repeat_detected"
# The earlier appeals a repeat links to, the latest first: enough to show the pattern to the assignee.
REPEAT_LINKS = 10


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


def repeat_keys(own: CaseFacts) -> list[str]:
    """The case's pseudonymous matching keys: hashed e-mail and phone, and hashed address + topic."""
    keys = list(own.applicant_keys)
    if own.address_key is not None and own.topic is not None:
        place = f"{own.address_key}|{own.topic}".encode()
        keys.append("a:" + hashlib.sha256(place).hexdigest()[:32])
    return keys


def find_repeats(session: Session, case: Case, settings: Settings) -> list[int]:
    """Numbers of the latest `REPEAT_LINKS` earlier appeals that `case` repeats, oldest first.

    Linking every earlier one made a long chain quadratic: the hundredth appeal about one address
    stored, loaded and printed a hundred cases (the memory soak of issue 8 found it).

    One indexed lookup of the case's keys in `case_key`, whatever the number of appeals in the window.
    """
    if case.kind != "appeal":
        return []
    if case.id is None:
        session.flush()
    keys = repeat_keys(facts_of(case))
    if not keys:
        return []
    since = case.opened_at - repeat_window(settings)
    rows = session.execute(
        select(CaseKey.case_id, CaseKey.opened_at).distinct().where(
            CaseKey.tenant == case.tenant, CaseKey.key.in_(keys), CaseKey.opened_at >= since,
            or_(CaseKey.opened_at < case.opened_at,
                and_(CaseKey.opened_at == case.opened_at, CaseKey.case_id < case.id)),
        ).order_by(CaseKey.opened_at.desc(), CaseKey.case_id.desc()).limit(REPEAT_LINKS)
    ).all()
    return [cid for cid, _ in reversed(rows)]


def index_case(session: Session, case: Case) -> None:
    """Record the case's keys, so later appeals find it (idempotent: old keys of the case are replaced)."""
    session.execute(delete(CaseKey).where(CaseKey.case_id == case.id))
    session.add_all(
        CaseKey(tenant=case.tenant, case_id=case.id, key=key, opened_at=case.opened_at)
        for key in dict.fromkeys(repeat_keys(facts_of(case)))
    )


def mark_repeats(session: Session, case: Case, settings: Settings, *, at: datetime) -> list[int]:
    """find_repeats, then store the links in `case.data["repeat_of"]` and audit them (when there are any)."""
    found = find_repeats(session, case, settings)
    index_case(session, case)
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
