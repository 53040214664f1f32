"""SQLAlchemy 2 typed models: stored messages, mailbox cursors, cases, their audit trail and the outbox."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship

from daemon.db.types import UtcDateTime

# Stable constraint names, so that Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UtcDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class MessageStatus(StrEnum):
    STORED = "stored"  # raw bytes committed; not yet parsed/classified/threaded
    CLASSIFIED = "classified"  # parsed, classified and threaded into its case; the workflow has not run yet
    PROCESSED = "processed"  # the case's workflow (and the e-mail interface) acted on it
    PARKED = "parked"  # could not be processed; raw bytes kept; `curmail replay --parked` re-runs it


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class MailboxState(Base):
    """IMAP cursor of one mailbox folder: UIDVALIDITY and the highest UID committed (RFC 3501 §2.3.1.1)."""

    __tablename__ = "mailbox_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), default="default")
    mailbox: Mapped[str] = mapped_column(String(500), unique=True)  # user@host:port/folder
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_poll_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]


class StoredMessage(Base):
    """One message as received (or sent), with its raw bytes: nothing is ever dropped."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_message_imap_key"),
        Index("ix_message_msgid_sha", "message_id", "sha256"),
        Index("ix_message_status", "status"),
        Index("ix_message_case", "case_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), default="default")
    direction: Mapped[str] = mapped_column(String(3), default=Direction.INBOUND)
    mailbox: Mapped[str | None] = mapped_column(String(500))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(998))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    internal_date: Mapped[datetime]  # IMAP INTERNALDATE: the receipt time deadlines count from
    stored_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.STORED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(String(32))
    reasons: Mapped[list[Any] | None]
    subject: Mapped[str | None] = mapped_column(Text)
    from_addr: Mapped[str | None] = mapped_column(String(320))
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    processed_at: Mapped[datetime | None]
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    details: Mapped[dict[str, Any] | None]  # what classification extracted: channel, applicant, urls…

    case: Mapped[Case | None] = relationship(back_populates="messages")
    raw_row: Mapped[MessageRaw] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    # `row.raw` reads and writes the bytes in their own table (MessageRaw says why); reading loads them.
    raw: AssociationProxy[bytes] = association_proxy("raw_row", "raw", creator=lambda raw: MessageRaw(raw=raw))


class MessageRaw(Base):
    """A stored message's raw bytes, in a table of their own.

    Kept in the message row, the ~30 KB of bytes sat in SQLite overflow pages that every UPDATE of the
    row rewrote (SQLite writes a changed row out whole): each status change at intake cost about a
    millisecond of copying. Here they are written once and read only when a message is parsed again.
    PostgreSQL moves large values out of line by itself (TOAST); the table costs it nothing.
    """

    __tablename__ = "message_raw"
    id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), primary_key=True)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)


class Case(Base):
    """A case: one piece of work with a kind, a state machine, a deadline and an assignee."""

    __tablename__ = "case"
    __table_args__ = (
        Index("ix_case_next_action", "next_action_at"),
        Index("ix_case_state", "state"),
        # Threading fallbacks look cases up by these; without indexes every message would scan all cases.
        Index("ix_case_subject_counterpart", "normalized_subject", "counterpart"),
        Index("ix_case_publication_url", "publication_url"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the case number in the tag [KZM-42]
    tenant: Mapped[str] = mapped_column(String(64), default="default")
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(Text, default="")
    normalized_subject: Mapped[str] = mapped_column(String(500), default="")
    counterpart: Mapped[str | None] = mapped_column(String(320))  # who opened it (ЦУР, citizen, staff)
    topic: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str | None] = mapped_column(String(32))
    assignee: Mapped[str | None] = mapped_column(String(320))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    due_assumed: Mapped[bool] = mapped_column(default=False)
    next_action_at: Mapped[datetime | None]  # earliest pending reminder/escalation: indexed, no scans
    publication_url: Mapped[str | None] = mapped_column(String(1000))  # indexed: keep under btree limits
    outcome: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None]

    messages: Mapped[list[StoredMessage]] = relationship(back_populates="case")
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id")


class CaseEvent(Base):
    """Audit trail: who did what to a case, when, and because of which message."""

    __tablename__ = "case_event"
    __table_args__ = (Index("ix_case_event_case", "case_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(320))  # e-mail, "curmail" or "cli"
    action: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    message_row_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    detail: Mapped[dict[str, Any] | None]

    case: Mapped[Case] = relationship(back_populates="events")


class CaseKey(Base):
    """A pseudonymous matching key of a case (hashed applicant e-mail or phone, hashed address+topic).

    Repeat appeals (п. 6.3.2) are found by an indexed lookup of these keys instead of reading every
    appeal of the past year; retention deletes them with the case's personal data.
    """

    __tablename__ = "case_key"
    __table_args__ = (Index("ix_case_key_lookup", "tenant", "key", "opened_at"), Index("ix_case_key_case", "case_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), default="default")
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    key: Mapped[str] = mapped_column(String(80))
    opened_at: Mapped[datetime]


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed; if DATA may have begun, crash recovery marks it uncertain, else releases it
    SENT = "sent"
    FAILED = "failed"  # 5xx or lifetime exceeded; staff alerted
    UNCERTAIN = "uncertain"  # timeout after DATA; never resent automatically
    CANCELLED = "cancelled"


class OutboxMessage(Base):
    """One outgoing e-mail, enqueued in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_sent_copy", "status", "appended_to_sent"),  # copies still owed to the Sent folder
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), default="default")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    kind: Mapped[str] = mapped_column(String(64))  # the template name
    message_id: Mapped[str] = mapped_column(String(998), unique=True)  # assigned at enqueue, reused on retry
    dedupe_key: Mapped[str | None] = mapped_column(String(300), unique=True)  # e.g. reminder:42:-60m
    mail_from: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[list[Any]]
    subject: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    appended_to_sent: Mapped[bool] = mapped_column(default=False)
    delivery_failed_at: Mapped[datetime | None]  # set when a bounce for it comes back


class KeyValue(Base):
    """Small persistent facts: the token key's fingerprint, last contact-officials state, schema notes."""

    __tablename__ = "kv"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), default="default", primary_key=True)
    value: Mapped[dict[str, Any] | None]
    updated_at: Mapped[datetime]
