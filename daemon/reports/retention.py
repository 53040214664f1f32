"""152-ФЗ retention: after `[retention] years` (default 5) past a case's closing, delete its mail and personal data.

What goes: the raw bytes of every stored message of the case (its attachments live only there) and
of every outgoing letter, message subjects and senders, the case's subject, counterpart, publication
link, free-text outcome and `data` (applicant, address, texts, drafts), the detail of its audit rows
and the actor of audit rows who was neither staff nor the ЦУР (a citizen's address).
What stays: the case row with its kind, channel, topic, dates, state and assignee, the audit rows'
actions and times, and `data["stats"]`, the anonymised statistics row (daemon.reports.facts)
written **before** anything is deleted, which the reports use for old quarters.
Unthreaded messages (bounces, parked mail) and letters of no case go by their storage or creation date.
A letter's dedupe key ends in its recipient's address, so it is replaced by its hash (still unique);
the per-address daily counters of automatic answers (KeyValue `automail:…`) go by their last update.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, selectinload

from daemon.app import App
from daemon.cases import record_event
from daemon.config import Settings
from daemon.db.engine import transaction
from daemon.db.models import Case, CaseKey, KeyValue, OutboxMessage, StoredMessage
from daemon.reports.facts import STATS_KEY, facts_of, load_facts
from daemon.reports.repeats import ACTION as REPEAT_ACTION
from daemon.reports.repeats import REPEAT_LINKS, with_repeats
from daemon.reports.settings import repeat_window, retention_years

log = logging.getLogger("curmail.reports.retention")

ERASED = "(удалено)"
LAST_RUN_KEY = "retention:last_run"
RUN_HOUR = 3  # local time: the nightly job runs once per night from this hour
BATCH = 200
_KEEP_ACTORS = {"curmail", "cli", "unknown"}
AUTOMAIL_PREFIX = "automail:"  # daemon.acks: «automail:<day>:<address>»
ERASED_KEY = "erased:"


@dataclass(frozen=True, slots=True)
class CaseToErase:
    """One case due for deletion, as `--dry-run` lists it."""

    case_id: int
    kind: str
    closed_at: datetime
    messages: int
    message_bytes: int
    letters: int


@dataclass
class RetentionReport:
    cutoff: datetime
    cases: list[CaseToErase] = field(default_factory=list)
    loose_messages: int = 0  # unthreaded stored messages past the cutoff
    loose_letters: int = 0  # outgoing letters of no case past the cutoff
    counters: int = 0  # per-address automatic-answer counters last updated before the cutoff
    dry_run: bool = True


def cutoff_for(settings: Settings, now: datetime) -> datetime:
    """`now` minus the retention years in the organisation's calendar (29 February becomes 28 February)."""
    local = now.astimezone(settings.organization.zone)
    years = retention_years(settings)
    try:
        return local.replace(year=local.year - years)
    except ValueError:
        return local.replace(year=local.year - years, day=28)


def _due_cases(session: Session, cutoff: datetime, limit: int) -> list[Case]:
    """Closed before the cutoff and not yet anonymised (no stats row), oldest first."""
    candidates = session.scalars(
        select(Case).where(Case.closed_at.is_not(None), Case.closed_at < cutoff, Case.kind != "report")
        .order_by(Case.closed_at, Case.id)
    )
    due = []
    for case in candidates:  # JSON key tests differ per dialect; the already-erased rows are cheap to skip
        if STATS_KEY not in (case.data or {}):
            due.append(case)
            if len(due) >= limit:
                break
    return due


def _loose_messages(session: Session, cutoff: datetime) -> list[StoredMessage]:
    return list(session.scalars(
        select(StoredMessage).where(StoredMessage.case_id.is_(None), StoredMessage.stored_at < cutoff,
                                    or_(StoredMessage.size > 0, StoredMessage.from_addr.is_not(None)))
    ))


def _loose_letters(session: Session, cutoff: datetime) -> list[OutboxMessage]:
    """Old letters of no case (command answers, notices) that still hold their text."""
    return list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.case_id.is_(None), OutboxMessage.created_at < cutoff,
                                    OutboxMessage.subject != ERASED)
    ))


def _old_counters(session: Session, cutoff: datetime) -> list[KeyValue]:
    """The daily automatic-answer counters (daemon.acks) keyed by a citizen's address, past the cutoff."""
    return list(session.scalars(
        select(KeyValue).where(KeyValue.key.like(f"{AUTOMAIL_PREFIX}%"), KeyValue.updated_at < cutoff)
    ))


def _describe(session: Session, case: Case) -> CaseToErase:
    count, size = session.execute(
        select(func.count(StoredMessage.id), func.coalesce(func.sum(StoredMessage.size), 0))
        .where(StoredMessage.case_id == case.id)
    ).one()
    letters = session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.case_id == case.id)) or 0
    return CaseToErase(case.id, case.kind, case.closed_at, int(count), int(size), int(letters))


def _wipe_message(row: StoredMessage) -> None:
    row.raw = b""
    row.size = 0
    row.subject = None
    row.from_addr = None
    row.in_reply_to = None
    row.details = None
    row.error = None
    row.reasons = None  # the classifier's reasons quote senders and phrases of the letter


def _known_party(settings: Settings, address: str) -> bool:
    address = (address or "").lower()
    return (address in _KEEP_ACTORS or settings.staff_by_email(address) is not None
            or settings.is_cur_address(address) or address == settings.organization.address
            or address == settings.press.address)


def erase_case(session: Session, settings: Settings, case: Case, now: datetime) -> None:
    """Store the anonymised statistics row, then delete the mail and personal data of one closed case."""
    press = session.scalar(
        select(func.min(func.coalesce(OutboxMessage.sent_at, OutboxMessage.created_at)))
        .where(OutboxMessage.case_id == case.id, OutboxMessage.kind == "refutation_press")
    )
    stats = facts_of(case, case.events, press).anonymous()
    case.data = {STATS_KEY: stats.to_json(), "erased_at": now.isoformat()}
    case.subject = ""
    case.normalized_subject = ""
    case.counterpart = None
    case.publication_url = None
    case.outcome = stats.outcome
    for event in case.events:
        event.detail = None
        if not _known_party(settings, event.actor):
            event.actor = ERASED
    for row in session.scalars(select(StoredMessage).where(StoredMessage.case_id == case.id)):
        _wipe_message(row)
    for letter in session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case.id)):
        _wipe_letter(settings, letter)
    # The hashed applicant and address keys are personal data too (they link the person's appeals).
    session.execute(delete(CaseKey).where(CaseKey.case_id == case.id))


def _wipe_letter(settings: Settings, letter: OutboxMessage) -> None:
    letter.raw = b""
    letter.subject = ERASED
    letter.recipients = [r if _known_party(settings, r) else ERASED for r in letter.recipients or []]
    letter.last_error = None
    if letter.dedupe_key and not letter.dedupe_key.startswith(ERASED_KEY):
        # «ack:42:anna@mail.example»: the hash keeps the key unique without the address.
        letter.dedupe_key = ERASED_KEY + hashlib.sha256(letter.dedupe_key.encode()).hexdigest()


def keep_repeat_links(session: Session, settings: Settings, due: list[Case], now: datetime) -> int:
    """Store the reports' repeat links on appeals that need a due case's personal keys, before the keys go.

    The reports match repeats on the applicant and address keys when an appeal has no stored links
    (an appeal opened before links were stored, or whose topic `#тема` changed later). Erasing the
    earlier appeal's keys would silently turn such a repeat into a first appeal and change the
    figures of a quarter already reported; storing the links keeps them. Returns the appeals updated.
    """
    appeals = [c for c in due if c.kind == "appeal"]
    window = repeat_window(settings)
    updated = 0
    for tenant in sorted({c.tenant for c in appeals}):
        mine = [c for c in appeals if c.tenant == tenant]
        first, last = min(c.opened_at for c in mine), max(c.opened_at for c in mine)
        rows = load_facts(session, first, last + window + timedelta(seconds=1), kinds=("appeal",), tenant=tenant)
        earlier = load_facts(session, first - window, first, kinds=("appeal",), tenant=tenant)
        due_ids = {c.id for c in mine}
        stored = {r.case_id for r in rows if r.repeat_of}
        for row in with_repeats(rows, earlier, window):
            if row.case_id in stored or not row.repeat_of or row.anonymised:
                continue
            if row.case_id not in due_ids and not due_ids & set(row.repeat_of):
                continue
            case = session.get(Case, row.case_id)
            links = list(row.repeat_of[-REPEAT_LINKS:])
            case.data = {**(case.data or {}), "repeat_of": links}
            record_event(session, case, action=REPEAT_ACTION, at=now, actor="curmail",
                         detail={"repeat_of": links, "by": "retention"})
            updated += 1
    return updated


def run_retention(app: App, *, dry_run: bool, limit: int = BATCH) -> RetentionReport:
    """Erase (or with `dry_run` only list) up to `limit` due cases, each in its own transaction."""
    now = app.clock()
    settings = app.settings
    cutoff = cutoff_for(settings, now)
    report = RetentionReport(cutoff=cutoff, dry_run=dry_run)
    with app.sessions() as session:
        due = _due_cases(session, cutoff, limit)
        report.cases = [_describe(session, case) for case in due]
        ids = [case.id for case in due]
        report.loose_messages = len(_loose_messages(session, cutoff))
        report.loose_letters = len(_loose_letters(session, cutoff))
        report.counters = len(_old_counters(session, cutoff))
    if dry_run:
        return report
    if ids:
        with transaction(app.sessions) as session:
            keep_repeat_links(session, settings, list(session.scalars(select(Case).where(Case.id.in_(ids)))), now)
    for case_id in ids:
        with transaction(app.sessions) as session:
            case = session.scalars(select(Case).where(Case.id == case_id).options(selectinload(Case.events))).one()
            erase_case(session, settings, case, now)
    with transaction(app.sessions) as session:
        for row in _loose_messages(session, cutoff):
            _wipe_message(row)
        for letter in _loose_letters(session, cutoff):
            _wipe_letter(settings, letter)
        for counter in _old_counters(session, cutoff):
            session.delete(counter)
    log.info("retention: %d cases and %d loose messages erased (closed before %s)",
             len(ids), report.loose_messages, cutoff.isoformat())
    return report


def tick(app: App) -> RetentionReport | None:
    """The nightly job: once per local date, from RUN_HOUR on; the scheduler may call it as often as it likes."""
    now = app.clock()
    local = now.astimezone(app.settings.organization.zone)
    if local.hour < RUN_HOUR:
        return None
    today = local.date().isoformat()
    with transaction(app.sessions) as session:
        row = session.get(KeyValue, (LAST_RUN_KEY, app.tenant))
        if row is not None and (row.value or {}).get("date") == today:
            return None
        if row is None:
            session.add(KeyValue(key=LAST_RUN_KEY, tenant=app.tenant, value={"date": today}, updated_at=now))
        else:
            row.value = {"date": today}
            row.updated_at = now
    report = run_retention(app, dry_run=False)
    while len(report.cases) >= BATCH:  # a large backlog (first run after an upgrade) is worked off in batches
        report = run_retention(app, dry_run=False)
    return report


__all__ = ["RetentionReport", "cutoff_for", "erase_case", "run_retention", "tick"]
