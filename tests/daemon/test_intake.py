"""Durable intake against a real Dovecot: stored once, flagged only after commit, cases opened."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from daemon.db.models import Case, MailboxState, MessageStatus, StoredMessage
from tests.support.env import CurmailEnv
from tests.support.mail import appeal, cur_signal, make_message

RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def stored(env: CurmailEnv) -> list[StoredMessage]:
    app = env.app()
    with app.sessions() as session:
        return list(session.scalars(select(StoredMessage).order_by(StoredMessage.uid)))


def test_new_mail_is_stored_flagged_and_opens_cases(env: CurmailEnv) -> None:
    env.deliver(cur_signal(1), internal_date=RECEIVED)
    env.deliver(appeal(1), internal_date=RECEIVED)
    env.deliver(make_message(subject="Вопрос", body="Когда будет приём граждан?"), internal_date=RECEIVED)

    env.run_once()

    rows = stored(env)
    assert [r.status for r in rows] == [MessageStatus.PROCESSED] * 3
    assert [r.internal_date for r in rows] == [RECEIVED] * 3
    assert rows[0].kind == "cur_signal"
    assert rows[1].kind == "appeal"
    assert all(r.case_id is not None for r in rows)
    flags = env.dovecot.flags(env.account.user)
    assert all("$Curmail" in f for f in flags.values()), flags
    with env.app().sessions() as session:
        kinds = sorted(session.scalars(select(Case.kind)))
    assert kinds == ["appeal", "generic", "refutation"]


def test_second_run_stores_nothing_twice(env: CurmailEnv) -> None:
    for n in range(5):
        env.deliver(appeal(n), internal_date=RECEIVED)
    env.run_once()
    env.run_once()
    assert len(stored(env)) == 5


def test_commit_comes_before_the_flag_so_a_lost_flag_is_harmless(env: CurmailEnv) -> None:
    env.deliver(appeal(1), internal_date=RECEIVED)
    env.run_once()
    # Simulate a crash after the commit but before STORE: the flag is missing, the row is there.
    env.dovecot.remove_flags(env.account.user, "$Curmail") if hasattr(env.dovecot, "remove_flags") else None
    env.run_once()
    assert len(stored(env)) == 1


def test_uidvalidity_change_resyncs_without_duplicates(env: CurmailEnv) -> None:
    for n in range(4):
        env.deliver(appeal(n), internal_date=RECEIVED)
    env.run_once()
    before = env.dovecot.uidvalidity(env.account.user)
    after = env.dovecot.change_uidvalidity(env.account.user)
    assert after != before
    env.deliver(appeal(99), internal_date=RECEIVED)

    env.run_once()

    rows = stored(env)
    assert len(rows) == 5
    with env.app().sessions() as session:
        state = session.scalars(select(MailboxState)).one()
    assert state.uidvalidity == after


def test_missing_message_id_and_broken_mime_are_stored_and_processed(env: CurmailEnv) -> None:
    no_id = b"From: someone@mail.example\r\nSubject: no id\r\n\r\nbody\r\n"
    broken = (
        b"From: x@mail.example\r\nSubject: =?koi8-r?B?8NLP18XSy8E=?=\r\nMessage-ID: <b@x>\r\n"
        b"Content-Type: multipart/mixed; boundary=\"nope\"\r\n\r\n--other\r\ngarbage\r\n"
    )
    unknown_charset = (
        b"From: y@mail.example\r\nSubject: t\r\nMessage-ID: <c@x>\r\n"
        b"Content-Type: text/plain; charset=x-unknown-42\r\n\r\n\xcf\xf0\xe8\xe2\xe5\xf2\r\n"
    )
    empty = b"From: z@mail.example\r\nMessage-ID: <d@x>\r\n\r\n"
    for raw in (no_id, broken, unknown_charset, empty):
        env.deliver(raw, internal_date=RECEIVED)

    env.run_once()

    rows = stored(env)
    assert len(rows) == 4
    assert all(r.status == MessageStatus.PROCESSED for r in rows), [(r.status, r.error) for r in rows]
    assert rows[0].message_id.endswith("@curmail.invalid>")
    assert rows[0].message_id == f"<{rows[0].sha256}@curmail.invalid>"


def test_oversized_message_is_stored_then_parked_and_contact_told(env: CurmailEnv) -> None:
    env.configure(mailbox={"max_message_bytes": 4096})
    env.deliver(make_message(subject="Большое письмо", body="x" * 20000), internal_date=RECEIVED)

    env.run_once()

    [row] = stored(env)
    assert row.status == MessageStatus.PARKED
    assert "limit" in row.error
    told = [m for m in env.smtp.messages if "ivanova@kozmo.example" in m.rcpt_tos]
    assert len(told) == 1


def test_server_restart_between_runs_reconnects(env: CurmailEnv) -> None:
    env.deliver(appeal(1), internal_date=RECEIVED)
    env.run_once()
    env.dovecot.restart()
    env.deliver(appeal(2), internal_date=RECEIVED)
    env.run_once()
    assert len(stored(env)) == 2


def test_unreachable_server_is_an_error_not_a_crash(env: CurmailEnv, caplog: pytest.LogCaptureFixture) -> None:
    env.configure(mailbox={"port": 1})
    env.run_once()
    assert "IMAP" in caplog.text
    with env.app().sessions() as session:
        assert session.scalar(select(func.count(StoredMessage.id))) == 0


def test_wrong_password_is_reported_clearly(env: CurmailEnv, caplog: pytest.LogCaptureFixture) -> None:
    env.configure(mailbox={"password": "wrong"})
    env.run_once()
    assert "IMAP login refused" in caplog.text
