"""The e-mail command grammar: spellings, subject commands, stop rules, and bodies from real clients."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from parsers import parse_message
from parsers.commands import (
    ACCEPTED_DATE_FORMATS,
    COMMAND_HELP,
    Command,
    format_help,
    parse_commands,
    parse_staff_date,
    parse_staff_date_prefix,
)
from parsers.workcalendar import WorkCalendar

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "commands"
MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=MSK)


def names(text: str, subject: str = "") -> list[tuple[str, str]]:
    return [(c.name, c.args) for c in parse_commands(text, subject).commands]


@pytest.mark.parametrize(
    ("line", "name", "args"),
    [
        ("#помощь", "help", ""),
        ("#help", "help", ""),
        ("#статус", "status", ""),
        ("#status 42", "status", "42"),
        ("#статус KZM-42", "status", "KZM-42"),
        ("#мои", "mine", ""),
        ("#mine", "mine", ""),
        ("#список", "list", ""),
        ("#list", "list", ""),
        ("#назначить Петров", "assign", "Петров"),
        ("#assign petrov@kozmo.example", "assign", "petrov@kozmo.example"),
        ("#тема ЖКХ, отопление", "topic", "ЖКХ, отопление"),
        ("#topic roads", "topic", "roads"),
        ("#срок 10.12.2026", "due", "10.12.2026"),
        ("#due 10.12.2026 15:00", "due", "10.12.2026 15:00"),
        ("#продлить 25.12.2026 запрошены сведения", "extend", "25.12.2026 запрошены сведения"),
        ("#extend 25.12.2026 waiting for the contractor", "extend", "25.12.2026 waiting for the contractor"),
        ("#согласовано", "approved", ""),
        ("#approved", "approved", ""),
        ("#на доработку уточните адрес", "rework", "уточните адрес"),
        ("#rework please add the address", "rework", "please add the address"),
        ("#опубликовано https://kozmo.example/news/17", "published", "https://kozmo.example/news/17"),
        ("#published https://kozmo.example/news/17", "published", "https://kozmo.example/news/17"),
        ("#закрыть дан ответ заявителю", "close", "дан ответ заявителю"),
        ("#close answered", "close", "answered"),
        ("#открыть", "reopen", ""),
        ("#reopen", "reopen", ""),
        ("#отчёт", "report", ""),
        ("#отчет 4 2026", "report", "4 2026"),
        ("#report", "report", ""),
        ("#отправить", "send", ""),
        ("#send", "send", ""),
    ],
)
def test_every_command_in_russian_and_english(line: str, name: str, args: str) -> None:
    parsed = parse_commands(line)
    assert parsed.commands == (Command(name, args, line),)
    assert parsed.unknown == () and parsed.stopped_at is None


@pytest.mark.parametrize(
    "line",
    ["#СОГЛАСОВАНО", "#Согласовано.", "#согласовано!", "  #согласовано", "\u00a0#согласовано\u00a0", "＃согласовано"],
)
def test_case_punctuation_and_spaces(line: str) -> None:
    assert names(line) == [("approved", "")]


@pytest.mark.parametrize("line", ["#ОТЧЁТ", "#Отчёт", "#отчет", "#ОТЧЕТ"])
def test_yo_and_ye_are_the_same(line: str) -> None:
    assert names(line) == [("report", "")]


@pytest.mark.parametrize(
    "line", ["#на доработку", "#НА ДОРАБОТКУ", "#на  доработку", "#на_доработку", "#на-доработку", "#надоработку"]
)
def test_multi_word_rework(line: str) -> None:
    assert names(line + " нет адреса") == [("rework", "нет адреса")]


def test_command_args_that_look_like_quote_headers() -> None:
    assert names("#на доработку уточните, что он пишет:") == [("rework", "уточните, что он пишет:")]
    assert names("#назначить Петров <petrov@kozmo.example>:") == [("assign", "Петров <petrov@kozmo.example>:")]


def test_colon_after_the_command_word() -> None:
    assert names("#назначить: petrov@kozmo.example") == [("assign", "petrov@kozmo.example")]


def test_stops_at_the_first_non_command_line() -> None:
    parsed = parse_commands("#статус\n#мои\nДобрый день!\n#закрыть\n")
    assert [c.name for c in parsed.commands] == ["status", "mine"]
    assert parsed.stopped_at == "Добрый день!" and parsed.stop_reason == "text"
    assert parsed.rest == "Добрый день!\n#закрыть"


def test_a_greeting_first_means_no_commands() -> None:
    parsed = parse_commands("Здравствуйте!\n#закрыть")
    assert parsed.commands == () and not parsed.found_any


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("#статус\n-- \nИванов", "signature"),
        ("#статус\n--\nИванов", "signature"),
        ("#статус\nС уважением,\nИванов\n#закрыть", "signature"),
        ("#статус\nс уважением, Иванов", "signature"),
        ("#статус\nОтправлено с iPhone", "signature"),
        ("#статус\nSent from my iPhone", "signature"),
        ("#статус\nПолучить Outlook для Android", "signature"),
        ("#статус\n> #закрыть", "quote"),
        ("#статус\n03.12.2026 10:00, Иванов И.И. пишет:\n> #закрыть", "quote"),
        ("#статус\n-----Original Message-----\n#закрыть", "quote"),
        ("#статус\n-----Исходное сообщение-----\n#закрыть", "quote"),
        ("#статус\nОт: curmail <curmail@kozmo.example>\n#закрыть", "quote"),
        ("#статус\nOn Thu, Dec 3, 2026 at 10:00 AM curmail <curmail@kozmo.example> wrote:", "quote"),
    ],
)
def test_stops_at_signature_and_quote(text: str, reason: str) -> None:
    parsed = parse_commands(text)
    assert [c.name for c in parsed.commands] == ["status"]
    assert parsed.stop_reason == reason


def test_blank_and_nbsp_lines_before_and_between_commands() -> None:
    text = "\r\n\u00a0\r\n \r\n&nbsp;\r\n\ufeff#статус\r\n\r\n\u00a0\r\n#мои\r\n"
    assert names(text) == [("status", ""), ("mine", "")]


def test_html_conversion_leftovers() -> None:
    assert names("**#согласовано**\n\n\\#отправить\n\n\\-- \nИванова") == [("approved", ""), ("send", "")]


def test_unknown_commands_are_reported_and_bounded() -> None:
    parsed = parse_commands("#статус\n#удалить всё\n#МыВместе\nтекст")
    assert [c.name for c in parsed.commands] == ["status"]
    assert parsed.unknown == ("#удалить всё", "#МыВместе")
    many = parse_commands("#a\n#b\n#c\n#d\n#статус")
    assert many.unknown == ("#a", "#b", "#c") and many.stop_reason == "unknown" and many.commands == ()


def test_numbers_and_markdown_headings_are_not_commands() -> None:
    assert parse_commands("#42 это номер").stop_reason == "text"
    assert parse_commands("# Заголовок\n#статус").commands == ()


def test_subject_command_after_prefixes_and_tag() -> None:
    for subject in (
        "#статус",
        "Re: #статус",
        "RE: RE: [KZM-42] #статус",
        "Fwd: [KZM-42] #Статус",
        "Ответ: Re[2]: [kzm-42] #статус",
        "#статус [KZM-42]",
    ):
        parsed = parse_commands("", subject)
        assert [(c.name, c.source) for c in parsed.commands] == [("status", "subject")], subject


def test_subject_command_with_args_comes_first() -> None:
    parsed = parse_commands("#тема ЖКХ", "Re: [KZM-42] #срок 10.12.2026")
    assert [(c.name, c.args, c.source) for c in parsed.commands] == [
        ("due", "10.12.2026", "subject"),
        ("topic", "ЖКХ", "body"),
    ]


def test_subject_repeated_in_body_counts_once() -> None:
    parsed = parse_commands("#согласовано", "Re: [KZM-42] #согласовано")
    assert [(c.name, c.source) for c in parsed.commands] == [("approved", "body")]


def test_our_own_reply_subject_is_not_a_command() -> None:
    assert parse_commands("", "Re: [KZM-42] Обработано: #статус").commands == ()
    assert parse_commands("", "Re: [KZM-42] Проект комментария").commands == ()


def test_unknown_subject_command() -> None:
    parsed = parse_commands("", "Re: #удалить")
    assert parsed.commands == () and parsed.unknown == ("#удалить",)


def test_never_raises_on_odd_input() -> None:
    assert parse_commands(None, None).commands == ()  # type: ignore[arg-type]
    assert parse_commands("#" * 100_000).stop_reason == "text"
    assert len(parse_commands("#статус\n" * 10_000).commands) == 30


# Bodies as real clients produce them, through parse_message: the full text (quotes included)
# and the trimmed new text must give the same commands.
CLIENT_MAILS = {
    "outlook_plain_cp1251.eml": [("approved", "")],
    "outlook_html_only.eml": [("due", "10.12.2026 15:00"), ("topic", "ЖКХ, отопление")],
    "thunderbird_flowed.eml": [("status", ""), ("assign", "sidorova@kozmo.example")],
    "gmail_alternative.eml": [("rework", "уточните адрес и сроки ремонта")],
    "yandex_html.eml": [("report", "4 2026")],
    "mailru_plain.eml": [("close", "дан ответ заявителю")],
    "iphone.eml": [("mine", "")],
    "subject_command.eml": [("published", "https://kozmo.example/news/17")],
    "english_commands.eml": [("status", "KZM-7"), ("mine", ""), ("list", ""), ("help", ""), ("reopen", "")],
    "unknown_commands.eml": [("status", "")],
}


@pytest.mark.parametrize("name", sorted(CLIENT_MAILS))
def test_commands_from_client_mail(name: str) -> None:
    pm = parse_message((FIXTURES / name).read_bytes())
    for text in (pm.text, pm.new_text):
        assert names(text, pm.subject) == CLIENT_MAILS[name], text


def test_client_mail_stop_points() -> None:
    outlook = parse_message((FIXTURES / "outlook_plain_cp1251.eml").read_bytes())
    assert parse_commands(outlook.text).stopped_at == "С уважением,"
    gmail = parse_message((FIXTURES / "gmail_alternative.eml").read_bytes())
    assert parse_commands(gmail.text).stop_reason == "quote"
    unknown = parse_message((FIXTURES / "unknown_commands.eml").read_bytes())
    assert parse_commands(unknown.text).unknown == ("#удалить всё", "#МыВместе")


# --- dates staff type into #срок / #продлить --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.12.2026", datetime(2026, 12, 10, 18, 0, tzinfo=MSK)),
        ("10.12.2026 15:00", datetime(2026, 12, 10, 15, 0, tzinfo=MSK)),
        ("10 декабря", datetime(2026, 12, 10, 18, 0, tzinfo=MSK)),
        ("10 декабря 15:00", datetime(2026, 12, 10, 15, 0, tzinfo=MSK)),
        ("до 10.12.2026", datetime(2026, 12, 10, 18, 0, tzinfo=MSK)),
        ("15:00 10.12.2026", datetime(2026, 12, 10, 15, 0, tzinfo=MSK)),
        ("1 декабря", datetime(2027, 12, 1, 18, 0, tzinfo=MSK)),  # the next 1 December
        ("10.12.26", datetime(2026, 12, 10, 18, 0, tzinfo=MSK)),
    ],
)
def test_parse_staff_date(text: str, expected: datetime) -> None:
    assert parse_staff_date(text, NOW, WorkCalendar()) == expected


@pytest.mark.parametrize("text", ["", "когда-нибудь", "31.02.2026", "10.13.2026", "10.12.2026 по просьбе", "25:00"])
def test_parse_staff_date_rejects(text: str) -> None:
    assert parse_staff_date(text, NOW, WorkCalendar()) is None


def test_parse_staff_date_prefix_splits_the_reason() -> None:
    moment, reason = parse_staff_date_prefix("25.12.2026 запрошены сведения у подрядчика", NOW)
    assert moment == datetime(2026, 12, 25, 18, 0, tzinfo=MSK)
    assert reason == "запрошены сведения у подрядчика"
    assert parse_staff_date_prefix("без даты", NOW) == (None, "без даты")


def test_help_table_covers_every_command() -> None:
    assert {row.name for row in COMMAND_HELP} == {
        "help", "status", "mine", "list", "assign", "topic", "due", "extend", "approved",
        "rework", "published", "close", "reopen", "note", "away", "absent", "back", "report", "send",
    }  # fmt: skip
    for row in COMMAND_HELP:
        # every example parses to its own command
        assert parse_commands(row.example).commands[0].name == row.name
        assert parse_commands(row.syntax_en.split()[0]).commands[0].name == row.name
    text = format_help()
    assert "#на доработку" in text and "#rework" in text and ACCEPTED_DATE_FORMATS in text


@pytest.mark.parametrize(
    ("line", "guess"),
    [("#зыкрыть", "#закрыть"), ("#статсу", "#статус"), ("#отчот", "#отчёт"), ("#asign bob", "#assign"),
     ("#согласованно", "#согласовано"), ("#удалить всё", None), ("#МыВместе", None), ("текст", None)],
)
def test_a_mistyped_command_gets_a_suggestion(line: str, guess: str | None) -> None:
    from parsers.commands import suggest_command

    assert suggest_command(line) == guess
