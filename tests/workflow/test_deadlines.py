"""Deadlines: every Duration unit on the Russian production calendar, default terms per kind, set_due and extend."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from daemon.app import App
from daemon.calendar import calendar_for
from daemon.cases import CaseKind, open_case
from daemon.clock import Clock
from daemon.config import Settings, parse_settings
from daemon.db.models import Case, CaseEvent
from daemon.durations import Duration
from daemon.errors import WorkflowError
from daemon.workflow.deadlines import apply_duration, compute_due, extend, set_due
from daemon.workflow.states import State

MSK = ZoneInfo("Europe/Moscow")
ORG = "adm@kozmo.example"
CONTACT = "ivanova@kozmo.example"
OFFICIAL = "petrov@kozmo.example"
SUPERVISOR = "sidorova@kozmo.example"


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)


def make_settings(state_dir: Path, db_url: str = "sqlite://", **sections: dict[str, Any]) -> Settings:
    """A configuration with a contact official, a responsible official and a supervisor."""
    data: dict[str, Any] = {
        "organization": {"name": "Администрация городского округа «Город Козьмодемьянск»", "address": ORG,
                         "case_tag": "KZM"},
        "mailbox": {"host": "127.0.0.1", "port": 143, "security": "none", "username": "adm", "password": "x"},
        "smtp": {"host": "127.0.0.1", "port": 25, "security": "none"},
        "database": {"url": db_url},
        "staff": [
            {"name": "Иванова Мария Петровна", "email": CONTACT, "roles": ["contact"]},
            {"name": "Петров Сергей Иванович", "email": OFFICIAL, "roles": ["responsible"], "topics": ["ЖКХ"]},
            {"name": "Сидорова Анна Викторовна", "email": SUPERVISOR, "roles": ["supervisor"]},
        ],
        "state": {"directory": str(state_dir)},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return parse_settings(data, "test.toml")


def open_app(settings: Settings, now: datetime) -> App:
    return App.open(settings, Clock(fixed=now.astimezone(UTC)), migrate=True)


def new_case(
    app: App, kind: CaseKind, *, opened_at: datetime, due_at: datetime | None = None, assignee: str | None = OFFICIAL,
    channel: str | None = None, subject: str = "Яма во дворе дома № 5 по ул. Советской",
) -> int:
    """Open a case waiting on its assignee, as the workflow would, and set its deadline at `opened_at`."""
    app.clock.fixed = opened_at.astimezone(UTC)
    with app.sessions() as session, session.begin():
        case = open_case(
            session, kind=kind, subject=subject, normalized_subject=subject.lower(), counterpart="cur@example.org",
            opened_at=opened_at.astimezone(UTC), message=None, assignee=assignee, channel=channel,
        )
        case.state = State.ASSIGNED if assignee else State.NEW
        due = due_at or compute_due(app.settings, kind, opened_at, channel=channel)
        set_due(session, app, case, due, assumed=False, reason="срок по регламенту", actor="curmail")
        return case.id


def events(app: App, case_id: int, action: str | None = None) -> list[CaseEvent]:
    with app.sessions() as session:
        query = select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        if action is not None:
            query = query.where(CaseEvent.action == action)
        return list(session.scalars(query))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "state")


def due(settings: Settings, start: datetime, text: str, *, roll_forward: bool = True) -> datetime:
    moment = apply_duration(calendar_for(settings), start, Duration.parse(text), roll_forward=roll_forward)
    return moment.astimezone(MSK)


# --- every unit ----------------------------------------------------------------------------------


def test_minutes_and_hours_are_absolute_time_day_and_night(settings):
    assert due(settings, msk(2026, 12, 3, 15, 42), "45m") == msk(2026, 12, 3, 16, 27)
    assert due(settings, msk(2026, 12, 3, 15, 42), "-60m") == msk(2026, 12, 3, 14, 42)
    # A refutation received on Friday night: 3 hours run through the night into Saturday.
    assert due(settings, msk(2026, 12, 4, 22, 30), "3h") == msk(2026, 12, 5, 1, 30)
    assert due(settings, msk(2026, 12, 5, 1, 30), "-2h") == msk(2026, 12, 4, 23, 30)


def test_results_are_aware_utc(settings):
    result = apply_duration(calendar_for(settings), msk(2026, 12, 3, 15, 0), Duration.parse("3h"), roll_forward=True)
    assert result.tzinfo is UTC and result == datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


def test_working_hours_count_only_inside_working_hours(settings):
    # Thursday 15:00 + 8 working hours: 3 h on Thursday, 5 h on Friday.
    assert due(settings, msk(2026, 12, 3, 15, 0), "8wh") == msk(2026, 12, 4, 14, 0)
    # Friday 17:00 + 4 wh: 1 h on Friday, the weekend skipped, 3 h on Monday.
    assert due(settings, msk(2026, 12, 4, 17, 0), "4wh") == msk(2026, 12, 7, 12, 0)
    # Backwards: Monday 10:00 − 2 wh is Friday 17:00.
    assert due(settings, msk(2026, 12, 7, 10, 0), "-2wh") == msk(2026, 12, 4, 17, 0)


def test_working_days_end_when_work_ends_on_the_last_one(settings):
    assert due(settings, msk(2026, 11, 30, 10, 0), "2wd") == msk(2026, 12, 2, 18, 0)  # Monday → Wednesday
    assert due(settings, msk(2026, 12, 4, 20, 0), "2wd") == msk(2026, 12, 8, 18, 0)  # Friday night → Tuesday
    # Reminders before a Wednesday 18:00 deadline land at the start of working days.
    assert due(settings, msk(2026, 12, 2, 18, 0), "-1wd") == msk(2026, 12, 2, 9, 0)
    assert due(settings, msk(2026, 12, 2, 18, 0), "-3wd") == msk(2026, 11, 30, 9, 0)


def test_calendar_days_end_at_the_end_of_work_and_go_back_keeping_the_clock(settings):
    assert due(settings, msk(2026, 12, 3, 11, 20), "3d") == msk(2026, 12, 7, 18, 0)  # Sunday 6th rolls to Monday
    assert due(settings, msk(2026, 12, 3, 11, 20), "3d", roll_forward=False) == msk(2026, 12, 6, 18, 0)
    assert due(settings, msk(2026, 12, 3, 11, 20), "-2d") == msk(2026, 12, 1, 11, 20)


# --- 59-ФЗ terms and the production calendar -----------------------------------------------------


def test_a_30_day_appeal_term_spanning_the_may_holidays_counts_calendar_days(settings):
    # Registered 15.04.2025; 1–4 and 8–11 May are days off, but a term of calendar days counts them.
    assert compute_due(settings, "appeal", msk(2025, 4, 15, 10, 0), channel="59fz") == msk(2025, 5, 15, 18, 0)
    # The same span in working days would be longer: the holidays are skipped.
    assert due(settings, msk(2025, 4, 15, 10, 0), "22wd") > msk(2025, 5, 15, 18, 0)


def test_a_term_ending_on_a_holiday_rolls_forward_only_when_configured(tmp_path):
    registered = msk(2025, 4, 8, 12, 0)  # + 30 days = 08.05.2025, a transferred day off; 9–11 May are off too
    rolling = make_settings(tmp_path / "a")
    assert compute_due(rolling, "appeal", registered, channel="59fz") == msk(2025, 5, 12, 18, 0)
    strict = make_settings(tmp_path / "b", calendar={"roll_forward_non_working": False})
    assert compute_due(strict, "appeal", registered, channel="59fz") == msk(2025, 5, 8, 18, 0)
    # 2026: 10 May is a Sunday and 11 May the observed Victory Day, so the term moves to Tuesday 12 May.
    assert compute_due(rolling, "appeal", msk(2026, 4, 10, 9, 30), channel="59fz") == msk(2026, 5, 12, 18, 0)
    assert compute_due(strict, "appeal", msk(2026, 4, 10, 9, 30), channel="59fz") == msk(2026, 5, 10, 18, 0)


def test_the_transferred_working_saturday_1_november_2025_is_a_working_day(settings):
    friday = msk(2025, 10, 31, 10, 0)
    assert due(settings, friday, "1wd") == msk(2025, 11, 1, 18, 0)  # Saturday, but a working one
    assert due(settings, friday, "2wd") == msk(2025, 11, 5, 18, 0)  # 3 Nov transferred off, 4 Nov holiday
    assert due(settings, msk(2025, 10, 31, 17, 0), "2wh") == msk(2025, 11, 1, 10, 0)
    # A calendar-day term ending that Saturday does not roll: it is a working day.
    assert compute_due(settings, "appeal", msk(2025, 10, 2, 10, 0), channel="59fz") == msk(2025, 11, 1, 18, 0)
    # T−2 working days before Wednesday 5 November is that Saturday morning.
    assert due(settings, msk(2025, 11, 5, 18, 0), "-2wd") == msk(2025, 11, 1, 9, 0)


def test_an_override_day_off_from_the_config_wins_over_the_package(tmp_path):
    settings = make_settings(tmp_path, calendar={"extra_days_off": ["2026-12-07"]})
    assert due(settings, msk(2026, 12, 4, 10, 0), "1wd") == msk(2026, 12, 8, 18, 0)


def test_an_override_working_day_from_the_config_counts_for_terms_and_reminders(tmp_path):
    # A decree newer than the installed package makes Saturday 5 December 2026 a working day.
    settings = make_settings(tmp_path, calendar={"extra_working_days": ["2026-12-05"]})
    assert due(settings, msk(2026, 12, 4, 10, 0), "1wd") == msk(2026, 12, 5, 18, 0)
    assert due(settings, msk(2026, 12, 7, 18, 0), "-2wd") == msk(2026, 12, 5, 9, 0)


# --- default terms per kind ----------------------------------------------------------------------


def test_compute_due_uses_the_configured_term_of_each_kind(settings):
    received = msk(2026, 12, 3, 12, 42)  # Thursday
    assert compute_due(settings, "refutation", received) == msk(2026, 12, 3, 15, 42)
    assert compute_due(settings, "request", received) == msk(2026, 12, 7, 18, 0)  # 2 working days
    assert compute_due(settings, "generic", received) == msk(2026, 12, 4, 18, 0)  # 1 working day
    assert compute_due(settings, "appeal", received, channel="pos") == msk(2026, 12, 4, 11, 42)  # 8 wh
    assert compute_due(settings, "appeal", received, channel="incident") == msk(2026, 12, 4, 12, 42)  # 24 h
    # An unknown channel falls back to "other" (30 days): 02.01.2027 is a holiday, so 11.01.2027.
    assert compute_due(settings, "appeal", received, channel="telegram") == msk(2027, 1, 11, 18, 0)
    with pytest.raises(ValueError):
        compute_due(settings, "report", received)


def test_terms_come_from_the_config(tmp_path):
    settings = make_settings(tmp_path, deadlines={"refutation_draft": "2h", "appeal": {"pos": "4wh"}})
    received = msk(2026, 12, 3, 16, 0)
    assert compute_due(settings, "refutation", received) == msk(2026, 12, 3, 18, 0)
    assert compute_due(settings, "appeal", received, channel="pos") == msk(2026, 12, 4, 11, 0)
    with pytest.raises(WorkflowError, match="other"):
        compute_due(settings, "appeal", received, channel="59fz")  # the table replaced, no "other" left


# --- set_due and extend --------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path):
    app = open_app(make_settings(tmp_path / "state", f"sqlite:///{tmp_path / 'curmail.db'}"), msk(2026, 12, 3, 9, 0))
    yield app
    app.close()


def test_set_due_records_old_and_new_deadline_and_plans_the_next_action(app):
    case_id = new_case(app, CaseKind.REFUTATION, opened_at=msk(2026, 12, 3, 15, 0))
    app.clock.fixed = msk(2026, 12, 3, 15, 30).astimezone(UTC)
    with app.sessions() as session, session.begin():
        case = session.get(Case, case_id)
        assert case.due_at == msk(2026, 12, 3, 18, 0) and case.next_action_at == msk(2026, 12, 3, 17, 0)
        set_due(session, app, case, msk(2026, 12, 3, 20, 0), assumed=True, reason="ЦУР продлил срок",
                actor="ivanova@kozmo.example")
    with app.sessions() as session:
        case = session.get(Case, case_id)
        assert case.due_at == msk(2026, 12, 3, 20, 0) and case.due_assumed
        assert case.next_action_at == msk(2026, 12, 3, 19, 0)
    first, second = events(app, case_id, "deadline_set")
    assert first.detail["old_due_at"] is None
    assert second.detail == {
        "old_due_at": "2026-12-03T15:00:00+00:00", "new_due_at": "2026-12-03T17:00:00+00:00", "assumed": True,
        "reason": "ЦУР продлил срок",
    }
    assert second.actor == "ivanova@kozmo.example" and second.at == msk(2026, 12, 3, 15, 30)


def test_extend_needs_an_appeal_a_reason_and_stays_within_30_days_of_the_original(app):
    registered = msk(2026, 11, 2, 10, 0)
    appeal = new_case(app, CaseKind.APPEAL, opened_at=registered, channel="59fz")
    refutation = new_case(app, CaseKind.REFUTATION, opened_at=registered)
    app.clock.fixed = msk(2026, 11, 20, 11, 0).astimezone(UTC)
    with app.sessions() as session, session.begin():
        case = session.get(Case, appeal)
        assert case.due_at == msk(2026, 12, 2, 18, 0)
        with pytest.raises(WorkflowError, match="причину"):
            extend(session, app, case, msk(2026, 12, 20, 18, 0), reason="  ", actor=OFFICIAL)
        with pytest.raises(WorkflowError, match="позже текущего"):
            extend(session, app, case, msk(2026, 12, 1, 18, 0), reason="запрос в МВД", actor=OFFICIAL)
        with pytest.raises(WorkflowError, match="только по обращению"):
            extend(session, app, session.get(Case, refutation), msk(2026, 12, 20, 18, 0), reason="x", actor=OFFICIAL)
        extend(session, app, case, msk(2026, 12, 21, 18, 0), reason="запрос в МВД", actor=OFFICIAL)
        # A second extension counts from the ORIGINAL term: 02.12 + 30 days = 01.01.2027, a holiday → 11.01.
        with pytest.raises(WorkflowError, match=r"не более чем на 30 .* не позднее 11\.01\.2027 18:00"):
            extend(session, app, case, msk(2027, 1, 12, 18, 0), reason="ещё запрос", actor=OFFICIAL)
        extend(session, app, case, msk(2027, 1, 11, 18, 0), reason="ответ МВД не получен", actor=OFFICIAL)
    with app.sessions() as session:
        case = session.get(Case, appeal)
        assert case.due_at == msk(2027, 1, 11, 18, 0)
        assert case.data["original_due_at"] == "2026-12-02T15:00:00+00:00"
        assert case.data["applicant_notice"]["required"] is True
    extended = events(app, appeal, "deadline_extended")
    assert [e.detail["reason"] for e in extended] == ["запрос в МВД", "ответ МВД не получен"]
    assert extended[0].detail["old_due_at"] == "2026-12-02T15:00:00+00:00"
    notices = events(app, appeal, "applicant_notice_required")
    assert len(notices) == 2 and "уведомите заявителя" in notices[0].detail["text"]
