"""The transactional outbox: rows only with the caller's commit, one per recipient, idempotent by key."""

from __future__ import annotations

import email
from email import policy

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from daemon.db.models import CaseEvent, OutboxMessage, OutboxStatus
from daemon.errors import WorkflowError
from daemon.outbox import alert_contact, confirm, enqueue, list_rows, resend
from daemon.tokens import tokens_for
from tests.daemon.outbox_support import CONTACT, NOW, OFFICIAL, ORG, make_settings, migrated, new_case

FAILED_CONTEXT = {"outbox_id": 1, "recipient": OFFICIAL, "original_subject": "Тема", "created_at": NOW,
                  "attempts": 1, "expired": False, "error": "550 нет такого ящика"}
PARKED_CONTEXT = {"sender": "cur@example.org", "original_subject": "Сигнал", "received_at": NOW, "stored_id": 3,
                  "reason": "ошибка разбора", "attempts": 3}


@pytest.fixture
def env(db_url, tmp_path):
    return make_settings(tmp_path / "state", db_url=db_url), migrated(db_url)


def count(factory) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage))


def test_rows_exist_only_if_the_callers_transaction_commits(env):
    settings, factory = env
    with factory() as session:
        case = new_case(session)
        rows = enqueue(session, settings, kind="send_failed", to=[OFFICIAL], context=FAILED_CONTEXT, case=case, now=NOW)
        assert len(rows) == 1
        session.rollback()
    assert count(factory) == 0
    with factory() as session, session.begin():
        case = new_case(session)
        enqueue(session, settings, kind="send_failed", to=[OFFICIAL], context=FAILED_CONTEXT, case=case, now=NOW)
    assert count(factory) == 1


def test_one_row_per_recipient_each_with_its_own_verifiable_message_id(env):
    settings, factory = env
    with factory() as session, session.begin():
        case = new_case(session)
        rows = enqueue(session, settings, kind="send_failed", to=[OFFICIAL, CONTACT.upper(), OFFICIAL],
                       context=FAILED_CONTEXT, case=case, in_reply_to="<orig@cur.example.org>", now=NOW)
        case_id = case.id
    assert [r.recipients for r in rows] == [[OFFICIAL], [CONTACT]]
    tokens = tokens_for(settings.state.directory)
    for row in rows:
        (recipient,) = row.recipients
        assert tokens.verify_reference(row.message_id, recipient) is not None
        other = CONTACT if recipient == OFFICIAL else OFFICIAL
        assert tokens.verify_reference(row.message_id, other) is None
        parsed = email.message_from_bytes(row.raw, policy=policy.default)
        assert parsed["Message-ID"].strip() == row.message_id  # a long id may fold (RFC 5322 CFWS)
        assert parsed["To"] == recipient
        assert parsed["Subject"].startswith(f"[KZM-{case_id}] ")
        assert parsed["In-Reply-To"] == "<orig@cur.example.org>"
        domain = settings.organization.id_domain
        assert parsed["References"].split() == [f"<curmail-case-default-{case_id}@{domain}>",
                                                "<orig@cur.example.org>"]
        assert parsed["X-Curmail-Loop"] == ORG
        assert row.status == OutboxStatus.QUEUED and row.next_attempt_at == NOW


def test_dedupe_key_makes_enqueue_idempotent_per_recipient(env):
    settings, factory = env
    for _ in range(2):
        with factory() as session, session.begin():
            enqueue(session, settings, kind="send_failed", to=[OFFICIAL], context=FAILED_CONTEXT,
                    dedupe_key="reminder:1:-60m", now=NOW)
    with factory() as session, session.begin():
        again = enqueue(session, settings, kind="send_failed", to=[OFFICIAL, CONTACT], context=FAILED_CONTEXT,
                        dedupe_key="reminder:1:-60m", now=NOW)
    assert [r.recipients for r in again] == [[CONTACT]]
    with factory() as session:
        keys = sorted(session.scalars(select(OutboxMessage.dedupe_key)))
    assert keys == [f"reminder:1:-60m:{CONTACT}", f"reminder:1:-60m:{OFFICIAL}"]


def test_racing_transactions_on_one_key_fail_the_second_as_a_whole(env):
    settings, factory = env
    first, second = factory(), factory()
    try:
        enqueue(first, settings, kind="send_failed", to=[OFFICIAL], context=FAILED_CONTEXT, dedupe_key="k", now=NOW)
        first.commit()
        # The second transaction checked before the first committed: simulate by bypassing the check.
        second.add(OutboxMessage(kind="send_failed", message_id="<x@y>", dedupe_key=f"k:{OFFICIAL}", mail_from=ORG,
                                 recipients=[OFFICIAL], subject="s", raw=b"", created_at=NOW, next_attempt_at=NOW))
        with pytest.raises(IntegrityError):
            second.commit()
    finally:
        first.close()
        second.close()
    assert count(factory) == 1


def test_confirm_and_resend_follow_the_rules(env):
    settings, factory = env
    with factory() as session, session.begin():
        case = new_case(session)
        (row,) = enqueue(session, settings, kind="send_failed", to=[OFFICIAL], context=FAILED_CONTEXT, case=case,
                         now=NOW)
        row.status = OutboxStatus.UNCERTAIN
        session.flush()
        row_id, message_id = row.id, row.message_id
    with factory() as session, session.begin():
        assert confirm(session, row_id, now=NOW).status == OutboxStatus.SENT
    with factory() as session, session.begin(), pytest.raises(WorkflowError, match="uncertain"):
        resend(session, row_id, now=NOW)
    with factory() as session, session.begin():
        session.get(OutboxMessage, row_id).status = OutboxStatus.FAILED
    with factory() as session, session.begin():
        row = resend(session, row_id, now=NOW)
        assert (row.status, row.message_id) == (OutboxStatus.QUEUED, message_id)
    with factory() as session, session.begin(), pytest.raises(WorkflowError, match="№ 999"):
        confirm(session, 999, now=NOW)
    with factory() as session:
        actions = list(session.scalars(select(CaseEvent.action).order_by(CaseEvent.id)))
        assert [r.id for r in list_rows(session, status="queued")] == [row_id]
    assert actions == ["outbox_confirmed", "outbox_resend"]


def test_alerts_go_to_the_contact_and_never_about_an_alert(env):
    settings, factory = env
    with factory() as session, session.begin():
        (row,) = enqueue(session, settings, kind="parked_alert", to=[OFFICIAL], context=PARKED_CONTEXT, now=NOW)
        row.attempts = 1
        session.flush()
        alerts = alert_contact(session, settings, row=row, reason="failed", error="550 нет", now=NOW)
        assert [a.recipients for a in alerts] == [[CONTACT]]
        assert alerts[0].kind == "send_failed"
        assert alert_contact(session, settings, row=alerts[0], reason="failed", error="550", now=NOW) == []
        # The same failure reported twice yields one alert.
        assert alert_contact(session, settings, row=row, reason="failed", error="550 нет", now=NOW) == []
    assert count(factory) == 2
