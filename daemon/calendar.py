"""The organisation's working calendar, built once from the configuration."""

from __future__ import annotations

from daemon.config import Settings, per_settings
from parsers.workcalendar import CalendarSettings, WorkCalendar


@per_settings
def calendar_for(settings: Settings) -> WorkCalendar:
    """Settings are frozen and hashable, so each loaded configuration gets exactly one calendar."""
    cal = settings.calendar
    return WorkCalendar(
        CalendarSettings(
            timezone=settings.organization.timezone,
            work_start=cal.work_start,
            work_end=cal.work_end,
            extra_days_off=tuple(cal.extra_days_off),
            extra_working_days=tuple(cal.extra_working_days),
            roll_forward=cal.roll_forward_non_working,
        )
    )
