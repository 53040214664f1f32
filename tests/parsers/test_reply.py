"""Reply extraction on hand-made Russian staff replies from each mail client (tests/fixtures/clients)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import parse_message
from parsers.reply import ReplyParts, extract_reply, split_reply

CLIENTS = Path(__file__).resolve().parents[1] / "fixtures" / "clients"

# What Иванов И.И. wrote in every reply fixture: the draft of an official comment.
DRAFT = """Добрый день!

Направляю проект официального комментария:

«Ремонт дороги на ул. Советской включён в муниципальную программу на 2027 год. До начала работ подрядчик \
ООО «Дорстрой» выполнит ямочный ремонт в срок до 15 декабря 2026 года».

Прошу согласовать."""
SIGNATURE_START = "С уважением,\nИванов Иван Иванович"
QUOTED_PHRASE = "Просим подготовить официальный комментарий до 12:00 04.12.2026."

REPLIES = [
    # (fixture, how the signature begins)
    ("outlook_ru_original_message.eml", SIGNATURE_START),  # «-----Исходное сообщение-----», windows-1251 QP
    ("outlook_ru_header_block.eml", SIGNATURE_START),  # «От: … Отправлено: … Кому: … Тема: …», koi8-r QP
    ("outlook_en_original_message.eml", SIGNATURE_START),  # «-----Original Message-----»
    ("thunderbird_ru_reply.eml", SIGNATURE_START),  # «03.12.2026 10:00, Петрова Анна пишет:», «-- »
    ("thunderbird_ru_bottom_post.eml", SIGNATURE_START),  # the answer below the quote
    ("gmail_ru_reply.eml", SIGNATURE_START),  # «чт, 3 дек. 2026 г. в 10:00, Name <\na@b>:», wrapped
    ("yandex_ru_reply.eml", SIGNATURE_START),  # «03.12.2026, 10:00, "Name" <a@b>:»
    ("mailru_ru_reply.eml", SIGNATURE_START),  # «Четверг, 3 декабря 2026, 10:00 +03:00 от Name <a@b>:»
    ("iphone_ru_reply.eml", "Отправлено с iPhone"),  # «> 3 дек. 2026 г., в 10:00, … написал(а):»
    ("apple_mail_ru_reply.eml", SIGNATURE_START),
]


def _same_text(a: str, b: str) -> bool:
    # koi8-r has no guillemets: Outlook sends straight quotes in that charset.
    def norm(s: str) -> str:
        return " ".join(s.replace("«", '"').replace("»", '"').split())

    return norm(a) == norm(b)


@pytest.mark.parametrize(("name", "signature_start"), REPLIES)
def test_split_reply_on_each_clients_text(name: str, signature_start: str) -> None:
    pm = parse_message((CLIENTS / name).read_bytes())
    parts = split_reply(pm.text)
    assert _same_text(parts.new_text, DRAFT), parts.new_text
    assert parts.signature.startswith(signature_start)
    assert QUOTED_PHRASE in parts.quoted


@pytest.mark.parametrize(("name", "signature_start"), REPLIES)
def test_parse_message_exposes_new_text_and_signature(name: str, signature_start: str) -> None:
    pm = parse_message((CLIENTS / name).read_bytes())
    assert _same_text(pm.new_text, DRAFT), pm.new_text
    assert pm.signature.startswith(signature_start)
    assert QUOTED_PHRASE not in pm.new_text
    assert pm.forwarded is None  # a reply with a quoted header block is not a forward


def test_outlook_html_only_reply_is_trimmed_at_its_divider() -> None:
    pm = parse_message((CLIENTS / "outlook_ru_html_only.eml").read_bytes())
    assert pm.html is not None
    assert _same_text(pm.new_text, DRAFT), pm.new_text
    assert pm.signature.startswith(SIGNATURE_START)
    assert QUOTED_PHRASE in pm.text and QUOTED_PHRASE not in pm.new_text


def test_quoted_part_starts_at_the_outlook_separator() -> None:
    pm = parse_message((CLIENTS / "outlook_ru_original_message.eml").read_bytes())
    parts = split_reply(pm.text)
    assert parts.quoted.startswith("-----Исходное сообщение-----\nОт: Петрова Анна")


def test_extract_reply_equals_new_text_of_split_reply() -> None:
    text = parse_message((CLIENTS / "yandex_ru_reply.eml").read_bytes()).text
    assert extract_reply(text) == split_reply(text).new_text


# --- small cases that no client fixture shows -------------------------------------------------------


def test_empty_and_blank_bodies() -> None:
    assert split_reply("") == ReplyParts("", "", "")
    assert split_reply("  \n\n ") == ReplyParts("", "", "")


def test_lone_header_like_line_in_new_text_is_kept() -> None:
    body = "Тема: ремонт дороги\nДата: 5 декабря\n\nКомментарий готов, направляю позже."
    assert extract_reply(body) == body


def test_regards_inside_a_sentence_is_not_a_signature() -> None:
    body = "Добрый день!\nС уважением отношусь к вашей работе, но срок нереален."
    assert split_reply(body) == ReplyParts(body, "", "")


def test_plain_quote_without_attribution_is_cut_after_top_posted_text() -> None:
    parts = split_reply("Согласовано.\n\n> Прошу согласовать проект.\n> Иванов")
    assert parts == ReplyParts("Согласовано.", "> Прошу согласовать проект.\n> Иванов", "")


def test_huge_single_line_is_handled() -> None:
    body = "а" * 300_000 + " пишет:\n> цитата"
    assert split_reply(body).new_text.startswith("ааа")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=3000))
def test_split_reply_never_raises(text: str) -> None:
    parts = split_reply(text)
    assert isinstance(parts.new_text, str) and isinstance(parts.quoted, str) and isinstance(parts.signature, str)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["> ", "От: a@b", "Тема: x", "-- ", "пишет:", "03.12.2026 10:00, И пишет:", "текст", ""]),
        max_size=60,
    )
)
def test_split_reply_never_raises_on_marker_soup(lines: list[str]) -> None:
    parts = split_reply("\n".join(lines))
    assert len(parts.new_text) <= len("\n".join(lines))


# --- variants of Russian clients that the fixtures do not show --------------------------------------

VARIANTS = {
    "mail.ru, quoted attribution": (
        "Согласовано.\n\n\n>Четверг, 3 декабря 2026, 10:00 +03:00 от Петрова Анна <a.petrova@cur12.ru>:\n>\n>Текст",
        "",
    ),
    "mail.ru mobile, address without brackets": (
        "Согласовано.\n\nОтправлено из мобильной Почты Mail.ru\n\n\n"
        "четверг, 03 декабря 2026г., 10:00 +03:00 от Петрова Анна  a.petrova@cur12.ru :\n\n>Текст",
        "Отправлено из мобильной Почты Mail.ru",
    ),
    "The Bat!": (
        "Согласовано.\n\n-- \nС уважением,\n Иван  mailto:ivanov@volzhsk.ru\n\n"
        "Вы писали 3 декабря 2026 г., 10:00:45:\n\n> Текст",
        "С уважением,\n Иван  mailto:ivanov@volzhsk.ru",
    ),
    "Zimbra": (
        'Согласовано.\n\n----- Исходное сообщение -----\nОт: "Петрова Анна" <a.petrova@cur12.ru>\n'
        'Кому: "Иванов" <ivanov@volzhsk.ru>\nОтправленные: Четверг, 3 Декабрь 2026 г 10:00:00\nТема: Пост\n\nТекст',
        "",
    ),
}


@pytest.mark.parametrize("client", VARIANTS)
def test_client_variants(client: str) -> None:
    body, signature = VARIANTS[client]
    parts = split_reply(body)
    assert parts.new_text == "Согласовано."
    assert parts.signature == signature
    assert parts.quoted.endswith("Текст")


def test_the_bat_bottom_post_with_initials_quoting() -> None:
    """The Bat!: «Здравствуйте, Анна.» template, «Вы писали …:», «ПА> » quotes, the answer below."""
    pm = parse_message((CLIENTS / "thebat_ru_reply.eml").read_bytes())
    expected = "Здравствуйте, Анна.\n\n" + DRAFT.split("\n\n", 1)[1]
    assert _same_text(pm.new_text, expected), pm.new_text
    assert pm.signature.startswith("С уважением,\n Иван")
    parts = split_reply(pm.text)
    assert parts.quoted.startswith("Вы писали 3 декабря 2026 г., 10:00:45:")
    assert "ПА> " + QUOTED_PHRASE in parts.quoted


def test_a_word_glued_to_a_bracket_is_not_a_quote() -> None:
    assert split_reply("Итог>план: согласовано.\n\nПодробности завтра.").new_text == (
        "Итог>план: согласовано.\n\nПодробности завтра."
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [(None, ""), (b"\xd0\x9e\xd0\xba\n\n> quote", "Ок"), (b"\xff\xfe", "\ufffd\ufffd"), (42, "")],
)
def test_extract_reply_on_what_is_not_a_str_still_gives_a_str(body: object, expected: str) -> None:
    assert extract_reply(body) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "footer",
    [
        "Отправлено из мобильной Яндекс Почты", "Отправлено из приложения Почта Mail.ru для Android",
        "Отправлено с iPad", "Получить Outlook для Android", "Get Outlook for iOS", "Sent from my iPhone",
    ],
)
def test_mobile_footers_are_the_signature(footer: str) -> None:
    parts = split_reply(f"Согласовано.\n\n{footer}\n\n03.12.2026, 10:00, \"Curmail\" <c@volzhsk.ru>:\n> Проект")
    assert (parts.new_text, parts.signature) == ("Согласовано.", footer)
