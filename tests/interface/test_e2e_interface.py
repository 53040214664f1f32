"""The e-mail interface end to end: mail goes in through Dovecot (IMAP), curmail's answers come out through aiosmtpd.

Every assertion reads what a person would get in their mail client: the letters in the SMTP sink.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import dkim
import icalendar
import pytest
from sqlalchemy import select

from daemon import auth
from daemon.db.models import Case, CaseEvent
from tests.interface.clients import CLIENTS, client_mail
from tests.support.env import CurmailEnv
from tests.workflow.conftest import CONTACT, CUR, MSK, OFFICIAL, PRESS, SUPERVISOR, WEB_EDITOR, msk, set_headers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OUR_MTA = "mx.kozmo.example"
SIGNAL_AT = msk(2026, 12, 3, 12, 42)


@dataclass
class Post:
    """Mail in through Dovecot at a given time, one `curmail run --once` at a given time, letters out of the sink."""

    env: CurmailEnv
    read: int = 0
    numbers: dict[str, int] = field(default_factory=dict)

    def send(self, raw: bytes, at: datetime) -> None:
        self.env.deliver(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), internal_date=at)
        self.env.run_once(now=at + timedelta(minutes=1))

    def fixture(self, name: str, at: datetime, reply_to: EmailMessage | None = None, **headers: str) -> None:
        raw = (FIXTURES / "workflow" / name).read_bytes()
        changes = {k.replace("_", "-"): v for k, v in headers.items()}
        if reply_to is not None:
            changes["In-Reply-To"] = changes["References"] = reply_to["Message-ID"]
        self.send(set_headers(raw, changes) if changes else raw, at)

    def letters(self, to: str | None = None, subject: str = "") -> list[EmailMessage]:
        found = [email.message_from_bytes(m.raw, policy=policy.default) for m in self.env.smtp.messages
                 if to is None or to in m.rcpt_tos]
        return [m for m in found if subject in str(m["Subject"])]

    def one(self, to: str, subject: str) -> EmailMessage:
        (letter,) = self.letters(to, subject)
        return letter

    def new(self) -> list[tuple[tuple[str, ...], EmailMessage]]:
        """Letters sent since the last call, with their envelope recipients."""
        fresh = self.env.smtp.messages[self.read:]
        self.read += len(fresh)
        return [(m.rcpt_tos, email.message_from_bytes(m.raw, policy=policy.default)) for m in fresh]

    def cases(self) -> list[Case]:
        with self.env.reader().sessions() as session:
            return list(session.scalars(select(Case).order_by(Case.id)))

    def events(self, action: str) -> list[CaseEvent]:
        with self.env.reader().sessions() as session:
            return list(session.scalars(select(CaseEvent).where(CaseEvent.action == action).order_by(CaseEvent.id)))


def text_of(letter: EmailMessage) -> str:
    return re.sub(r"\s+", " ", letter.get_body(("plain",)).get_content())


def html_of(letter: EmailMessage) -> str:
    return letter.get_body(("html",)).get_content()


def calendars(letters: list[EmailMessage]) -> list[icalendar.Calendar]:
    found = []
    for letter in letters:
        for part in letter.iter_attachments():
            if part.get_content_type() == "text/calendar":
                assert part.get_param("method") in ("REQUEST", "CANCEL")
                found.append(icalendar.Calendar.from_ical(part.get_payload(decode=True)))
    return found


def vevent(calendar: icalendar.Calendar) -> icalendar.Event:
    (event,) = calendar.walk("VEVENT")
    return event


@pytest.fixture
def post(env: CurmailEnv) -> Post:
    return Post(env)


def open_signal(post: Post) -> EmailMessage:
    """The ЦУР signal; returns curmail's letter about it to the contact official."""
    post.fixture("signal.eml", SIGNAL_AT)
    return post.one(CONTACT, "Сигнал ЦУР")


# ---------------------------------------------------------------- every staff command, from every client


STAFF_LINES = [
    ("#статус", "#status", "состояние: назначено исполнителю"),
    ("#тема ЖКХ, отопление", "#topic ЖКХ, отопление", "тема дела: ЖКХ, отопление"),
    ("#срок 10.12.2026 15:00", "#due 10.12.2026 15:00", "срок установлен: 10.12.2026 15:00 (МСК)"),
    ("#назначить Сидорова", "#assign sidorova@kozmo.example", "дело передано: Сидорова Анна Викторовна"),
    ("#список", "#list", "все открытые дела: 1: [KZM-1]"),
    ("#мои", "#mine", "мои открытые дела: открытых дел нет"),
    ("#помощь", "#help", "справка — в конце письма"),
    ("#закрыть дан ответ", "#close дан ответ", "дело закрыто; итог: дан ответ"),
    ("#открыть", "#reopen", "дело открыто снова; срок 10.12.2026 15:00 (МСК)"),
    ("#отчёт 4 2026", "#report 4 2026", "отчёт за"),
]


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_every_staff_command_from_each_client_is_run_and_echoed(post: Post, client: str):
    notice = open_signal(post)
    english = sorted(CLIENTS).index(client) % 2 == 1  # half the clients write English spellings
    lines = [en if english else ru for ru, en, _ in STAFF_LINES]
    post.send(client_mail(client, lines, sender=CONTACT, subject=f"RE: {notice['Subject']}",
                          in_reply_to=notice["Message-ID"]), msk(2026, 12, 3, 13, 0))
    answer = post.one(CONTACT, "Обработано:")
    assert answer["Subject"].startswith("[KZM-1] Обработано: ")
    assert answer["In-Reply-To"] == f"<client-{_number(answer)}@client.example>"
    text = text_of(answer)
    for line, (_, _, result) in zip(lines, STAFF_LINES, strict=True):
        assert f"> {line} ✓" in text and result in text.split(f"> {line} ✓", 1)[1], (line, text)
    assert "#закрыть" not in text.split("Справка")[0].replace("> #закрыть дан ответ", "").replace(
        "> #close дан ответ", "")  # the quoted «#закрыть» was not run
    (case,) = post.cases()
    assert (case.state, case.assignee, case.topic) == ("assigned", SUPERVISOR, "ЖКХ, отопление")
    assert post.one(SUPERVISOR, "Вам передано дело")
    (report,) = post.letters(CONTACT, "Статистика работы с обращениями за IV квартал 2026")
    assert any(part.get_filename().endswith(".xlsx") for part in report.iter_attachments())


def _number(letter: EmailMessage) -> str:
    return re.search(r"client-(\d+)@", letter["In-Reply-To"]).group(1)
