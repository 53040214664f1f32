"""Forward extraction on hand-made forwarded citizen appeals from each client (tests/fixtures/clients)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import parse_message
from parsers.forward import find_forwarded, is_forward_subject, strip_subject_prefixes
from parsers.forward_addresses import parse_mailboxes
from parsers.forward_dates import parse_client_date
from parsers.model import Address

CLIENTS = Path(__file__).resolve().parents[1] / "fixtures" / "clients"
MSK = timezone(timedelta(hours=3))

APPEAL_START = "Здравствуйте!\n\nТретью неделю не вывозят мусор"
APPEAL_END = "Кузнецов Пётр Алексеевич, тел. +7 917 000-11-22"
NOTE_START = "Прошу зарегистрировать обращение и назначить ответственного."

FORWARDS = [
    # (fixture, the original's To as the client quoted it)
    ("outlook_ru_forward_appeal.eml", [("priem@volzhsk.ru", "Приёмная администрации")]),  # windows-1251 QP
    ("outlook_ru_html_forward_appeal.eml", [("priem@volzhsk.ru", "Приёмная администрации")]),  # HTML only
    ("gmail_ru_forward_appeal.eml", [("priem.volzhsk@gmail.com", "")]),  # «---------- Forwarded message»
    ("thunderbird_ru_forward_appeal.eml", [("priem@volzhsk.ru", "")]),  # «Перенаправленное сообщение»
    ("yandex_ru_forward_appeal.eml", []),  # separator + «02.12.2026, 18:40, "Name" <a@b>:»
    ("mailru_ru_forward_appeal.eml", [("priem.volzhsk@mail.ru", "")]),  # «От кого:»
    ("apple_mail_ru_forward_appeal.eml", [("priem@volzhsk.ru", "")]),  # quoted header block with «Отправитель:»
    ("iphone_ru_forward_appeal.eml", [("priem@volzhsk.ru", "")]),  # «Отправлено с iPhone», then quoted «От:»
]


@pytest.mark.parametrize(("name", "to"), FORWARDS)
def test_forwarded_appeal_through_parse_message(name: str, to: list[tuple[str, str]]) -> None:
    pm = parse_message((CLIENTS / name).read_bytes())
    original = pm.forwarded
    assert original is not None
    assert (original.from_addr, original.from_name) == ("kuznetsov.p@yandex.ru", "Кузнецов Пётр")
    assert original.subject == "Вывоз мусора на ул. Ленина"
    assert original.date is not None
    assert original.date.replace(second=0) == datetime(2026, 12, 2, 18, 40, tzinfo=MSK)
    assert original.text.startswith(APPEAL_START)
    assert original.text.endswith(APPEAL_END)
    assert [(a.email, a.name) for a in original.to] == to
    assert original.note.startswith(NOTE_START)
    # The forwarder's own words are the new text; the appeal is not.
    assert pm.new_text == NOTE_START
    assert "вывозят мусор" not in pm.new_text


@pytest.mark.parametrize(("name", "to"), FORWARDS)
def test_find_forwarded_on_the_decoded_text(name: str, to: list[tuple[str, str]]) -> None:
    pm = parse_message((CLIENTS / name).read_bytes())
    original = find_forwarded(pm.text, pm.subject)
    assert original is not None and original.from_addr == "kuznetsov.p@yandex.ru"
    # Without the subject the separator or the header block alone must still say «forward»
    # (Yandex quotes no subject: then it can only come from the outer one).
    bare = find_forwarded(pm.text, "")
    assert bare is not None
    assert (bare.from_addr, bare.date, bare.text, bare.note) == (
        original.from_addr,
        original.date,
        original.text,
        original.note,
    )


@pytest.mark.parametrize(
    "name",
    [
        "outlook_ru_original_message.eml",
        "outlook_ru_header_block.eml",
        "outlook_en_original_message.eml",
        "thunderbird_ru_reply.eml",
        "yandex_ru_reply.eml",
        "mailru_ru_reply.eml",
        "gmail_ru_reply.eml",
    ],
)
def test_replies_are_not_forwards(name: str) -> None:
    pm = parse_message((CLIENTS / name).read_bytes())
    assert pm.subject.lower().startswith("re:")
    assert find_forwarded(pm.text, pm.subject) is None


def test_outlook_for_mac_attribution_counts_only_under_a_forward_subject() -> None:
    text = '28/10/2026, 12:46 пользователь "Петрова Анна" <a.petrova@cur12.ru> написал:\n\n    Текст сигнала.\n'
    found = find_forwarded(text, "FW: Сигнал ЦУР")
    assert found is not None
    assert (found.from_addr, found.from_name, found.subject, found.text) == (
        "a.petrova@cur12.ru",
        "Петрова Анна",
        "Сигнал ЦУР",
        "Текст сигнала.",
    )
    assert found.date == datetime(2026, 10, 28, 12, 46, tzinfo=found.date.tzinfo)
    assert find_forwarded(text, "Re: Сигнал ЦУР") is None


@pytest.mark.parametrize(
    ("subject", "forward"),
    [
        ("Fwd: Обращение", True),
        ("FW: x", True),
        ("Пересл: x", True),
        ("WG: x", True),
        ("TR: x", True),
        ("Fwd[2]: x", True),
        ("RE: Fwd: x", False),
        ("Ответ: x", False),
        ("Обращение", False),
        ("", False),
    ],
)
def test_forward_subject_prefixes(subject: str, forward: bool) -> None:
    assert is_forward_subject(subject) is forward


def test_strip_subject_prefixes_of_any_script_and_count() -> None:
    assert strip_subject_prefixes("Fwd: RE[3]: Ответ: Пересл: Вывоз мусора") == "Вывоз мусора"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ср, 2 дек. 2026 г. в 18:40", datetime(2026, 12, 2, 18, 40, tzinfo=MSK)),
        ("Среда, 2 декабря 2026, 18:40 +03:00", datetime(2026, 12, 2, 18, 40, tzinfo=MSK)),
        ("2 декабря 2026 г. 18:40", datetime(2026, 12, 2, 18, 40, tzinfo=MSK)),
        ("02.12.2026, 18:40", datetime(2026, 12, 2, 18, 40, tzinfo=MSK)),
        ("Wed, 2 Dec 2026 15:40:12 +0000", datetime(2026, 12, 2, 15, 40, 12, tzinfo=UTC)),
        ("Wednesday, December 2, 2026 6:40 PM", datetime(2026, 12, 2, 18, 40, tzinfo=MSK)),
        ("26 октября 2021 г. в 14:25:08 GMT+3", datetime(2021, 10, 26, 14, 25, 8, tzinfo=MSK)),
        ("martes, 2 de noviembre de 2021, 9:26 CET", datetime(2021, 11, 2, 9, 26, tzinfo=timezone(timedelta(hours=1)))),
    ],
)
def test_client_dates(value: str, expected: datetime) -> None:
    parsed = parse_client_date(value)
    assert parsed == expected and parsed.utcoffset() == expected.utcoffset()


def test_date_without_zone_is_moscow_time_and_nonsense_is_none() -> None:
    parsed = parse_client_date("03.12.2026 10:00")
    assert parsed is not None and parsed.utcoffset() == timedelta(hours=3)
    assert parse_client_date("когда-нибудь") is None
    assert parse_client_date("31.02.2026 10:00") is None


def test_mailbox_lists_as_clients_quote_them() -> None:
    assert parse_mailboxes('"Иванов, И.И." <ivanov@volzhsk.ru>; Смирнова Ольга [mailto:smirnova@volzhsk.ru]') == [
        Address("ivanov@volzhsk.ru", "Иванов, И.И."),
        Address("smirnova@volzhsk.ru", "Смирнова Ольга"),
    ]
    assert parse_mailboxes("priem@volzhsk.ru <priem@volzhsk.ru>") == [Address("priem@volzhsk.ru", "")]
    assert parse_mailboxes("Иванов<mailto:ivanov@volzhsk.ru> <ivanov@volzhsk.ru<mailto:ivanov@volzhsk.ru>>") == [
        Address("ivanov@volzhsk.ru", "Иванов")
    ]
    assert parse_mailboxes("Кузнецов Пётр") == [Address("", "Кузнецов Пётр")]
    # HTML converted to text: «<[a@b](mailto:a@b)>»
    assert parse_mailboxes("Приёмная <[priem@volzhsk.ru](mailto:priem@volzhsk.ru)>") == [
        Address("priem@volzhsk.ru", "Приёмная")
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000), st.text(max_size=80))
def test_find_forwarded_never_raises(text: str, subject: str) -> None:
    found = find_forwarded(text, subject)
    assert found is None or isinstance(found.from_addr, str)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "От: a@b.ru",
                "From: x <x@y.z>",
                "Тема: т",
                "Дата: 02.12.2026 18:40",
                "Кому: b@c.ru",
                "-------- Пересылаемое сообщение --------",
                "> ",
                '01.01.2026, 10:00, "И" <i@j.k>:',
                "",
            ]
        ),
        max_size=40,
    ),
    st.sampled_from(["", "Fwd: x", "Re: x", "x"]),
)
def test_find_forwarded_never_raises_on_header_soup(lines: list[str], subject: str) -> None:
    found = find_forwarded("\n".join(lines), subject)
    assert found is None or "@" in found.from_addr or found.from_addr == ""


def test_outlook_importance_and_attachments_lines_stay_inside_the_block() -> None:
    text = (
        "Зарегистрируйте.\n\nОт: Кузнецов Пётр <kuznetsov.p@yandex.ru>\nОтправлено: 2 декабря 2026 г. 18:40\n"
        "Кому: Приёмная <priem@volzhsk.ru>\nТема: Мусор\nВажность: Высокая\nВложения: фото.jpg\n\nТекст обращения"
    )
    found = find_forwarded(text, "FW: Мусор")
    assert found is not None
    assert (found.subject, found.text, found.note) == ("Мусор", "Текст обращения", "Зарегистрируйте.")


_APPEAL = "Здравствуйте!\n\nТретью неделю не вывозят мусор у дома 15 по ул. Ленина.\n\nКузнецов Пётр"
_MORE_FORWARDS = {
    "mail.ru web, attribution with «от»": (
        "Прошу зарегистрировать.\n\n\n-------- Пересылаемое сообщение --------\n"
        "Среда, 2 декабря 2026, 18:40 +03:00 от Кузнецов Пётр <kuznetsov.p@yandex.ru>:\n\n"
        + _APPEAL + "\n\n\n-------- Конец пересылаемого сообщения --------",
        "Прошу зарегистрировать.",
    ),
    "Yandex, closing line": (
        "Прошу зарегистрировать.\n\n-------- Начало переадресованного сообщения --------\n"
        '02.12.2026, 18:40, "Кузнецов Пётр" <kuznetsov.p@yandex.ru>:\n\n'
        + _APPEAL + "\n\n-------- Конец переадресованного сообщения --------",
        "Прошу зарегистрировать.",
    ),
    "The Bat! in Russian, scissors lines": (
        "Здравствуйте, Анна.\n\nПрошу зарегистрировать.\n\nЭто пересланное сообщение\n"
        "От: Кузнецов Пётр <kuznetsov.p@yandex.ru>\nКому: priem@volzhsk.ru\nДата: 2 декабря 2026 г., 18:40:00\n"
        "Тема: Вывоз мусора\n\n===8<==============Исходный текст сообщения===============\n"
        + _APPEAL + "\n===8<===========Конец исходного текста сообщения===========\n\n-- \nС уважением,\n Мария",
        "Здравствуйте, Анна.\n\nПрошу зарегистрировать.",
    ),
    "The Bat! in English": (
        "Hello Anna,\n\nThis is a forwarded message\nFrom: Кузнецов Пётр <kuznetsov.p@yandex.ru>\n"
        "To: priem@volzhsk.ru\nDate: Wednesday, December 2, 2026, 6:40:00 PM\nSubject: Вывоз мусора\n\n"
        "===8<==============Original message text===============\n"
        + _APPEAL + "\n===8<===========End of original message text===========",
        "Hello Anna,",
    ),
}


@pytest.mark.parametrize("client", _MORE_FORWARDS)
def test_more_russian_forward_layouts(client: str) -> None:
    body, note = _MORE_FORWARDS[client]
    found = find_forwarded(body, "Fwd: Вывоз мусора")
    assert found is not None
    assert (found.from_addr, found.from_name) == ("kuznetsov.p@yandex.ru", "Кузнецов Пётр")
    assert found.subject == "Вывоз мусора"
    assert found.date is not None
    assert found.date.astimezone(MSK).replace(second=0) == datetime(2026, 12, 2, 18, 40, tzinfo=MSK)
    assert (found.text, found.note) == (_APPEAL, note)
