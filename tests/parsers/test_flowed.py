"""format=flowed (RFC 3676): soft breaks joined, quotes and signatures kept, and a #command never swallowed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import parse_message
from parsers.flowed import unflow


@pytest.mark.parametrize(
    ("flowed", "plain"),
    [
        ("Прошу согласовать \nтекст до 12:00.", "Прошу согласовать текст до 12:00."),
        ("Один \nдва \nтри\nчетыре", "Один два три\nчетыре"),
        ("> Цитата на \n> две строки\n>\n> Ещё", "> Цитата на две строки\n>\n> Ещё"),
        (">> Вложенная \n>> цитата\n> Внешняя", ">> Вложенная цитата\n> Внешняя"),
        ("Конец абзаца \n> цитата", "Конец абзаца \n> цитата"),  # the depth changes: no join
        ("Текст\n\n-- \nИванов", "Текст\n\n-- \nИванов"),  # the signature separator is never soft
        (" From the stuffed line\n >not a quote", "From the stuffed line\n>not a quote"),  # space-stuffing
        ("#статус \n#назначить petrov", "#статус \n#назначить petrov"),  # one command per line
        ("строка\r\nещё \r\nодна", "строка\nещё одна"),
        ("", ""),
    ],
)
def test_unflow(flowed: str, plain: str) -> None:
    assert unflow(flowed) == plain


def test_delsp_removes_the_space_of_the_soft_break() -> None:
    assert unflow("Козьмодемь\nянск", delsp=True) == "Козьмодемь\nянск"
    assert unflow("Козьмодемь \nянск", delsp=True) == "Козьмодемьянск"


def test_a_flowed_mail_reads_as_typed_and_a_fixed_one_is_left_alone() -> None:
    body = "Проект: «Ремонт дороги на ул. Советской \r\nвключён в программу на 2027 год».\r\n"
    head = "From: a@volzhsk.ru\r\nSubject: t\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: 8bit\r\n"
    flowed = parse_message((head + "Content-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n" + body).encode())
    fixed = parse_message((head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode())
    assert flowed.text == "Проект: «Ремонт дороги на ул. Советской включён в программу на 2027 год»."
    assert fixed.text.count("\n") == 1


def test_delsp_parameter_of_the_part_is_honoured() -> None:
    raw = (
        "From: a@volzhsk.ru\r\nSubject: t\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\r\n\r\nКозьмодемь \r\nянск\r\n"
    ).encode()
    assert parse_message(raw).text == "Козьмодемьянск"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(["a", " ", ">", "\n", "\r", "#", "-", "я"]), max_size=400), st.booleans())
def test_unflow_only_ever_moves_line_breaks_and_spaces(text: str, delsp: bool) -> None:
    def ink(s: str) -> str:
        return "".join(c for c in s if c not in " \r\n")

    out = unflow(text, delsp)
    assert ink(out) == ink(text)  # every other character survives, in order
    assert out.count("\n") <= text.count("\n")
