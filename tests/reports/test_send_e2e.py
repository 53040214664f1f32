"""`#отправить` end to end over Dovecot and aiosmtpd: the draft goes out, the contact official's reply comes in
through IMAP, the command executor (daemon.commands) runs it, and the report goes to the ЦУР; the same
command from the supervisor is refused with the reason and sends nothing.
"""

from __future__ import annotations

import email
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select

from daemon.db.models import Case, CaseEvent
from daemon.reports import obligations
from tests.reports.seed import msk
from tests.support.env import CurmailEnv

CONTACT = "ivanova@kozmo.example"
SUPERVISOR = "sidorova@kozmo.example"
CUR = "cur@example.org"


def received(env: CurmailEnv, to: str) -> list[email.message.EmailMessage]:
    """Letters to `to` about the report (the daily digests and the deadline's calendar invitation aside)."""
    letters = [email.message_from_bytes(m.raw, policy=policy.default) for m in env.smtp.messages if to in m.rcpt_tos]
    return [m for m in letters if not str(m["Subject"]).startswith(("Сводка на", "Ваши дела на"))
            and "Срок в календарь" not in str(m["Subject"]) and "Срок снят с календаря" not in str(m["Subject"])]


def reply(to_letter: email.message.EmailMessage, sender: str, name: str, text: str, when: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = "adm@kozmo.example"
    msg["Subject"] = "Re: " + str(to_letter["Subject"])
    msg["Message-ID"] = make_msgid(domain="kozmo.example")
    msg["In-Reply-To"] = to_letter["Message-ID"]
    msg["References"] = to_letter["Message-ID"]
    msg["Date"] = format_datetime(when)
    msg.set_content(text)
    return msg.as_bytes()


def files_of(msg: email.message.EmailMessage) -> dict[str, bytes]:
    return {p.get_filename(): p.get_content() for p in msg.iter_attachments()}


def body_of(msg: email.message.EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()


def test_contact_officials_send_reply_mails_the_report_to_the_cur(env: CurmailEnv) -> None:
    obligations.tick(env.app(msk(2026, 7, 1, 9, 0)))
    env.run_once(msk(2026, 7, 1, 9, 1))
    (draft,) = received(env, CONTACT)
    assert set(files_of(draft)) == {"statistika-2026Q2.xlsx", "dela-2026Q2.csv", "svodka-2026Q2.txt"}

    when = msk(2026, 7, 2, 10, 0)
    env.deliver(reply(draft, CONTACT, "Иванова Мария Петровна", "#отправить\n\nС уважением,\nИванова М. П.\n",
                      when), internal_date=when)
    env.run_once(when)
    env.run_once(msk(2026, 7, 2, 10, 1))  # the outbox: the report and the command's answer

    (final,) = received(env, CUR)
    assert "статистика работы с обращениями за II квартал 2026 г." in str(final["Subject"])
    assert files_of(final) == files_of(draft)  # exactly what the official reviewed
    answer = received(env, CONTACT)[-1]
    assert "направлен в ЦУР (cur@example.org)" in body_of(answer)
    app = env.app(msk(2026, 7, 2, 10, 2))
    with app.sessions() as session:
        case = session.scalars(select(Case).where(Case.kind == "report")).one()
        assert (case.state, case.outcome, case.data["sent_by"]) == ("closed", "sent", CONTACT)


def test_send_from_the_supervisor_is_refused_with_the_reason(env: CurmailEnv) -> None:
    obligations.tick(env.app(msk(2026, 7, 1, 9, 0)))
    obligations.tick(env.app(msk(2026, 7, 6, 9, 0)))  # the escalation reaches the supervisor
    env.run_once(msk(2026, 7, 6, 9, 1))
    (escalation,) = received(env, SUPERVISOR)
    when = msk(2026, 7, 6, 9, 30)
    env.deliver(reply(escalation, SUPERVISOR, "Сидорова Анна Викторовна", "#отправить\n", when), internal_date=when)
    env.run_once(when)
    env.run_once(msk(2026, 7, 6, 9, 31))

    assert received(env, CUR) == []
    answer = received(env, SUPERVISOR)[-1]
    text = " ".join(body_of(answer).split())
    assert "отклонено" in text and "только контактное должностное лицо" in text
    assert "Иванова Мария Петровна" in text
    app = env.app(msk(2026, 7, 6, 9, 32))
    with app.sessions() as session:
        case = session.scalars(select(Case).where(Case.kind == "report")).one()
        assert case.state == "assigned"
        refusals = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                           CaseEvent.action == "command_refused")).all()
        assert [e.actor for e in refusals] == [SUPERVISOR]
