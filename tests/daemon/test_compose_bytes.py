"""compose() writes its MIME body directly: byte for byte what the email package's generator writes."""

from __future__ import annotations

import email.generator
import itertools
from datetime import datetime, timedelta, timezone
from email.mime.multipart import MIMEMultipart

import pytest

from daemon import compose as compose_module
from daemon.compose import POLICY, Letter, OutgoingAttachment, _attachment_part, _text_part, compose

MSK = timezone(timedelta(hours=3))
INVITE = OutgoingAttachment(filename="invite.ics", content=b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                            content_type="text/calendar", params={"method": "REQUEST", "charset": "utf-8"})
REPORT = OutgoingAttachment(filename="отчёт за квартал.pdf", content=bytes(range(256)) * 3,
                            content_type="application/pdf")


def _boundaries():
    counter = itertools.count(1)
    return lambda *_args, **_kwargs: "=" * 15 + f"{next(counter):019d}" + "=="


def _by_email_package(letter: Letter) -> bytes:
    """The body as email.mime objects and the compat32 generator write it (how compose used to build it)."""
    body = _text_part(letter.text, "plain")
    if letter.html:
        body = MIMEMultipart("alternative", _subparts=[body, _text_part(letter.html, "html")])
    if letter.attachments:
        body = MIMEMultipart("mixed", _subparts=[body, *(_attachment_part(a) for a in letter.attachments)])
    del body["MIME-Version"]
    return body.as_bytes(policy=POLICY)


@pytest.mark.parametrize("text", ["Hello\r\nworld\rend\n", "Здравствуйте!\n\nСрок по делу — завтра.\n" * 40, ""])
@pytest.mark.parametrize("html", [None, "<p>Привет</p>\n" * 30, "<p>ascii</p>"])
@pytest.mark.parametrize("attachments", [(), (INVITE,), (INVITE, REPORT)])
def test_the_body_is_what_the_email_package_writes(monkeypatch, text, html, attachments):
    letter = Letter(from_name="Администрация", from_address="adm@kozmo.example", to="a@b.example",
                    subject="[KZM-1] Тема", text=text, html=html, message_id="<m@kozmo.example>",
                    date=datetime(2026, 12, 3, 10, 0, tzinfo=MSK), attachments=attachments)
    monkeypatch.setattr(compose_module, "_boundary", _boundaries())
    ours = compose(letter)
    monkeypatch.setattr(email.generator.Generator, "_make_boundary", classmethod(_boundaries()))
    head, _, _ = ours.partition(b"MIME-Version: 1.0\r\n")
    assert ours == head + b"MIME-Version: 1.0\r\n" + _by_email_package(letter)
    parsed = email.message_from_bytes(ours)
    assert parsed.get_content_type() == ("multipart/mixed" if attachments else
                                         "multipart/alternative" if html else "text/plain")
