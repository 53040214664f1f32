"""The command line as a sysadmin uses it: cases and outbox listings, settling an uncertain letter."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select

from daemon.db.engine import transaction
from daemon.db.models import OutboxMessage, OutboxStatus
from tests.support.env import CurmailEnv
from tests.support.mail import cur_signal

RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def test_cases_and_outbox_from_the_command_line(env: CurmailEnv) -> None:
    env.deliver(cur_signal(1), internal_date=RECEIVED)
    env.cli("run", "--once", "--now", "2026-12-01T10:05:00+03:00")

    listing = json.loads(env.cli("cases", "list", "--json").stdout)
    assert [c["kind"] for c in listing] == ["refutation"]
    case = listing[0]
    assert case["tag"] == "[KZM-1]" and case["deadlines"]["due_at"].startswith("2026-12-01T10:00")
    shown = json.loads(env.cli("cases", "show", "1", "--json").stdout)
    assert shown["events"][0]["action"] == "opened"
    assert "Недостоверная информация" in env.cli("cases", "show", "1").stdout

    sent = env.cli("outbox", "list", "--all").stdout
    assert "sent" in sent and "petrov@kozmo.example" in sent
    with env.app().sessions() as session:
        first = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
    detail = env.cli("outbox", "show", str(first.id)).stdout
    assert first.message_id in detail and "Тема:" in detail


def test_an_uncertain_letter_is_settled_by_confirm_or_resend(env: CurmailEnv) -> None:
    env.deliver(cur_signal(2), internal_date=RECEIVED)
    env.cli("run", "--once", "--now", "2026-12-01T10:05:00+03:00")
    app = env.app()
    with transaction(app.sessions) as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        rows[0].status, rows[1].status = OutboxStatus.UNCERTAIN, OutboxStatus.UNCERTAIN
        first, second = rows[0].id, rows[1].id

    assert "«sent»" in env.cli("outbox", "confirm", str(first)).stdout
    assert "«queued»" in env.cli("outbox", "resend", str(second)).stdout
    refused = env.cli("outbox", "confirm", str(first), check=False)
    assert refused.returncode == 1 and "uncertain" in refused.stderr
    listing = env.cli("outbox", "list").stdout
    assert str(second) in listing


def test_replay_a_file_and_the_parked_messages(env: CurmailEnv, tmp_path) -> None:
    from daemon.db.models import MessageStatus, StoredMessage

    eml = tmp_path / "signal.eml"
    eml.write_bytes(cur_signal(3))
    out = env.cli("replay", str(eml), "--now", "2026-12-01T10:00:00+03:00").stdout
    assert "processed 1, parked 0" in out
    with env.app().sessions() as session:
        row = session.scalars(select(StoredMessage)).one()
    assert row.kind == "cur_signal" and row.internal_date == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)

    app = env.app()
    with transaction(app.sessions) as session:
        session.get(StoredMessage, row.id).status = MessageStatus.PARKED
    assert "processed 1" in env.cli("replay", "--parked").stdout
    with env.app().sessions() as session:
        assert session.get(StoredMessage, row.id).status == MessageStatus.PROCESSED
