"""Staff absences (Znuny's out-of-office with a substitute, Zammad's replacement agent): who is away, who stands in.

A staff member sets «#отсутствую <до даты> [заместитель]» by mail. Until then, routing gives new
cases to the stand-in instead, and the command hands the member's open cases over. The stand-in is
the named deputy, or else the first contact official (then the supervisor) who is not away; a
deputy who is away in turn passes it on along the same rule. When everybody is away, the case stays
with whom routing chose: an absent assignee still gets reminders, and the escalation reaches the
supervisor, which beats a case with nobody on it.

Absences live in KeyValue `absence:<e-mail>` (per tenant), so no schema change was needed; an
expired one is simply ignored, and `#на месте` removes one early.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.app import App
from daemon.db.models import KeyValue
from daemon.notices import contact_addresses

KEY_PREFIX = "absence:"


@dataclass(frozen=True, slots=True)
class Absence:
    """One staff member away until `until` (aware), with the deputy they named, if any."""

    email: str
    until: datetime
    deputy: str | None
    set_by: str
    set_at: datetime


def _key(email: str) -> str:
    return f"{KEY_PREFIX}{email.lower()}"


def _from_row(row: KeyValue) -> Absence | None:
    value = row.value or {}
    try:
        return Absence(email=row.key[len(KEY_PREFIX):], until=datetime.fromisoformat(value["until"]),
                       deputy=value.get("deputy") or None, set_by=value.get("set_by", ""),
                       set_at=datetime.fromisoformat(value["set_at"]))
    except (KeyError, TypeError, ValueError):  # a hand-edited row must not stop routing
        return None


def current(session: Session, app: App, email: str | None) -> Absence | None:
    """The absence of `email` now, or None (never set, expired or cancelled)."""
    if not email:
        return None
    row = session.get(KeyValue, (_key(email), app.tenant))
    absence = _from_row(row) if row is not None else None
    return absence if absence is not None and absence.until > app.clock() else None


def all_current(session: Session, app: App) -> list[Absence]:
    """Everybody away now, the earliest return first."""
    rows = session.scalars(select(KeyValue).where(KeyValue.tenant == app.tenant,
                                                  KeyValue.key.like(f"{KEY_PREFIX}%")))
    now = app.clock()
    found = [a for a in (_from_row(r) for r in rows) if a is not None and a.until > now]
    return sorted(found, key=lambda a: (a.until, a.email))


def set_absence(session: Session, app: App, email: str, until: datetime, deputy: str | None, *,
                set_by: str) -> Absence:
    """Record (or replace) `email`'s absence."""
    now = app.clock()
    value = {"until": until.isoformat(), "deputy": deputy, "set_by": set_by, "set_at": now.isoformat()}
    row = session.get(KeyValue, (_key(email), app.tenant))
    if row is None:
        session.add(KeyValue(key=_key(email), tenant=app.tenant, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
    return Absence(email.lower(), until, deputy, set_by, now)


def clear(session: Session, app: App, email: str) -> Absence | None:
    """End `email`'s absence now; the absence that was current, if any."""
    was = current(session, app, email)
    row = session.get(KeyValue, (_key(email), app.tenant))
    if row is not None:
        session.delete(row)
    return was


def stand_in(session: Session, app: App, email: str | None) -> str | None:
    """Who works `email`'s cases now: `email` itself when present, else the stand-in (see the module text).

    None only when `email` is None. When nobody is present, `email` is returned unchanged.
    """
    if not email:
        return None
    seen = {email}
    person = email
    while (absence := current(session, app, person)) is not None:
        candidates = [absence.deputy] if absence.deputy else []
        candidates += contact_addresses(app)
        candidates += [m.email for m in app.settings.staff_with_role("supervisor")]
        nxt = next((c for c in candidates if c and c not in seen), None)
        if nxt is None:
            return email
        seen.add(nxt)
        person = nxt
    return person
