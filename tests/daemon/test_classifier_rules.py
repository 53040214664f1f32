"""The classifier's rules come from the configuration: ЦУР and staff senders, tags and pattern overrides."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import pytest

from daemon.config import parse_settings
from daemon.errors import ConfigError
from daemon.rules import classifier_rules
from parsers import classify, parse_message

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "curmail.example.toml"


def settings_with(**sections: object):
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    for section in ("mailbox", "smtp"):
        data[section].pop("password_file")
        data[section]["password"] = "secret"
    data.update(sections)
    return parse_settings(data, EXAMPLE)


def mail(sender: str, subject: str, text: str, in_reply_to: str = "<kzm-7.draft@curmail.kozmo.example>") -> bytes:
    return (
        f"From: {sender}\r\nTo: adm@kozmo.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <m-{hashlib.sha256(text.encode()).hexdigest()[:12]}@mail.example>\r\n"
        f"In-Reply-To: {in_reply_to}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text
    ).encode()


def test_the_example_configuration_gives_the_senders_and_the_tag() -> None:
    rules = classifier_rules(settings_with())
    assert rules.cur_addresses == ("cur@example.org",)
    assert rules.cur_domains == ("cur12.example.org",)
    assert set(rules.staff_addresses) == {
        "ivanova@kozmo.example", "petrov@kozmo.example", "sidorova@kozmo.example", "kuznetsov@kozmo.example",
    }
    assert rules.staff_domains == ("kozmo.example",)
    assert rules.own_addresses == ("adm@kozmo.example",)
    assert rules.case_tag == "KZM"


def test_configured_cur_senders_decide_what_is_cur_mail() -> None:
    rules = classifier_rules(settings_with(cur={"addresses": ["cur@gov12.example"], "domains": []}))
    approval = mail("cur@gov12.example", "Re: [KZM-7] Проект комментария", "Согласовано.")
    assert classify(parse_message(approval), rules).kind == "cur_approval"
    # The default ЦУР address is no longer the ЦУР: its «Согласовано» approves nothing.
    other = mail("cur@example.org", "Re: [KZM-7] Проект комментария", "Согласовано.")
    assert classify(parse_message(other), rules).kind != "cur_approval"


def test_a_configured_pattern_table_replaces_the_defaults_and_keeps_its_ignores() -> None:
    rules = classifier_rules(
        settings_with(
            classifier={
                "cur_patterns": [
                    {
                        "kind": "cur_approval",
                        "name": "approval-ok",
                        "keywords": ["согласовано", "ок"],
                        "reply_only": True,
                        "ignore": [r"прошу\s+согласовать"],
                    },
                ]
            }
        )
    )
    assert [p.name for p in rules.cur_patterns] == ["approval-ok"]
    ok = mail("cur@example.org", "Re: [KZM-7] Проект", "Ок")
    assert classify(parse_message(ok), rules).kind == "cur_approval"
    asking = mail("cur@example.org", "Re: [KZM-7] Проект", "Прошу согласовать с главой.")
    assert classify(parse_message(asking), rules).kind != "cur_approval"


def test_a_pattern_regex_that_does_not_compile_stops_the_start() -> None:
    with pytest.raises(ConfigError) as info:
        settings_with(
            classifier={"cur_patterns": [{"kind": "cur_remarks", "name": "bad", "ignore": ["без(замечаний"]}]}
        )
    assert "cur_patterns.0.ignore" in str(info.value) and "без(замечаний" in str(info.value)
