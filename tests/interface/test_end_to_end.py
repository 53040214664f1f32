"""The interface over real servers: a signal and a command reply through Dovecot, the answers through aiosmtpd."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy

from tests.interface.conftest import FIXTURES, command_mail
from tests.support.env import CurmailEnv


def sent_to(env: CurmailEnv, address: str) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.raw, policy=policy.default) for m in env.smtp.messages
            if address in m.rcpt_tos]


def test_a_command_reply_through_dovecot_is_executed_and_answered_in_its_thread(env: CurmailEnv):
    received = datetime.now(UTC) - timedelta(minutes=30)  # Dovecot ignores APPEND dates in the future
    env.deliver((FIXTURES / "workflow" / "signal.eml").read_bytes(), internal_date=received)
    env.run_once()
    letters = sent_to(env, "petrov@kozmo.example")
    (notice,) = [m for m in letters if "Сигнал ЦУР" in m["Subject"]]
    assert notice["Subject"].startswith("[KZM-1] ")
    assert any("Срок в календарь" in m["Subject"] for m in letters)

    raw = command_mail("thunderbird_flowed.eml", sender="petrov@kozmo.example", case_id=1,
                       reply_to=notice["Message-ID"])
    env.deliver(raw, internal_date=received + timedelta(minutes=5))
    env.run_once()
    answers = [m for m in sent_to(env, "petrov@kozmo.example") if "Обработано:" in m["Subject"]]
    (answer,) = answers
    command_id = email.message_from_bytes(raw, policy=policy.default)["Message-ID"]
    assert answer["In-Reply-To"] == command_id
    text = answer.get_body(("plain",)).get_content()
    assert "#назначить sidorova@kozmo.example" in text and "дело передано" in text
    handed = [m for m in sent_to(env, "sidorova@kozmo.example") if "Вам передано дело" in m["Subject"]]
    assert len(handed) == 1
    calendars = [p for m in sent_to(env, "sidorova@kozmo.example") for p in m.iter_attachments()
                 if p.get_content_type() == "text/calendar"]
    assert calendars and calendars[0].get_param("method") == "REQUEST"
