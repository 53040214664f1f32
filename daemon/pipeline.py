"""Process stored messages: parse, classify, thread, act; park what keeps failing, never drop anything.

Like Mailman's runners there is one try/except per message at this boundary. Unlike Mailman, the
queue is the `message` table: a row in status `stored` is pending work. Fresh messages are processed
in batches for speed; a message that was already tried (its attempt counter was committed before a
crash or an error) is retried alone, so one poison message cannot take its batch-mates down with it,
and after `intake.max_attempts` tries it is parked with its raw bytes and the error.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from daemon.app import App
from daemon.db.engine import transaction
from daemon.db.models import MessageStatus, StoredMessage
from daemon.dispatch import dispatch
from daemon.errors import ParkMessage
from daemon.notices import notify_contact
from daemon.rules import classifier_rules
from daemon.threader import find_case
from parsers import classify, parse_message

log = logging.getLogger("curmail.pipeline")

BATCH = 200


@dataclass
class ProcessReport:
    """What one pass over pending messages did."""

    processed: int = 0
    parked: int = 0
    failed: int = 0
    case_ids: set[int] = field(default_factory=set)


def process_row(session: Session, app: App, row: StoredMessage) -> int | None:
    """Parse, classify, thread and act on one stored message; return its case number."""
    settings = app.settings
    pm = parse_message(row.raw)
    classification = classify(pm, classifier_rules(settings))
    row.kind = classification.kind
    row.reasons = list(classification.reasons)
    row.subject = pm.subject[:2000]
    row.from_addr = pm.from_addr[:320] or None
    row.in_reply_to = (pm.in_reply_to or "")[:998] or None
    if not row.message_id or row.message_id.endswith("@curmail.invalid>"):
        row.message_id = pm.message_id[:998]
    row.details = {
        "channel": classification.channel,
        "publication_urls": list(classification.publication_urls),
        "bounced_message_id": classification.bounced_message_id,
        "no_auto_reply": classification.no_auto_reply,
        "defects": list(pm.defects)[:20],
    }
    outcome = find_case(session, settings, pm, classification, now=app.clock(), tenant=row.tenant)
    case = dispatch(session, app, row, pm, classification, outcome)
    row.status = MessageStatus.PROCESSED
    row.processed_at = app.clock()
    row.error = None
    log.info(
        "processed message",
        extra={"uid": row.uid, "message_id": row.message_id, "kind": row.kind, "case": case.id if case else None},
    )
    return case.id if case else None


def _park(session: Session, app: App, row: StoredMessage, reason: str, *, oversized: bool = False) -> None:
    """Park the message with its raw bytes and the reason; tell the contact official, best effort."""
    row.status = MessageStatus.PARKED
    row.error = reason[:4000]
    row.processed_at = app.clock()
    log.error("parked message", extra={"uid": row.uid, "message_id": row.message_id, "reason": reason[:200]})
    context = {
        "stored_id": row.id, "reason": reason, "attempts": row.attempts, "size_bytes": row.size,
        "limit_bytes": app.settings.mailbox.max_message_bytes, "original_subject": row.subject or "",
        "sender": row.from_addr or "", "received_at": row.internal_date,
    }
    # The notice must never undo the parking: a broken template or a missing contact is only logged.
    savepoint = session.begin_nested()
    try:
        notify_contact(
            session, app, template="oversized_parked" if oversized else "parked_alert", context=context,
            dedupe_key=f"parked:{row.id}:{row.attempts}",
        )
        savepoint.commit()
    except Exception:
        savepoint.rollback()
        log.exception("could not enqueue the parked-message notice", extra={"message_id": row.message_id})


def _run_one(session: Session, app: App, row: StoredMessage, report: ProcessReport) -> None:
    """One message inside a savepoint: success, park on purpose, or record the error for a retry."""
    limit = app.settings.mailbox.max_message_bytes
    if row.size > limit:
        head = parse_message(row.raw[:65536])  # the headers, for the notice; the body is what is too big
        row.subject, row.from_addr = head.subject[:2000], head.from_addr[:320] or None
        _park(session, app, row, f"message is {row.size / 1_048_576:.1f} MB, over the {limit / 1_048_576:.1f} MB limit",
              oversized=True)
        report.parked += 1
        return
    maximum = app.settings.intake.max_attempts
    if row.attempts > maximum:
        # The counter is committed before each try and only an exception records the outcome, so a
        # count above the maximum means earlier tries killed the process (segfault, OOM, SIGKILL):
        # park it without trying again, or the daemon would crash-loop on it.
        _park(session, app, row, f"processing stopped the daemon {row.attempts - 1} times; not tried again "
                                 f"(the last error, if any: {row.error or 'none recorded'})")
        report.parked += 1
        return
    savepoint = session.begin_nested()
    try:
        case_id = process_row(session, app, row)
        savepoint.commit()
        report.processed += 1
        if case_id is not None:
            report.case_ids.add(case_id)
        return
    except ParkMessage as exc:
        savepoint.rollback()
        _park(session, app, row, str(exc))
        report.parked += 1
        return
    except Exception as exc:
        savepoint.rollback()
        error = "".join(traceback.format_exception_only(exc)).strip()
        log.exception("processing failed", extra={"uid": row.uid, "message_id": row.message_id})
    if row.attempts >= app.settings.intake.max_attempts:
        _park(session, app, row, f"failed {row.attempts} times; last error: {error}")
        report.parked += 1
    else:
        row.error = error[:4000]
        report.failed += 1


def process_pending(app: App, *, limit: int | None = None) -> ProcessReport:
    """Process every message in status `stored`; safe to call at any time, from any number of runs."""
    report = ProcessReport()
    while limit is None or report.processed + report.parked + report.failed < limit:
        with transaction(app.sessions) as session:
            pending = session.execute(
                select(StoredMessage.id, StoredMessage.attempts)
                .where(StoredMessage.status == MessageStatus.STORED, StoredMessage.tenant == app.tenant)
                .order_by(StoredMessage.id)
                .limit(BATCH)
            ).all()
        if not pending:
            break
        fresh = [mid for mid, attempts in pending if attempts == 0]
        retried = [mid for mid, attempts in pending if attempts > 0]
        before = report.processed + report.parked + report.failed
        if fresh:
            _process_ids(app, fresh, report)
        for mid in retried:
            _process_ids(app, [mid], report)
        if report.processed + report.parked + report.failed == before or (report.failed and not fresh):
            break  # only failing retries are left: they wait for the next pass
    return report


def _process_ids(app: App, ids: list[int], report: ProcessReport) -> None:
    # Count the attempt durably first: if the process dies on one of these messages, the next pass
    # sees attempts > 0 and retries each alone, parking the one that keeps killing us.
    with transaction(app.sessions) as session:
        session.execute(
            update(StoredMessage).where(StoredMessage.id.in_(ids)).values(attempts=StoredMessage.attempts + 1)
        )
    with transaction(app.sessions) as session:
        rows = session.scalars(
            select(StoredMessage).where(StoredMessage.id.in_(ids), StoredMessage.status == MessageStatus.STORED)
            .order_by(StoredMessage.id)
        ).all()
        for row in rows:
            _run_one(session, app, row, report)
