"""Property tests: deadline phrases, commands and staff dates never raise and stay bounded on any text."""

from __future__ import annotations

import os
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import extract_deadline
from parsers.commands import COMMAND_HELP, MAX_COMMANDS, MAX_UNKNOWN, parse_commands, parse_staff_date
from parsers.deadline import PLAUSIBLE_SPAN
from parsers.workcalendar import WorkCalendar

MSK = ZoneInfo("Europe/Moscow")
CALENDAR = WorkCalendar()
KNOWN = {row.name for row in COMMAND_HELP}

# Pieces of the grammars, so that random text often comes close to a real phrase.
TOKENS = [
    "до", "в срок до", "не позднее", "в течение", "срок исполнения:", "сегодня", "завтра", "к", "по", "с",
    "10.12.2026", "31.02.2026", "10.12.26", "10/12/2026", "2026-12-10", "12:00", "18.00", "18-00", "25:61",
    "10 декабря", "«10» дек.", "2026 г.", "года", "(мск)", "по московскому времени", "завтрашнего дня",
    "2", "двух", "3 (трёх)", "3-х", "рабочих", "календарных", "дней", "часов", "суток", "получаса",
    "трехдневный срок", "незамедлительно", "СРОЧНО", "до конца рабочего дня", "конца недели", "пятницы",
    "#статус", "#на", "доработку", "#срок", "#отчёт", "#", "＃", "\\#", "**", "> ", "-- ", "С уважением,",
    "пишет:", "<a@b.ru>:", "Re:", "[KZM-42]", "\n", "\r\n", "\u00a0", "\ufeff", "ё", "Ё", "\u200b",
    "9999", "0000", "00.00.0000", "29.02", "1", "99999999999999999999",
]  # fmt: skip

pieces = st.one_of(st.sampled_from(TOKENS), st.text(max_size=12))
phrases = st.lists(pieces, max_size=60).map(" ".join)
# Up to ~100 KB: a random phrase repeated, so long inputs still carry grammar-shaped text.
long_texts = st.tuples(phrases, st.integers(min_value=1, max_value=2_000)).map(lambda p: (p[0] * p[1])[:100_000])
receipts = st.datetimes(
    min_value=datetime(1995, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(MSK)
) | st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2090, 12, 31))

FUZZ = settings(
    max_examples=int(os.environ.get("GRAMMAR_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.timeout(120)  # a hang guard, not a speed assertion
@FUZZ
@given(text=st.one_of(phrases, long_texts), received=receipts)
def test_extract_deadline_never_raises_and_is_bounded(text: str, received: datetime) -> None:
    found = extract_deadline(text, received, CALENDAR)
    if found is None:
        return
    assert found.at.tzinfo is not None and found.at.utcoffset() is not None
    reference = received if received.tzinfo else received.replace(tzinfo=MSK)
    assert abs(found.at - reference) <= PLAUSIBLE_SPAN
    assert 0 < len(found.phrase) <= 400
    assert found.phrase in " ".join(text.split())


@pytest.mark.timeout(120)
@FUZZ
@given(text=st.one_of(phrases, long_texts), subject=phrases)
def test_parse_commands_never_raises_and_is_bounded(text: str, subject: str) -> None:
    parsed = parse_commands(text, subject)
    assert len(parsed.commands) <= MAX_COMMANDS + 1  # plus one from the subject
    assert len(parsed.unknown) <= MAX_UNKNOWN + 1
    assert all(command.name in KNOWN for command in parsed.commands)
    assert all(len(command.line) <= 2_000 for command in parsed.commands)
    assert parsed.stopped_at is None or parsed.stopped_at in text


@pytest.mark.timeout(120)
@FUZZ
@given(text=st.one_of(phrases, long_texts), now=receipts)
def test_parse_staff_date_never_raises(text: str, now: datetime) -> None:
    moment = parse_staff_date(text, now, CALENDAR)
    assert moment is None or moment.tzinfo is not None


ADVERSARIAL = [
    "до " * 35_000,
    "в течение " + "1 " * 50_000,
    "#" + "а" * 100_000,
    "1." * 50_000,
    "с 1 до " * 15_000,
    "срок " * 20_000,
    "к " * 50_000,
    "до 12:00" + " в" * 40_000,
    "до 12:00 " + "(мск) " * 15_000,
    "\n" * 100_000,
    "#статус\n" * 12_000,
    "> " * 50_000,
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_adversarial_repetitions(text: str) -> None:
    now = datetime(2026, 12, 3, 10, 0, tzinfo=MSK)
    found = extract_deadline(text, now, CALENDAR)
    assert found is None or len(found.phrase) <= 400
    parsed = parse_commands(text, text[:5_000])
    assert len(parsed.commands) <= MAX_COMMANDS + 1
    assert parse_staff_date(text, now, CALENDAR) is None
