"""Outgoing letters: our headers, the case tag at the front, trimmed References, no header injection."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from pathlib import Path

from daemon.compose import (
    Letter,
    OutgoingAttachment,
    case_pseudo_id,
    clean_header,
    compose,
    tagged_subject,
    thread_references,
    trim_references,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "outbox"
WHEN = datetime(2026, 12, 3, 12, 42, tzinfo=UTC)


def letter(**changes) -> Letter:
    values = dict(
        from_name="Администрация «Город Козьмодемьянск»",
        from_address="adm@kozmo.example",
        to="ivanova@kozmo.example",
        subject="[KZM-42] Публикация о ямах",
        text="Здравствуйте!\nОтветьте на это письмо текстом комментария.\n",
        message_id="<curmail.abc.def@kozmo.example>",
        date=WHEN,
        loop_address="adm@kozmo.example",
    )
    values.update(changes)
    return Letter(**values)


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


def test_a_notification_carries_our_loop_and_auto_headers():
    sent = parse(compose(letter()))
    assert sent["Auto-Submitted"] == "auto-generated"
    assert sent["X-Auto-Response-Suppress"] == "All"
    assert sent["Precedence"] == "bulk"
    assert sent["X-Curmail-Loop"] == "adm@kozmo.example"
    assert sent["Message-ID"] == "<curmail.abc.def@kozmo.example>"
    # decode_header follows RFC 2047 §6.2 (no space between adjacent encoded words); the
    # policy.default address parser on 3.11 inserts one, which no mail client does.
    raw_from = email.message_from_bytes(compose(letter()), policy=policy.compat32)["From"]
    assert str(make_header(decode_header(raw_from))) == "Администрация «Город Козьмодемьянск» <adm@kozmo.example>"
    assert sent["Subject"] == "[KZM-42] Публикация о ямах"
    text = sent.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text == "Здравствуйте!\nОтветьте на это письмо текстом комментария.\n"


def test_an_acknowledgement_is_auto_replied_and_not_bulk():
    sent = parse(compose(letter(auto_submitted="auto-replied", bulk=False)))
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["Precedence"] is None


def test_every_line_ends_with_crlf_and_the_body_is_7bit():
    raw = compose(letter(html="<p>Привет</p>"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert all(byte < 128 for byte in raw)


def test_html_alternative_and_calendar_attachment_survive_a_round_trip():
    ics = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
    sent = parse(compose(letter(
        html="<p>Срок: до 15:42</p>",
        attachments=[OutgoingAttachment("srok.ics", ics, "text/calendar", {"method": "REQUEST"})],
    )))
    assert sent.get_body(("html",)).get_content().strip() == "<p>Срок: до 15:42</p>"
    (calendar,) = list(sent.iter_attachments())
    assert calendar.get_content_type() == "text/calendar"
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_filename() == "srok.ics"
    assert calendar.get_payload(decode=True) == ics


def test_the_tag_goes_to_the_front_once():
    assert tagged_subject("Публикация о ямах", "[KZM-42]") == "[KZM-42] Публикация о ямах"
    assert tagged_subject("Re: [KZM-42] Публикация", "[KZM-42]") == "[KZM-42] Re: Публикация"
    assert tagged_subject("Ответ: Публикация [kzm-42]", "[KZM-42]") == "[KZM-42] Ответ: Публикация"
    assert tagged_subject("[KZM-42] [KZM-42] x", "[KZM-42]") == "[KZM-42] x"
    # Another case's tag is not ours to remove.
    assert tagged_subject("[KZM-7] x", "[KZM-42]") == "[KZM-42] [KZM-7] x"


def test_long_references_keep_the_first_four_and_the_last_six():
    chain = [f"<m{i}@x.example>" for i in range(1, 16)]
    assert trim_references(chain) == chain[:4] + chain[-6:]
    assert trim_references(chain[:10]) == chain[:10]


def test_references_start_with_the_case_pseudo_id_and_end_with_the_parent():
    case_id = case_pseudo_id("default", 42, "kozmo.example")
    assert case_id == "<curmail-case-default-42@kozmo.example>"
    parent, chain = thread_references("<p@x>", ["<a@x>", "<b@x>", "<a@x>", "garbage"], case_id)
    assert parent == "<p@x>"
    assert chain == [case_id, "<a@x>", "<b@x>", "<p@x>"]
    sent = parse(compose(letter(in_reply_to=parent, references=chain)))
    assert sent["In-Reply-To"] == "<p@x>"
    assert sent["References"].split() == chain


def test_a_subject_decoded_with_an_encoded_line_feed_cannot_add_headers():
    # CPython gh-121650: the encoded word decodes to "a\nBcc: evil@x" on 3.11.7.
    incoming = parse((FIXTURES / "subject-injection.eml").read_bytes())
    assert "\n" in str(incoming["Subject"])
    raw = compose(letter(subject=tagged_subject("Re: " + str(incoming["Subject"]), "[KZM-42]")))
    sent = parse(raw)
    assert sent["Bcc"] is None
    assert b"\r\nBcc:" not in raw
    assert sent["Subject"] == "[KZM-42] Re: a Bcc: evil@x"
    assert len(sent.get_all("Subject")) == 1


def test_injection_through_names_and_ids_is_cleaned_too():
    raw = compose(letter(
        from_name="Адм\r\nBcc: evil@x",
        in_reply_to="<p@x>\r\nBcc: evil@x",
        references=["<a@x>\nX-Evil: 1"],
    ))
    sent = parse(raw)
    assert sent["Bcc"] is None and sent["X-Evil"] is None
    assert sent["In-Reply-To"] == "<p@x>"
    assert sent["References"] == "<a@x>"


def test_clean_header_drops_every_control_and_line_separator():
    assert clean_header("a\r\nb\tc\x00d\x7fe\x85f\u2028g\u2029h") == "a b cde f g h"
    assert clean_header("  много   пробелов  ") == "много пробелов"
