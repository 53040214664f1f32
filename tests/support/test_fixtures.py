"""The test servers themselves: the SMTP sink's programmable answers, PostgreSQL databases."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import aiosmtplib
import pytest
import sqlalchemy

from tests.support.smtp import SmtpSink


def letter(n: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "adm@kozmo.example"
    message["To"] = "cur@example.org"
    message["Subject"] = f"[KZM-{n}] Проект официального комментария"
    message["Message-ID"] = f"<out-{n}@kozmo.example>"
    message.set_content("Проект комментария: водоснабжение на ул. Ленина восстановят к 18:00.")
    return message


def send(sink: SmtpSink, message: EmailMessage, **options) -> tuple:
    return asyncio.run(
        aiosmtplib.send(
            message, hostname=sink.host, port=sink.port, start_tls=False, timeout=options.pop("timeout", 10),
            **options,
        )
    )


def test_the_sink_records_envelope_bytes_and_message_id(smtp_sink):
    send(smtp_sink, letter(1), recipients=["cur@example.org", "prpress@gov.mari.ru"])
    [received] = smtp_sink.messages
    assert received.mail_from == "adm@kozmo.example"
    assert received.rcpt_tos == ("cur@example.org", "prpress@gov.mari.ru")
    assert received.message_id == "<out-1@kozmo.example>"
    assert "водоснабжение".encode() in received.raw or b"utf-8" in received.raw
    assert received.auth_login is None


def test_421_for_the_next_two_attempts_then_recovery(smtp_sink):
    smtp_sink.fail_temporarily(2)
    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
            send(smtp_sink, letter(2))
        assert caught.value.code == 421
    send(smtp_sink, letter(2))
    assert [a.outcome for a in smtp_sink.attempts] == ["temporary", "temporary", "accepted"]
    assert [m.message_id for m in smtp_sink.messages] == ["<out-2@kozmo.example>"]


def test_550_until_told_to_accept(smtp_sink):
    smtp_sink.reject()
    with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
        send(smtp_sink, letter(3))
    assert caught.value.code == 550
    assert smtp_sink.messages == []
    smtp_sink.accept()
    send(smtp_sink, letter(3))
    assert len(smtp_sink.messages) == 1


def test_a_hang_after_data_makes_the_client_time_out(smtp_sink):
    smtp_sink.hang_after_data()
    with pytest.raises(aiosmtplib.SMTPTimeoutError):
        send(smtp_sink, letter(4), timeout=1)
    [attempt] = smtp_sink.attempts
    # The sink did receive the whole message: exactly the uncertainty of RFC 5321 §4.5.3.2.
    assert attempt.outcome == "hung" and attempt.message_id == "<out-4@kozmo.example>"
    assert smtp_sink.messages == []


def test_auth_is_required_and_any_credentials_pass(smtp_sink_auth):
    with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
        send(smtp_sink_auth, letter(5))
    assert caught.value.code == 530
    send(smtp_sink_auth, letter(5), username="adm", password="whatever")
    [received] = smtp_sink_auth.messages
    assert received.auth_login == "adm"


def test_pg_url_is_a_fresh_empty_database(pg_url):
    engine = sqlalchemy.create_engine(pg_url)
    try:
        with engine.begin() as connection:
            tables = connection.execute(
                sqlalchemy.text("select count(*) from information_schema.tables where table_schema = 'public'")
            ).scalar_one()
            connection.execute(sqlalchemy.text("create table probe (id integer primary key)"))
    finally:
        engine.dispose()
    assert tables == 0


def test_db_url_gives_a_working_database_on_both_backends(db_url):
    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("create table probe (id integer primary key, word text)"))
            connection.execute(sqlalchemy.text("insert into probe values (1, 'обращение')"))
            word = connection.execute(sqlalchemy.text("select word from probe")).scalar_one()
    finally:
        engine.dispose()
    assert word == "обращение"
    assert engine.dialect.name in ("sqlite", "postgresql")
