"""The IMAP adapter against a real Dovecot: login, search, fetch, marking, APPEND, IDLE, failures."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.errors import ConfigError, MailboxAuthError, MailboxError, MailboxGone
from daemon.mailbox import FetchedMessage, ImapEndpoint, Mailbox, _batches_by_size
from tests.support.dovecot import free_loopback_port
from tests.support.fixtures import new_account
from tests.support.need import missing

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mailbox"
SIGNAL = (FIXTURES / "cur_signal.eml").read_bytes()
APPEAL = (FIXTURES / "appeal_cp1251.eml").read_bytes()


def numbered(n: int) -> bytes:
    return (
        f"From: cur@example.org\r\nTo: adm@kozmo.example\r\nSubject: Сигнал {n}\r\n"
        f"Message-ID: <n{n}@cur12.example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Текст сигнала номер {n}.\r\n"
    ).encode()


def test_login_with_a_wrong_password_is_an_auth_error(imap_account):
    wrong = ImapEndpoint(**{**imap_account.endpoint.__dict__, "password": "not-the-password"})
    with pytest.raises(MailboxAuthError) as caught:
        Mailbox(wrong).connect()
    assert imap_account.user in str(caught.value)
    assert "not-the-password" not in str(caught.value)


def test_an_unreachable_port_is_mailbox_gone():
    endpoint = ImapEndpoint("127.0.0.1", free_loopback_port(), "none", "adm", "pw", timeout=3)
    with pytest.raises(MailboxGone):
        Mailbox(endpoint).connect()


def test_a_server_that_never_greets_times_out_as_mailbox_gone():
    # The kernel completes the TCP handshake for a listening socket nobody accepts from,
    # so only the read timeout can end the wait for the IMAP greeting.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        endpoint = ImapEndpoint("127.0.0.1", silent.getsockname()[1], "none", "adm", "pw", timeout=0.5)
        with pytest.raises(MailboxGone, match="timed out"):
            Mailbox(endpoint).connect()


def test_fetch_batches_are_bounded_by_count_and_bytes():
    sizes = {1: 10, 2: 35_000_000, 3: 10, 4: 10, 5: 10}
    # The oversized message travels alone; the others fill batches of at most three.
    assert list(_batches_by_size([1, 2, 3, 4, 5], sizes, 3, 1_000_000)) == [[1], [2], [3, 4, 5]]
    assert list(_batches_by_size([1, 3, 4, 5], sizes, 2, 1_000_000)) == [[1, 3], [4, 5]]


def test_plaintext_to_a_remote_host_is_refused():
    with pytest.raises(ConfigError, match="none"):
        ImapEndpoint("imap.kozmo.example", 143, "none", "adm", "pw")
    assert ImapEndpoint("::1", 143, "none", "adm", "pw").security == "none"
    assert ImapEndpoint("localhost", 143, "none", "adm", "pw").security == "none"


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_logins_with_a_trusted_certificate(imap_account, security):
    server = imap_account.server
    if not server.tls:
        missing("openssl is absent, so the test Dovecot has no certificate")
    port = server.imaps_port if security == "ssl" else server.port
    endpoint = ImapEndpoint(**{
        **imap_account.endpoint.__dict__, "port": port, "security": security, "ssl_context": server.ssl_context(),
    })
    server.append(imap_account.user, SIGNAL)
    with Mailbox(endpoint) as box:
        box.select()
        assert [m.raw for m in box.fetch(box.uids_after(0))] == [SIGNAL]


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_an_untrusted_certificate_is_refused_before_login(imap_account, security):
    server = imap_account.server
    if not server.tls:
        missing("openssl is absent, so the test Dovecot has no certificate")
    port = server.imaps_port if security == "ssl" else server.port
    endpoint = ImapEndpoint(**{**imap_account.endpoint.__dict__, "port": port, "security": security})
    with pytest.raises(MailboxError, match="сертификат") as caught:
        Mailbox(endpoint).connect()
    assert not isinstance(caught.value, (MailboxGone, MailboxAuthError))


def test_the_password_is_not_in_repr(imap_account):
    assert imap_account.password not in repr(imap_account.endpoint)
    assert imap_account.password not in repr(Mailbox(imap_account.endpoint))


def test_select_reports_uidvalidity_uidnext_and_count(imap_account):
    imap_account.server.append_many(imap_account.user, [SIGNAL, APPEAL])
    with Mailbox(imap_account.endpoint) as box:
        state = box.select()
        assert "IDLE" in box.capabilities and box.has_idle
    assert state.uidvalidity == imap_account.server.uidvalidity(imap_account.user)
    assert state.exists == 2
    assert state.uidnext == 3


def test_fetch_returns_raw_bytes_sizes_and_internaldate_in_batches(imap_account):
    received = datetime(2025, 12, 2, 6, 12, 30, tzinfo=UTC)
    server, user = imap_account.server, imap_account.user
    server.append(user, SIGNAL, internal_date=received)
    server.append(user, APPEAL, internal_date=received + timedelta(hours=1))
    server.append_many(user, [numbered(i) for i in range(5)], internal_date=received + timedelta(days=1))
    with Mailbox(imap_account.endpoint) as box:
        box.select()
        uids = box.uids_after(0)
        # Batches of two, and a byte limit that forces the signal to travel alone.
        messages = list(box.fetch(uids, batch_count=2, batch_bytes=len(SIGNAL)))
    assert [m.uid for m in messages] == uids == list(range(1, 8))
    first, second = messages[0], messages[1]
    assert first == FetchedMessage(uid=1, internal_date=received, size=len(SIGNAL), raw=SIGNAL)
    assert second.raw == APPEAL and second.internal_date == received + timedelta(hours=1)
    assert all(m.internal_date.utcoffset() == timedelta(0) for m in messages)
    # BODY.PEEK[] must not have marked anything \Seen.
    assert all("\\Seen" not in flags for flags in server.flags(user).values())


def test_fetch_skips_uids_that_do_not_exist(imap_account):
    imap_account.server.append_many(imap_account.user, [numbered(1), numbered(2)])
    with Mailbox(imap_account.endpoint) as box:
        box.select()
        assert [m.uid for m in box.fetch([1, 2, 40])] == [1, 2]
        assert box.fetch_sizes([2, 40]) == {2: len(numbered(2))}


def test_uids_after_the_last_one_is_empty_despite_the_star_rule(imap_account):
    imap_account.server.append_many(imap_account.user, [numbered(1), numbered(2), numbered(3)])
    with Mailbox(imap_account.endpoint) as box:
        box.select()
        assert box.uids_after(0) == [1, 2, 3]
        assert box.uids_after(2) == [3]
        # "UID 4:*" on a server whose highest UID is 3 matches UID 3; the adapter drops it.
        assert box.uids_after(3) == []
        assert box.uids_after(100) == []


def test_keyword_marking_hides_messages_from_the_next_search(imap_account):
    server, user = imap_account.server, imap_account.user
    server.append_many(user, [numbered(i) for i in range(4)])
    with Mailbox(imap_account.endpoint) as box:
        box.select()
        box.mark_processed([1, 3], "keyword")
        assert box.uids_after(0, exclude_keyword="$Curmail") == [2, 4]
    flags = server.flags(user)
    assert "$Curmail" in flags[1] and "$Curmail" in flags[3]
    assert "$Curmail" not in flags[2] and "\\Seen" not in flags[1]


def test_seen_marking(imap_account):
    server, user = imap_account.server, imap_account.user
    server.append_many(user, [numbered(1), numbered(2)])
    with Mailbox(imap_account.endpoint) as box:
        box.select()
        box.mark_processed([2], "seen")
    flags = server.flags(user)
    assert "\\Seen" in flags[2] and "\\Seen" not in flags[1]


@pytest.mark.parametrize("server_has_move", [True, False], ids=["MOVE", "COPY+EXPUNGE"])
def test_move_marking_creates_the_folder_and_empties_the_inbox(imap_account, server_has_move):
    server, user = imap_account.server, imap_account.user
    server.append_many(user, [numbered(1), numbered(2), numbered(3)])
    with Mailbox(imap_account.endpoint) as box:
        box.select()
        if not server_has_move:
            box._capabilities = box.capabilities - {"MOVE"}
        box.mark_processed([1, 2], "move", folder="Обработано")
        assert box.uids_after(0) == [3]
    moved = server.list_messages(user, "Обработано")
    assert [m.raw for m in moved] == [numbered(1), numbered(2)]
    assert [m.raw for m in server.list_messages(user)] == [numbered(3)]


def test_append_discovers_the_special_use_sent_folder(imap_account):
    server, user = imap_account.server, imap_account.user
    sent_at = datetime(2025, 12, 2, 7, 0, tzinfo=UTC)
    with Mailbox(imap_account.endpoint) as box:
        folder = box.append(None, APPEAL, internal_date=sent_at)
    assert folder == "Sent"
    [stored] = server.list_messages(user, "Sent")
    assert stored.raw == APPEAL and "\\Seen" in stored.flags
    assert stored.internal_date == sent_at


def test_append_creates_a_configured_folder_that_is_missing(imap_account):
    server, user = imap_account.server, imap_account.user
    with Mailbox(imap_account.endpoint) as box:
        assert box.append("Отправленные curmail", SIGNAL) == "Отправленные curmail"
    assert "Отправленные curmail" in server.folders(user)
    assert [m.raw for m in server.list_messages(user, "Отправленные curmail")] == [SIGNAL]


def test_idle_wakes_when_mail_arrives(imap_account):
    server, user = imap_account.server, imap_account.user
    with Mailbox(imap_account.endpoint) as box:
        box.select()
        assert box.idle_wait(0.3) is False
        timer = threading.Timer(0.3, server.append, args=(user, SIGNAL))
        timer.start()
        try:
            # 20 s is a hang guard only; Dovecot reports the APPEND within about a second.
            assert box.idle_wait(20) is True
        finally:
            timer.join()
        assert box.uids_after(0) == [1]


def test_polling_without_idle_reports_new_mail_via_noop(imap_account):
    with Mailbox(imap_account.endpoint) as box:
        box.select()
        box._capabilities = box.capabilities - {"IDLE"}
        imap_account.server.append(imap_account.user, SIGNAL)
        assert box.idle_wait(0.1) is True
        assert box.idle_wait(0.1) is False


def test_a_restarted_server_is_mailbox_gone_then_reconnect_works(private_dovecot):
    account = new_account(private_dovecot, timeout=5)
    private_dovecot.append(account.user, SIGNAL)
    box = Mailbox(account.endpoint)
    box.connect()
    assert box.select().exists == 1
    private_dovecot.restart()
    with pytest.raises(MailboxGone):
        box.select()
    assert not box.connected
    box.connect()
    assert [m.raw for m in box.fetch(box.uids_after(0))] == [SIGNAL]
    box.close()


def test_idle_on_a_stopped_server_is_mailbox_gone(private_dovecot):
    account = new_account(private_dovecot, timeout=5)
    with Mailbox(account.endpoint) as box:
        box.select()
        threading.Timer(0.3, private_dovecot.stop).start()
        with pytest.raises(MailboxGone):
            box.idle_wait(20)
    private_dovecot.start()


def test_a_uidvalidity_change_is_visible_and_the_messages_survive(private_dovecot):
    account = new_account(private_dovecot)
    private_dovecot.append_many(account.user, [numbered(1), numbered(2)])
    with Mailbox(account.endpoint) as box:
        before = box.select().uidvalidity
    after = private_dovecot.change_uidvalidity(account.user)
    with Mailbox(account.endpoint) as box:
        state = box.select()
        raws = sorted(m.raw for m in box.fetch(box.uids_after(0)))
    assert state.uidvalidity == after != before
    assert raws == sorted([numbered(1), numbered(2)])


def test_fast_delivery_into_maildir_keeps_the_mtime_as_internaldate(imap_account):
    received = datetime(2025, 11, 28, 12, 0, tzinfo=UTC)
    imap_account.server.deliver_files(imap_account.user, [numbered(i) for i in range(3)], mtime=received)
    with Mailbox(imap_account.endpoint) as box:
        box.select()
        messages = list(box.fetch(box.uids_after(0)))
    assert sorted(m.raw for m in messages) == sorted(numbered(i) for i in range(3))
    assert {m.internal_date for m in messages} == {received}


def test_commands_before_connect_are_mailbox_gone(imap_account):
    box = Mailbox(imap_account.endpoint)
    with pytest.raises(MailboxGone):
        box.select()


def test_a_missing_folder_is_a_mailbox_error(imap_account):
    endpoint = ImapEndpoint(**{**imap_account.endpoint.__dict__, "folder": "Нет такой"})
    with Mailbox(endpoint) as box, pytest.raises(MailboxError) as caught:
        box.select()
    assert not isinstance(caught.value, MailboxGone)
