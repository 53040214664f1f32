"""Contact officials (п. 9): tell the ЦУР in writing, once per change, when the configured officials change.

The state last reported is kept in KeyValue `contacts:officials`. `check_contacts` compares the
configuration's contact officials (name, position, e-mail, phone) with it; on a difference it
enqueues the notice to the ЦУР addresses and records the new state and the time, in one
transaction, with a dedupe key derived from the old and new states, so the same change is never
reported twice. On the very first run there is nothing to compare with: the state is recorded and
no notice goes (`curmail contacts notify` sends one by hand).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from daemon.app import App
from daemon.config import Settings
from daemon.db.engine import transaction
from daemon.db.models import KeyValue
from daemon.outbox import enqueue

log = logging.getLogger("curmail.reports.contacts")

KEY = "contacts:officials"
TEMPLATE = "contacts_changed"
FIELDS = (("name", "ФИО"), ("position", "должность"), ("email", "эл. почта"), ("phone", "телефон"))


@dataclass(frozen=True, slots=True)
class ContactCheck:
    """What a check found: `changed` (and notified), `first` (recorded without notice), or nothing to do."""

    changed: bool
    first: bool
    notified_to: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()


def officials(settings: Settings) -> list[dict[str, str]]:
    """The contact officials of the configuration, in configured order."""
    return [{"name": m.name, "position": m.position, "email": m.email, "phone": m.phone}
            for m in settings.staff_with_role("contact")]


def fingerprint(people: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(people, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def _describe(person: dict[str, str]) -> str:
    parts = [person.get("name") or "(без имени)", person.get("position"), person.get("email"), person.get("phone")]
    return ", ".join(p for p in parts if p)


def differences(old: list[dict[str, str]], new: list[dict[str, str]]) -> list[str]:
    """Russian lines «назначено / исключено / изменено» between two states; a person is matched by e-mail, then name."""
    lines: list[str] = []
    unmatched_old = list(old)
    for person in new:
        match = next((p for p in unmatched_old if p.get("email") == person["email"]), None)
        match = match or next((p for p in unmatched_old if p.get("name") == person["name"]), None)
        if match is None:
            lines.append(f"назначено: {_describe(person)}")
            continue
        unmatched_old.remove(match)
        for key, label in FIELDS:
            if (match.get(key) or "") != (person.get(key) or ""):
                lines.append(f"{person['name']}: {label} «{match.get(key) or '—'}» → «{person.get(key) or '—'}»")
    lines += [f"исключено: {_describe(p)}" for p in unmatched_old]
    return lines


def _send_notice(
    session: Session, app: App, people: list[dict[str, str]], changes: list[str], *, now: datetime, dedupe_key: str
) -> tuple[str, ...]:
    settings = app.settings
    to = list(settings.cur.addresses)
    if not to:
        log.error("contact officials changed but no ЦУР address is configured ([cur] addresses)")
        return ()
    enqueue(session, settings, kind=TEMPLATE, to=to, now=now, bulk=False, dedupe_key=dedupe_key,
            context={"current": people, "changes": changes, "changed_at": now, "cur_name": settings.cur.name})
    return tuple(to)


def _record(session: Session, app: App, people: list[dict[str, str]], now: datetime, **extra: Any) -> None:
    row = session.get(KeyValue, (KEY, app.tenant))
    value = {"officials": people, "fingerprint": fingerprint(people), "recorded_at": now.isoformat(), **extra}
    if row is None:
        session.add(KeyValue(key=KEY, tenant=app.tenant, value=value, updated_at=now))
    else:
        row.value = value
        row.updated_at = now


def check_contacts(app: App) -> ContactCheck:
    """At start-up and on reload: notify the ЦУР if the contact officials differ from the last recorded state."""
    now = app.clock()
    people = officials(app.settings)
    with transaction(app.sessions) as session:
        row = session.get(KeyValue, (KEY, app.tenant))
        if row is None or not row.value:
            _record(session, app, people, now)
            log.info("contact officials recorded for the first time (%d)", len(people))
            return ContactCheck(changed=False, first=True)
        old = row.value.get("officials") or []
        if fingerprint(old) == fingerprint(people):
            return ContactCheck(changed=False, first=False)
        changes = differences(old, people)
        key = f"{TEMPLATE}:{fingerprint(old)}>{fingerprint(people)}"
        to = _send_notice(session, app, people, changes, now=now, dedupe_key=key)
        if not to:
            # Nowhere to send it ([cur] addresses empty): keep the old state, so the change is still
            # reported once an address is configured, instead of being recorded as if it had been.
            return ContactCheck(changed=True, first=False, changes=tuple(changes))
        _record(session, app, people, now, notified_at=now.isoformat(), changes=changes, previous=old)
    log.info("contact officials changed; notice to the ЦУР enqueued", extra={"to": list(to)})
    return ContactCheck(changed=True, first=False, notified_to=to, changes=tuple(changes))


def notify(app: App) -> ContactCheck:
    """`curmail contacts notify`: send the notice with the current officials again, and record it."""
    now = app.clock()
    people = officials(app.settings)
    with transaction(app.sessions) as session:
        row = session.get(KeyValue, (KEY, app.tenant))
        old = (row.value or {}).get("officials") if row is not None else None
        changes = differences(old, people) if old is not None else []
        to = _send_notice(session, app, people, changes, now=now,
                          dedupe_key=f"{TEMPLATE}:manual:{now.isoformat()}")
        _record(session, app, people, now, notified_at=now.isoformat() if to else None, changes=changes,
                manual=True)
    return ContactCheck(changed=bool(changes), first=old is None, notified_to=to, changes=tuple(changes))


def tick(app: App) -> ContactCheck:
    """The same check as a periodic job: a reload that changed the officials is noticed within one interval."""
    return check_contacts(app)
