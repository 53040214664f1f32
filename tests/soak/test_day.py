"""The soak tier: a whole working day over Dovecot and aiosmtpd, then every case, letter and reminder checked.

CI plays the small day (8 signals, 4 requests, 40 appeals, a run every 10 minutes). The full day by hand:
`CURMAIL_SOAK=full .venv/bin/python -m pytest -s -m slow tests/soak` (50 signals, 20 requests, 300 appeals,
a run every 5 minutes); `-s` prints what the day did.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from email.utils import make_msgid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload, undefer

from daemon.db.models import Case, OutboxMessage, StoredMessage
from daemon.workflow.reminders import LATE_AFTER, done_keys, plan
from tests.soak.day import CUR, MSK, PRESS, Day, plan_day, play, run_once, size_from_env
from tests.support.env import CurmailEnv
from tests.support.mail import make_message

SIZE = size_from_env()
SIZE_TIMEOUT = 300 if SIZE.name == "ci" else 3600  # a hang guard only: the full day runs for minutes
DAY = date(2026, 12, 3)  # a Thursday: the week's end and a weekend fall inside the horizon


@pytest.fixture
def played(env: CurmailEnv, caplog: pytest.LogCaptureFixture) -> Day:
    day = plan_day(env, SIZE, DAY)
    with caplog.at_level(logging.WARNING):
        never_built = play(day)
    assert never_built == [], [(letter.label, letter.at) for letter in never_built]
    day.errors = [(r.name, r.getMessage(), getattr(r, "case", None), getattr(r, "template", None))
                  for r in caplog.records if r.levelno >= logging.ERROR]
    return day


def _cases(day: Day) -> dict[int, Case]:
    with day.lookup_app().sessions() as session:
        return {c.id: c for c in session.scalars(select(Case).options(selectinload(Case.events)))}


def _outbox(day: Day) -> list[OutboxMessage]:
    with day.lookup_app().sessions() as session:
        return list(session.scalars(select(OutboxMessage).options(undefer(OutboxMessage.raw))
                                    .order_by(OutboxMessage.id)))


@pytest.mark.slow
@pytest.mark.timeout(SIZE_TIMEOUT)
def test_a_working_day_ends_as_planned_with_every_letter_and_reminder_once(played: Day):
    day = played
    cases = _cases(day)
    outbox = _outbox(day)
    accepted = Counter(m.message_id for m in day.env.smtp.messages)

    # Every case ends in the expected state, and auto-replies and bounces opened none.
    wrong = []
    for expected in day.ledger.values():
        case = cases.get(day.case_id(expected.label) or -1)
        actual = (case.kind, case.state, case.outcome if expected.outcome else None) if case else None
        if actual != (expected.kind, expected.state, expected.outcome):
            wrong.append((expected.label, actual, (expected.kind, expected.state, expected.outcome)))
    assert wrong == []
    shared = Counter(e.case_id for e in day.ledger.values())
    assert [(e.label, e.opening_id) for e in day.ledger.values() if shared[e.case_id] > 1] == []
    assert len(cases) == len(day.ledger)

    # Every outgoing letter was sent, and accepted exactly once.
    assert [m for m, n in accepted.items() if n > 1] == []
    assert [(r.id, r.kind, r.status, r.last_error) for r in outbox if r.status != "sent"] == []
    assert [(r.id, r.kind) for r in outbox if accepted[r.message_id] != 1] == []
    assert set(accepted) == {r.message_id for r in outbox}  # nothing went out past the outbox

    # Each case's opening notification reached its assignee once; each draft to the ЦУР answers its signal;
    # the press got the approved version (after remarks, the second draft).
    notices = Counter((r.case_id, r.recipients[0]) for r in outbox if r.kind.endswith("_new"))
    assert [e.label for e in day.ledger.values()
            if notices[(e.case_id, cases[e.case_id].assignee)] != 1] == []
    by_id = {e.case_id: e for e in day.ledger.values()}
    drafts = [r for r in outbox if r.kind == "refutation_draft"]
    assert [r.id for r in drafts if _thread_ids(r.raw)[:1] != [by_id[r.case_id].opening_id]] == []
    for row in (r for r in outbox if r.kind == "refutation_press"):
        version = by_id[row.case_id].draft_versions
        assert f"0-00-0{version}" in _text(row.raw), (by_id[row.case_id].label, version)

    # No letter answers an auto-reply or a bounce (no mail loops).
    assert len(day.automatic_ids) >= 3
    answering = [m.message_id for m in day.env.smtp.messages
                 if set(_thread_ids(m.raw)) & set(day.automatic_ids)]
    assert answering == []

    # Exactly one press letter per approved refutation; a bounced one is marked, not resent.
    press = Counter(r.case_id for r in outbox if r.kind == "refutation_press" and r.recipients == [PRESS])
    assert {e.label: press[e.case_id] for e in day.ledger.values() if e.kind == "refutation"} == {
        e.label: e.press_letters for e in day.ledger.values() if e.kind == "refutation"}
    bounced = [r for r in outbox if r.message_id in day.bounced_ids]
    assert len(bounced) == sum(e.bounce_press for e in day.ledger.values())
    assert all(r.delivery_failed_at is not None for r in bounced)

    # No reminder missed or repeated: each planned action due while the case waited was handled once.
    reminder_rows = Counter(r.dedupe_key for r in outbox if r.kind in ("reminder", "escalation"))
    assert [k for k, n in reminder_rows.items() if n > 1] == []
    missed, extra, repeated = [], [], []
    for expected in day.ledger.values():
        case = cases[expected.case_id]
        handled = Counter(e.detail["key"] for e in case.events
                          if e.action in ("reminder_sent", "escalation_sent", "reminder_skipped", "escalation_skipped"))
        repeated += [(expected.label, k) for k, n in handled.items() if n > 1]
        repeated += [(expected.label, k) for k, n in Counter(case.data.get("reminders_done", ())).items() if n > 1]
        if not expected.exact_reminders:
            continue
        cutoff = expected.waiting_ended_before or day.steps[-1]
        due = {a.key for a in plan(day.env.settings, case) if a.at <= cutoff}
        missed += [(expected.label, k) for k in sorted(due - done_keys(case))]
        extra += [(expected.label, k) for k in sorted(done_keys(case) - due)]
    assert (missed, extra, repeated) == ([], [], [])
    sent = [e for c in cases.values() for e in c.events if e.action in ("reminder_sent", "escalation_sent")]
    assert {e.action for e in sent} == {"reminder_sent", "escalation_sent"}, "the day must exercise both"
    # None went out before its moment, and «с опозданием» marks exactly those sent past LATE_AFTER.
    wrong_time = []
    for event in sent:
        at = event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)
        planned = datetime.fromisoformat(event.detail["planned_at"])
        if at < planned or event.detail["late"] != (at - planned > LATE_AFTER):
            wrong_time.append((event.case_id, event.detail["key"], at, event.detail["late"]))
    assert wrong_time == []

    print(summary(day))
    # No message left unprocessed, none parked without a reason.
    with day.lookup_app().sessions() as session:
        messages = list(session.scalars(select(StoredMessage)))
    assert [m.id for m in messages if m.status in ("stored", "classified")] == []
    assert [m.id for m in messages if m.status == "parked" and not (m.error or m.reasons)] == []
    assert day.delivered_ids - {m.message_id for m in messages if m.direction == "in"} == set()  # none lost
    assert day.errors == []


def _thread_ids(raw: bytes) -> list[str]:
    message = message_from_bytes(raw, policy=default)
    return " ".join(str(message.get(name, "")) for name in ("In-Reply-To", "References")).split()


def _text(raw: bytes) -> str:
    part = message_from_bytes(raw, policy=default).get_body(("plain",))
    return part.get_content() if part is not None else ""


def summary(day: Day) -> str:
    """What the day did, printed with `-s` (and quoted in reports)."""
    cases = _cases(day)
    outbox = _outbox(day)
    actions = Counter(e.action for c in cases.values() for e in c.events
                      if e.action.startswith(("reminder", "escalation")))
    late = sum(1 for c in cases.values() for e in c.events if e.action.endswith("_sent") and e.detail.get("late"))
    return (f"soak {day.size.name}: {len(day.steps)} runs, {len(day.letters)} letters in, {len(outbox)} out; "
            f"cases {dict(Counter((c.kind, c.state) for c in cases.values()))}; "
            f"letters {dict(Counter(r.kind for r in outbox))}; reminders {dict(actions)}, late {late}; "
            f"auto-replies and bounces {len(day.automatic_ids)}; errors logged {len(day.errors)}")


def _plain_signal(url: str, at: datetime) -> bytes:
    return make_message(
        sender=f"ЦУР Республики Марий Эл <{CUR}>", subject="Недостоверная информация: уборка снега, ул. Ленина",
        body=("Добрый день!\n\nЦентр управления регионом выявил публикацию с недостоверной информацией о работе "
              f"администрации.\n\nСсылка: {url}\nИсточник: сообщество «Подслушано Козьмодемьянск» (ВКонтакте)\n"
              "Цитата: «Во дворах на ул. Ленина не убирают снег, администрация молчит».\n\n"
              "Просим в течение 3 часов подготовить официальный комментарий (опровержение).\n"),
        message_id=make_msgid(domain="cur12.example.org"), date=at)


def test_two_signals_with_the_same_subject_about_different_posts_open_two_cases(env: CurmailEnv):
    """Found by the soak day: the ЦУР's subjects repeat («Недостоверная информация: …»), its posts do not."""
    first, second = datetime(2026, 12, 3, 10, 0, tzinfo=MSK), datetime(2026, 12, 3, 11, 0, tzinfo=MSK)
    env.deliver(_plain_signal("https://vk.com/wall-170001_9001", first), internal_date=first)
    run_once(env, first + timedelta(minutes=1))
    env.deliver(_plain_signal("https://vk.com/wall-170002_9002", second), internal_date=second)
    run_once(env, second + timedelta(minutes=1))
    with env.app().sessions() as session:
        refutations = list(session.scalars(select(Case).where(Case.kind == "refutation")))
        notices = list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "refutation_new")))
    assert len(refutations) == 2
    assert len({row.case_id for row in notices}) == 2  # each signal notified with its own deadline
