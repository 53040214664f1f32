"""Durable IMAP intake: fetch new messages by UID, commit them to the database, and only then flag them.

The order is the whole point (DESIGN.md step 2): a crash between the commit and the IMAP flag leads to
a harmless re-fetch that the (mailbox, uidvalidity, uid) key absorbs, so a restart finds every
message exactly once. Nothing is flagged that is not committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from daemon.app import App
from daemon.config import Settings
from daemon.db.engine import transaction
from daemon.mailbox import ImapEndpoint, Mailbox
from daemon.parseahead import ParseAhead, can_fork
from daemon.rules import classifier_rules
from daemon.store import IncomingRaw, known_imap_uids, mailbox_state, store_messages

log = logging.getLogger("curmail.intake")


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll of the mailbox did."""

    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    flagged: int = 0
    uidvalidity_changed: bool = False


def mailbox_key(settings: Settings) -> str:
    """The identity of the watched folder: a cursor and the IMAP keys of stored messages hang off it."""
    box = settings.mailbox
    return f"{box.username}@{box.host}:{box.port}/{box.folder}"


def endpoint(settings: Settings) -> ImapEndpoint:
    box = settings.mailbox
    return ImapEndpoint(
        host=box.host,
        port=box.port,
        security=box.security,
        username=box.username,
        password=box.resolve_password() or "",
        folder=box.folder,
        timeout=box.timeout_seconds,
    )


def _candidates(mailbox: Mailbox, settings: Settings, last_uid: int) -> list[int]:
    """UIDs to look at: everything above the cursor, plus stored-but-unflagged ones (a crash came between)."""
    box = settings.mailbox
    if box.processed_action == "keyword":
        unflagged = mailbox.uids_after(0, exclude_keyword=box.processed_keyword)
        # Flagged mail above the cursor too: after a restore from a backup the database lacks it.
        # Stored UIDs are not fetched again, so in normal running this costs one SEARCH.
        return sorted(set(unflagged).union(mailbox.uids_after(last_uid)))
    if box.processed_action == "move":
        return mailbox.uids_after(0)  # only unprocessed mail stays in the watched folder
    return mailbox.uids_after(last_uid)


def _fetch_new(app: App, mailbox: Mailbox, key: str, uidvalidity: int, chunk: list[int],
               ahead: ParseAhead | None = None) -> tuple[set[int], list[IncomingRaw]]:
    """The messages of a chunk of UIDs not stored yet, and the UIDs that are (to flag them again)."""
    with app.sessions() as session:  # a reader: it must not wait for the write lock the parser holds
        known = known_imap_uids(session, key, uidvalidity, chunk)
    to_fetch = [u for u in chunk if u not in known]
    incoming = [IncomingRaw(raw=m.raw, internal_date=m.internal_date, uid=m.uid) for m in mailbox.fetch(to_fetch)]
    if ahead is not None:
        ahead.submit([m.raw for m in incoming])  # parsed on the other core while this chunk is stored
    return known, incoming


def _parse_ahead(app: App, new_messages: int) -> ParseAhead | None:
    """A parse worker for a backlog this large, or None (a few messages: in-process is quicker)."""
    threshold = app.settings.intake.parse_worker_from
    if not threshold or new_messages < threshold or not can_fork():
        return None
    try:
        return ParseAhead(classifier_rules(app.settings))
    except Exception as exc:  # no fork or no semaphores here (a sandbox, a process limit): parse in-process
        log.warning("parse worker not started (%s); parsing in-process", exc)
        return None


def poll(app: App, mailbox: Mailbox, after_batch: Callable[[], object] | None = None) -> PollResult:
    """Store every new message of the folder; `after_batch` runs after each committed and flagged batch."""
    settings = app.settings
    key = mailbox_key(settings)
    folder = mailbox.select()
    with transaction(app.sessions) as session:
        state = mailbox_state(session, key, app.tenant)
        previous_validity, last_uid = state.uidvalidity, state.last_uid
        changed = previous_validity is not None and previous_validity != folder.uidvalidity
        if changed:
            log.warning(
                "UIDVALIDITY changed: resynchronising by Message-ID and content hash",
                extra={"mailbox": key, "old": previous_validity, "new": folder.uidvalidity},
            )
            state.last_uid = last_uid = 0
        state.uidvalidity = folder.uidvalidity
        state.last_poll_at = app.clock()
        state.last_error = None
    # After a UIDVALIDITY change all UIDs are new; the content dedupe stays on until the cursor has
    # passed the whole folder once, which is exactly this poll.
    dedupe_by_content = changed or previous_validity is None
    uids = _candidates(mailbox, settings, last_uid)
    box = settings.mailbox
    chunks = [uids[start : start + box.batch_size] for start in range(0, len(uids), box.batch_size)]
    ahead = _parse_ahead(app, len(uids))  # before the fetch thread exists: the worker is forked
    app.caches["parse_ahead"] = ahead
    try:
        fetched, stored, duplicates, flagged = _store_chunks(app, mailbox, key, folder.uidvalidity, chunks,
                                                             dedupe_by_content, ahead, after_batch)
    finally:
        app.caches.pop("parse_ahead", None)
        if ahead is not None:
            stats = app.caches["parse_worker_stats"] = ahead.close()
            log.info("parse worker stopped", extra={"submitted": stats.submitted, "delivered": stats.delivered,
                                                    "shared": stats.shared,
                                                    "worker_peak_rss_mb": round(stats.worker_peak_rss_kb / 1024)})
    if fetched or duplicates:
        log.info("poll done", extra={"mailbox": key, "fetched": fetched, "stored": stored, "duplicates": duplicates})
    return PollResult(fetched, stored, duplicates, flagged, changed)


def _store_chunks(
    app: App, mailbox: Mailbox, key: str, uidvalidity: int, chunks: list[list[int]], dedupe_by_content: bool,
    ahead: ParseAhead | None, after_batch: Callable[[], object] | None,
) -> tuple[int, int, int, int]:
    """Fetch, commit, then flag each chunk; returns (fetched, stored, duplicates, flagged)."""
    box = app.settings.mailbox
    fetched = stored = duplicates = flagged = 0
    # The next chunk is fetched in a helper thread while `after_batch` parses and threads this one:
    # the fetch mostly waits on the IMAP server, so the two overlap (the baseline of bench/intake.py
    # is a bare fetch plus parse; without this, intake paid for both in turn). The connection is
    # never used by both threads at once: the next fetch starts only after this chunk is flagged,
    # and this thread touches the mailbox again only after that fetch has returned.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap-fetch") as prefetch:
        def fetch_chunk(index: int) -> Future[tuple[set[int], list[IncomingRaw]]]:
            return prefetch.submit(_fetch_new, app, mailbox, key, uidvalidity, chunks[index], ahead)

        pending = fetch_chunk(0) if chunks else None
        for index, chunk in enumerate(chunks):
            known, incoming = pending.result() if pending is not None else (set(), [])
            fetched += len(incoming)
            with transaction(app.sessions) as session:
                result = store_messages(
                    session,
                    mailbox=key,
                    uidvalidity=uidvalidity,
                    messages=incoming,
                    now=app.clock(),
                    dedupe_by_content=dedupe_by_content,
                    tenant=app.tenant,
                )
                state = mailbox_state(session, key, app.tenant)
                state.last_uid = max([state.last_uid, *chunk])
            # Committed: now, and only now, tell the IMAP server these are done.
            stored += len(result.new_ids)
            duplicates += result.duplicates
            present = known | {m.uid for m in incoming if m.uid is not None}
            mailbox.mark_processed(
                sorted(present), box.processed_action, keyword=box.processed_keyword, folder=box.processed_folder
            )
            flagged += len(present)
            pending = fetch_chunk(index + 1) if index + 1 < len(chunks) else None
            if after_batch is not None:
                after_batch()
    return fetched, stored, duplicates, flagged
