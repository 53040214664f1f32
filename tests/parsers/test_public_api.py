"""The public contract of parsers/ that external acceptance tests call (issue 3): names, fields and types."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from parsers import classify, extract_deadline, extract_reply, parse_message

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MSK = timezone(timedelta(hours=3))

# The kinds the issue names, as the strings classify() returns in .kind.
ISSUE_KINDS = {
    "bounce", "auto_reply", "cur_signal", "cur_proposal", "cur_approval", "cur_remarks", "cur_request",
    "appeal", "staff_reply", "command", "unknown",
}


def test_parse_message_gives_the_contract_fields_of_a_reply() -> None:
    pm = parse_message((FIXTURES / "clients" / "thunderbird_ru_reply.eml").read_bytes())
    assert pm.message_id == "<7c1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6@volzhsk.ru>"
    assert pm.in_reply_to == "<sig-2026-1203-01@cur12.ru>"
    assert pm.references == ("<sig-2026-1203-01@cur12.ru>",)
    assert pm.from_addr == "ivanov@volzhsk.ru"
    assert pm.subject == "Re: Пост о ямах на ул. Советской"
    assert pm.date == datetime(2026, 12, 3, 11, 22, 10, tzinfo=MSK)
    assert "пишет:" in pm.text and "пишет:" not in pm.new_text  # full text vs. the new text of the reply
    assert pm.new_text.startswith("Добрый день!") and pm.new_text.endswith("Прошу согласовать.")
    assert pm.forwarded is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        pm.subject = "changed"  # type: ignore[misc]


def test_parse_message_gives_the_original_of_a_forward() -> None:
    pm = parse_message((FIXTURES / "clients" / "gmail_ru_forward_appeal.eml").read_bytes())
    original = pm.forwarded
    assert original is not None
    assert (original.from_addr, original.subject) == ("kuznetsov.p@yandex.ru", "Вывоз мусора на ул. Ленина")
    assert original.date == datetime(2026, 12, 2, 18, 40, tzinfo=MSK)
    assert original.text.startswith("Здравствуйте!")


def test_html_only_mail_has_readable_text() -> None:
    pm = parse_message((FIXTURES / "clients" / "yandex_ru_cur_signal.eml").read_bytes())
    assert "<div>" not in pm.text
    assert "https://dzen.ru/a/Z1aBcDeFgH?share_to=link" in pm.text  # the link survives the conversion
    assert "\n\n" in pm.text  # so do paragraph breaks


def test_extract_reply_trims_a_plain_body_like_new_text() -> None:
    pm = parse_message((FIXTURES / "clients" / "mailru_ru_reply.eml").read_bytes())
    assert extract_reply(pm.text) == pm.new_text
    assert isinstance(extract_reply("Согласовано.\n\n> цитата"), str)
    assert extract_reply("Согласовано.\n\n> цитата") == "Согласовано."


def test_classify_with_the_default_rules() -> None:
    result = classify(parse_message((FIXTURES / "cur" / "request.eml").read_bytes()))
    assert type(result.kind) is str and result.kind == "cur_request"
    assert result.reasons and all(isinstance(r, str) for r in result.reasons)


def test_every_kind_of_the_issue_is_a_kind_and_nothing_else() -> None:
    from parsers import Kind

    assert {k.value for k in Kind} == ISSUE_KINDS


def test_extract_deadline_gives_an_aware_time_and_its_phrase_or_none() -> None:
    received = datetime(2026, 12, 3, 10, 0, tzinfo=MSK)
    found = extract_deadline("Прошу представить сведения в срок до 10.12.2026.", received)
    assert found is not None
    assert found.at.tzinfo is not None and found.at.utcoffset() == timedelta(hours=3)
    assert (found.at.date().isoformat(), found.phrase) == ("2026-12-10", "в срок до 10.12.2026")
    assert extract_deadline("Спасибо за информацию.", received) is None  # the caller's default applies


@pytest.mark.parametrize("raw", [b"", b"\x00\xff", b"Subject: =?utf-8?B?broken", b"\r\n\r\n\r\n", "text, not bytes"])
def test_nothing_raises_on_bad_input(raw: object) -> None:
    pm = parse_message(raw)  # type: ignore[arg-type]
    assert pm.message_id.startswith("<")
    assert classify(pm).kind in ISSUE_KINDS
    assert isinstance(extract_reply(pm.text), str)
    assert extract_deadline(pm.text, datetime(2026, 12, 3, tzinfo=MSK)) is None
