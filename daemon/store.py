"""Durable storage of raw messages: one transaction writes the bytes, hash, ids and IMAP key, then commits.

Raw bytes live in the database, not in a file store. One transaction then covers the bytes and the row
that says they exist, so "commit before flagging in IMAP" is a single durable step (SQLite runs with
synchronous=FULL); backup and restore are one database dump; and multi-instance deployments on
PostgreSQL share the bytes without a shared file system. A 35 MB message is well within SQLite's
blob limit (1 GB) and PostgreSQL's bytea limit (1 GB).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.db.models import Direction, MailboxState, MessageStatus, StoredMessage

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_ANGLE = re.compile(rb"<[^<>\s]{1,900}>")


@dataclass(frozen=True, slots=True)
class IncomingRaw:
    """A message to store: raw bytes plus where it came from (uid is None for replays from a file)."""

    raw: bytes
    internal_date: datetime
    uid: int | None = None


@dataclass(frozen=True, slots=True)
class StoreResult:
    """Ids of rows created, and how many messages were already stored (re-fetch after a crash)."""

    new_ids: tuple[int, ...]
    duplicates: int


def synthetic_message_id(sha256_hex: str) -> str:
    """The stable id given to a message without a Message-ID (the same one parsers/ gives)."""
    return f"<{sha256_hex}@curmail.invalid>"


def quick_message_id(raw: bytes, sha256_hex: str) -> str:
    """Message-ID from the header block without a full parse; synthetic from the hash when absent."""
    end = _HEADER_END.search(raw, 0, 256 * 1024)
    head = raw[: end.start()] if end else raw[: 256 * 1024]
    match = _MESSAGE_ID.search(head)
    if match:
        angle = _ANGLE.search(match.group(1))
        if angle:
            return angle.group(0).decode("ascii", "replace")
    return synthetic_message_id(sha256_hex)


def mailbox_state(session: Session, mailbox: str, tenant: str = "default") -> MailboxState:
    """The cursor row for a mailbox folder, created on first use."""
    state = session.scalars(select(MailboxState).where(MailboxState.mailbox == mailbox)).first()
    if state is None:
        state = MailboxState(mailbox=mailbox, tenant=tenant, last_uid=0)
        session.add(state)
        session.flush()
    return state


def known_imap_uids(session: Session, mailbox: str, uidvalidity: int | None, uids: Sequence[int]) -> set[int]:
    """Which of these UIDs of the folder are stored already."""
    return set(
        session.scalars(
            select(StoredMessage.uid).where(
                StoredMessage.mailbox == mailbox,
                StoredMessage.uidvalidity == uidvalidity,
                StoredMessage.uid.in_(uids),
            )
        )
    )


def store_messages(
    session: Session,
    *,
    mailbox: str | None,
    uidvalidity: int | None,
    messages: Sequence[IncomingRaw],
    now: datetime,
    dedupe_by_content: bool = False,
    tenant: str = "default",
) -> StoreResult:
    """Add rows for messages not stored yet; the caller commits, and only then flags them in IMAP.

    A re-fetch after a crash is absorbed by the (mailbox, uidvalidity, uid) key. After a UIDVALIDITY
    change every UID is new, so `dedupe_by_content` also matches Message-ID plus sha256 (RFC 3501 §2.3.1.1).
    """
    uids = [m.uid for m in messages if m.uid is not None]
    known_uids = known_imap_uids(session, mailbox, uidvalidity, uids) if mailbox is not None and uids else set()
    hashed = [(m, hashlib.sha256(m.raw).hexdigest()) for m in messages if m.uid not in known_uids or m.uid is None]
    known_content: set[tuple[str, str]] = set()
    if dedupe_by_content and hashed:
        known_content = {
            (mid, sha)
            for mid, sha in session.execute(
                select(StoredMessage.message_id, StoredMessage.sha256).where(
                    StoredMessage.sha256.in_([sha for _, sha in hashed])
                )
            )
        }
    rows: list[StoredMessage] = []
    duplicates = len(messages) - len(hashed)
    for incoming, sha in hashed:
        message_id = quick_message_id(incoming.raw, sha)
        if (message_id, sha) in known_content:
            duplicates += 1
            continue
        known_content.add((message_id, sha))
        rows.append(
            StoredMessage(
                tenant=tenant,
                direction=Direction.INBOUND,
                mailbox=mailbox,
                uidvalidity=uidvalidity if incoming.uid is not None else None,
                uid=incoming.uid,
                message_id=message_id[:998],
                sha256=sha,
                size=len(incoming.raw),
                internal_date=incoming.internal_date,
                stored_at=now,
                raw=incoming.raw,
                status=MessageStatus.STORED,
                attempts=0,
            )
        )
    session.add_all(rows)
    session.flush()
    return StoreResult(new_ids=tuple(r.id for r in rows), duplicates=duplicates)
