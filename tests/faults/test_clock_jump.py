"""The clock jumps forward by a day (`run --once --now`): every due reminder goes out once, marked late, no burst.

tests/workflow/test_reminders.py proves the tick's arithmetic on hand-made cases; here the real CLI
runs over mail from Dovecot and delivers through the SMTP sink, so the whole path is covered.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from daemon.db.models import Case, CaseEvent, OutboxMessage, OutboxStatus
from parsers import parse_message
from tests.support.env import CurmailEnv
from tests.support.mail import appeal, cur_signal

RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # Tuesday 10:00 МСК
START = RECEIVED + timedelta(minutes=1)
JUMPED = START + timedelta(days=1)


def reminder_rows(env: CurmailEnv) -> list[OutboxMessage]:
    with env.app().sessions() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind.in_(["reminder", "escalation"]))))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_day_forward_sends_each_due_action_once_and_late(env: CurmailEnv) -> None:
    for n in range(3):
        env.deliver(cur_signal(n), internal_date=RECEIVED)
    for n in range(2):
        env.deliver(appeal(n), internal_date=RECEIVED)  # ПОС: a term of working hours, also past by then
    env.run_once(START)
    assert reminder_rows(env) == []

    env.cli("run", "--once", "--now", JUMPED.isoformat())  # the real entry point makes the jump
    env.run_once(JUMPED + timedelta(minutes=1))  # the next minute's tick finds nothing new
    env.run_once(JUMPED + timedelta(hours=1))

    with env.app().sessions() as session:
        overdue = {c.id: c.kind for c in session.scalars(select(Case).where(Case.due_at <= JUMPED))}
        sent = session.scalars(select(CaseEvent).where(
            CaseEvent.action.in_(["reminder_sent", "escalation_sent"]))).all()
        skipped = session.scalars(select(CaseEvent).where(CaseEvent.action == "reminder_skipped")).all()
    rows = reminder_rows(env)
    assert sorted(overdue.values()) == ["appeal", "appeal", "refutation", "refutation", "refutation"]
    # One action per case, the latest overdue one (the escalation), each recipient once: no burst.
    assert Counter(e.case_id for e in sent) == Counter(list(overdue))
    assert all(e.detail["late"] and e.action == "escalation_sent" for e in sent)
    assert {r.case_id for r in rows} == set(overdue) and {r.kind for r in rows} == {"escalation"}
    per_recipient = Counter((r.case_id, tuple(r.recipients)) for r in rows)
    assert set(per_recipient.values()) == {1}, "a burst: some recipient got more than one letter for a case"
    refutation_skips = Counter(e.case_id for e in skipped if overdue[e.case_id] == "refutation")
    assert set(refutation_skips.values()) == {2}  # T−60 and T−15 recorded as skipped, not sent
    accepted = Counter(m.message_id for m in env.smtp.messages)
    assert all(r.status == OutboxStatus.SENT and accepted[r.message_id] == 1 for r in rows)
    bodies = [parse_message(m.raw).text for m in env.smtp.messages if m.message_id in {r.message_id for r in rows}]
    assert len(bodies) == len(rows) and all("отправлено с опозданием" in body for body in bodies)
