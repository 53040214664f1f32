"""Dates as mail clients print them in quoted headers («ср, 3 дек. 2026 г. в 10:00», «28/10/2021 12:46»)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

# Staff and the ЦУР write from Mari El, which keeps Moscow time: a date without a zone is Moscow time.
DEFAULT_ZONE = ZoneInfo("Europe/Moscow")
MAX_DATE_CHARS = 200

# Month name stems (lower case) → month number, in the languages of the clients we meet.
_MONTH_STEMS: dict[str, int] = {}
for _month, _stems in enumerate(
    (
        "jan янв січ sty gen ene led tammi ocak ian jaa",
        "feb фев лют lut fev úno helmi şub febr",
        "mar мар бер mär mrz mrt bře maalis márc",
        "apr апр квіт kwi abr avr dub huhti nis ápr",
        "may мая май трав maj mai mei mag kvě touko máj",
        "jun июн черв cze juin giu čer kesä haz jún iun",
        "jul июл лип lip juil lug heinä tem júl iul červenc",
        "aug авг серп sie ago aoû août srp elo ağu",
        "sep сен вер wrz set sept zář syys eyl szept",
        "oct окт жовт paź out ott okt říj loka eki",
        "nov ноя лист lis marras kas noi",
        "dec дек груд gru dic déc dez des pro joulu ara",
    ),
    start=1,
):
    for _stem in _stems.split():
        _MONTH_STEMS.setdefault(_stem, _month)
# Longer stems first: «червень» must not read as «чер…» of another month.
_STEMS_BY_LENGTH = sorted(_MONTH_STEMS, key=len, reverse=True)

_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_TIME = re.compile(r"(?<!\d)(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?(?!\d)\s*(a\.?\s?m\.?|p\.?\s?m\.?|午前|午後)?", re.I)
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_CJK_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_NUMERIC_DATE = re.compile(r"(?<![\d:])(\d{1,2})\s?([./-])\s?(\d{1,2})\s?\2\s?(\d{4}|\d{2})(?![\d:])")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_DAY = re.compile(r"(?<![\d:.])(\d{1,2})(?![\d:])")
_ZONE = re.compile(
    r"(?:gmt|utc)\s*([+-−])\s*(\d{1,2})(?::?(\d{2}))?|(?<![\d:])([+-−])(\d{2}):?(\d{2})(?!\d)|\b(msk|мск)\b"
    r"|\b(cest|cet|eest|eet|mesz|mez|bst|est|edt|cst|cdt|pst|pdt|utc|gmt)\b",
    re.IGNORECASE,
)

_ZONE_ABBREVIATIONS = {
    "cest": 2,
    "cet": 1,
    "eest": 3,
    "eet": 2,
    "mesz": 2,
    "mez": 1,
    "bst": 1,
    "est": -5,
    "edt": -4,
    "cst": -6,
    "cdt": -5,
    "pst": -8,
    "pdt": -7,
    "utc": 0,
    "gmt": 0,
}


def parse_client_date(value: str) -> datetime | None:
    """An aware datetime from a quoted Date/Отправлено value; Moscow time when no zone is given."""
    try:
        return _parse(value[:MAX_DATE_CHARS])
    except (ValueError, OverflowError, TypeError):
        return None


def _parse(value: str) -> datetime | None:
    text = value.strip()
    if not text:
        return None
    rfc = _rfc2822(text)
    if rfc is not None:
        return rfc
    lowered = text.lower()
    year, month, day = _date_parts(lowered)
    if year is None or month is None or day is None:
        return None
    hour = minute = second = 0
    time_match = _TIME.search(_without_date_numbers(lowered))
    if time_match:
        hour, minute = int(time_match.group(1)), int(time_match.group(2))
        second = int(time_match.group(3) or 0)
        meridiem = (time_match.group(4) or "").replace(".", "").replace(" ", "")
        if meridiem in ("pm", "午後") and hour < 12:
            hour += 12
        elif meridiem in ("am", "午前") and hour == 12:
            hour = 0
    zone = _zone(lowered[time_match.end() :] if time_match else lowered) or DEFAULT_ZONE
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


def _rfc2822(text: str) -> datetime | None:
    if not re.match(r"^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}", text):
        return None
    try:
        parsed = parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=DEFAULT_ZONE)


def _date_parts(text: str) -> tuple[int | None, int | None, int | None]:
    for pattern, order in ((_CJK_DATE, "ymd"), (_ISO_DATE, "ymd")):
        match = pattern.search(text)
        if match:
            return _ordered(match.groups(), order)
    numeric = _numeric_date(text)
    if numeric is not None:
        return numeric
    month = _month_from_words(text)
    year_match = _YEAR.search(text)
    if month is None or year_match is None:
        return None, None, None
    before_year = text[: year_match.start()]
    day_match = None
    for candidate in _DAY.finditer(before_year):
        day_match = candidate  # the number nearest before the year: «Wednesday, October 27, 2021»
    if day_match is None:
        day_match = _DAY.search(text[year_match.end() :])
    if day_match is None:
        return None, None, None
    return int(year_match.group(1)), month, int(day_match.group(1))


def _numeric_date(text: str) -> tuple[int, int, int] | None:
    """«28/10/2021», «03.12.2026», «27. 10. 2021»; a 2-digit year only with «/» («28/10/21»)."""
    for match in _NUMERIC_DATE.finditer(text):
        first, separator, second, year_text = match.groups()
        if len(year_text) == 2 and separator != "/":
            continue  # «14.25.08» is a time
        a, b, year = int(first), int(second), int(year_text)
        year = year + 2000 if year < 100 else year
        # Day first, as in Russia and most of Europe; a second number > 12 means month/day (US English).
        day, month = (b, a) if b > 12 >= a else (a, b)
        if 1 <= month <= 12 and 1 <= day <= 31:
            return year, month, day
    return None


def _ordered(groups: tuple[str, ...], order: str) -> tuple[int, int, int]:
    values = dict(zip(order, (int(g) for g in groups), strict=True))
    return values["y"], values["m"], values["d"]


# Weekday names that begin like a month stem («martes», «mardi», «marți» are Tuesdays, «pazar» a Sunday).
_WEEKDAY_PREFIXES = ("mardi", "martes", "martedì", "marți", "marti", "pazar")


def _month_from_words(text: str) -> int | None:
    for word in _WORD.findall(text):
        if word.startswith(_WEEKDAY_PREFIXES):
            continue
        for stem in _STEMS_BY_LENGTH:
            if word.startswith(stem):
                return _MONTH_STEMS[stem]
    return None


def _without_date_numbers(text: str) -> str:
    """Blank out dd.mm.yyyy so that «03.12.2026 10:00» does not read «03.12» as a time."""

    def blank(match: re.Match[str]) -> str:
        if len(match.group(4)) == 2 and match.group(2) != "/":
            return match.group(0)  # «14.25.08» is the time itself
        return " " * len(match.group(0))

    return _NUMERIC_DATE.sub(blank, text)


def _zone(text: str) -> tzinfo | None:
    match = _ZONE.search(text)
    if not match:
        return None
    if match.group(7):
        return DEFAULT_ZONE
    if match.group(8):
        return timezone(timedelta(hours=_ZONE_ABBREVIATIONS[match.group(8).lower()]))
    sign, hours, minutes = (match.group(1), match.group(2), match.group(3)) if match.group(1) else match.group(4, 5, 6)
    offset = timedelta(hours=int(hours), minutes=int(minutes or 0))
    if offset > timedelta(hours=14):
        return None
    return timezone(-offset if sign in "-−" else offset)
