"""extract_deadline on the Russian phrases a ЦУР request uses, received by day, at night, on weekends."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from parsers import extract_deadline, parse_message
from parsers.deadline import DeadlineSettings, parse_when
from parsers.workcalendar import CalendarSettings, WorkCalendar

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deadline"
MSK = ZoneInfo("Europe/Moscow")


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)


THURSDAY = msk(2026, 12, 3, 10, 0)
NIGHT = msk(2026, 12, 3, 2, 30)  # Thursday, before working hours
FRIDAY_EVENING = msk(2026, 12, 4, 19, 30)
SATURDAY = msk(2026, 12, 5, 11, 0)
RECEIPTS = {"thursday": THURSDAY, "night": NIGHT, "friday_evening": FRIDAY_EVENING, "saturday": SATURDAY}


def at(text: str, received: datetime, **kwargs: object) -> datetime | None:
    found = extract_deadline(text, received, **kwargs)  # type: ignore[arg-type]
    return None if found is None else found.at


# Phrases with an explicit date: the same answer whenever the request arrived.
@pytest.mark.parametrize("when", RECEIPTS)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Просим в срок до 10.12.2026 представить информацию.", msk(2026, 12, 10, 18, 0)),
        ("Информацию направить до 10 декабря 2026 г.", msk(2026, 12, 10, 18, 0)),
        ("Ответ направить до «10» декабря 2026 года.", msk(2026, 12, 10, 18, 0)),
        ("Прошу представить до 12:00 05.12.2026.", msk(2026, 12, 5, 12, 0)),
        ("Прошу представить до 12:00 5 декабря 2026 г.", msk(2026, 12, 5, 12, 0)),
        ("Сведения представить не позднее 10.12.2026.", msk(2026, 12, 10, 18, 0)),
        ("Срок исполнения: 10.12.2026", msk(2026, 12, 10, 18, 0)),
        ("Направить до 10.12.26", msk(2026, 12, 10, 18, 0)),
        ("Направить до 10/12/2026", msk(2026, 12, 10, 18, 0)),
        ("Направить до 10.12.2026 15:00", msk(2026, 12, 10, 15, 0)),
        ("Направить до 10.12.2026 г. до 15.00", msk(2026, 12, 10, 15, 0)),
        ("Направить до 15 часов 10 декабря 2026 года", msk(2026, 12, 10, 15, 0)),
        # the day written before the clock time it qualifies
        ("Информацию направить 10.12.2026 г. до 15:00.", msk(2026, 12, 10, 15, 0)),
        ("Ответ: 10 декабря 2026 года, до 15:00 (мск)", msk(2026, 12, 10, 15, 0)),
    ],
)
def test_explicit_dates(text: str, expected: datetime, when: str) -> None:
    assert at(text, RECEIPTS[when]) == expected


@pytest.mark.parametrize(
    ("text", "received", "expected"),
    [
        # a date without a year: the next such date not before the day of receipt
        ("до 10 декабря", THURSDAY, msk(2026, 12, 10, 18, 0)),
        ("до 10 дек.", SATURDAY, msk(2026, 12, 10, 18, 0)),
        ("до 12:00 5 декабря", FRIDAY_EVENING, msk(2026, 12, 5, 12, 0)),
        ("до 2 декабря", THURSDAY, msk(2027, 12, 2, 18, 0)),
        ("до 15 января", THURSDAY, msk(2027, 1, 15, 18, 0)),
        ("до 10.12", THURSDAY, msk(2026, 12, 10, 18, 0)),
        # relative days and clock times
        ("не позднее 15:00 завтрашнего дня", THURSDAY, msk(2026, 12, 4, 15, 0)),
        ("не позднее 15:00 завтрашнего дня", NIGHT, msk(2026, 12, 4, 15, 0)),
        ("не позднее 15:00 завтрашнего дня", FRIDAY_EVENING, msk(2026, 12, 5, 15, 0)),  # literally Saturday
        ("завтра до 12:00", THURSDAY, msk(2026, 12, 4, 12, 0)),
        ("сегодня до 17:00", THURSDAY, msk(2026, 12, 3, 17, 0)),
        ("сегодня до 17:00", NIGHT, msk(2026, 12, 3, 17, 0)),
        ("до 18.00", THURSDAY, msk(2026, 12, 3, 18, 0)),
        ("Запрос от 01.12.2026. Ответ до 18:00", THURSDAY, msk(2026, 12, 3, 18, 0)),  # that date is not the day
        ("до 18.00", FRIDAY_EVENING, msk(2026, 12, 7, 18, 0)),  # 18:00 has passed: next working day
        ("до 18-00", NIGHT, msk(2026, 12, 3, 18, 0)),
        ("до 12.30", THURSDAY, msk(2026, 12, 3, 12, 30)),
        ("до конца рабочего дня", THURSDAY, msk(2026, 12, 3, 18, 0)),
        ("до конца рабочего дня", FRIDAY_EVENING, msk(2026, 12, 7, 18, 0)),
        ("до конца рабочего дня", SATURDAY, msk(2026, 12, 7, 18, 0)),
        ("до конца недели", THURSDAY, msk(2026, 12, 4, 18, 0)),
        ("до пятницы", THURSDAY, msk(2026, 12, 4, 18, 0)),
        ("до пятницы", msk(2026, 12, 4, 10, 0), msk(2026, 12, 11, 18, 0)),  # said on a Friday: next one
        ("в пятницу до 12:00", THURSDAY, msk(2026, 12, 4, 12, 0)),
        ("до 12:00 пятницы", SATURDAY, msk(2026, 12, 11, 12, 0)),
        ("до конца месяца", THURSDAY, msk(2026, 12, 30, 18, 0)),  # 31.12.2026 is a day off
        ("до 17 ч. 00 мин. 05.12.2026", THURSDAY, msk(2026, 12, 5, 17, 0)),
        ("Срок предоставления информации — до 12:00 5 декабря", THURSDAY, msk(2026, 12, 5, 12, 0)),
        # durations
        ("в течение 2 рабочих дней", THURSDAY, msk(2026, 12, 7, 18, 0)),
        ("в течение 2 рабочих дней", NIGHT, msk(2026, 12, 7, 18, 0)),
        ("в течение 2 рабочих дней", FRIDAY_EVENING, msk(2026, 12, 8, 18, 0)),
        ("в течение 2 рабочих дней", SATURDAY, msk(2026, 12, 8, 18, 0)),
        ("в течение двух рабочих дней", THURSDAY, msk(2026, 12, 7, 18, 0)),
        ("в течение 2-х рабочих дней", THURSDAY, msk(2026, 12, 7, 18, 0)),
        ("в течение 3 (трёх) рабочих дней", FRIDAY_EVENING, msk(2026, 12, 9, 18, 0)),
        ("в течение одного рабочего дня", FRIDAY_EVENING, msk(2026, 12, 7, 18, 0)),
        ("в течение рабочего дня", THURSDAY, msk(2026, 12, 3, 18, 0)),
        ("не позднее 2 рабочих дней с момента получения", THURSDAY, msk(2026, 12, 7, 18, 0)),
        ("в трехдневный срок", THURSDAY, msk(2026, 12, 7, 18, 0)),  # 06.12 is a Sunday: rolled forward
        ("в 5-дневный срок", THURSDAY, msk(2026, 12, 8, 18, 0)),
        ("в течение 10 календарных дней", THURSDAY, msk(2026, 12, 14, 18, 0)),  # 13.12 Sunday → 14.12
        ("в течение 3 часов", THURSDAY, msk(2026, 12, 3, 13, 0)),
        ("в течение 3 часов", NIGHT, msk(2026, 12, 3, 5, 30)),  # the refutation term runs at night
        ("в течение 3-х часов", FRIDAY_EVENING, msk(2026, 12, 4, 22, 30)),
        ("в течение трёх часов", SATURDAY, msk(2026, 12, 5, 14, 0)),
        ("в течение часа", THURSDAY, msk(2026, 12, 3, 11, 0)),
        ("в течение получаса", THURSDAY, msk(2026, 12, 3, 10, 30)),
        ("в течение 30 минут", NIGHT, msk(2026, 12, 3, 3, 0)),
        ("в течение двадцати четырех часов", THURSDAY, msk(2026, 12, 4, 10, 0)),
        ("в течение 4 рабочих часов", FRIDAY_EVENING, msk(2026, 12, 7, 13, 0)),
        ("в течение суток", FRIDAY_EVENING, msk(2026, 12, 5, 19, 30)),
        ("в течение 2 суток", NIGHT, msk(2026, 12, 5, 2, 30)),
        # urgency words: the default short term of one hour
        ("Незамедлительно проверьте информацию.", NIGHT, msk(2026, 12, 3, 3, 30)),
        ("СРОЧНО! Проверить информацию", SATURDAY, msk(2026, 12, 5, 12, 0)),
        ("Прошу немедленно сообщить", FRIDAY_EVENING, msk(2026, 12, 4, 20, 30)),
        ("Просим в кратчайшие сроки дать комментарий", THURSDAY, msk(2026, 12, 3, 11, 0)),
    ],
)
def test_phrases_resolve_against_receipt(text: str, received: datetime, expected: datetime) -> None:
    found = extract_deadline(text, received)
    assert found is not None, text
    assert found.at == expected
    assert found.at.tzinfo is not None and found.at.utcoffset() == timedelta(hours=3)
    assert found.phrase and found.phrase.lower() in " ".join(text.split()).lower()


def test_working_days_over_may_holidays_and_a_working_saturday() -> None:
    assert at("в течение 2 рабочих дней", msk(2025, 4, 30, 10, 0)) == msk(2025, 5, 6, 18, 0)
    assert at("в течение 1 рабочего дня", msk(2025, 10, 31, 16, 0)) == msk(2025, 11, 1, 18, 0)
    # 30 calendar days spanning the May 2026 holidays: 10.05 is a Sunday, 11.05 a holiday
    assert at("в течение 30 дней", msk(2026, 4, 10, 9, 0)) == msk(2026, 5, 12, 18, 0)


def test_urgent_term_is_a_setting() -> None:
    settings = DeadlineSettings(urgent_term=timedelta(minutes=30))
    assert at("Срочно", THURSDAY, settings=settings) == msk(2026, 12, 3, 10, 30)
    assert at("Несрочно, при случае", THURSDAY) is None
    assert at("досрочно выполнено", THURSDAY) is None


def test_explicit_phrase_beats_urgency_word() -> None:
    found = extract_deadline("Срочно! Прошу в срок до 10.12.2026 представить сведения.", THURSDAY)
    assert found is not None and found.phrase == "в срок до 10.12.2026"


def test_earliest_deadline_still_after_receipt_wins() -> None:
    text = (
        "Промежуточную информацию направить до 07.12.2026, итоговую — в срок до 10.12.2026.\n"
        "Ранее направленный запрос со сроком до 01.12.2026 считать исполненным."
    )
    found = extract_deadline(text, THURSDAY)
    assert found is not None
    assert found.at == msk(2026, 12, 7, 18, 0)
    assert found.phrase == "до 07.12.2026"


def test_only_past_deadlines_give_the_latest_one() -> None:
    # the request arrived after its own deadline: overdue on arrival, not "no deadline"
    found = extract_deadline("сегодня до 17:00 направить комментарий", msk(2026, 12, 3, 18, 30))
    assert found is not None and found.at == msk(2026, 12, 3, 17, 0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Добрый день! Просим предоставить информацию.",
        "Приём граждан с 9:00 до 18:00 ежедневно",
        "Режим работы: пн-чт до 18:00, пт до 16:45, обед с 13:00 до 14:00",
        "Приём документов до 17:00",
        "за период с 01.01 по 30.11.2026",
        "довести до сведения граждан",
        "до 2027 года планируется ремонт",
        "до 10.5 тыс. рублей",
        "до 31.02.2026",
        "до 32 декабря",
        "до 25:00",
        "в течение 0 дней",
        "в течение 100000 рабочих дней",
        "в течение многих лет",
        "до 10.12.2062",  # years away: a typo or a plan, not this request's term
        "в срок до 10.12.2020",
        "с 10.12.2020 до 18:00 велись работы",  # a range, and long past
    ],
)
def test_no_deadline(text: str) -> None:
    assert extract_deadline(text, THURSDAY) is None


def test_office_hours_in_a_signature_do_not_compete() -> None:
    text = "Прошу в срок до 10.12.2026 представить сведения.\n\nС уважением,\nПетрова А.\nПн-пт до 18:00"
    assert at(text, THURSDAY) == msk(2026, 12, 10, 18, 0)


def test_nonsense_date_is_skipped_for_a_valid_one() -> None:
    assert at("до 31.02.2026, то есть не позднее 10.12.2026", THURSDAY) == msk(2026, 12, 10, 18, 0)


def test_phrase_keeps_the_original_spelling() -> None:
    found = extract_deadline("Просим\u00a0в течение трёх\nчасов направить проект", NIGHT)
    assert found is not None
    assert found.phrase == "в течение трёх часов"


def test_moscow_time_in_a_calendar_of_another_zone() -> None:
    samara = WorkCalendar(CalendarSettings(timezone="Europe/Samara"))
    found = extract_deadline("до 12:00 (мск) 05.12.2026", THURSDAY, samara)
    assert found is not None and found.at == msk(2026, 12, 5, 12, 0)
    local = extract_deadline("до 12:00 05.12.2026", THURSDAY, samara)
    assert local is not None and local.at == msk(2026, 12, 5, 11, 0)


def test_calendar_overrides_shift_working_day_terms() -> None:
    regional = WorkCalendar(CalendarSettings(extra_days_off=(msk(2026, 12, 4, 0, 0).date(),)))
    assert at("в течение 1 рабочего дня", THURSDAY, calendar=regional) == msk(2026, 12, 7, 18, 0)


def test_naive_and_odd_inputs_never_raise() -> None:
    assert at("до 10.12.2026", datetime(2026, 12, 3, 10, 0)) == msk(2026, 12, 10, 18, 0)
    assert extract_deadline(None, THURSDAY) is None  # type: ignore[arg-type]
    assert extract_deadline("до 10 декабря", datetime(9999, 12, 31, 12, tzinfo=MSK)) is None
    assert extract_deadline("в течение 2 рабочих дней", datetime(9999, 12, 30, 12, tzinfo=MSK)) is None


def test_parse_when_reports_how_much_it_read() -> None:
    moment, used = parse_when("10.12.2026 15:00 по просьбе заявителя", THURSDAY)
    assert moment == msk(2026, 12, 10, 15, 0)
    assert used == len("10.12.2026 15:00")
    assert parse_when("по просьбе", THURSDAY) == (None, 0)


# Real messages: the deadline comes from the decoded text and the Date header.
def _fixture(name: str):
    return parse_message((FIXTURES / name).read_bytes())


def test_cp1251_request_received_at_night() -> None:
    pm = _fixture("cur_request_cp1251.eml")
    assert pm.date is not None
    found = extract_deadline(pm.text, pm.date)
    assert found is not None
    assert found.at == msk(2026, 12, 5, 12, 0)  # not the stale 01.12 from the second paragraph
    assert found.phrase == "в срок до 12:00 05.12.2026 (мск)"


def test_html_only_request_on_friday_evening() -> None:
    pm = _fixture("cur_request_html_friday.eml")
    assert pm.date is not None
    found = extract_deadline(pm.text, pm.date)
    assert found is not None
    assert found.at == msk(2026, 12, 8, 18, 0)  # Monday is day 1, Tuesday day 2
    assert found.phrase == "в течение 2 (двух) рабочих дней"


def test_signal_at_saturday_night_in_utc() -> None:
    pm = _fixture("cur_signal_night_utc.eml")
    assert pm.date is not None and pm.date.utcoffset() == timedelta(0)
    found = extract_deadline(pm.text, pm.date)
    assert found is not None
    # 20:10 UTC = 23:10 MSK; the explicit 3 hours beats «незамедлительно»
    assert found.at == msk(2026, 12, 6, 2, 10)
    assert found.phrase == "в течение 3 часов"
