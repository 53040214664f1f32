"""Report periods (a quarter «2026Q4», a month «2026-11») as half-open UTC intervals in the organisation's zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from daemon.errors import WorkflowError
from parsers.workcalendar import WorkCalendar

_QUARTER = re.compile(r"^\s*(?P<y>\d{4})\s*[-/ ]?\s*[QqКк](?P<q>[1-4])\s*$")
# «4 2026», «IV 2026», «4 квартал 2026», «4 кв. 2026» (the `#отчёт` command's examples)
_QUARTER_WORDS = re.compile(
    r"^\s*(?P<q>[1-4]|IV|III|II|I)\s*(?:-?й\s*)?(?:кв\.?|квартал[а-я]*)?\s*(?P<y>\d{4})\s*(?:г\.?|года?)?\s*$",
    re.IGNORECASE,
)
_FROM_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4}
_MONTH = re.compile(r"^\s*(?P<y>\d{4})-(?P<m>\d{1,2})\s*$")
_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
MONTHS_RU = ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь", "октябрь",
             "ноябрь", "декабрь")


@dataclass(frozen=True, slots=True)
class Period:
    """[first, after) in local dates; `start`/`end` are the same bounds as aware UTC moments."""

    key: str  # «2026Q4» or «2026-11»: file names and dedupe keys
    title: str  # «IV квартал 2026 г.» / «ноябрь 2026 г.»
    first: date
    after: date  # the day after the last day
    zone: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, datetime.min.time(), tzinfo=ZoneInfo(self.zone)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.after, datetime.min.time(), tzinfo=ZoneInfo(self.zone)).astimezone(UTC)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def first_working_morning_after(self, calendar: WorkCalendar) -> datetime:
        """The start of the first working day after the period, as UTC: when its reports fall due."""
        return calendar.start_of_work(calendar.next_working_day(self.after - timedelta(days=1))).astimezone(UTC)


def quarter(year: int, number: int, zone: str = "Europe/Moscow") -> Period:
    first = date(year, 3 * (number - 1) + 1, 1)
    after = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return Period(f"{year}Q{number}", f"{_ROMAN[number]} квартал {year} г.", first, after, zone)


def month(year: int, number: int, zone: str = "Europe/Moscow") -> Period:
    first = date(year, number, 1)
    after = date(year + 1, 1, 1) if number == 12 else date(year, number + 1, 1)
    return Period(f"{year}-{number:02d}", f"{MONTHS_RU[number - 1]} {year} г.", first, after, zone)


def quarter_of(day: date, zone: str = "Europe/Moscow") -> Period:
    return quarter(day.year, (day.month - 1) // 3 + 1, zone)


def previous(period: Period) -> Period:
    """The period of the same length just before `period`."""
    if "Q" in period.key:
        year, number = int(period.key[:4]), int(period.key[-1])
        return quarter(year - 1, 4, period.zone) if number == 1 else quarter(year, number - 1, period.zone)
    year, number = int(period.key[:4]), int(period.key[5:])
    return month(year - 1, 12, period.zone) if number == 1 else month(year, number - 1, period.zone)


def parse_quarter(text: str | None, today: date, zone: str = "Europe/Moscow") -> Period:
    """«2026Q4» (also «2026-Q4», «2026К4», «4 2026», «IV квартал 2026»); None: the last completed quarter."""
    if not text or not text.strip():
        return previous(quarter_of(today, zone))
    match = _QUARTER.match(text)
    if match:
        return quarter(int(match["y"]), int(match["q"]), zone)
    match = _QUARTER_WORDS.match(text)
    if match:
        q = match["q"].upper()
        return quarter(int(match["y"]), _FROM_ROMAN[q] if q in _FROM_ROMAN else int(q), zone)
    raise WorkflowError(f"Квартал «{text}» не распознан: укажите его как 2026Q4 или «4 2026».")


def parse_month(text: str | None, today: date, zone: str = "Europe/Moscow") -> Period:
    """«2026-11»; None means the last completed month before `today`."""
    if not text or not text.strip():
        return previous(month(today.year, today.month, zone))
    match = _MONTH.match(text)
    if not match or not 1 <= int(match["m"]) <= 12:
        raise WorkflowError(f"Месяц «{text}» не распознан: укажите его как 2026-11.")
    return month(int(match["y"]), int(match["m"]), zone)
