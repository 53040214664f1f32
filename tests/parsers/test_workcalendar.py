"""WorkCalendar against the Russian production calendar, working hours and ГК РФ ст. 191–194 terms."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from parsers.workcalendar import CalendarSettings, WorkCalendar, format_deadline, format_msk

MSK = ZoneInfo("Europe/Moscow")
CAL = WorkCalendar()


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)


@pytest.mark.parametrize(
    "day",
    [
        # May holidays 2025: 1–4 and 8–11 May (2 and 8 May are transferred days off)
        "2025-05-01", "2025-05-02", "2025-05-03", "2025-05-04", "2025-05-08", "2025-05-09",
        "2025-05-10", "2025-05-11",
        # May holidays 2026: 1–3 and 9–11 May (11 May: Victory Day falls on a Saturday)
        "2026-05-01", "2026-05-02", "2026-05-03", "2026-05-09", "2026-05-11",
        # New Year holidays
        "2025-01-01", "2025-01-08", "2026-01-02", "2026-01-09", "2027-01-08",
        # other transfers: 31 December 2025 and 2026 are days off by decree
        "2025-12-31", "2026-12-31",
    ],
)  # fmt: skip
def test_days_off_of_the_production_calendar(day: str) -> None:
    assert not CAL.is_working_day(date.fromisoformat(day))


@pytest.mark.parametrize(
    "day",
    [
        "2024-04-27", "2024-11-02", "2024-12-28", "2025-11-01",  # transferred working Saturdays
        "2025-05-05", "2025-05-06", "2025-05-07", "2025-05-12",  # between and after the May holidays
        "2026-05-04", "2026-05-08", "2026-05-12", "2026-01-12", "2026-12-30",
    ],
)  # fmt: skip
def test_working_days_including_transferred_saturdays(day: str) -> None:
    assert CAL.is_working_day(date.fromisoformat(day))


def test_ordinary_weekends_are_days_off() -> None:
    assert not CAL.is_working_day(date(2026, 12, 5))  # Saturday
    assert not CAL.is_working_day(date(2026, 12, 6))  # Sunday
    assert CAL.is_working_day(date(2026, 12, 7))


def test_override_tables_win_over_the_package() -> None:
    settings = CalendarSettings(
        extra_days_off=(date(2026, 12, 7), date(2024, 4, 27)),  # a regional day off; a cancelled transfer
        extra_working_days=(date(2026, 12, 5),),  # a decree newer than the package
    )
    cal = WorkCalendar(settings)
    assert not cal.is_working_day(date(2026, 12, 7))
    assert not cal.is_working_day(date(2024, 4, 27))
    assert cal.is_working_day(date(2026, 12, 5))
    assert cal.next_working_day(date(2026, 12, 4)) == date(2026, 12, 5)
    assert CAL.next_working_day(date(2026, 12, 4)) == date(2026, 12, 7)


def test_next_and_previous_working_day_across_new_year() -> None:
    assert CAL.next_working_day(date(2026, 12, 30)) == date(2027, 1, 11)
    assert CAL.previous_working_day(date(2027, 1, 11)) == date(2026, 12, 30)
    assert CAL.next_working_day(date(2024, 4, 26)) == date(2024, 4, 27)  # a working Saturday


def test_working_time_boundaries() -> None:
    assert CAL.is_working_time(msk(2026, 12, 3, 9, 0))
    assert CAL.is_working_time(msk(2026, 12, 3, 17, 59))
    assert not CAL.is_working_time(msk(2026, 12, 3, 18, 0))
    assert not CAL.is_working_time(msk(2026, 12, 3, 8, 59))
    assert not CAL.is_working_time(msk(2026, 12, 5, 12, 0))
    assert CAL.is_working_time(msk(2025, 11, 1, 12, 0))  # working Saturday
    # 12:00 UTC is 15:00 in Moscow
    assert CAL.is_working_time(datetime(2026, 12, 3, 12, 0, tzinfo=ZoneInfo("UTC")))


def test_next_working_time_for_routine_reminders() -> None:
    assert CAL.next_working_time(msk(2026, 12, 3, 10, 0)) == msk(2026, 12, 3, 10, 0)
    assert CAL.next_working_time(msk(2026, 12, 3, 7, 30)) == msk(2026, 12, 3, 9, 0)
    assert CAL.next_working_time(msk(2026, 12, 4, 19, 0)) == msk(2026, 12, 7, 9, 0)  # Friday evening
    assert CAL.next_working_time(msk(2025, 4, 30, 18, 0)) == msk(2025, 5, 5, 9, 0)  # May holidays
    assert CAL.next_working_time(msk(2024, 4, 26, 20, 0)) == msk(2024, 4, 27, 9, 0)


def test_add_hours_is_absolute_time_day_and_night() -> None:
    # the 3-hour refutation term runs through the night and the weekend
    assert CAL.add_hours(msk(2026, 12, 4, 22, 30), 3) == msk(2026, 12, 5, 1, 30)
    assert CAL.add_hours(msk(2026, 12, 3, 10, 0), timedelta(minutes=90)) == msk(2026, 12, 3, 11, 30)
    utc_result = CAL.add_hours(datetime(2026, 12, 3, 21, 0, tzinfo=ZoneInfo("UTC")), 1)
    assert utc_result == msk(2026, 12, 4, 1, 0) and utc_result.tzinfo == CAL.tz


def test_add_working_hours() -> None:
    assert CAL.add_working_hours(msk(2026, 12, 3, 10, 0), 3) == msk(2026, 12, 3, 13, 0)
    assert CAL.add_working_hours(msk(2026, 12, 3, 16, 0), 2) == msk(2026, 12, 3, 18, 0)  # ends at close
    assert CAL.add_working_hours(msk(2026, 12, 4, 17, 0), 3) == msk(2026, 12, 7, 11, 0)  # over the weekend
    assert CAL.add_working_hours(msk(2026, 12, 5, 3, 0), 1) == msk(2026, 12, 7, 10, 0)  # from Saturday night
    assert CAL.add_working_hours(msk(2025, 4, 30, 17, 0), 4) == msk(2025, 5, 5, 12, 0)  # May holidays
    assert CAL.add_working_hours(msk(2026, 12, 3, 7, 0), 9) == msk(2026, 12, 3, 18, 0)
    assert CAL.add_working_hours(msk(2026, 12, 7, 11, 0), -3) == msk(2026, 12, 4, 17, 0)


def test_add_calendar_days_appeal_over_the_may_holidays() -> None:
    # an appeal received 10.04.2025: 30 days end on 10.05.2025, inside the May holidays
    received = msk(2025, 4, 10, 11, 20)
    assert CAL.add_calendar_days(received, 30, roll_forward=True) == msk(2025, 5, 12, 18, 0)
    assert CAL.add_calendar_days(received, 30, roll_forward=False) == msk(2025, 5, 10, 18, 0)
    assert CAL.add_calendar_days(received, 30, roll_forward=False, end_of_day=False) == msk(2025, 5, 10, 11, 20)


def test_roll_forward_follows_the_setting_and_lands_on_a_working_saturday() -> None:
    received = msk(2024, 10, 3, 9, 0)  # 30 days: 02.11.2024 is a transferred working Saturday
    assert CAL.add_calendar_days(received, 30) == msk(2024, 11, 2, 18, 0)
    received = msk(2024, 10, 4, 9, 0)  # 30 days: Sunday 03.11, then 04.11 is a holiday
    assert CAL.add_calendar_days(received, 30) == msk(2024, 11, 5, 18, 0)
    no_roll = WorkCalendar(CalendarSettings(roll_forward=False))
    assert no_roll.add_calendar_days(received, 30) == msk(2024, 11, 3, 18, 0)


def test_add_working_days_counts_from_the_day_after_receipt() -> None:
    assert CAL.add_working_days(msk(2026, 12, 7, 10, 0), 2) == msk(2026, 12, 9, 18, 0)  # Monday
    assert CAL.add_working_days(msk(2026, 12, 4, 20, 0), 2) == msk(2026, 12, 8, 18, 0)  # Friday evening
    assert CAL.add_working_days(msk(2026, 12, 5, 23, 0), 2) == msk(2026, 12, 8, 18, 0)  # Saturday night
    assert CAL.add_working_days(msk(2025, 4, 30, 10, 0), 2) == msk(2025, 5, 6, 18, 0)  # May holidays
    assert CAL.add_working_days(msk(2025, 10, 31, 10, 0), 1) == msk(2025, 11, 1, 18, 0)  # working Saturday
    assert CAL.add_working_days(msk(2026, 12, 3, 10, 0), 0) == msk(2026, 12, 3, 18, 0)
    assert CAL.add_working_days(msk(2026, 12, 3, 19, 0), 0) == msk(2026, 12, 4, 18, 0)


def test_working_days_before_for_reminders() -> None:
    deadline = msk(2026, 12, 9, 18, 0)  # Wednesday, end of the working day
    assert CAL.working_days_before(deadline, 1) == msk(2026, 12, 9, 9, 0)
    assert CAL.working_days_before(deadline, 2) == msk(2026, 12, 8, 9, 0)
    assert CAL.working_days_before(deadline, 3) == msk(2026, 12, 7, 9, 0)
    assert CAL.working_days_before(deadline, 4) == msk(2026, 12, 4, 9, 0)  # skips the weekend
    assert CAL.working_days_before(msk(2026, 12, 9, 12, 0), 1) == msk(2026, 12, 8, 12, 0)
    # an appeal due 12.05.2025 (after the May holidays): T−3 working days is 06.05
    assert CAL.working_days_before(msk(2025, 5, 12, 18, 0), 3) == msk(2025, 5, 6, 9, 0)
    # every result is a moment when routine mail may go out
    for n in range(0, 12):
        moment = CAL.working_days_before(msk(2026, 5, 14, 18, 0), n)
        assert CAL.is_working_time(moment)


def test_format_for_staff() -> None:
    moment = datetime(2026, 12, 3, 12, 42, tzinfo=ZoneInfo("UTC"))
    assert CAL.format_msk(moment) == "03.12.2026 15:42 (МСК)"
    assert CAL.format_deadline(moment) == "до 15:42 03.12.2026 (МСК)"
    assert format_msk(moment) == "03.12.2026 15:42 (МСК)"
    assert format_deadline(moment) == "до 15:42 03.12.2026 (МСК)"


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Europe/Samara", "03.12.2026 16:42 (МСК+1)"),
        ("Asia/Yekaterinburg", "03.12.2026 17:42 (МСК+2)"),
        ("Europe/Kaliningrad", "03.12.2026 14:42 (МСК-1)"),
        ("Europe/Kirov", "03.12.2026 15:42 (МСК)"),
        ("Asia/Tashkent", "03.12.2026 17:42 (UTC+5)"),
        ("UTC", "03.12.2026 12:42 (UTC)"),
        ("Asia/Kolkata", "03.12.2026 18:12 (UTC+5:30)"),
    ],
)
def test_zone_labels_a_russian_reader_expects(zone: str, expected: str) -> None:
    moment = datetime(2026, 12, 3, 12, 42, tzinfo=ZoneInfo("UTC"))
    assert WorkCalendar(CalendarSettings(timezone=zone)).format_msk(moment) == expected


def test_custom_working_hours_and_label() -> None:
    cal = WorkCalendar(CalendarSettings(work_start=time(8, 30), work_end=time(17, 30), zone_label="местное"))
    assert cal.add_working_days(msk(2026, 12, 3, 10, 0), 1) == msk(2026, 12, 4, 17, 30)
    assert cal.working_day_length == timedelta(hours=9)
    assert cal.format_msk(msk(2026, 12, 3, 10, 0)) == "03.12.2026 10:00 (местное)"


def test_programming_misuse_raises_value_error() -> None:
    with pytest.raises(ValueError, match="naive"):
        CAL.add_hours(datetime(2026, 12, 3, 10, 0), 1)
    with pytest.raises(ValueError):
        CAL.add_working_days(msk(2026, 12, 3, 10, 0), 100_000)
    with pytest.raises(ValueError):
        WorkCalendar(CalendarSettings(work_start=time(18), work_end=time(9)))
