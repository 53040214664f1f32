"""Intake threads a batch from five queries; the result must be exactly what one message at a time gives."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bench.generate import generate_messages
from daemon.app import App
from daemon.clock import Clock
from daemon.db.engine import transaction
from daemon.db.models import Case, CaseEvent, StoredMessage
from daemon.pipeline import classify_pending
from daemon.store import IncomingRaw, store_messages
from tests.workflow.conftest import CUR, FIXTURES, OFFICIAL, make_settings, set_headers

RECEIVED = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)


def threading_of(app: App) -> list[tuple[str, str | None, int | None, bool]]:
    """Per message: its kind, the case it is in (by the case's first message), and whether it opened it."""
    with app.sessions() as session:
        first_of = dict(session.execute(
            select(Case.id, StoredMessage.message_id).join(StoredMessage, StoredMessage.case_id == Case.id)
            .order_by(StoredMessage.id.desc())
        ).all())
        return [(m.message_id, m.kind, first_of.get(m.case_id), bool((m.details or {}).get("opened_case")))
                for m in session.scalars(select(StoredMessage).order_by(StoredMessage.id))]


def test_a_batch_is_threaded_exactly_as_one_message_at_a_time(tmp_path: Path) -> None:
    raws = list(generate_messages(300, seed=3))  # office mail; many subjects recur
    signal = (FIXTURES / "signal.eml").read_bytes()
    raws[10:10] = [
        signal,
        set_headers((FIXTURES / "generic_cur.eml").read_bytes(),  # answers the signal: by its Message-ID
                    {"From": CUR, "Message-ID": "<b-1@cur12.example.org>",
                     "In-Reply-To": "<wf-signal-1@cur12.example.org>"}),
        set_headers(signal, {"Message-ID": "<b-2@cur12.example.org>", "Subject": "Ещё раз о той же публикации"}),
        set_headers((FIXTURES / "generic_cur.eml").read_bytes(),  # a tag of the batch's first case, from staff
                    {"From": OFFICIAL, "Message-ID": "<b-3@kozmo.example>", "Subject": "[KZM-1] Справка"}),
    ]
    apps = []
    for name in ("batch", "single"):
        settings = make_settings(tmp_path / name, f"sqlite:///{tmp_path}/{name}.db")
        apps.append(App.open(settings, Clock(fixed=RECEIVED), migrate=True))
    batch, single = apps
    try:
        with transaction(batch.sessions) as session:
            store_messages(session, mailbox=None, uidvalidity=None, now=RECEIVED,
                           messages=[IncomingRaw(raw, RECEIVED) for raw in raws])
        assert classify_pending(batch).classified == len(raws)
        for raw in raws:
            with transaction(single.sessions) as session:
                store_messages(session, mailbox=None, uidvalidity=None, messages=[IncomingRaw(raw, RECEIVED)],
                               now=RECEIVED)
            assert classify_pending(single).classified == 1
        batched, one_by_one = threading_of(batch), threading_of(single)
        assert batched == one_by_one
        with batch.sessions() as session:  # the workload really threads, by more than one rule
            rules = {e.detail["threaded_by"] for e in session.scalars(
                select(CaseEvent).where(CaseEvent.action == "message_attached"))}
        assert len([m for m in batched if m[2] and not m[3]]) >= 20, "hardly anything threaded"
        assert rules == {"subject", "stored_message_id", "publication_url", "tag"}, rules
    finally:
        for app in apps:
            app.close()
