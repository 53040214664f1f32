"""Deadline phrases in Russian official mail («в срок до 10.12.2026», «в течение 2 рабочих дней» …).

How phrases resolve, and why:

* A date without a time means the end of that day's working hours (18:00 by default): a term
  set for an organisation expires when its working day ends (ГК РФ ст. 194 п. 1), and an
  answer sent at 18:00 on the day is on time for the ЦУР. «До 10 декабря» is read as
  including 10 December, as Russian offices read it. An explicit date is never moved later
  even when it falls on a day off: the sender chose it.
* A date without a year is the next such date not before the day of receipt.
* A time without a date («до 17:00», «до 18.00») is today when that time is still ahead of
  receipt, otherwise the same time on the next working day. «Сегодня до 17:00» is always today,
  even when that has already passed (the request arrived overdue).
* Durations resolve against the receipt time through the `WorkCalendar`: hours and «сутки» are
  absolute time (a 3-hour refutation runs at night too), working hours count only inside working
  hours, days follow `WorkCalendar.add_calendar_days` / `add_working_days` (ГК РФ ст. 191–194).
* «Незамедлительно», «срочно», «немедленно», «безотлагательно», «в кратчайшие сроки» set a short
  term, `DeadlineSettings.urgent_term` (default 1 hour): long enough to act, short enough that
  the reminder machinery treats the case as urgent.
* When several phrases are present, explicit ones («срок», «до», «не позднее», «в течение», …)
  win over bare urgency words, and among them the earliest that is still after receipt wins.
  When every phrase lies before receipt, the latest of them is returned (the request is
  overdue on arrival); when none is found the result is None, so that a default term applies.
  Dates more than `PLAUSIBLE_SPAN` (400 days) from receipt are ignored: a plan, a citation of an
  old document or a typo, never the term of the request at hand.

* Not deadlines: ranges («с 9:00 до 18:00», «с 01.12 по 10.12»), office hours («пн-пт до 18:00»).
  Pass the new text of a mail (no quotes, no signature): an older deadline in a quote counts too.

`extract_deadline` never raises: impossible dates (31.02) are skipped, and only the first
`TEXT_LIMIT` characters are read. `parse_when` is shared with the command grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from parsers.model import Deadline
from parsers.workcalendar import WorkCalendar, default_calendar

TEXT_LIMIT = 50_000
MAX_DAYS = 366  # a longer «в течение N дней» is not a deadline a request sets
MAX_HOURS = 24 * 31
PLAUSIBLE_SPAN = timedelta(days=400)  # deadlines further than this from receipt are ignored
MOSCOW = ZoneInfo("Europe/Moscow")


@dataclass(frozen=True, slots=True)
class DeadlineSettings:
    """Tunable readings of deadline phrases."""

    urgent_term: timedelta = timedelta(hours=1)  # «незамедлительно», «срочно», …


# Same-length normalisation, so that spans in the normalised text are spans in the original.
_NORMALISE = str.maketrans(
    {
        "ё": "е",
        "Ё": "Е",
        "\xa0": " ",
        "\u2007": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u200b": " ",
        "\ufeff": " ",
        "–": "-",
        "—": "-",
        "‑": "-",
        "“": '"',
        "”": '"',
        "„": '"',
    }
)


def normalise(text: str) -> str:
    """ё→е, exotic spaces and dashes to ASCII, one character for one character."""
    return text.translate(_NORMALISE)


_I = re.IGNORECASE
_NOT_WORD_BEFORE = r"(?<![а-яА-Яa-zA-Z0-9])"
_NOT_WORD_AFTER = r"(?![а-яА-Яa-zA-Z0-9])"

_MONTH_FORMS = {
    1: ("января", "январь", "янв"),
    2: ("февраля", "февраль", "февр", "фев"),
    3: ("марта", "март", "мар"),
    4: ("апреля", "апрель", "апр"),
    5: ("мая", "май"),
    6: ("июня", "июнь", "июн"),
    7: ("июля", "июль", "июл"),
    8: ("августа", "август", "авг"),
    9: ("сентября", "сентябрь", "сент", "сен"),
    10: ("октября", "октябрь", "окт"),
    11: ("ноября", "ноябрь", "нояб", "ноя"),
    12: ("декабря", "декабрь", "дек"),
}
_MONTH_BY_WORD = {form: month for month, forms in _MONTH_FORMS.items() for form in forms}
_MONTH_ALT = "|".join(sorted(_MONTH_BY_WORD, key=len, reverse=True))
_YEAR_SUFFIX = r"(?:\s*(?:года|год|г\.|г)" + _NOT_WORD_AFTER + r")?"

# Dates, tried in this order at one position.
_DATE_NUMERIC_YEAR = re.compile(
    r"(?P<d>[0-3]?\d)(?P<sep>[./-])(?P<m>[01]?\d)(?P=sep)(?P<y>\d{4}|\d{2})(?!\d)" + _YEAR_SUFFIX, _I
)
_DATE_ISO = re.compile(r"(?P<y>\d{4})-(?P<m>[01]\d)-(?P<d>[0-3]\d)(?!\d)", _I)
_DATE_NUMERIC = re.compile(r"(?P<d>[0-3]?\d)[./](?P<m>[01]\d)(?!\d|[./]\d)", _I)
_DATE_WORDS = re.compile(
    r"[«\"]?(?P<d>[0-3]?\d)[»\"]?\s*(?:-?го\s+)?(?P<mon>"
    + _MONTH_ALT
    + r")"
    + _NOT_WORD_AFTER
    + r"\.?(?:\s*(?P<y>\d{4})(?!\d)"
    + _YEAR_SUFFIX
    + r")?",
    _I,
)
_TIME = re.compile(
    r"(?:(?P<h>[01]?\d|2[0-3])\s?[:.]\s?(?P<mi>[0-5]\d)|(?P<h2>[01]?\d|2[0-3])-(?P<mi2>00|30))(?![\d.:/-]\d|\d)"
    r"(?:\s*(?:час(?:ов|а)?|ч\.?)" + _NOT_WORD_AFTER + r")?",
    _I,
)
_TIME_HOURS = re.compile(
    r"(?P<h>[01]?\d|2[0-3])\s*(?:час(?:ов|а)?|ч\.?)" + _NOT_WORD_AFTER + r"(?:\s*(?P<mi>[0-5]\d)\s*(?:мин(?:ут)?\.?))?",
    _I,
)
_RELDAY = re.compile(
    r"(?P<rel>сегодняшнего\s+дня|сегодня|текущего\s+дня|завтрашнего\s+дня|завтра|послезавтра"
    r"|понедельника|вторника|среды|четверга|пятницы|субботы|воскресенья)" + _NOT_WORD_AFTER,
    _I,
)
_PERIOD_END = re.compile(
    r"(?:конца|окончания)\s+(?:(?P<which>текущего|сегодняшнего|этого|завтрашнего|текущей|этой)\s+)?"
    r"(?:(?P<working>рабочего)\s+)?(?P<period>дня|недели|месяца)" + _NOT_WORD_AFTER,
    _I,
)
# What may sit between the parts of one deadline: «до 12:00 (мск) 05.12.2026», «10.12.2026, в 15:00».
_FILLER = re.compile(
    r"(?:\s|,|\(мск\)|\(по\s+мск\)|\(по\s+московскому\s+времени\)|мск|по\s+мск|по\s+московскому\s+времени"
    r"|местного\s+времени|включительно|\bв\b|\bдо\b|\bне\s+позднее\b)*",
    _I,
)
_MOSCOW_HINT = re.compile(r"мск|московск", _I)
_MOSCOW_PHRASE = re.compile(r"\(?(?:по\s+)?(?:мск|московскому\s+времени)\)?", _I)

_INTRO = re.compile(
    _NOT_WORD_BEFORE + r"(?:(?P<rel>сегодня|завтра|послезавтра"
    r"|в\s+(?:понедельник|вторник|среду|четверг|пятницу|субботу|воскресенье))\s*,?\s*)?(?P<kw>"
    r"(?:в\s+срок\s+)?(?:не\s+позднее|не\s+позже|до|по)"
    r"|сроком\s+до"
    r"|срок(?:и)?(?:\s+(?!до\b|не\b|по\b|сегодня|завтра)[а-яА-Я]{2,20}){0,3}\s*(?:[:-]\s*)?(?:до\s+|не\s+позднее\s+)?"
    r"|к)" + _NOT_WORD_AFTER + r"\s*",
    _I,
)
# «10.12.2026 до 18:00», «5 декабря, до 12:00»: the day written before the clock time it qualifies.
_DAY_BEFORE = re.compile(
    r"(?<![\d.])(?:[0-3]?\d[./][01]?\d[./](?:\d{4}|\d{2})|[0-3]?\d\s+(?:" + _MONTH_ALT + r")\.?(?:\s+\d{4})?)"
    r"\s*(?:года|г\.?)?\s*,?\s*$",
    _I,
)
# «с 9:00 до 18:00», «с 10.12 до 15.12», «от 5 до 10 декабря»: a range, not a deadline. The number ends in a
# digit: in «Запрос от 01.12.2026. Ответ до 18:00» a sentence ends before «Ответ», and no range is there.
_RANGE_BEFORE = re.compile(
    r"(?:^|[^а-яА-Яa-zA-Z])(?:с|со|от)\s+(?:[«\"]?\d(?:[\d.:/-]*\d)?[»\"]?(?:\s+[а-яА-Я]+\.?)?"
    r"|понедельника|вторника|среды|четверга|пятницы|субботы|воскресенья)\s*$",
    _I,
)

# «пн-пт до 18:00», «обед до 14:00», «приём документов до 17:00»: office hours in a signature.
_SCHEDULE_BEFORE = re.compile(
    r"(?<![а-яА-Я])(?:пн|вт|ср|чт|пт|сб|вс|будн[а-я]*|выходн[а-я]*|обед[а-я]*|перерыв[а-я]*"
    r"|(?:режим|время|часы)\s+работы|при[её]м[а-я]*)(?![а-яА-Я])",
    _I,
)
_NUMERAL_WORDS = {
    **dict.fromkeys(("один", "одна", "одно", "одного", "одной", "одних", "одни", "одну"), 1),
    **dict.fromkeys(("два", "две", "двух"), 2),
    **dict.fromkeys(("три", "трех"), 3),
    **dict.fromkeys(("четыре", "четырех"), 4),
    **dict.fromkeys(("пять", "пяти"), 5),
    **dict.fromkeys(("шесть", "шести"), 6),
    **dict.fromkeys(("семь", "семи"), 7),
    **dict.fromkeys(("восемь", "восьми"), 8),
    **dict.fromkeys(("девять", "девяти"), 9),
    **dict.fromkeys(("десять", "десяти"), 10),
    **dict.fromkeys(("одиннадцать", "одиннадцати"), 11),
    **dict.fromkeys(("двенадцать", "двенадцати"), 12),
    **dict.fromkeys(("тринадцать", "тринадцати"), 13),
    **dict.fromkeys(("четырнадцать", "четырнадцати"), 14),
    **dict.fromkeys(("пятнадцать", "пятнадцати"), 15),
    **dict.fromkeys(("шестнадцать", "шестнадцати"), 16),
    **dict.fromkeys(("семнадцать", "семнадцати"), 17),
    **dict.fromkeys(("восемнадцать", "восемнадцати"), 18),
    **dict.fromkeys(("девятнадцать", "девятнадцати"), 19),
    **dict.fromkeys(("двадцать", "двадцати"), 20),
    **dict.fromkeys(("тридцать", "тридцати"), 30),
    **dict.fromkeys(("сорок", "сорока"), 40),
    **dict.fromkeys(("пятьдесят", "пятидесяти"), 50),
    **dict.fromkeys(("шестьдесят", "шестидесяти"), 60),
    **dict.fromkeys(("девяносто", "девяноста"), 90),
}
_TENS = {20, 30, 40, 50, 60, 90}
# «трехдневный», «двухчасовой»: the numeral's combining form.
_ADJ_PREFIX = {
    "одно": 1, "двух": 2, "трех": 3, "четырех": 4, "пяти": 5, "шести": 6, "семи": 7, "восьми": 8,
    "девяти": 9, "десяти": 10, "пятнадцати": 15, "двадцати": 20, "тридцати": 30, "шестидесяти": 60,
}  # fmt: skip

_DURATION = re.compile(
    _NOT_WORD_BEFORE + r"(?P<intro>в\s+течени[еи]|в\s+пределах|в\s+срок\s+не\s+более(?:\s+чем)?|не\s+более\s+чем"
    r"|не\s+позднее|не\s+позже|через"
    r"|срок(?:\s+(?:исполнения|ответа|предоставления|рассмотрения|подготовки|направления))?\s*(?:[:-]\s*)?)\s*"
    r"(?P<body>(?:[0-9а-яА-Я()«»\"-]{1,20}\s+){0,4}?)"
    r"(?P<unit>часов|часа|час|ч\.|минуты|минуту|минут|мин\.?|суток|сутки|дней|дня|день|дн\.|недели|неделю|недель"
    r"|получаса|полусуток)" + _NOT_WORD_AFTER,
    _I,
)
_ADJ_TERM = re.compile(
    _NOT_WORD_BEFORE + r"в\s+(?:(?P<num>\d{1,3})\s*-?\s*(?:х|ти|и|ух|ех)?\s*-?\s*|(?P<word>[а-яА-Я]{3,15}?))"
    r"(?P<unit>дневный|часовой|суточный|недельный)\s+(?:(?P<working>рабочий)\s+)?срок" + _NOT_WORD_AFTER,
    _I,
)
_URGENT = re.compile(
    _NOT_WORD_BEFORE + r"(?:незамедлительно|немедленно|безотлагательно|срочно|в\s+срочном\s+порядке"
    r"|в\s+кратчайши[ей]\s+срок[иа]?|как\s+можно\s+скорее)" + _NOT_WORD_AFTER,
    _I,
)
_NUMBER_TOKEN = re.compile(r"(?P<n>\d{1,4})(?:-?(?:х|ти|и|ух|ех|ох|го|ого|ми|ой))?", _I)
# «до пятницы» (genitive: the next such day) and «в пятницу до 12:00» (accusative: this week's).
_WEEKDAYS = {
    "понедельника": 0, "вторника": 1, "среды": 2, "четверга": 3, "пятницы": 4, "субботы": 5, "воскресенья": 6,
}  # fmt: skip
_WEEKDAYS_ACCUSATIVE = {
    "понедельник": 0, "вторник": 1, "среду": 2, "четверг": 3, "пятницу": 4, "субботу": 5, "воскресенье": 6,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Candidate:
    at: datetime
    start: int
    end: int
    explicit: bool  # introduced by срок/до/не позднее/в течение…, not a bare urgency word


@dataclass(frozen=True, slots=True)
class _When:
    """What a when-expression said: a day (or None), a clock time (or None), how it ended."""

    day: date | None
    clock: time | None
    end: int
    moscow: bool  # «(мск)», «по московскому времени»: the clock time is Moscow time


# --- public API -------------------------------------------------------------------------------


def extract_deadline(
    text: str,
    received_at: datetime,
    calendar: WorkCalendar | None = None,
    settings: DeadlineSettings | None = None,
) -> Deadline | None:
    """The deadline a Russian request sets, resolved against its receipt time; None when none found.

    Never raises. A naive `received_at` is taken as local time of the calendar's zone.
    """
    try:
        calendar = calendar or default_calendar()
        settings = settings or DeadlineSettings()
        if not isinstance(text, str) or not text:
            return None
        if received_at.tzinfo is None or received_at.utcoffset() is None:
            received_at = received_at.replace(tzinfo=calendar.tz)
        received = received_at.astimezone(calendar.tz)
        original = text[:TEXT_LIMIT]
        candidates = _find_candidates(normalise(original), received, calendar, settings)
        chosen = _choose(candidates, received)
        if chosen is None:
            return None
        phrase = " ".join(original[chosen.start : chosen.end].split())
        return Deadline(at=chosen.at, phrase=phrase)
    except Exception:  # a bug must not stop intake: "no deadline" lets the default term apply
        return None


def parse_when(text: str, now: datetime, calendar: WorkCalendar | None = None) -> tuple[datetime | None, int]:
    """Read a date and/or time at the start of `text`; return (moment, characters used) or (None, 0).

    Accepts what `extract_deadline` reads after «до»: «10.12.2026», «10.12.2026 15:00», «15:00
    10.12.2026», «10 декабря», «10 декабря 15:00», «10 дек.», «10.12», «завтра», «17:00»… with
    the same rules (a date alone is the end of working hours). Never raises.
    """
    try:
        calendar = calendar or default_calendar()
        local_now = now.astimezone(calendar.tz) if now.tzinfo else now.replace(tzinfo=calendar.tz)
        normal = normalise(text[:TEXT_LIMIT])
        lead = len(normal) - len(normal.lstrip())
        when = _parse_when(normal, lead, local_now, calendar)
        if when is None:
            return None, 0
        moment = _resolve_when(when, local_now, calendar)
        if moment is None:
            return None, 0
        return moment, when.end
    except Exception:  # never raise out of parsers/
        return None, 0


# --- finding candidates -----------------------------------------------------------------------


def _find_candidates(
    text: str, received: datetime, calendar: WorkCalendar, settings: DeadlineSettings
) -> list[_Candidate]:
    found: list[_Candidate] = []
    found.extend(_introduced_dates(text, received, calendar))
    found.extend(_durations(text, received, calendar))
    for match in _URGENT.finditer(text):
        found.append(_Candidate(received + settings.urgent_term, match.start(), match.end(), False))
    return found


def _choose(candidates: list[_Candidate], received: datetime) -> _Candidate | None:
    # A date years away is a plan, a citation or a typo («10.12.2062»), not the term of this request.
    candidates = [c for c in candidates if abs(c.at - received) <= PLAUSIBLE_SPAN]
    if not candidates:
        return None
    future = [c for c in candidates if c.at > received]
    if future:
        tier = [c for c in future if c.explicit] or future
        return min(tier, key=lambda c: (c.at, c.start))
    tier = [c for c in candidates if c.explicit] or candidates
    return max(tier, key=lambda c: (c.at, -c.start))


def _introduced_dates(text: str, received: datetime, calendar: WorkCalendar) -> list[_Candidate]:
    found: list[_Candidate] = []
    pos = 0
    while pos < len(text):
        match = _INTRO.search(text, pos)
        if match is None:
            break
        keyword = match.group("kw").strip().lower()
        if keyword in ("до", "по", "к") and _RANGE_BEFORE.search(text, max(0, match.start() - 40), match.start()):
            pos = match.start() + 1
            continue
        when = _parse_when(text, match.end(), received, calendar, rel_prefix=match.group("rel"))
        if when is None or (keyword == "по" and when.day is None):
            pos = match.start() + 1
            continue
        if when.day is None and _SCHEDULE_BEFORE.search(text, max(0, match.start() - 40), match.start()):
            pos = match.start() + 1
            continue
        start = match.start()
        if when.day is None and match.group("rel") is None:
            before = _DAY_BEFORE.search(text, max(0, start - 30), start)
            day = _match_day(text, before.start(), received)[0] if before is not None else None
            if day is not None:
                when, start = _When(day, when.clock, when.end, when.moscow), before.start()
        try:
            moment = _resolve_when(when, received, calendar)
        except (ValueError, OverflowError):
            moment = None
        if moment is not None:
            found.append(_Candidate(moment, start, when.end, True))
            pos = when.end
        else:
            pos = match.start() + 1
    return found


def _parse_when(
    text: str, pos: int, now: datetime, calendar: WorkCalendar, rel_prefix: str | None = None
) -> _When | None:
    """A when-expression at `pos`: [time] [filler] [day] [filler] [time], at least one part."""
    if rel_prefix is None:
        period = _PERIOD_END.match(text, pos)
        if period is not None:
            day = _period_end_day(period, now, calendar)
            return None if day is None else _When(day, None, period.end(), False)
    day: date | None = None
    clock: time | None = None
    if rel_prefix is None:
        day, pos = _match_day(text, pos, now)
    if day is None:
        clock, pos = _match_time(text, pos)
    if day is None and clock is None:
        return None
    end = pos
    filler = _FILLER.match(text, pos)
    if filler is not None and filler.end() > pos:
        if day is None and rel_prefix is None:
            day, end = _match_day(text, filler.end(), now)
        elif clock is None:
            clock, end = _match_time(text, filler.end())
        if end == filler.end():  # nothing followed the filler: it is not part of the phrase
            end = pos
    inner_moscow = end > pos and bool(_MOSCOW_HINT.search(text, pos, end))
    if rel_prefix is not None:
        day = _relative_day(rel_prefix, now.date())
    tail = _FILLER.match(text, end)
    hint = _MOSCOW_PHRASE.search(text, end, tail.end()) if tail is not None else None
    moscow = hint is not None
    if hint is not None:
        end = hint.end()
    return _When(day, clock, end, moscow or inner_moscow)


def _relative_day(word: str, today: date) -> date:
    """«сегодня», «завтра», «послезавтра», «в пятницу» (this week's, today included) as a date."""
    word = " ".join(word.lower().split())
    offsets = {"сегодня": 0, "завтра": 1, "послезавтра": 2}
    if word in offsets:
        return today + timedelta(days=offsets[word])
    weekday = _WEEKDAYS_ACCUSATIVE[word.removeprefix("в ")]
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def _match_time(text: str, pos: int) -> tuple[time | None, int]:
    match = _TIME.match(text, pos)
    if match is not None:
        hour = match.group("h") or match.group("h2")
        minute = match.group("mi") or match.group("mi2")
        return time(int(hour), int(minute)), match.end()
    match = _TIME_HOURS.match(text, pos)
    if match is not None:
        return time(int(match.group("h")), int(match.group("mi") or 0)), match.end()
    return None, pos


def _match_day(text: str, pos: int, now: datetime) -> tuple[date | None, int]:
    """A calendar date or a relative day word at `pos`; impossible dates give (None, pos)."""
    for pattern in (_DATE_ISO, _DATE_NUMERIC_YEAR, _DATE_WORDS, _DATE_NUMERIC):
        match = pattern.match(text, pos)
        if match is None:
            continue
        groups = match.groupdict()
        month = _MONTH_BY_WORD[groups["mon"].lower()] if groups.get("mon") else int(groups["m"])
        year_text = groups.get("y")
        try:
            if year_text:
                year = int(year_text) + (2000 if len(year_text) == 2 else 0)
                return date(year, month, int(groups["d"])), match.end()
            return _infer_year(int(groups["d"]), month, now.date()), match.end()
        except ValueError:
            return None, pos  # 31.02, month 13, «18.00» tried as a date: not a date
    match = _RELDAY.match(text, pos)
    if match is not None:
        word = match.group("rel").lower().split()[0]
        today = now.date()
        if word in ("сегодняшнего", "сегодня", "текущего"):
            return today, match.end()
        if word in ("завтрашнего", "завтра"):
            return today + timedelta(days=1), match.end()
        if word == "послезавтра":
            return today + timedelta(days=2), match.end()
        ahead = (_WEEKDAYS[word] - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead), match.end()
    return None, pos


def _infer_year(day: int, month: int, today: date) -> date:
    """The next date with this day and month that is not before `today` (29.02 waits for a leap year)."""
    for year in range(today.year, today.year + 9):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise ValueError(f"no date {day:02d}.{month:02d}")


def _period_end_day(match: re.Match[str], now: datetime, calendar: WorkCalendar) -> date | None:
    """The last working day of «конца (рабочего) дня / недели / месяца» whose working hours are ahead."""
    today = now.date()
    which = (match.group("which") or "").lower()
    period = match.group("period").lower()
    if period == "дня":
        if which == "завтрашнего":
            return today + timedelta(days=1)
        return calendar.add_working_days(now, 0).date()  # after hours: the next working day
    if period == "недели":
        first = today - timedelta(days=today.weekday())
        span = [first + timedelta(days=i) for i in range(7)]
        following = [first + timedelta(days=7 + i) for i in range(7)]
    else:
        first = today.replace(day=1)
        first_next = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
        span = [first + timedelta(days=i) for i in range((first_next - first).days)]
        after_next = date(first_next.year + (first_next.month == 12), first_next.month % 12 + 1, 1)
        following = [first_next + timedelta(days=i) for i in range((after_next - first_next).days)]
    for days in (span, following):
        ahead = [d for d in days if calendar.is_working_day(d) and calendar.end_of_work(d) > now]
        if ahead:
            return ahead[-1]
    return None


def _resolve_when(when: _When, now: datetime, calendar: WorkCalendar) -> datetime | None:
    zone = MOSCOW if when.moscow else calendar.tz
    if when.day is None and when.clock is not None:
        today = now.date()
        moment = datetime.combine(today, when.clock, tzinfo=zone)
        if moment > now:
            return moment.astimezone(calendar.tz)
        return datetime.combine(calendar.next_working_day(today), when.clock, tzinfo=zone).astimezone(calendar.tz)
    if when.day is None:
        return None
    if when.clock is not None:
        return datetime.combine(when.day, when.clock, tzinfo=zone).astimezone(calendar.tz)
    return calendar.end_of_work(when.day)  # a day alone: the end of its working hours (ГК РФ ст. 194)


# --- durations --------------------------------------------------------------------------------


def _durations(text: str, received: datetime, calendar: WorkCalendar) -> list[_Candidate]:
    found: list[_Candidate] = []
    for match in _DURATION.finditer(text):
        candidate = _duration_candidate(match, received, calendar)
        if candidate is not None:
            found.append(candidate)
    for match in _ADJ_TERM.finditer(text):
        if match.group("num"):
            count: float | None = int(match.group("num"))
        else:
            count = _ADJ_PREFIX.get(match.group("word").lower().rstrip("-"))
        if not count:
            continue
        unit = match.group("unit").lower()
        working = bool(match.group("working"))
        kind = {"дневный": "day", "часовой": "hour", "суточный": "sutki", "недельный": "week"}[unit]
        moment = _apply_duration(received, calendar, count, kind, working)
        if moment is not None:
            found.append(_Candidate(moment, match.start(), match.end(), True))
    return found


def _duration_candidate(match: re.Match[str], received: datetime, calendar: WorkCalendar) -> _Candidate | None:
    intro = " ".join(match.group("intro").lower().split())
    unit = match.group("unit").lower()
    tokens = match.group("body").lower().replace("(", " ").replace(")", " ").split()
    count, working, calendar_days, ok = _read_count(tokens)
    if not ok:
        return None
    kind = _unit_kind(unit)
    if unit in ("получаса", "полусуток"):
        if count is not None:
            return None
        count = 0.5
    if intro in ("не позднее", "не позже", "через") and kind not in ("day", "week"):
        return None  # «не позднее 15 часов» is a clock time, read by the date rules
    if count is None:
        if intro in ("не позднее", "не позже", "через"):
            return None
        if kind == "day" and unit in ("дня", "день"):
            # «в течение (рабочего) дня»: by the end of today's working hours
            moment = calendar.add_working_days(received, 0)
            return _Candidate(moment, match.start(), match.end(), True)
        count = 1
    moment = _apply_duration(received, calendar, count, kind, working and not calendar_days)
    if moment is None:
        return None
    return _Candidate(moment, match.start(), match.end(), True)


def _read_count(tokens: list[str]) -> tuple[float | None, bool, bool, bool]:
    """(count, working, calendar, understood) from the words between «в течение» and the unit."""
    count: float | None = None
    working = calendar_days = False
    word_value = 0
    for token in tokens:
        token = token.strip('«»"-')
        if not token:
            continue
        number = _NUMBER_TOKEN.fullmatch(token)
        if number is not None:
            if count is not None and count != int(number.group("n")):
                return None, False, False, False
            count = int(number.group("n"))
        elif token in _NUMERAL_WORDS:
            value = _NUMERAL_WORDS[token]
            if word_value in _TENS and value < 10:
                word_value += value
            elif word_value:
                return None, False, False, False
            else:
                word_value = value
        elif token == "полутора":
            word_value = -1  # 1.5, marked to keep it apart from whole numbers
        elif token.startswith("рабоч"):
            working = True
        elif token.startswith("календарн"):
            calendar_days = True
        elif token in ("полных", "полного", "ближайших", "ближайшего", "последующих", "следующих", "х"):
            continue
        else:
            return None, False, False, False
    if word_value:
        words = 1.5 if word_value == -1 else word_value
        if count is not None and count != words:
            return None, False, False, False  # «3 (пяти)»: contradictory, trust neither
        count = words
    return count, working, calendar_days, True


def _unit_kind(unit: str) -> str:
    if unit.startswith(("час", "ч.", "получаса")):
        return "hour"
    if unit.startswith("мин"):
        return "minute"
    if unit.startswith(("сут", "полусуток")):
        return "sutki"
    if unit.startswith("недел"):
        return "week"
    return "day"


def _apply_duration(
    received: datetime, calendar: WorkCalendar, count: float, kind: str, working: bool
) -> datetime | None:
    if count <= 0:
        return None
    if kind == "minute":
        return None if count > MAX_HOURS * 60 else calendar.add_hours(received, count / 60)
    if kind == "hour":
        if count > MAX_HOURS:
            return None
        if working:
            return calendar.add_working_hours(received, count)
        return calendar.add_hours(received, count)
    if kind == "sutki":
        return None if count > MAX_DAYS else calendar.add_hours(received, 24 * count)
    days = count * (5 if working else 7) if kind == "week" else count
    if days > MAX_DAYS or days != int(days):
        return None
    if working:
        return calendar.add_working_days(received, int(days))
    return calendar.add_calendar_days(received, int(days))
