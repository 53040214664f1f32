"""The SMTP server answers 421, then hangs after DATA, then comes back: the others go out once, the uncertain never.

tests/daemon/test_sender.py proves each reply on its own with hand-queued rows; here one sequence runs
through the whole daemon (`run --once --now`) on letters that real ЦУР signals caused.
"""

from __future__ import annotations

import email
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import policy

import pytest
from sqlalchemy import select

from daemon.db.models import OutboxMessage, OutboxStatus
from tests.support.env import CurmailEnv
from tests.support.mail import cur_signal

RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
NOW = RECEIVED + timedelta(minutes=1)


def outbox(env: CurmailEnv) -> list[OutboxMessage]:
    with env.app().sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_421_then_a_hang_after_data_then_recovery(env: CurmailEnv) -> None:
    env.configure(smtp={"timeout_seconds": 1})
    for n in range(3):
        env.deliver(cur_signal(n), internal_date=RECEIVED)

    env.smtp.fail_temporarily(1000)
    env.run_once(NOW)
    notifications = outbox(env)
    assert notifications and {r.status for r in notifications} == {OutboxStatus.QUEUED}
    assert env.smtp.messages == [] and {a.outcome for a in env.smtp.attempts} == {"temporary"}

    env.smtp.accept()
    env.smtp.hang_after_data()
    env.run_once(NOW + timedelta(minutes=10))  # past the first backoff (300 s)
    hung = [a for a in env.smtp.attempts if a.outcome == "hung"]
    assert len(hung) == 1, "the run stops at the first hang: the next letter would hang too"

    env.smtp.accept()
    env.run_once(NOW + timedelta(minutes=20))
    env.run_once(NOW + timedelta(hours=3))  # later runs change nothing for these letters
    rows = {r.message_id: r for r in outbox(env)}
    uncertain = [r for r in rows.values() if r.status == OutboxStatus.UNCERTAIN]
    assert [r.message_id for r in uncertain] == [hung[0].message_id]
    accepted = Counter(m.message_id for m in env.smtp.messages)
    assert accepted[hung[0].message_id] == 0, "an uncertain letter is never resent by itself"
    for row in notifications:
        if row.message_id != hung[0].message_id:
            assert rows[row.message_id].status == OutboxStatus.SENT
            assert accepted[row.message_id] == 1, f"{row.kind} to {row.recipients} must arrive exactly once"
    alerts = [r for r in rows.values() if r.kind == "send_uncertain"]
    assert len(alerts) == 1 and alerts[0].status == OutboxStatus.SENT
    assert accepted[alerts[0].message_id] == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_550_for_one_recipient_fails_that_letter_alerts_the_contact_and_resend_settles_it(env: CurmailEnv) -> None:
    official, contact = "petrov@kozmo.example", "ivanova@kozmo.example"
    env.deliver(cur_signal(1), internal_date=RECEIVED)
    env.smtp.reject("550 5.1.1 <petrov@kozmo.example>: Recipient address rejected", only=(official,))
    env.run_once(NOW)
    env.run_once(NOW + timedelta(hours=1))  # a 5xx is final: no retry in later runs
    failed = [r for r in outbox(env) if r.status == OutboxStatus.FAILED]
    assert failed and all(r.recipients == [official] and r.last_error.startswith("550") for r in failed)
    (refused,) = [r for r in failed if r.kind == "refutation_new"]
    assert [a.outcome for a in env.smtp.attempts if a.message_id == refused.message_id] == ["permanent"]
    alerts = [r for r in outbox(env) if r.kind == "send_failed"]
    assert len(alerts) == len(failed)  # one alert per refused letter, none about the alerts
    assert all(r.recipients == [contact] and r.status == OutboxStatus.SENT for r in alerts)
    texts = [email.message_from_bytes(m.raw, policy=policy.default).get_body(("plain",)).get_content()
             for m in env.smtp.messages if m.message_id in {a.message_id for a in alerts}]
    assert any(f"curmail outbox resend {refused.id}" in text for text in texts)

    env.smtp.accept()
    env.cli("outbox", "resend", str(refused.id))
    env.run_once()  # the CLI queued it on the wall clock, so the daemon runs on it too
    env.run_once()
    assert [m.message_id for m in env.smtp.messages].count(refused.message_id) == 1  # same Message-ID, once
    assert {r.id: r.status for r in outbox(env)}[refused.id] == OutboxStatus.SENT
