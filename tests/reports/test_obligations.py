"""The quarterly obligation: draft on the first working day, reminder, escalation, `#отправить` to the ЦУР."""

from __future__ import annotations

import email
from collections.abc import Callable
from datetime import datetime
from email import policy

import pytest
from sqlalchemy import select
from sqlalchemy.orm import undefer

from daemon.app import App
from daemon.clock import Clock
from daemon.db.models import Case, CaseEvent, OutboxMessage
from daemon.errors import NotAuthorised, WorkflowError
from daemon.reports import obligations
from daemon.reports.period import quarter
from tests.reports.seed import Spec, add_all, msk

CONTACT = "ivanova@kozmo.example"
OFFICIAL = "petrov@kozmo.example"
SUPERVISOR = "sidorova@kozmo.example"
CUR = "cur@example.org"


def at(app: App, moment: datetime) -> App:
    app.clock = Clock(fixed=moment)
    return app


def letters(app: App, kind: str | None = None) -> list[OutboxMessage]:
    with app.sessions() as session:
        query = select(OutboxMessage).options(undefer(OutboxMessage.raw)).order_by(OutboxMessage.id)
        rows = list(session.scalars(query))
    return [r for r in rows if kind is None or r.kind == kind]


def report_cases(app: App) -> list[Case]:
    with app.sessions() as session:
        return list(session.scalars(select(Case).where(Case.kind == "report")))


def attachments(row: OutboxMessage) -> dict[str, bytes]:
    msg = email.message_from_bytes(row.raw, policy=policy.default)
    return {part.get_filename(): part.get_content() for part in msg.iter_attachments()}


def test_dates_of_a_quarter_that_ends_on_a_holiday(app: App) -> None:
    q4 = obligations.dates_for(app.settings, quarter(2026, 4))
    # 31.12.2026 is a day off and 1-10.01.2027 are holidays and a weekend: the first working day is 11.01.
    assert q4.generate_at == msk(2027, 1, 11, 9, 0)
    assert q4.due_at == msk(2027, 1, 11, 18, 0)  # the 5th is a holiday: the deadline moves to the next working day
    q2 = obligations.dates_for(app.settings, quarter(2026, 2))
    assert q2.generate_at == msk(2026, 7, 1, 9, 0)
    assert q2.reminder_at == msk(2026, 7, 3, 9, 0)
    assert q2.escalation_at == msk(2026, 7, 6, 9, 0)  # the 4th is a Saturday
    assert q2.due_at == msk(2026, 7, 6, 18, 0)  # the 5th is a Sunday


def test_draft_goes_to_the_contact_official_once(make_app: Callable[..., App]) -> None:
    app = make_app()
    with app.sessions() as session:
        add_all(session, [Spec("appeal", msk(2026, 5, 12, 10), "59fz", "ЖКХ", due=msk(2026, 6, 11, 18),
                               closed=msk(2026, 5, 30, 12))])
    assert obligations.tick(at(app, msk(2026, 6, 30, 23, 0))) is None  # the quarter is not over
    assert obligations.tick(at(app, msk(2026, 7, 1, 8, 59))) is None  # before the working day starts
    assert obligations.tick(at(app, msk(2026, 7, 1, 9, 0))) == "generated"
    obligations.tick(at(app, msk(2026, 7, 1, 9, 1)))
    other_instance = make_app()
    obligations.tick(at(other_instance, msk(2026, 7, 1, 9, 2)))

    (case,) = report_cases(app)
    assert case.state == "assigned" and case.assignee == CONTACT
    assert case.due_at == msk(2026, 7, 6, 18, 0)
    (draft,) = letters(app, obligations.DRAFT_TEMPLATE)
    assert draft.recipients == [CONTACT]
    assert f"[KZM-{case.id}]" in draft.subject
    files = attachments(draft)
    assert set(files) == {"statistika-2026Q2.xlsx", "dela-2026Q2.csv", "svodka-2026Q2.txt"}
    body = email.message_from_bytes(draft.raw, policy=policy.default).get_body(("plain",)).get_content()
    assert "#отправить" in body and "Обращений поступило: 1" in body


def test_reminder_on_the_3rd_and_escalation_on_the_4th_each_once(app: App) -> None:
    obligations.tick(at(app, msk(2026, 7, 1, 9, 0)))
    obligations.tick(at(app, msk(2026, 7, 2, 12, 0)))
    assert letters(app, obligations.REMINDER_TEMPLATE) == []
    for moment in (msk(2026, 7, 3, 9, 0), msk(2026, 7, 3, 15, 0)):
        obligations.tick(at(app, moment))
    (reminder,) = letters(app, obligations.REMINDER_TEMPLATE)
    assert reminder.recipients == [CONTACT]
    assert letters(app, obligations.ESCALATION_TEMPLATE) == []
    for moment in (msk(2026, 7, 4, 10, 0), msk(2026, 7, 6, 9, 0), msk(2026, 7, 6, 9, 30)):
        obligations.tick(at(app, moment))
    escalations = letters(app, obligations.ESCALATION_TEMPLATE)
    assert sorted(r.recipients[0] for r in escalations) == [CONTACT, SUPERVISOR]


def test_holiday_quarter_skips_reminders_that_would_precede_the_draft(app: App) -> None:
    obligations.tick(at(app, msk(2027, 1, 11, 9, 0)))
    obligations.tick(at(app, msk(2027, 1, 11, 9, 5)))
    assert len(letters(app, obligations.DRAFT_TEMPLATE)) == 1
    assert letters(app, obligations.REMINDER_TEMPLATE) == []
    assert letters(app, obligations.ESCALATION_TEMPLATE) == []
    (case,) = report_cases(app)
    with app.sessions() as session:
        actions = [e.action for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))]
    assert "report_reminder_skipped" in actions and "report_escalation_skipped" in actions


def test_send_is_refused_for_anyone_but_the_contact_official(app: App) -> None:
    obligations.tick(at(app, msk(2026, 7, 1, 9, 0)))
    (case,) = report_cases(app)
    with app.sessions() as session, session.begin():
        case = session.get(Case, case.id)
        with pytest.raises(NotAuthorised) as refused:
            obligations.send_quarterly(session, app, case, OFFICIAL)
    assert "только контактное должностное лицо" in str(refused.value)
    assert "Иванова Мария Петровна" in str(refused.value) and OFFICIAL in str(refused.value)
    assert letters(app, obligations.FINAL_TEMPLATE) == []


def test_send_mails_the_reviewed_files_to_the_cur_and_closes_the_case(app: App) -> None:
    obligations.tick(at(app, msk(2026, 7, 1, 9, 0)))
    (case,) = report_cases(app)
    at(app, msk(2026, 7, 2, 10, 0))
    with app.sessions() as session, session.begin():
        result = obligations.send_quarterly(session, app, session.get(Case, case.id), CONTACT.upper())
    assert result == "Отчёт за II квартал 2026 г. направлен в ЦУР (cur@example.org)."
    (final,) = letters(app, obligations.FINAL_TEMPLATE)
    (draft,) = letters(app, obligations.DRAFT_TEMPLATE)
    assert final.recipients == [CUR]
    assert attachments(final) == attachments(draft)  # exactly what the official reviewed
    with app.sessions() as session, session.begin():
        again = obligations.send_quarterly(session, app, session.get(Case, case.id), CONTACT)
    assert "уже направлен" in again
    assert len(letters(app, obligations.FINAL_TEMPLATE)) == 1
    (case,) = report_cases(app)
    assert case.state == "closed" and case.outcome == "sent"
    obligations.tick(at(app, msk(2026, 7, 6, 9, 0)))  # sent in time: no reminder, no escalation
    assert letters(app, obligations.REMINDER_TEMPLATE) == letters(app, obligations.ESCALATION_TEMPLATE) == []


def test_report_command_in_the_thread_recounts_the_draft_before_sending(app: App) -> None:
    from daemon.reports import run_command

    with app.sessions() as session:
        add_all(session, [Spec("appeal", msk(2026, 5, 12, 10), "59fz", "ЖКХ", due=msk(2026, 6, 11, 18))])
    obligations.tick(at(app, msk(2026, 7, 1, 9, 0)))
    with app.sessions() as session:  # a late-registered appeal of the quarter turns up after the draft
        add_all(session, [Spec("appeal", msk(2026, 6, 30, 17), "pos", "дороги и транспорт",
                               due=msk(2026, 7, 1, 17))])
    (case,) = report_cases(app)
    at(app, msk(2026, 7, 2, 11, 0))
    with app.sessions() as session, session.begin():
        result = run_command(session, app, name="report", args="", sender=CONTACT, case=session.get(Case, case.id),
                             now=app.clock())
    assert "версия 2" in result
    first, second = letters(app, obligations.DRAFT_TEMPLATE)
    body = email.message_from_bytes(second.raw, policy=policy.default).get_body(("plain",)).get_content()
    assert "Обращений поступило: 2" in body
    with app.sessions() as session, session.begin():
        obligations.send_quarterly(session, app, session.get(Case, case.id), CONTACT)
    (final,) = letters(app, obligations.FINAL_TEMPLATE)
    assert attachments(final) == attachments(second) != attachments(first)
    with app.sessions() as session, session.begin(), pytest.raises(WorkflowError, match="уже направлен"):
        obligations.regenerate(session, app, session.get(Case, case.id), now=app.clock(), actor=CONTACT)


def test_holiday_quarter_missed_deadline_is_escalated_to_the_supervisor(app: App) -> None:
    from daemon.workflow import reminders

    obligations.tick(at(app, msk(2027, 1, 11, 9, 0)))
    (case,) = report_cases(app)
    assert case.due_at == msk(2027, 1, 11, 18, 0)
    before = {r.id for r in letters(app)}
    reminders.tick(at(app, msk(2027, 1, 11, 18, 1)))  # not sent by the deadline
    reminders.tick(at(app, msk(2027, 1, 11, 18, 30)))
    new = [r for r in letters(app) if r.id not in before]
    escalated = [r for r in new if SUPERVISOR in r.recipients]
    assert len(escalated) == 1, [(r.kind, r.recipients) for r in new]
    assert f"[KZM-{case.id}]" in escalated[0].subject
    with app.sessions() as session, session.begin():  # sent late: still sent, and recorded as late
        obligations.send_quarterly(session, app, session.get(Case, case.id), CONTACT)
    (case,) = report_cases(app)
    assert case.data["sent_on_time"] is False


def test_an_empty_quarter_still_gets_a_draft_that_says_so(app: App) -> None:
    from daemon.reports.xlsx import NO_DATA

    assert obligations.tick(at(app, msk(2026, 7, 1, 9, 0))) == "generated"
    (draft,) = letters(app, obligations.DRAFT_TEMPLATE)
    body = " ".join(email.message_from_bytes(draft.raw, policy=policy.default).get_body(("plain",))
                    .get_content().split())
    assert NO_DATA in body and "нет ни обращений, ни сигналов, ни запросов ЦУР" in body
    assert set(attachments(draft)) == {"statistika-2026Q2.xlsx", "dela-2026Q2.csv", "svodka-2026Q2.txt"}


def test_when_the_3rd_and_4th_are_a_weekend_only_the_escalation_goes(app: App) -> None:
    q3 = obligations.dates_for(app.settings, quarter(2026, 3))
    # 03.10.2026 is a Saturday, 04.10 a Sunday: both move to Monday 05.10 09:00, the deadline's day.
    assert q3.reminder_at == q3.escalation_at == msk(2026, 10, 5, 9, 0)
    obligations.tick(at(app, msk(2026, 10, 1, 9, 0)))
    obligations.tick(at(app, msk(2026, 10, 5, 9, 0)))
    obligations.tick(at(app, msk(2026, 10, 5, 9, 30)))
    assert letters(app, obligations.REMINDER_TEMPLATE) == []
    assert sorted(r.recipients[0] for r in letters(app, obligations.ESCALATION_TEMPLATE)) == [CONTACT, SUPERVISOR]
    (case,) = report_cases(app)
    with app.sessions() as session:
        actions = [e.action for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))]
    assert "report_reminder_skipped" in actions and "report_escalation_sent" in actions
