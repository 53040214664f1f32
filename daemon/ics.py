"""Calendar invitations for deadlines: an iCalendar REQUEST per assignee, updated when it moves, CANCEL on close.

RFC 5546 (iTIP) in the shape Outlook, Thunderbird and Yandex accept: a `text/calendar;
method=REQUEST` attachment with one VEVENT whose UID is stable per case and person, whose SEQUENCE
grows with every change, and a VTIMEZONE for Europe/Moscow so the time shows right everywhere.
What was last sent to whom lives in `case.data["ics"]`, so `sync` is idempotent: call it after any
change to a case and it sends only what is new.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy.orm import Session

from daemon.app import App
from daemon.calendar import calendar_for
from daemon.cases import record_event
from daemon.compose import OutgoingAttachment
from daemon.config import Settings
from daemon.db.models import Case
from daemon.outbox import enqueue
from daemon.workflow.states import CLOSED_STATES

log = logging.getLogger("curmail.ics")

EVENT_LENGTH = timedelta(minutes=30)  # the deadline is the event's end: a half-hour slot before it
PRODID = "-//curmail//deadlines//RU"


def enabled(settings: Settings) -> bool:
    """`[calendar_invites] enabled`."""
    return settings.calendar_invites.enabled


def uid_for(settings: Settings, case: Case, person: str) -> str:
    """Stable per case and person: a later update or cancel replaces the same calendar entry."""
    digest = hashlib.sha256(person.strip().lower().encode()).hexdigest()[:16]
    return f"curmail-{case.tenant or 'default'}-{case.id}-{digest}@{settings.organization.id_domain}"


def build(
    settings: Settings,
    case: Case,
    person: str,
    due_at: datetime,
    *,
    sequence: int,
    cancel: bool,
    now: datetime,
) -> bytes:
    """One VCALENDAR with METHOD:REQUEST (or CANCEL), times in the organisation's zone with its VTIMEZONE."""
    zone = settings.organization.zone
    tag = f"[{settings.organization.case_tag}-{case.id}]"
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancel else "REQUEST")
    event = icalendar.Event()
    event.add("uid", uid_for(settings, case, person))
    event.add("sequence", sequence)
    event.add("dtstamp", now.astimezone(UTC))
    end = due_at.astimezone(zone)
    event.add("dtstart", end - EVENT_LENGTH)
    event.add("dtend", end)
    event.add("summary", f"{tag} Срок: {case.subject[:150]}")
    event.add("description", f"Срок по делу {tag}: {calendar_for(settings).format_deadline(end)}. "
                             f"Тема: {case.subject[:500]}")
    organizer = icalendar.vCalAddress(f"mailto:{settings.organization.address}")
    organizer.params["cn"] = icalendar.vText(settings.organization.name)
    event.add("organizer", organizer)
    attendee = icalendar.vCalAddress(f"mailto:{person}")
    attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = icalendar.vText("NEEDS-ACTION")
    attendee.params["rsvp"] = icalendar.vText("FALSE")
    event.add("attendee", attendee)
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    event.add("transp", "OPAQUE")
    if not cancel:
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"{tag} срок через час")
        alarm.add("trigger", timedelta(hours=-1), parameters={"related": "END"})
        event.add_component(alarm)
    calendar.add_component(event)
    calendar.add_component(_vtimezone(settings.organization.timezone))
    return calendar.to_ical()


@lru_cache(maxsize=8)
def _vtimezone(name: str) -> icalendar.Timezone:
    """The VTIMEZONE of a zone, built once: icalendar derives it from the tz database, ~12 ms a time.

    The range covers every deadline curmail can set; clients take the zone's rules from it.
    """
    return icalendar.Timezone.from_tzinfo(ZoneInfo(name), tzid=name, first_date=date(2020, 1, 1),
                                          last_date=date(2045, 1, 1))


def attachment(content: bytes, *, cancel: bool) -> OutgoingAttachment:
    return OutgoingAttachment(
        filename="cancel.ics" if cancel else "invite.ics", content=content, content_type="text/calendar",
        params={"method": "CANCEL" if cancel else "REQUEST", "charset": "utf-8"},
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def sync(session: Session, app: App, case: Case) -> int:
    """Send the invitations the case's current deadline and assignee call for; return how many were sent.

    The assignee of an open case with a deadline has a live event: new → REQUEST (SEQUENCE 0), moved →
    REQUEST with SEQUENCE+1. Someone who no longer holds the case, or everyone when it closes, gets a
    CANCEL with SEQUENCE+1.
    """
    settings = app.settings
    if not enabled(settings) or case.id is None:
        return 0
    sent: dict[str, Any] = dict((case.data or {}).get("ics", {}))
    live = case.assignee if case.assignee and case.due_at and case.state not in CLOSED_STATES else None
    if live is not None and settings.staff_by_email(live) is None:
        live = None  # invitations go to staff only
    changes = 0
    for person, entry in list(sent.items()):
        if entry.get("cancelled") or person == live:
            continue
        sent[person] = _send(session, app, case, person, datetime.fromisoformat(entry["due"]),
                             entry["seq"] + 1, cancel=True)
        changes += 1
    if live is not None:
        entry = sent.get(live)
        if entry is None or entry.get("cancelled") or entry["due"] != _iso(case.due_at):
            sequence = 0 if entry is None else entry["seq"] + 1
            sent[live] = _send(session, app, case, live, case.due_at, sequence, cancel=False)
            changes += 1
    if changes:
        case.data = {**(case.data or {}), "ics": sent}  # a new dict: JSON columns track assignment
    return changes


def _send(
    session: Session, app: App, case: Case, person: str, due_at: datetime, sequence: int, *, cancel: bool
) -> dict[str, Any]:
    now = app.clock()
    content = build(app.settings, case, person, due_at, sequence=sequence, cancel=cancel, now=now)
    kind = "calendar_cancel" if cancel else "calendar_invite"
    enqueue(session, app.settings, kind=kind, to=[person], case=case,
            context={"due_at": due_at, "sequence": sequence},
            attachments=[attachment(content, cancel=cancel)],
            dedupe_key=f"ics:{case.id}:{hashlib.sha256(person.encode()).hexdigest()[:16]}:{sequence}", now=now)
    record_event(session, case, action="calendar_cancel" if cancel else "calendar_invite", at=now, actor="curmail",
                 detail={"to": person, "sequence": sequence, "due_at": _iso(due_at)})
    return {"seq": sequence, "due": _iso(due_at), "cancelled": cancel}
