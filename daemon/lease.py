"""A per-mailbox lease in `mailbox_state`, so that of several instances exactly one reads each mailbox.

Every operation is one conditional UPDATE, atomic on PostgreSQL and on SQLite alike: the row is
taken only when it is free, already ours, or its lease has expired. A holder that dies simply stops
renewing, and the next `acquire` by another instance after `lease_expires_at` takes over.

Time comes from the database server on PostgreSQL, so instances on hosts with skewed clocks still
agree on who holds the lease; SQLite is one host, whose clock everybody shares.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from daemon.app import App
from daemon.db.engine import transaction
from daemon.db.models import MailboxState

log = logging.getLogger("curmail.lease")

STATE = MailboxState.__table__


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a mailbox now, for `curmail status` and the logs."""

    owner: str | None
    expires_at: datetime | None


def database_now(session: Session) -> datetime:
    """The current time by the database server (PostgreSQL), or by this host (SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        value = session.scalar(select(func.now()))
        if value is not None:
            return value.astimezone(UTC)
    return datetime.now(UTC)


def _ensure_row(session: Session, mailbox_key: str, tenant: str) -> None:
    """Create the cursor row if absent; a concurrent creator is no error (ON CONFLICT DO NOTHING)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(STATE).values(mailbox=mailbox_key, tenant=tenant, last_uid=0)
    session.execute(statement.on_conflict_do_nothing(index_elements=["mailbox"]))


def _seconds(ttl: float | timedelta) -> timedelta:
    return ttl if isinstance(ttl, timedelta) else timedelta(seconds=float(ttl))


def acquire(
    app: App, mailbox_key: str, owner: str, ttl: float | timedelta,
    holder_is_dead: Callable[[str], bool] | None = None,
) -> bool:
    """Take or extend the lease on `mailbox_key` for `ttl`; False when another live instance holds it.

    `holder_is_dead(owner)` may declare a holder dead before its lease expires (a process of this
    host that no longer exists), so a restart after a crash need not wait out the lease.
    """
    with transaction(app.sessions) as session:
        _ensure_row(session, mailbox_key, app.tenant)
        now = database_now(session)
        expires = now + _seconds(ttl)
        taken = session.execute(
            update(STATE)
            .where(
                STATE.c.mailbox == mailbox_key,
                or_(
                    STATE.c.lease_owner.is_(None),
                    STATE.c.lease_owner == owner,
                    STATE.c.lease_expires_at.is_(None),
                    STATE.c.lease_expires_at < now,
                ),
            )
            .values(lease_owner=owner, lease_expires_at=expires)
        ).rowcount
        if taken == 1 or holder_is_dead is None:
            return taken == 1
        current = session.scalar(select(STATE.c.lease_owner).where(STATE.c.mailbox == mailbox_key))
        if current is None or not holder_is_dead(current):
            return False
        # Conditional on the very owner we found dead: a third instance may have been quicker.
        taken = session.execute(
            update(STATE)
            .where(STATE.c.mailbox == mailbox_key, STATE.c.lease_owner == current)
            .values(lease_owner=owner, lease_expires_at=expires)
        ).rowcount
    if taken == 1:
        log.warning("took the mailbox over from a dead process", extra={"mailbox": mailbox_key, "dead": current})
    return taken == 1


def renew(app: App, mailbox_key: str, owner: str, ttl: float | timedelta) -> bool:
    """Extend our lease; False when it has been taken over (then stop touching the mailbox at once).

    An expired lease that nobody took is still ours to renew: no one else has read the mailbox.
    """
    with transaction(app.sessions) as session:
        now = database_now(session)
        kept = session.execute(
            update(STATE)
            .where(STATE.c.mailbox == mailbox_key, STATE.c.lease_owner == owner)
            .values(lease_expires_at=now + _seconds(ttl))
        ).rowcount
    return kept == 1


def release(app: App, mailbox_key: str, owner: str) -> bool:
    """Give the lease up (on a clean stop), so another instance need not wait for it to expire."""
    with transaction(app.sessions) as session:
        released = session.execute(
            update(STATE)
            .where(STATE.c.mailbox == mailbox_key, STATE.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        ).rowcount
    return released == 1


def holder(app: App, mailbox_key: str) -> LeaseHolder:
    """The current holder and expiry (both None when nobody holds the mailbox)."""
    with transaction(app.sessions) as session:
        row = session.execute(
            select(STATE.c.lease_owner, STATE.c.lease_expires_at).where(STATE.c.mailbox == mailbox_key)
        ).first()
    return LeaseHolder(None, None) if row is None else LeaseHolder(row[0], row[1])
