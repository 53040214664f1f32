"""Header and template injection, end to end: hostile mail through intake, workflow and outbox to the SMTP sink.

The hostile inputs are real .eml files in tests/fixtures/security/. The subject carries the encoded
word `=?utf-8?q?a=0ABcc:_evil@x?=` that CPython 3.11.7 decodes into a real line feed (gh-121650);
the sender's display name carries an encoded CR LF. The Jinja signal quotes `{{ 7*7 }}`, a `{% for %}`
loop and a sandbox escape attempt in its subject and text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import compat32, default
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import undefer

from daemon.db.models import OutboxMessage
from parsers import parse_message
from tests.support.env import CurmailEnv

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "security"
RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def outgoing(env: CurmailEnv) -> list[OutboxMessage]:
    with env.app().sessions() as session:
        return list(session.scalars(select(OutboxMessage).options(undefer(OutboxMessage.raw))))


def header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def header_names(raw: bytes) -> list[str]:
    return [name.lower() for name in BytesParser(policy=compat32).parsebytes(raw, headersonly=True)]


def test_the_fixture_does_inject_through_the_stdlib_and_the_parser_defuses_it() -> None:
    """gh-121650: the stdlib's decoded Subject carries a real LF; parse_message's must not."""
    raw = (FIXTURES / "signal_header_injection.eml").read_bytes()
    stdlib_subject = str(BytesParser(policy=default).parsebytes(raw)["Subject"])
    assert "\nBcc: evil@x" in stdlib_subject  # the hostile input really is hostile on this Python
    pm = parse_message(raw)
    assert "\n" not in pm.subject and "\r" not in pm.subject and "\n" not in pm.from_name
    assert pm.from_addr == "cur@example.org"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_encoded_cr_lf_in_subject_and_display_name_never_reaches_an_outgoing_header(env: CurmailEnv) -> None:
    env.deliver((FIXTURES / "signal_header_injection.eml").read_bytes(), internal_date=RECEIVED)
    env.run_once(RECEIVED + timedelta(minutes=1))
    env.run_once(RECEIVED + timedelta(hours=3, minutes=1))  # the escalation repeats the subject too

    rows = outgoing(env)
    assert {r.kind for r in rows} >= {"refutation_new", "escalation"}
    delivered = [m.raw for m in env.smtp.messages]
    assert len(delivered) == len(rows)
    for raw in [r.raw for r in rows] + delivered:
        names = header_names(raw)
        assert "bcc" not in names and "x-injected" not in names, names
        head = header_block(raw)
        for line in head.split(b"\r\n"):
            assert b"\n" not in line and b"\r" not in line  # only CRLF separates (folded) lines
            assert not line.lower().startswith((b"bcc:", b"x-injected:"))
    for row in rows:
        assert "\n" not in row.subject and "\r" not in row.subject
    assert all("evil" not in recipient for m in env.smtp.messages for recipient in m.rcpt_tos)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_jinja_syntax_in_a_citizens_text_stays_text(env: CurmailEnv) -> None:
    env.deliver((FIXTURES / "signal_jinja.eml").read_bytes(), internal_date=RECEIVED)
    env.run_once(RECEIVED + timedelta(minutes=1))

    rows = [r for r in outgoing(env) if r.kind == "refutation_new"]
    assert rows
    for row in rows:
        letter = parse_message(row.raw)
        assert "{{ 7*7 }}" in letter.text and "{% for x in range(3) %}мусор{% endfor %}" in letter.text
        assert "{{ ''.__class__.__mro__ }}" in letter.text and "{{ config }}" in letter.text
        assert "мусормусормусор" not in letter.text and "<class" not in letter.text
        assert "Подслушано 49" not in letter.text
        assert "{{ 7*7 }}" in letter.subject and "{% raw %}" in letter.subject
