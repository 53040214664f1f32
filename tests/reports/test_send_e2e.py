"""`#отправить` end to end: the draft over aiosmtpd, the official's reply through Dovecot into the report case,
then the report to the ЦУР over aiosmtpd.

The command executor (daemon/commands*) has not landed yet, so the test runs the action the
executor will run for `#отправить` on a report case, `send_quarterly`, for the sender of the reply
that curmail read from Dovecot and threaded into the case.
"""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select

from daemon.db.models import Case, StoredMessage
from daemon.reports import obligations
from tests.reports.seed import msk
from tests.support.env import CurmailEnv

CONTACT = "ivanova@kozmo.example"
CUR = "cur@example.org"


def test_send_command_goes_from_the_contact_officials_reply_to_the_cur(env: CurmailEnv) -> None:
    obligations.tick(env.app(msk(2026, 7, 1, 9, 0)))
    env.run_once(msk(2026, 7, 1, 9, 1))
    (draft,) = [m for m in env.smtp.messages if CONTACT in m.rcpt_tos]
    parsed = email.message_from_bytes(draft.raw, policy=policy.default)
    assert {p.get_filename() for p in parsed.iter_attachments()} == {
        "statistika-2026Q2.xlsx", "dela-2026Q2.csv", "svodka-2026Q2.txt"}

    reply = EmailMessage()
    reply["From"] = f"Иванова Мария Петровна <{CONTACT}>"
    reply["To"] = "adm@kozmo.example"
    reply["Subject"] = "Re: " + str(parsed["Subject"])
    reply["Message-ID"] = make_msgid(domain="kozmo.example")
    reply["In-Reply-To"] = parsed["Message-ID"]
    reply["References"] = parsed["Message-ID"]
    reply["Date"] = format_datetime(msk(2026, 7, 2, 10, 0))
    reply.set_content("#отправить\n\nС уважением,\nИванова М. П.\n")
    env.deliver(reply.as_bytes(), internal_date=msk(2026, 7, 2, 10, 0))
    env.run_once(msk(2026, 7, 2, 10, 0))

    app = env.app(msk(2026, 7, 2, 10, 1))
    with app.sessions() as session, session.begin():
        (case,) = session.scalars(select(Case).where(Case.kind == "report")).all()
        (row,) = session.scalars(select(StoredMessage).where(StoredMessage.from_addr == CONTACT)).all()
        assert row.case_id == case.id  # threaded into the report case by its tag and our Message-ID
        assert row.kind == "command"
        result = obligations.send_quarterly(session, app, case, row.from_addr)
    assert "направлен в ЦУР" in result
    env.run_once(msk(2026, 7, 2, 10, 2))

    (final,) = [m for m in env.smtp.messages if CUR in m.rcpt_tos]
    sent = email.message_from_bytes(final.raw, policy=policy.default)
    assert "статистика работы с обращениями за II квартал 2026 г." in str(sent["Subject"])
    files = {p.get_filename(): p.get_content() for p in sent.iter_attachments()}
    reviewed = {p.get_filename(): p.get_content() for p in parsed.iter_attachments()}
    assert files == reviewed
