"""Every command, in both spellings and with «ё» written either way, read from mails shaped like each client."""

from __future__ import annotations

import pytest

from parsers import parse_message
from parsers.commands import parse_commands
from tests.interface.clients import CLIENTS, client_mail

# (command, Russian line, English line, expected args)
TABLE = [
    ("help", "#помощь", "#help", ""),
    ("status", "#статус 42", "#status 42", "42"),
    ("mine", "#мои", "#mine", ""),
    ("list", "#список", "#list", ""),
    ("assign", "#назначить Петров", "#assign petrov@kozmo.example", None),
    ("topic", "#тема ЖКХ, отопление", "#topic ЖКХ, отопление", "ЖКХ, отопление"),
    ("due", "#срок 10.12.2026 15:00", "#due 10.12.2026 15:00", "10.12.2026 15:00"),
    ("extend", "#продлить 25.12.2026 нет ответа подрядчика", "#extend 25.12.2026 нет ответа подрядчика",
     "25.12.2026 нет ответа подрядчика"),
    ("approved", "#согласовано", "#approved", ""),
    ("rework", "#на доработку уточните адрес", "#rework уточните адрес", "уточните адрес"),
    ("published", "#опубликовано https://kozmo.example/news/17", "#published https://kozmo.example/news/17",
     "https://kozmo.example/news/17"),
    ("close", "#закрыть дан ответ", "#close дан ответ", "дан ответ"),
    ("reopen", "#открыть", "#reopen", ""),
    ("report", "#отчёт 4 2026", "#report 4 2026", "4 2026"),
]


def read(client: str, lines: list[str], subject: str = "Re: [KZM-42] Дело") -> list[tuple[str, str]]:
    pm = parse_message(client_mail(client, lines, sender="petrov@kozmo.example", subject=subject,
                                   in_reply_to="<curmail.aaaa.bbbb@kozmo.example>"))
    parsed = parse_commands(pm.new_text or pm.text, pm.subject)
    return [(c.name, c.args) for c in parsed.commands]


@pytest.mark.parametrize("client", sorted(CLIENTS))
@pytest.mark.parametrize(("name", "russian", "english", "args"), TABLE, ids=[row[0] for row in TABLE])
def test_each_command_in_each_spelling_from_each_client(client: str, name: str, russian: str, english: str,
                                                        args: str | None) -> None:
    for line in (russian, english, russian.upper(), english.capitalize()):
        expected_args = line.split(" ", 1)[1] if " " in line else ""
        if name == "rework" and line.lower().startswith("#на доработку"):
            expected_args = line.split(" ", 2)[2]
        found = read(client, [line])
        assert [n for n, _ in found] == [name], (client, line, found)
        assert found[0][1].casefold() == expected_args.casefold(), (client, line, found)
        if args is not None:
            assert found[0][1].casefold() == args.casefold()


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_yo_and_ye_alike_and_the_quoted_command_never_runs(client: str) -> None:
    lines = ["#ОТЧЁТ", "#отчет", "#Отчет 4 2026"]
    # The quote of every shape holds «#закрыть»: reading stops at the signature or the attribution.
    assert read(client, lines) == [("report", ""), ("report", ""), ("report", "4 2026")]


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_all_commands_in_one_mail_then_the_subject_command(client: str) -> None:
    lines = [russian if n % 2 else english for n, (_, russian, english, _) in enumerate(TABLE)]
    found = read(client, lines, subject="RE: [KZM-42] #тема дороги")
    assert [n for n, _ in found] == ["topic", *(row[0] for row in TABLE)]
    assert found[0] == ("topic", "дороги")


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_greeting_first_means_no_command(client: str) -> None:
    assert read(client, ["Добрый день!", "#закрыть дан ответ"]) == []
