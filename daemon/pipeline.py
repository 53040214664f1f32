"""Process stored messages in two stages, intake then act; park what keeps failing, never drop anything.

Stage one (`classify_pending`, status `stored` → `classified`) is intake proper: parse, classify, and
thread into a case, opening the case row if none matches. Stage two (`act_pending`, `classified` →
`processed`) runs the case's workflow and the e-mail interface: assignment, deadlines, commands,
acknowledgements and every letter. Zammad splits its mail the same way (the parser creates the
ticket and article; notifications and triggers run in a later job), and for the same reason: after
an outage the whole backlog is stored, threaded and visible within minutes, and the slow, letter-
writing half catches up behind it. With no backlog the runner acts right after each intake, so a
fresh message is acted on within a second.

Like Mailman's runners there is one try/except per message at this boundary, and the queue is the
`message` table itself. Each stage walks its status in id order once per pass. Fresh messages go in
batches for speed; a message that was already tried (its attempt counter was committed before a crash
or an error) is retried alone, so one poison message cannot take its batch-mates down with it, and
after `intake.max_attempts` tries it is parked with its raw bytes and the error. The act stage keeps
each case's messages in order: while an earlier message of a case waits for a retry, later ones of the
same case wait too.
"""

from __future__ import annotations

import logging
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal, cast

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from daemon.app import App
from daemon.db.engine import transaction
from daemon.db.models import Case, MessageRaw, MessageStatus, StoredMessage
from daemon.dispatch import act, thread_into_case
from daemon.errors import ParkMessage
from daemon.notices import notify_contact
from daemon.parseahead import ParseAhead
from daemon.rules import classifier_rules
from daemon.threader import SUBJECT_FALLBACK_WINDOW, BatchLookup, find_case
from parsers import Classification, ParsedMessage, classify, parse_message

log = logging.getLogger("curmail.pipeline")

BATCH = 200
# Intake threads fresh messages this many at a time: enough to make the per-batch queries cheap,
# few enough that their parsed forms (decoded text and attachments) stay a few MB.
INTAKE_BATCH = 50
# The act stage reuses what intake parsed in this process rather than parse again; bounded by count
# and by raw size, because a parsed message holds its decoded attachments.
PARSED_KEEP = BATCH
PARSED_KEEP_BYTES = 32 * 1_048_576

CLASSIFIED_COLUMNS = ("kind", "reasons", "subject", "from_addr", "in_reply_to", "message_id", "details", "status",
                      "attempts", "case_id")

Stage = Literal["classify", "act"]
PENDING: dict[Stage, MessageStatus] = {"classify": MessageStatus.STORED, "act": MessageStatus.CLASSIFIED}


@dataclass
class ProcessReport:
    """What one pass over pending messages did; `last_id` is where the walk stopped, to go on from there."""

    classified: int = 0
    processed: int = 0
    parked: int = 0
    failed: int = 0
    waiting: int = 0  # later messages of a case whose earlier message failed in this pass
    seen: int = 0
    last_id: int = 0
    case_ids: set[int] = field(default_factory=set)

    def add(self, other: ProcessReport) -> None:
        self.classified += other.classified
        self.processed += other.processed
        self.parked += other.parked
        self.failed += other.failed
        self.waiting += other.waiting
        self.seen += other.seen
        self.case_ids |= other.case_ids


@dataclass
class ParsedKeep:
    """Parsed and classified messages from intake, kept for the act stage of the same process."""

    entries: OrderedDict[int, tuple[int, ParsedMessage, Classification]] = field(default_factory=OrderedDict)
    total_bytes: int = 0

    def put(self, row: StoredMessage, pm: ParsedMessage, classification: Classification) -> None:
        self.entries[row.id] = (row.size, pm, classification)
        self.total_bytes += row.size
        while self.entries and (len(self.entries) > PARSED_KEEP or self.total_bytes > PARSED_KEEP_BYTES):
            size, _, _ = self.entries.popitem(last=False)[1]
            self.total_bytes -= size

    def take(self, row: StoredMessage) -> tuple[ParsedMessage, Classification] | None:
        entry = self.entries.pop(row.id, None)
        if entry is None:
            return None
        self.total_bytes -= entry[0]
        return entry[1], entry[2]


def _keep_for(app: App) -> ParsedKeep:
    return cast(ParsedKeep, app.caches.setdefault("parsed", ParsedKeep()))


def parse_and_classify(app: App, raw: bytes) -> tuple[ParsedMessage, Classification]:
    pm = parse_message(raw)
    return pm, classify(pm, classifier_rules(app.settings))


def raw_of(session: Session, *ids: int) -> dict[int, bytes]:
    """Raw bytes by message id, read apart from the ORM rows.

    Loaded onto a row, the bytes live as long as the row, and rows sit in reference cycles with their
    cases until a full garbage collection: at intake rates that held tens of MB.
    """
    return dict(session.execute(select(MessageRaw.id, MessageRaw.raw).where(MessageRaw.id.in_(ids))).all())


def classify_row(
    session: Session,
    app: App,
    row: StoredMessage,
    *,
    lookup: BatchLookup | None = None,
    parsed: tuple[ParsedMessage, Classification] | None = None,
) -> Case | None:
    """Intake: parse, classify and thread one stored message (opening its case if none matches).

    In a batch, `lookup` answers the threading rules from memory and `parsed` is this message's
    parse; a case opened here gets its number when the batch is flushed.
    """
    settings = app.settings
    pm, classification = parsed or parse_and_classify(app, raw_of(session, row.id)[row.id])
    row.kind = classification.kind
    row.reasons = list(classification.reasons)
    row.subject = pm.subject[:2000]
    row.from_addr = pm.from_addr[:320] or None
    row.in_reply_to = (pm.in_reply_to or "")[:998] or None
    if not row.message_id or row.message_id.endswith("@curmail.invalid>"):
        row.message_id = pm.message_id[:998]
    outcome = find_case(session, settings, pm, classification, now=app.clock(), tenant=row.tenant, lookup=lookup)
    case = thread_into_case(session, app, row, pm, classification, outcome)
    if lookup is not None:
        lookup.remember(row.message_id, case, opened=outcome.match is None)
    row.details = {
        "channel": classification.channel,
        "publication_urls": list(classification.publication_urls),
        "bounced_message_id": classification.bounced_message_id,
        "no_auto_reply": classification.no_auto_reply,
        "defects": list(pm.defects)[:20],
        "opened_case": case is not None and outcome.match is None,  # the act stage runs the opening step
    }
    row.status = MessageStatus.CLASSIFIED
    row.attempts = 0  # the act stage counts its own tries
    if lookup is not None:
        # The same columns in every row's UPDATE (a None left None is otherwise skipped), so that the
        # batch's flush sends one executemany instead of one UPDATE per run of differing rows.
        for column in CLASSIFIED_COLUMNS:
            flag_modified(row, column)
    if app.caches.get("parse_ahead") is None:
        # Kept for the act stage, which follows at once in steady state. Not in a backlog (the parse
        # worker is on): acting starts from the oldest message, long evicted, and the keep would
        # only add to the intake's peak memory.
        _keep_for(app).put(row, pm, classification)
    log.info("classified message", extra={"uid": row.uid, "message_id": row.message_id, "kind": row.kind,
                                          "case": case.id if case else None,  # None too for a case opened now
                                          "opened_case": row.details["opened_case"]})
    return case


def act_row(session: Session, app: App, row: StoredMessage) -> Case | None:
    """Act: run the case's workflow and the e-mail interface on one classified message."""
    kept = _keep_for(app).take(row)
    # None kept: an earlier run classified it, or the keep is full.
    pm, classification = kept or parse_and_classify(app, raw_of(session, row.id)[row.id])
    opened = bool((row.details or {}).get("opened_case"))
    case = act(session, app, row, pm, classification, row.case, opened=opened)
    row.status = MessageStatus.PROCESSED
    row.processed_at = app.clock()
    row.error = None
    log.info("processed message",
             extra={"uid": row.uid, "message_id": row.message_id, "kind": row.kind, "case": case.id if case else None})
    return case


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
            dedupe_key=f"parked:{row.id}:{row.status}:{row.attempts}",
        )
        savepoint.commit()
    except Exception:
        savepoint.rollback()
        log.exception("could not enqueue the parked-message notice", extra={"message_id": row.message_id})


def _park_before_trying(session: Session, app: App, row: StoredMessage, stage: Stage) -> bool:
    """Park what must not be tried: an oversized message, or one whose tries killed the process."""
    limit = app.settings.mailbox.max_message_bytes
    if stage == "classify" and row.size > limit:
        head = parse_message(session.execute(  # the headers, for the notice; the body is what is too big
            select(func.substr(MessageRaw.raw, 1, 65536)).where(MessageRaw.id == row.id)).scalar_one())
        row.subject, row.from_addr = head.subject[:2000], head.from_addr[:320] or None
        _park(session, app, row, f"message is {row.size / 1_048_576:.1f} MB, over the {limit / 1_048_576:.1f} MB limit",
              oversized=True)
        return True
    if row.attempts > app.settings.intake.max_attempts:
        # The counter is committed before each try and only an exception records the outcome, so a
        # count above the maximum means earlier tries killed the process (segfault, OOM, SIGKILL):
        # park it without trying again, or the daemon would crash-loop on it.
        _park(session, app, row, f"processing stopped the daemon {row.attempts - 1} times; not tried again "
                                 f"(the last error, if any: {row.error or 'none recorded'})")
        return True
    return False


def _parked_before_trying(
    session: Session, app: App, row: StoredMessage, stage: Stage, report: ProcessReport
) -> bool:
    if _park_before_trying(session, app, row, stage):
        report.parked += 1
        return True
    return False


def _parses(session: Session, app: App, rows: list[StoredMessage]) -> list[tuple[ParsedMessage, Classification]]:
    """Each row's parse: from the parse worker where it has one (daemon/parseahead.py), else done here."""
    ahead = cast(ParseAhead | None, app.caches.get("parse_ahead"))
    ready = [ahead.take(row.sha256) if ahead is not None else None for row in rows]
    missing = [row.id for row, one in zip(rows, ready, strict=True) if one is None]
    raws = raw_of(session, *missing) if missing else {}
    return [one or parse_and_classify(app, raws.pop(row.id)) for row, one in zip(rows, ready, strict=True)]


def _classify_batch(session: Session, app: App, rows: list[StoredMessage], report: ProcessReport) -> bool:
    """Fresh messages in one go: threading rules answered from five queries, one flush for the batch.

    Per-message savepoints and queries cost more than parsing at intake rates. If any message of
    the batch raises, nothing of the batch is kept and the caller goes one message at a time, so the
    faulty one is isolated exactly as before.
    """
    savepoint = session.begin_nested()
    try:
        parsed = _parses(session, app, rows)
        lookup = BatchLookup(session, app.tenant, app.settings, parsed, app.clock() - SUBJECT_FALLBACK_WINDOW)
        cases = [classify_row(session, app, row, lookup=lookup, parsed=one)
                 for row, one in zip(rows, parsed, strict=True)]
        savepoint.commit()
    except Exception:
        savepoint.rollback()
        log.warning("a batch failed at intake; classifying its messages one at a time", exc_info=True)
        return False
    report.classified += len(rows)
    report.case_ids |= {case.id for case in cases if case is not None}
    return True


def _run_one(session: Session, app: App, row: StoredMessage, stage: Stage, report: ProcessReport) -> bool:
    """One message inside a savepoint: success, park on purpose, or record the error for a retry.

    Returns False when the message is still pending after this try (the act stage then holds back
    the later messages of its case).
    """
    if _parked_before_trying(session, app, row, stage, report):
        return True
    savepoint = session.begin_nested()
    try:
        case = classify_row(session, app, row) if stage == "classify" else act_row(session, app, row)
        savepoint.commit()
        if stage == "classify":
            report.classified += 1
        else:
            report.processed += 1
        if case is not None:
            report.case_ids.add(case.id)
        return True
    except ParkMessage as exc:
        savepoint.rollback()
        _park(session, app, row, str(exc))
        report.parked += 1
        return True
    except Exception as exc:
        savepoint.rollback()
        error = "".join(traceback.format_exception_only(exc)).strip()
        log.exception(f"{stage} failed", extra={"uid": row.uid, "message_id": row.message_id})
    if row.attempts >= app.settings.intake.max_attempts:
        _park(session, app, row, f"failed {row.attempts} times; last error: {error}")
        report.parked += 1
        return True
    row.error = error[:4000]
    report.failed += 1
    return False


def _walk(app: App, stage: Stage, *, limit: int | None, after_id: int) -> ProcessReport:
    """One pass over the stage's queue in id order, from `after_id`, looking at up to `limit` messages."""
    report = ProcessReport(last_id=after_id)
    held: set[int] = set()  # cases whose earlier message is still pending in this pass (act stage only)
    if stage == "act" and after_id:
        # A pass resumed after `after_id` (the runner walks in chunks): messages left behind there
        # are still waiting, and their cases' later mail must wait for them.
        with app.sessions() as session:
            held = set(session.scalars(
                select(StoredMessage.case_id).distinct().where(
                    StoredMessage.status == MessageStatus.CLASSIFIED, StoredMessage.tenant == app.tenant,
                    StoredMessage.id <= after_id, StoredMessage.case_id.is_not(None))))
    while limit is None or report.seen < limit:
        size = BATCH if limit is None else min(BATCH, limit - report.seen)
        with transaction(app.sessions) as session:
            pending = session.execute(
                select(StoredMessage.id, StoredMessage.attempts, StoredMessage.case_id)
                .where(StoredMessage.status == PENDING[stage], StoredMessage.tenant == app.tenant,
                       StoredMessage.id > report.last_id)
                .order_by(StoredMessage.id)
                .limit(size)
            ).all()
        if not pending:
            break
        report.seen += len(pending)
        report.last_id = pending[-1].id
        fresh: list[int] = []
        for message_id, attempts, case_id in pending:
            if case_id is not None and case_id in held:
                report.waiting += 1
                continue
            if attempts == 0:
                fresh.append(message_id)
                continue
            _process_ids(app, fresh, stage, report, held)  # in id order: a case's earlier mail first
            fresh = []
            _process_ids(app, [message_id], stage, report, held)
        _process_ids(app, fresh, stage, report, held)
    return report


def _process_ids(app: App, ids: list[int], stage: Stage, report: ProcessReport, held: set[int]) -> None:
    if not ids:
        return
    # Count the attempt durably first: if the process dies on one of these messages, the next pass
    # sees attempts > 0 and retries each alone, parking the one that keeps killing us.
    with transaction(app.sessions) as session:
        session.execute(
            update(StoredMessage).where(StoredMessage.id.in_(ids)).values(attempts=StoredMessage.attempts + 1)
        )
    with transaction(app.sessions) as session:
        query = select(StoredMessage).where(StoredMessage.id.in_(ids), StoredMessage.status == PENDING[stage])
        rows = list(session.scalars(query.order_by(StoredMessage.id)))
        step = INTAKE_BATCH if stage == "classify" else len(rows)
        for start in range(0, len(rows), step):  # in order: a part that fails goes one by one before the next
            part = rows[start : start + step]
            if stage == "classify" and len(part) > 1 and all(row.attempts == 1 for row in part):
                part = [row for row in part if not _parked_before_trying(session, app, row, stage, report)]
                if _classify_batch(session, app, part, report):
                    continue
            for row in part:
                if stage == "act" and row.case_id is not None and row.case_id in held:
                    row.attempts -= 1  # counted above but not tried: the case's earlier message failed
                    report.waiting += 1
                    continue
                if not _run_one(session, app, row, stage, report) and stage == "act" and row.case_id is not None:
                    held.add(row.case_id)


def classify_pending(app: App, *, limit: int | None = None, after_id: int = 0) -> ProcessReport:
    """Intake: parse, classify and thread every message in status `stored`; safe to call at any time."""
    return _walk(app, "classify", limit=limit, after_id=after_id)


def act_pending(app: App, *, limit: int | None = None, after_id: int = 0) -> ProcessReport:
    """Act on every message in status `classified`, each case's messages in the order they arrived."""
    return _walk(app, "act", limit=limit, after_id=after_id)


def process_pending(app: App) -> ProcessReport:
    """Both stages over everything pending: `curmail replay`, the demo and the tests use this."""
    report = classify_pending(app)
    report.add(act_pending(app))
    return report
