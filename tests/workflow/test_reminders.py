"""Reminders and escalation: every default offset, night rules, exactly once across ticks, restarts and outages."""

from __future__ import annotations

import email
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import undefer

from daemon.app import App
from daemon.cases import CaseKind
from daemon.db.models import Case, OutboxMessage
from daemon.workflow.deadlines import extend, set_due
from daemon.workflow.reminders import TickReport, describe_span, plan, tick
from daemon.workflow.states import State
from tests.workflow.test_deadlines import (
    CONTACT,
    OFFICIAL,
    SUPERVISOR,
    events,
    make_settings,
    msk,
    new_case,
    open_app,
)

EVERYONE = sorted([OFFICIAL, CONTACT, SUPERVISOR])


@pytest.fixture
def make_app(tmp_path: Path, db_url: str) -> Iterator[Callable[..., App]]:
    """Open an App on the test's database (SQLite or PostgreSQL); calling it again is a daemon restart."""
    apps: list[App] = []

    def build(now: datetime, **sections: dict[str, Any]) -> App:
        app = open_app(make_settings(tmp_path / "state", db_url, **sections), now)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


def tick_at(app: App, moment: datetime) -> TickReport:
    app.clock.fixed = moment.astimezone(UTC)
    return tick(app)


def outbox(app: App, case_id: int) -> list[OutboxMessage]:
    with app.sessions() as session:
        query = select(OutboxMessage).where(OutboxMessage.case_id == case_id).order_by(OutboxMessage.id)
        return list(session.scalars(query.options(undefer(OutboxMessage.raw))))


def text_of(row: OutboxMessage) -> str:
    message = email.message_from_bytes(row.raw, policy=policy.default)
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def recipients(rows: list[OutboxMessage]) -> list[str]:
    return sorted(r for row in rows for r in row.recipients)


def get_case(app: App, case_id: int) -> Case:
    with app.sessions() as session:
        return session.get(Case, case_id)


def test_refutation_reminders_at_t_minus_60_and_15_minutes_and_escalation_at_t(make_app):
    app = make_app(msk(2026, 12, 3, 15, 0))
    case_id = new_case(app, CaseKind.REFUTATION, opened_at=msk(2026, 12, 3, 15, 0))  # due 18:00
    assert [(a.kind, str(a.offset), a.at) for a in plan(app.settings, get_case(app, case_id))] == [
        ("reminder", "-60m", msk(2026, 12, 3, 17, 0)),
        ("reminder", "-15m", msk(2026, 12, 3, 17, 45)),
        ("escalation", "None", msk(2026, 12, 3, 18, 0)),
    ]
    assert tick_at(app, msk(2026, 12, 3, 16, 59)).sent == 0
    assert tick_at(app, msk(2026, 12, 3, 17, 0)) == TickReport(cases=1, sent=1)
    (first,) = outbox(app, case_id)
    assert first.kind == "reminder" and first.recipients == [OFFICIAL]
    assert first.dedupe_key == f"reminder:{case_id}:20261203T1500Z:-60m:{OFFICIAL}"
    assert first.subject == f"[KZM-{case_id}] Напоминание: срок до 18:00 03.12.2026 (МСК) — Яма во дворе дома № 5 " \
                            "по ул. Советской"
    body = text_of(first)
    assert "Петров Сергей Иванович" in body and "опровержение" in body
    assert "До срока осталось: 1 час" in body and "с опозданием" not in body
    assert "ответьте на исходное письмо-уведомление" in body and "официального\nкомментария" in body

    assert tick_at(app, msk(2026, 12, 3, 17, 1)).sent == 0
    assert tick_at(app, msk(2026, 12, 3, 17, 45)).sent == 1
    second = outbox(app, case_id)[-1]
    assert second.recipients == [OFFICIAL] and "До срока осталось: 15 минут" in text_of(second)

    assert tick_at(app, msk(2026, 12, 3, 18, 0)).sent == 1
    escalation = outbox(app, case_id)[2:]
    assert {row.kind for row in escalation} == {"escalation"} and recipients(escalation) == EVERYONE
    body = text_of(escalation[0])
    assert "истёк 03.12.2026 18:00 (МСК)" in body and "Исполнитель: Петров Сергей Иванович <petrov@" in body
    assert "в течение 3 часов" in body
    assert get_case(app, case_id).next_action_at is None
    assert tick_at(app, msk(2026, 12, 3, 23, 0)).cases == 0
    sent = events(app, case_id, "reminder_sent") + events(app, case_id, "escalation_sent")
    assert [(e.detail["offset"], e.detail["late"]) for e in sent] == [("-60m", False), ("-15m", False), (None, False)]


def test_request_reminders_at_t_minus_1_working_day_and_2_hours(make_app):
    app = make_app(msk(2026, 11, 30, 10, 0))
    case_id = new_case(app, CaseKind.REQUEST, opened_at=msk(2026, 11, 30, 10, 0))  # 2 wd: Wednesday 18:00
    assert [a.at for a in plan(app.settings, get_case(app, case_id))] == [
        msk(2026, 12, 2, 9, 0), msk(2026, 12, 2, 16, 0), msk(2026, 12, 2, 18, 0)]
    assert tick_at(app, msk(2026, 12, 1, 18, 0)).sent == 0
    assert tick_at(app, msk(2026, 12, 2, 9, 0)).sent == 1
    assert "До срока осталось: 1 рабочий день" in text_of(outbox(app, case_id)[-1])
    assert tick_at(app, msk(2026, 12, 2, 16, 0)).sent == 1
    body = text_of(outbox(app, case_id)[-1])
    assert "До срока осталось: 2 часа" in body and "ответом на запрос ЦУР" in body
    assert tick_at(app, msk(2026, 12, 2, 18, 0)).sent == 1
    assert recipients(outbox(app, case_id)[2:]) == EVERYONE


def test_appeal_reminders_at_t_minus_7_3_and_1_working_days(make_app):
    app = make_app(msk(2026, 11, 2, 10, 0))
    case_id = new_case(app, CaseKind.APPEAL, opened_at=msk(2026, 11, 2, 10, 0), channel="59fz")  # 02.12 18:00
    moments = [msk(2026, 11, 24, 9, 0), msk(2026, 11, 30, 9, 0), msk(2026, 12, 2, 9, 0), msk(2026, 12, 2, 18, 0)]
    assert [a.at for a in plan(app.settings, get_case(app, case_id))] == moments
    for moment, left in zip(moments[:3], ["7 рабочих дней", "3 рабочих дня", "1 рабочий день"], strict=True):
        assert tick_at(app, moment).sent == 1
        body = text_of(outbox(app, case_id)[-1])
        assert f"До срока осталось: {left}" in body and "обращение гражданина" in body
    assert tick_at(app, moments[3]).sent == 1
    assert recipients(outbox(app, case_id)) == sorted([OFFICIAL] * 3 + EVERYONE)


def test_refutation_escalation_at_night_goes_out_at_once(make_app):
    app = make_app(msk(2026, 12, 4, 23, 30))
    case_id = new_case(app, CaseKind.REFUTATION, opened_at=msk(2026, 12, 4, 23, 30))  # due Saturday 02:30
    assert tick_at(app, msk(2026, 12, 5, 1, 30)).sent == 1  # T−60 at night, not held until Monday
    assert tick_at(app, msk(2026, 12, 5, 2, 15)).sent == 1
    assert tick_at(app, msk(2026, 12, 5, 2, 30)).sent == 1
    escalation = outbox(app, case_id)[2:]
    assert recipients(escalation) == EVERYONE
    assert {row.created_at for row in escalation} == {msk(2026, 12, 5, 2, 30)}
    assert "с опозданием" not in text_of(escalation[0])


def test_an_appeal_reminder_that_falls_at_night_waits_for_working_hours(make_app):
    app = make_app(msk(2026, 12, 1, 10, 0), reminders={"appeal": ["-3wd", "-1wd", "-16h"]})
    case_id = new_case(app, CaseKind.APPEAL, opened_at=msk(2026, 12, 1, 10, 0), channel="pos",
                       due_at=msk(2026, 12, 9, 14, 0))
    # T−16 h is Tuesday 22:00: moved to Wednesday 09:00.
    assert [a.at for a in plan(app.settings, get_case(app, case_id))] == [
        msk(2026, 12, 4, 14, 0), msk(2026, 12, 8, 14, 0), msk(2026, 12, 9, 9, 0), msk(2026, 12, 9, 14, 0)]
    assert tick_at(app, msk(2026, 12, 4, 14, 0)).sent == 1
    assert tick_at(app, msk(2026, 12, 8, 14, 0)).sent == 1
    assert tick_at(app, msk(2026, 12, 8, 22, 0)).sent == 0
    assert tick_at(app, msk(2026, 12, 9, 8, 59)).sent == 0
    assert tick_at(app, msk(2026, 12, 9, 9, 0)) == TickReport(cases=1, sent=1)
    row = outbox(app, case_id)[-1]
    assert row.created_at == msk(2026, 12, 9, 9, 0) and "с опозданием" not in text_of(row)


def test_a_request_reminder_before_work_starts_waits_for_0900_and_one_past_the_deadline_is_dropped(make_app):
    app = make_app(msk(2026, 12, 4, 11, 0))
    # Due Monday 10:00: T−2 h is 08:00 → 09:00; T−1 wd (Friday 10:00) precedes the letter, so it is not planned.
    morning = new_case(app, CaseKind.REQUEST, opened_at=msk(2026, 12, 4, 11, 0), due_at=msk(2026, 12, 7, 10, 0))
    # Due Saturday 12:00 (a deadline from the text): T−2 h would wait until Monday, after the deadline, and
    # T−1 wd is Friday 09:00, before the letter came: only the escalation is left.
    weekend = new_case(app, CaseKind.REQUEST, opened_at=msk(2026, 12, 4, 11, 0), due_at=msk(2026, 12, 5, 12, 0))
    assert [(a.kind, a.at) for a in plan(app.settings, get_case(app, morning))] == [
        ("reminder", msk(2026, 12, 7, 9, 0)), ("escalation", msk(2026, 12, 7, 10, 0))]
    assert [(a.kind, a.at) for a in plan(app.settings, get_case(app, weekend))] == [
        ("escalation", msk(2026, 12, 5, 12, 0))]


def test_each_reminder_is_sent_exactly_once_across_ticks_and_a_restart(make_app):
    app = make_app(msk(2026, 12, 3, 15, 0))
    case_id = new_case(app, CaseKind.REFUTATION, opened_at=msk(2026, 12, 3, 15, 0))
    for _ in range(3):
        tick_at(app, msk(2026, 12, 3, 17, 0))
    app.close()
    restarted = make_app(msk(2026, 12, 3, 17, 0))
    assert tick_at(restarted, msk(2026, 12, 3, 17, 0)).cases == 0
    assert tick_at(restarted, msk(2026, 12, 3, 17, 10)).cases == 0
    assert len(outbox(restarted, case_id)) == 1
    # Even if the case's own bookkeeping were lost, the outbox dedupe key keeps the letter single.
    with restarted.sessions() as session, session.begin():
        case = session.get(Case, case_id)
        case.data = {**case.data, "reminders_done": []}
        case.next_action_at = msk(2026, 12, 3, 17, 0)
    tick_at(restarted, msk(2026, 12, 3, 17, 10))
    assert len(outbox(restarted, case_id)) == 1
    assert len(events(restarted, case_id, "reminder_sent")) == 2  # the audit shows the second, empty attempt


def test_a_long_outage_sends_one_late_reminder_and_no_burst(make_app):
    app = make_app(msk(2026, 11, 2, 10, 0))
    case_id = new_case(app, CaseKind.APPEAL, opened_at=msk(2026, 11, 2, 10, 0), channel="59fz")  # 02.12 18:00
    assert tick_at(app, msk(2026, 11, 20, 12, 0)).sent == 0
    app.close()  # the daemon is down from 20.11 until 02.12 10:00, past T−7 and T−3 and T−1
    app = make_app(msk(2026, 12, 2, 10, 0))
    assert tick_at(app, msk(2026, 12, 2, 10, 0)) == TickReport(cases=1, sent=1, late=1, skipped=2)
    (row,) = outbox(app, case_id)
    assert row.recipients == [OFFICIAL] and row.subject.startswith(f"[KZM-{case_id}] Напоминание (с опозданием):")
    body = text_of(row)
    assert "отправлено с опозданием" in body and "запланировано на 02.12.2026 09:00 (МСК)" in body
    assert "До срока осталось: 8 часов" in body  # the real time left, not «1 рабочий день»
    skipped = events(app, case_id, "reminder_skipped")
    assert [e.detail["key"].rsplit(":", 1)[1] for e in skipped] == ["-7wd", "-3wd"]
    assert all(e.detail["superseded_by"].endswith(":-1wd") for e in skipped)
    assert tick_at(app, msk(2026, 12, 2, 10, 1)).sent == 0
    assert tick_at(app, msk(2026, 12, 2, 18, 0)).late == 0


def test_an_outage_past_the_deadline_sends_only_the_late_escalation(make_app):
    app = make_app(msk(2026, 12, 3, 15, 0))
    case_id = new_case(app, CaseKind.REFUTATION, opened_at=msk(2026, 12, 3, 15, 0))
    assert tick_at(app, msk(2026, 12, 3, 21, 0)) == TickReport(cases=1, sent=1, late=1, skipped=2)
    rows = outbox(app, case_id)
    assert {row.kind for row in rows} == {"escalation"} and recipients(rows) == EVERYONE
    body = text_of(rows[0])
    assert "отправлено с опозданием" in body and "Просрочено на: 3 часа" in body


def test_reminders_stop_when_the_case_moves_on(make_app):
    app = make_app(msk(2026, 12, 3, 15, 0))
    moving = new_case(app, CaseKind.REFUTATION, opened_at=msk(2026, 12, 3, 15, 0))
    closing = new_case(app, CaseKind.REFUTATION, opened_at=msk(2026, 12, 3, 15, 0))
    assert tick_at(app, msk(2026, 12, 3, 17, 0)).sent == 2
    # The state machine moves the cases on without touching the reminders; the tick re-checks the state.
    with app.sessions() as session, session.begin():
        session.get(Case, moving).state = State.AWAITING_APPROVAL
        closed = session.get(Case, closing)
        closed.state, closed.closed_at = State.CLOSED, msk(2026, 12, 3, 17, 20)
    assert tick_at(app, msk(2026, 12, 3, 17, 45)) == TickReport(cases=2, stopped=2)
    assert tick_at(app, msk(2026, 12, 3, 18, 0)).cases == 0
    for case_id in (moving, closing):
        assert len(outbox(app, case_id)) == 1
        assert get_case(app, case_id).next_action_at is None
    assert events(app, moving, "reminders_stopped")[0].detail == {"state": "awaiting_approval"}


def test_a_deadline_change_replans_with_new_keys(make_app):
    app = make_app(msk(2026, 12, 3, 15, 0))
    case_id = new_case(app, CaseKind.REFUTATION, opened_at=msk(2026, 12, 3, 15, 0))
    assert tick_at(app, msk(2026, 12, 3, 17, 0)).sent == 1
    app.clock.fixed = msk(2026, 12, 3, 17, 30).astimezone(UTC)
    with app.sessions() as session, session.begin():
        set_due(session, app, session.get(Case, case_id), msk(2026, 12, 3, 20, 0), assumed=False,
                reason="ЦУР продлил срок до 20:00", actor=CONTACT)
    assert get_case(app, case_id).next_action_at == msk(2026, 12, 3, 19, 0)
    assert tick_at(app, msk(2026, 12, 3, 17, 45)).sent == 0
    assert tick_at(app, msk(2026, 12, 3, 18, 0)).sent == 0  # the old escalation is gone with the old deadline
    assert tick_at(app, msk(2026, 12, 3, 19, 0)).sent == 1
    row = outbox(app, case_id)[-1]
    assert row.dedupe_key == f"reminder:{case_id}:20261203T1700Z:-60m:{OFFICIAL}"
    assert "до 20:00 03.12.2026 (МСК)" in row.subject
    assert tick_at(app, msk(2026, 12, 3, 19, 45)).sent == 1
    assert tick_at(app, msk(2026, 12, 3, 20, 0)).sent == 1
    assert len(outbox(app, case_id)) == 3 + len(EVERYONE)


def test_an_unassigned_case_reminds_the_contact_official(make_app):
    app = make_app(msk(2026, 12, 3, 10, 0))
    case_id = new_case(app, CaseKind.GENERIC, opened_at=msk(2026, 12, 3, 10, 0), assignee=None)  # Friday 18:00
    assert tick_at(app, msk(2026, 12, 4, 16, 0)).sent == 1
    (row,) = outbox(app, case_id)
    assert row.recipients == [CONTACT] and "Исполнитель по делу пока не назначен" in text_of(row)
    assert tick_at(app, msk(2026, 12, 4, 18, 0)).sent == 1
    assert recipients(outbox(app, case_id)[1:]) == sorted([CONTACT, SUPERVISOR])


def test_after_an_extension_the_reminders_recall_the_applicant_notice(make_app):
    app = make_app(msk(2026, 11, 2, 10, 0))
    case_id = new_case(app, CaseKind.APPEAL, opened_at=msk(2026, 11, 2, 10, 0), channel="59fz")
    app.clock.fixed = msk(2026, 11, 20, 12, 0).astimezone(UTC)
    with app.sessions() as session, session.begin():
        extend(session, app, session.get(Case, case_id), msk(2026, 12, 16, 18, 0), reason="запрос в МВД",
               actor=OFFICIAL)
    assert tick_at(app, msk(2026, 11, 24, 9, 0)).sent == 0  # the old T−7 is not planned any more
    assert tick_at(app, msk(2026, 12, 16, 9, 0)).sent == 1
    body = text_of(outbox(app, case_id)[-1])
    assert "до 18:00 16.12.2026 (МСК)" in body and "уведомить заявителя" in body


def test_two_daemons_never_both_handle_a_locked_case(tmp_path, pg_url):
    first = open_app(make_settings(tmp_path / "state", pg_url), msk(2026, 12, 3, 15, 0))
    second = open_app(make_settings(tmp_path / "state", pg_url), msk(2026, 12, 3, 17, 0))
    try:
        case_id = new_case(first, CaseKind.REFUTATION, opened_at=msk(2026, 12, 3, 15, 0))
        with first.sessions() as holder, holder.begin():
            holder.scalars(select(Case).where(Case.id == case_id).with_for_update()).one()
            # The other instance skips the row it cannot lock instead of waiting or sending twice.
            assert tick_at(second, msk(2026, 12, 3, 17, 0)) == TickReport()
        assert tick_at(second, msk(2026, 12, 3, 17, 0)) == TickReport(cases=1, sent=1)
        assert len(outbox(second, case_id)) == 1
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(("minutes", "text"), [
    (0, "менее минуты"), (1, "1 минута"), (15, "15 минут"), (60, "1 час"), (62, "1 час 2 минуты"),
    (24 * 60 * 21 + 5 * 60, "21 день 5 часов"), (24 * 60 * 3 + 11, "3 дня 11 минут"), (22 * 60, "22 часа"),
])
def test_time_spans_read_as_russian(minutes, text):
    from datetime import timedelta

    assert describe_span(timedelta(minutes=minutes)) == text


def test_a_night_escalation_reaches_the_smtp_server_once(make_app, smtp_sink):
    from daemon.sender import send_due_sync

    app = make_app(msk(2026, 12, 4, 23, 30), smtp={"port": smtp_sink.port})
    case_id = new_case(app, CaseKind.REFUTATION, opened_at=msk(2026, 12, 4, 23, 30))  # due Saturday 02:30
    for _ in range(2):  # the daemon was down at T−60 and T−15; two ticks and two sender runs at 02:31
        tick_at(app, msk(2026, 12, 5, 2, 31))
        send_due_sync(app.sessions, app.settings, now=msk(2026, 12, 5, 2, 31).astimezone(UTC), owner="test")
    delivered = smtp_sink.messages
    assert sorted(r for m in delivered for r in m.rcpt_tos) == EVERYONE
    for message in delivered:
        parsed = email.message_from_bytes(message.raw, policy=policy.default)
        assert parsed["Subject"].startswith(f"[KZM-{case_id}] Срок истёк:")
        assert parsed["Auto-Submitted"] == "auto-generated"
    assert len(events(app, case_id, "reminder_skipped")) == 2
