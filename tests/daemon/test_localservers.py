"""The demo's local servers: the mailbox adapter works against pymap, the SMTP sink records mail."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from daemon.errors import MailboxAuthError, MailboxGone
from daemon.localservers import LocalServers, start_local_servers
from daemon.mailbox import ImapEndpoint, Mailbox

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mailbox"
SIGNAL = (FIXTURES / "cur_signal.eml").read_bytes()
APPEAL = (FIXTURES / "appeal_cp1251.eml").read_bytes()


@pytest.fixture
def servers(tmp_path):
    running = start_local_servers(tmp_path)
    yield running
    running.stop()


def endpoint(servers: LocalServers, **changes) -> ImapEndpoint:
    fields = dict(
        host=servers.host, port=servers.imap_port, security="none",
        username=servers.user, password=servers.password, timeout=5,
    )
    return ImapEndpoint(**{**fields, **changes})


def test_login_select_append_and_fetch(servers):
    received = datetime(2025, 12, 2, 6, 12, tzinfo=UTC)
    with Mailbox(endpoint(servers)) as box:
        assert box.select().exists == 0
        box.append("INBOX", SIGNAL, flags=(), internal_date=received)
        box.append("INBOX", APPEAL, flags=())
        uids = box.uids_after(0)
        messages = list(box.fetch(uids))
        assert box.uids_after(uids[-1]) == []
    assert [m.raw for m in messages] == [SIGNAL, APPEAL]
    assert messages[0].internal_date == received and messages[0].size == len(SIGNAL)


def test_a_wrong_password_is_refused(servers):
    with pytest.raises(MailboxAuthError):
        Mailbox(endpoint(servers, password="wrong")).connect()


def test_keyword_and_move_marking(servers):
    with Mailbox(endpoint(servers)) as box:
        box.select()
        for raw in (SIGNAL, APPEAL, SIGNAL):
            box.append("INBOX", raw, flags=())
        first, second, third = box.uids_after(0)
        box.mark_processed([first], "keyword")
        assert box.uids_after(0, exclude_keyword="$Curmail") == [second, third]
        box.mark_processed([second], "move", folder="Обработано")
        assert box.uids_after(0) == [first, third]
    with Mailbox(endpoint(servers, folder="Обработано")) as archive:
        archive.select()
        assert [m.raw for m in archive.fetch(archive.uids_after(0))] == [APPEAL]


def test_append_without_a_folder_lands_in_sent(servers):
    with Mailbox(endpoint(servers)) as box:
        assert box.append(None, APPEAL) == "Sent"
    with Mailbox(endpoint(servers, folder="Sent")) as sent:
        sent.select()
        assert [m.raw for m in sent.fetch(sent.uids_after(0))] == [APPEAL]


def test_idle_wakes_on_an_append_from_another_session(servers):
    with Mailbox(endpoint(servers)) as box:
        box.select()
        assert box.has_idle
        assert box.idle_wait(0.2) is False

        def deliver() -> None:
            with Mailbox(endpoint(servers)) as other:
                other.append("INBOX", SIGNAL, flags=())

        timer = threading.Timer(0.2, deliver)
        timer.start()
        try:
            assert box.idle_wait(20) is True  # 20 s is a hang guard only
        finally:
            timer.join()
        assert len(box.uids_after(0)) == 1


def test_the_smtp_sink_records_what_was_sent_and_appends_nothing(servers):
    message = EmailMessage()
    message["From"] = "adm@kozmo.example"
    message["To"] = "prpress@gov.mari.ru"
    message["Subject"] = "[KZM-1] Официальный комментарий администрации"
    message["Message-ID"] = "<press-1@kozmo.example>"
    message.set_content("Водоснабжение на ул. Ленина восстановлено.")
    asyncio.run(aiosmtplib.send(
        message, hostname=servers.host, port=servers.smtp_port, start_tls=False,
        username=servers.user, password=servers.password, timeout=10,
    ))
    asyncio.run(aiosmtplib.send(message, hostname=servers.host, port=servers.smtp_port, start_tls=False, timeout=10))
    sent = servers.sent_messages()
    assert [m.message_id for m in sent] == ["<press-1@kozmo.example>"] * 2
    assert sent[0].rcpt_tos == ("prpress@gov.mari.ru",) and sent[0].mail_from == "adm@kozmo.example"
    with Mailbox(endpoint(servers, folder="Sent")) as box:
        assert box.select().exists == 0


def test_stop_ends_open_sessions_and_closes_both_ports(tmp_path):
    servers = start_local_servers(tmp_path)
    idle_client = Mailbox(endpoint(servers))
    idle_client.connect()
    idle_client.select()
    servers.stop()
    with pytest.raises(MailboxGone):
        idle_client.idle_wait(5)
    with pytest.raises(MailboxGone):
        Mailbox(endpoint(servers)).connect()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        asyncio.run(aiosmtplib.SMTP(hostname=servers.host, port=servers.smtp_port, timeout=3).connect())
