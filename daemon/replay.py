"""`curmail replay`: feed an .eml file through the pipeline, or give parked messages another run."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import case, update

from daemon.app import App
from daemon.db.engine import transaction
from daemon.db.models import MessageStatus, StoredMessage
from daemon.errors import CurmailError
from daemon.pipeline import ProcessReport, process_pending
from daemon.store import IncomingRaw, store_messages


def replay_file(app: App, path: Path, received_at: datetime) -> ProcessReport:
    """Store the file as if it had just arrived (receipt time given), then process it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CurmailError(f"cannot read {path}: {exc.strerror}") from exc
    with transaction(app.sessions) as session:
        store_messages(
            session, mailbox=None, uidvalidity=None, messages=[IncomingRaw(raw=raw, internal_date=received_at)],
            now=app.clock(), tenant=app.tenant,
        )
    return process_pending(app)


def replay_parked(app: App) -> ProcessReport:
    """Put every parked message back in the queue with a fresh attempt count, and process."""
    with transaction(app.sessions) as session:
        session.execute(
            update(StoredMessage)
            .where(StoredMessage.status == MessageStatus.PARKED, StoredMessage.tenant == app.tenant)
            # A message parked in the act stage is already threaded (it has a kind): act on it again;
            # one parked at intake goes through intake again.
            .values(attempts=0, status=case((StoredMessage.kind.is_not(None), MessageStatus.CLASSIFIED),
                                            else_=MessageStatus.STORED))
        )
    return process_pending(app)
