"""The Russian working-day calendar: working days, working hours and deadline arithmetic in one zone.

Rules this module implements, and why:

* Working days come from the production calendar of the `holidays` package (country RU):
  public holidays, the days off the government transfers by decree, and the weekend days it
  turns into working days (2024-04-27, 2024-11-02, 2024-12-28, 2025-11-01 …). Two override
  tables in `CalendarSettings` win over the package: `extra_days_off` (regional days off,
  decrees newer than the installed package) and `extra_working_days`.
* A term of N days, calendar or working, follows the Civil Code (ГК РФ ст. 191–194): it starts
  on the day AFTER the event, and it ends when the organisation's working hours end on its last
  day (ст. 194 п. 1), i.e. 18:00 by default. So «в течение 2 рабочих дней» from a letter
  received on Monday at 10:00 ends on Wednesday at 18:00. A term that ends on a non-working day
  moves to the next working day (ст. 193) when `roll_forward` is on (a setting: the default is
  on, as is common practice for 59-ФЗ appeals).
* Durations in hours are absolute time (the 3-hour refutation term runs at night too);
  durations in working hours count only inside working hours on working days.
* Shortened pre-holiday days (ТК РФ ст. 95) and lunch breaks are not modelled: the working day
  is one interval, `work_start`–`work_end`.

All datetimes in and out are timezone-aware. A naive datetime is a programming error (the caller
forgot to attach a zone), and raises ValueError; so does a span longer than `MAX_SPAN_DAYS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

MOSCOW = "Europe/Moscow"
MAX_SPAN_DAYS = 3660  # ten years: anything longer is a bug in the caller, not a deadline
_MOSCOW_UTC_OFFSET = timedelta(hours=3)

# IANA zones inside Russia: a Russian reader expects «МСК+N» for these, «UTC+N» elsewhere.
_RUSSIAN_ZONES = frozenset(
    {
        "Europe/Moscow", "W-SU", "Europe/Kaliningrad", "Europe/Simferopol", "Europe/Kirov",
        "Europe/Volgograd", "Europe/Astrakhan", "Europe/Saratov", "Europe/Ulyanovsk", "Europe/Samara",
        "Asia/Yekaterinburg", "Asia/Omsk", "Asia/Novosibirsk", "Asia/Barnaul", "Asia/Tomsk",
        "Asia/Novokuznetsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Chita", "Asia/Yakutsk",
        "Asia/Khandyga", "Asia/Vladivostok", "Asia/Ust-Nera", "Asia/Magadan", "Asia/Sakhalin",
        "Asia/Srednekolymsk", "Asia/Kamchatka", "Asia/Anadyr",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CalendarSettings:
    """What an organisation configures about its calendar; the defaults fit a Russian municipality."""

    timezone: str = MOSCOW
    work_start: time = time(9, 0)
    work_end: time = time(18, 0)
    working_weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday = 0
    extra_days_off: tuple[date, ...] = ()
    extra_working_days: tuple[date, ...] = ()
    roll_forward: bool = True  # a term of days ending on a non-working day moves to the next working day
    zone_label: str | None = None  # shown to staff instead of the computed «МСК» / «МСК+1» / «UTC+5»


class WorkCalendar:
    """Working days and hours of one organisation, and the deadline arithmetic built on them."""

    def __init__(self, settings: CalendarSettings | None = None) -> None:
        self.settings = settings or CalendarSettings()
        if self.settings.work_start >= self.settings.work_end:
            raise ValueError("work_start must be before work_end")
        self.tz: tzinfo = ZoneInfo(self.settings.timezone)
        self._production = holidays.country_holidays("RU")
        self._days_off = frozenset(self.settings.extra_days_off)
        self._extra_working = frozenset(self.settings.extra_working_days)
        self._cache: dict[date, bool] = {}

    # --- days -------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """True on a working day of the production calendar, with the override tables applied."""
        if isinstance(day, datetime):
            day = self._local(day).date()
        cached = self._cache.get(day)
        if cached is None:
            cached = self._compute_working_day(day)
            self._cache[day] = cached
        return cached

    def _compute_working_day(self, day: date) -> bool:
        if day in self._days_off:
            return False
        if day in self._extra_working:
            return True
        if day in self._production:  # also populates the year, and with it weekend_workdays
            return False
        if day in self._production.weekend_workdays:
            return True
        return day.weekday() in self.settings.working_weekdays

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        if isinstance(day, datetime):
            day = self._local(day).date()
        return self._step_working_day(day, +1)

    def previous_working_day(self, day: date) -> date:
        """The last working day strictly before `day`."""
        if isinstance(day, datetime):
            day = self._local(day).date()
        return self._step_working_day(day, -1)

    def _step_working_day(self, day: date, direction: int) -> date:
        step = timedelta(days=direction)
        for _ in range(MAX_SPAN_DAYS):
            day = day + step
            if self.is_working_day(day):
                return day
        raise ValueError(f"no working day within {MAX_SPAN_DAYS} days of {day}")

    def working_days_between(self, start: date, end: date) -> int:
        """Number of working days d with start < d <= end (0 when end <= start)."""
        count = 0
        day = start
        if (end - start).days > MAX_SPAN_DAYS:
            raise ValueError("span too long")
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count

    # --- instants ---------------------------------------------------------------------------

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("naive datetime given to WorkCalendar; attach a timezone first")
        return moment.astimezone(self.tz)

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.tz)

    def start_of_work(self, day: date) -> datetime:
        """When working hours begin on `day` (whether or not it is a working day)."""
        return self._at(day, self.settings.work_start)

    def end_of_work(self, day: date) -> datetime:
        """When working hours end on `day`: the moment a term of days expires (ГК РФ ст. 194)."""
        return self._at(day, self.settings.work_end)

    def is_working_time(self, moment: datetime) -> bool:
        """True inside working hours [start, end) of a working day."""
        local = self._local(moment)
        return (
            self.is_working_day(local.date())
            and self.settings.work_start <= local.timetz().replace(tzinfo=None) < self.settings.work_end
        )

    def next_working_time(self, moment: datetime) -> datetime:
        """`moment` if it is working time, else the next start of working hours (for routine mail)."""
        local = self._local(moment)
        if self.is_working_time(local):
            return local
        day = local.date()
        if self.is_working_day(day) and local.time() < self.settings.work_start:
            return self.start_of_work(day)
        return self.start_of_work(self.next_working_day(day))

    def add_hours(self, moment: datetime, hours: float | timedelta) -> datetime:
        """Absolute time: `moment` plus `hours`, day or night, in the calendar's zone."""
        delta = hours if isinstance(hours, timedelta) else timedelta(hours=hours)
        self._check_span(delta)
        return (self._local(moment).astimezone(UTC) + delta).astimezone(self.tz)

    def add_working_hours(self, moment: datetime, hours: float | timedelta) -> datetime:
        """Count `hours` only inside working hours of working days; negative goes back in time.

        Going forward, a result that lands exactly on the end of working hours stays there
        (18:00, not 09:00 of the next working day); going back, the result is the later of the
        two equal moments (09:00 rather than 18:00 of the previous working day).
        """
        delta = hours if isinstance(hours, timedelta) else timedelta(hours=hours)
        self._check_span(delta)
        local = self._local(moment)
        if delta >= timedelta(0):
            return self._forward_working(local, delta)
        return self._backward_working(local, -delta)

    def _forward_working(self, local: datetime, remaining: timedelta) -> datetime:
        cursor = self.next_working_time(local)
        if remaining == timedelta(0):
            return local if self.is_working_time(local) else cursor
        while True:
            available = self.end_of_work(cursor.date()) - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
            cursor = self.start_of_work(self.next_working_day(cursor.date()))

    def _backward_working(self, local: datetime, remaining: timedelta) -> datetime:
        day = local.date()
        if self.is_working_day(day) and local > self.start_of_work(day):
            cursor = min(local, self.end_of_work(day))
        else:
            day = self.previous_working_day(day)
            cursor = self.end_of_work(day)
        while True:
            available = cursor - self.start_of_work(cursor.date())
            if remaining <= available:
                return cursor - remaining
            remaining -= available
            cursor = self.end_of_work(self.previous_working_day(cursor.date()))

    def add_calendar_days(
        self, moment: datetime, days: int, roll_forward: bool | None = None, *, end_of_day: bool = True
    ) -> datetime:
        """A term of `days` calendar days from `moment` (ГК РФ ст. 191–194).

        The term ends on the date `days` after the event's local date, at the end of working
        hours (`end_of_day=True`, the legal reading) or at the event's own clock time
        (`end_of_day=False`). When that date is not a working day and `roll_forward` (default:
        the setting) is on, the term moves to the next working day.
        """
        self._check_span(timedelta(days=days))
        local = self._local(moment)
        day = local.date() + timedelta(days=days)
        if (self.settings.roll_forward if roll_forward is None else roll_forward) and not self.is_working_day(day):
            day = self.next_working_day(day)
        if end_of_day:
            return self.end_of_work(day)
        return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=self.tz)

    def add_working_days(self, moment: datetime, days: int) -> datetime:
        """A term of `days` working days from `moment`: the end of working hours on the last one.

        «В течение 2 рабочих дней» counts working days after the day of receipt (ГК РФ ст. 191),
        whatever the clock time of receipt, and ends when work ends on the second one (ст. 194):
        received Monday 10:00 or Friday 20:00 → Wednesday 18:00 or Tuesday 18:00. Zero days
        means the end of today's working hours, or of the next working day when today is not one
        or its working hours are over.
        """
        self._check_span(timedelta(days=days))
        if days < 0:
            raise ValueError("add_working_days needs days >= 0; use working_days_before")
        local = self._local(moment)
        day = local.date()
        if days == 0:
            if self.is_working_day(day) and local < self.end_of_work(day):
                return self.end_of_work(day)
            return self.end_of_work(self.next_working_day(day))
        for _ in range(days):
            day = self.next_working_day(day)
        return self.end_of_work(day)

    def working_days_before(self, moment: datetime, days: int) -> datetime:
        """The moment `days` full working days of working time before `moment` (reminders at T−N).

        For a deadline at 18:00 on Wednesday, T−1 working day is 09:00 on Wednesday (one full
        working day is left) and T−2 is 09:00 on Tuesday. The result is always inside working
        hours, so a reminder scheduled there may go out at once.
        """
        if days < 0:
            raise ValueError("working_days_before needs days >= 0")
        return self.add_working_hours(moment, -days * self.working_day_length)

    @property
    def working_day_length(self) -> timedelta:
        """Length of one working day's working hours (9 hours by default)."""
        start = datetime.combine(date(2000, 1, 3), self.settings.work_start)
        return datetime.combine(date(2000, 1, 3), self.settings.work_end) - start

    def _check_span(self, delta: timedelta) -> None:
        if abs(delta) > timedelta(days=MAX_SPAN_DAYS):
            raise ValueError(f"span {delta} exceeds {MAX_SPAN_DAYS} days")

    # --- text for staff ---------------------------------------------------------------------

    def zone_label(self, moment: datetime) -> str:
        """«МСК», «МСК+1», «МСК-1» for Russian zones; «UTC+5», «UTC-3:30», «UTC» for others."""
        if self.settings.zone_label:
            return self.settings.zone_label
        offset = self._local(moment).utcoffset() or timedelta(0)
        if self.settings.timezone in _RUSSIAN_ZONES:
            return "МСК" + _signed_hours(offset - _MOSCOW_UTC_OFFSET)
        return "UTC" + _signed_hours(offset)

    def format_msk(self, moment: datetime) -> str:
        """«ДД.ММ.ГГГГ ЧЧ:ММ (МСК)» in the calendar's zone, as staff read times."""
        local = self._local(moment)
        return f"{local:%d.%m.%Y %H:%M} ({self.zone_label(local)})"

    def format_deadline(self, moment: datetime) -> str:
        """«до 15:42 03.12.2026 (МСК)»: a deadline as a Russian office writes it."""
        local = self._local(moment)
        return f"до {local:%H:%M %d.%m.%Y} ({self.zone_label(local)})"

    def working_days(self, start: date, end: date) -> Iterable[date]:
        """Working days d with start <= d <= end, in order."""
        if (end - start).days > MAX_SPAN_DAYS:
            raise ValueError("span too long")
        day = start
        while day <= end:
            if self.is_working_day(day):
                yield day
            day += timedelta(days=1)


def _signed_hours(offset: timedelta) -> str:
    """'' for zero, '+1', '-3:30' (ASCII minus: it survives every mail client and SMS gateway)."""
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return ""
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours}" + (f":{rest:02d}" if rest else "")


@lru_cache(maxsize=1)
def default_calendar() -> WorkCalendar:
    """The shared calendar with default settings (Moscow, 09:00–18:00, no overrides)."""
    return WorkCalendar()


def format_msk(moment: datetime, calendar: WorkCalendar | None = None) -> str:
    """«ДД.ММ.ГГГГ ЧЧ:ММ (МСК)» with the default calendar unless one is given."""
    return (calendar or default_calendar()).format_msk(moment)


def format_deadline(moment: datetime, calendar: WorkCalendar | None = None) -> str:
    """«до ЧЧ:ММ ДД.ММ.ГГГГ (МСК)» with the default calendar unless one is given."""
    return (calendar or default_calendar()).format_deadline(moment)
