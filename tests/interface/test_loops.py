"""Acknowledgements and loop protection: one ack per sender and case, a daily limit, auto-responder storms, bounces."""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy

import pytest

from tests.interface.conftest import Mail
from tests.support.mail import make_message
from tests.workflow.conftest import (
    CONTACT,
    CUR,
    OFFICIAL,
    PRESS,
    SUPERVISOR,
    WEB_EDITOR,
    body_of,
    header_of,
    msk,
    plain,
)

DAY = msk(2026, 12, 3, 10, 0)


def test_a_new_case_from_the_cur_gets_one_acknowledgement_with_tag_and_deadline(flow: Mail):
    flow.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    case = flow.case()
    ack = flow.one("ack", CUR)
    assert header_of(ack, "Subject").startswith(f"[KZM-{case.id}] Принято:")
    assert header_of(ack, "Auto-Submitted") == "auto-replied"
    text = plain(body_of(ack))
    assert f"открыто дело [KZM-{case.id}]" in text and "до 15:42 03.12.2026 (МСК)" in text
    # A later mail from the ЦУР in the same case is no new case: no second acknowledgement.
    notice = flow.one("refutation_new", CONTACT)
    flow.deliver("proposal.eml", at=msk(2026, 12, 3, 13, 5), reply_to=notice.message_id)
    assert len(flow.outbox("ack")) == 1


def test_appeals_forwarded_by_the_cur_get_no_acknowledgement(flow: Mail):
    flow.deliver("appeal_pos.eml", at=msk(2026, 12, 3, 10, 0))
    assert flow.case().kind == "appeal"
    assert flow.outbox("ack") == []


def unmarked_autoreply(n: int, to_subject: str) -> bytes:
    """A ЦУР vacation responder that marks nothing: no Auto-Submitted, no Precedence, no thread headers."""
    return make_message(sender=CUR, subject=f"Ваше письмо получено ({n})",
                        body=f"Ваше письмо «{to_subject}» получено и будет рассмотрено.\n",
                        message_id=f"<vacation-{n}@example.org>")


def test_two_auto_responders_through_curmail_settle_within_the_daily_limit(flow: Mail):
    """An unmarked responder opens a case per answer; curmail acks each until the daily limit, then stops."""
    flow.deliver_raw(unmarked_autoreply(0, "начало"), at=DAY)
    answered: set[str] = set()
    for n in range(1, 200):  # a hang guard: a loop that does not settle fails the assertions below
        pending = [row for row in flow.outbox(to=CUR) if row.message_id not in answered]
        if not pending:
            break
        for row in pending:
            answered.add(row.message_id)
            flow.deliver_raw(unmarked_autoreply(n, row.subject), at=DAY)
    to_responder = flow.outbox(to=CUR)
    assert len(to_responder) == 20  # [security] auto_mail_per_address_per_day
    assert {row.kind for row in to_responder} == {"ack"}
    notice = flow.one("auto_mail_limit", CONTACT)
    assert CUR in notice.subject and "20" in plain(body_of(notice))
    suppressed = [c for c in flow.cases() if "ack_suppressed" in flow.actions(c)]
    assert len(suppressed) == 1  # the 21st case: stored, worked on, not answered
    # The limit is per day: the next day the responder's mail is acknowledged again, and the notice repeats once.
    flow.deliver_raw(unmarked_autoreply(999, "следующий день"), at=DAY + timedelta(days=1))
    assert len(flow.outbox("ack", CUR)) == 21


def test_a_marked_auto_reply_to_our_letter_is_stored_and_never_answered(flow: Mail):
    flow.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    ack = flow.one("ack", CUR)
    before = len(flow.outbox())
    for n, headers in enumerate(({"Auto-Submitted": "auto-replied"}, {"Precedence": "bulk"},
                                 {"X-Autoreply": "yes"}, {"List-Id": "<cur.list.example.org>"})):
        raw = make_message(sender=CUR, subject=f"Автоответ: {ack.subject}", body="Я в отпуске до 10.12.",
                           in_reply_to=ack.message_id, references=ack.message_id, headers=headers,
                           message_id=f"<ooo-{n}@example.org>")
        flow.deliver_raw(raw, at=msk(2026, 12, 3, 12, 50))
    assert len(flow.outbox()) == before
    assert len(flow.messages()) == 5 and all(m.case_id == flow.case().id for m in flow.messages())


def dsn_for(original: bytes, recipient: str, bounce_id: str = "bounce-1") -> bytes:
    """An RFC 3464 bounce as Postfix writes it, with the original's headers attached."""
    head = original.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    return (
        "From: MAILER-DAEMON@mx.kozmo.example (Mail Delivery System)\r\n"
        "To: adm@kozmo.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{bounce_id}@mx.kozmo.example>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered to {recipient}.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.kozmo.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"{head}\r\n--B--\r\n"
    ).encode()


def test_a_bounce_of_the_press_letter_marks_it_failed_and_is_an_incident(flow: Mail):
    flow.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver("draft_reply.eml", at=msk(2026, 12, 3, 13, 40), reply_to=notice.message_id)
    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 20), reply_to=flow.one("refutation_draft", CUR).message_id)
    press = flow.one("refutation_press", PRESS)
    flow.deliver_raw(dsn_for(press.raw, PRESS), at=msk(2026, 12, 3, 14, 30))
    assert flow.one("refutation_press", PRESS).delivery_failed_at is not None
    assert flow.one("refutation_web", WEB_EDITOR).delivery_failed_at is None
    alert = flow.one("delivery_failed", CONTACT)
    assert header_of(alert, "Subject").endswith("ИНЦИДЕНТ: комментарий не доставлен в пресс-службу")
    text = plain(body_of(alert))
    assert PRESS in text and "5.1.1" in text and "User unknown" in text
    case = flow.case()
    assert flow.events(case, "delivery_failed")[0].detail["outbox_id"] == press.id
    # The same bounce again (a retried delivery) tells nobody twice.
    flow.deliver_raw(dsn_for(press.raw, PRESS, "bounce-2"), at=msk(2026, 12, 3, 14, 31))
    assert len(flow.outbox("delivery_failed")) == 1
    assert email.message_from_bytes(alert.raw, policy=policy.default)["Precedence"] is None


def test_a_new_case_from_a_staff_member_is_acknowledged_with_tag_and_deadline(flow: Mail):
    flow.deliver_raw(make_message(sender=f"Сидорова <{SUPERVISOR}>", subject="Подготовить справку о ремонте дорог",
                                  body="Прошу подготовить справку о ремонте дорог к совещанию.",
                                  message_id="<staff-new-1@kozmo.example>"), at=DAY)
    case = flow.case()
    ack = flow.one("ack", SUPERVISOR)
    assert header_of(ack, "Subject") == f"[KZM-{case.id}] Принято: Подготовить справку о ремонте дорог"
    assert header_of(ack, "In-Reply-To") == "<staff-new-1@kozmo.example>"
    text = plain(body_of(ack))
    assert f"открыто дело [KZM-{case.id}]" in text
    assert case.due_at is not None and f"Срок: до {case.due_at.astimezone(DAY.tzinfo):%H:%M %d.%m.%Y}" in text


def test_acknowledgements_are_configured_per_kind(make_flow):
    only_signals = make_flow(acks={"kinds": ["refutation"]})
    only_signals.deliver("request.eml", at=msk(2026, 12, 3, 12, 0))
    only_signals.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    assert [row.case_id for row in only_signals.outbox("ack")] == [c.id for c in only_signals.cases()
                                                                  if c.kind == "refutation"]


def test_appeals_forwarded_by_the_cur_are_acknowledged_when_configured(make_flow):
    flow = make_flow(acks={"cur_appeals": True})
    flow.deliver("appeal_59fz.eml", at=msk(2026, 12, 3, 10, 0))
    assert flow.case().kind == "appeal"
    assert len(flow.outbox("ack", CUR)) == 1


LOOP_SIGNS = {
    "Auto-Submitted: auto-generated": ({"Auto-Submitted": "auto-generated"}, CUR),
    "Precedence: list": ({"Precedence": "list"}, CUR),
    "Precedence: junk": ({"Precedence": "junk"}, CUR),
    "List-Unsubscribe": ({"List-Unsubscribe": "<mailto:leave@example.org>"}, CUR),
    "empty Return-Path": ({"Return-Path": "<>"}, CUR),
    "MAILER-DAEMON": ({}, "MAILER-DAEMON@example.org"),
    "postmaster": ({}, "postmaster@example.org"),
    "noreply": ({}, "noreply@example.org"),
    "our own Message-ID domain": ({"Message-ID": "<curmail.aaaa.bbbb@curmail.kozmo.example>"}, CUR),
}


@pytest.mark.parametrize("sign", list(LOOP_SIGNS))
def test_mail_on_the_never_answer_list_is_stored_and_threaded_but_never_answered(flow: Mail, sign: str):
    flow.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    ack = flow.one("ack", CUR)
    before = len(flow.outbox())
    headers, sender = LOOP_SIGNS[sign]
    headers = dict(headers)
    message_id = headers.pop("Message-ID", "<loop-1@example.org>")
    raw = make_message(sender=sender, subject=f"RE: {ack.subject}", body="#статус\nСообщение получено.",
                       in_reply_to=ack.message_id, references=ack.message_id, headers=headers, message_id=message_id)
    if "Return-Path" in headers:  # a Return-Path goes on top, as the delivering MTA writes it
        raw = b"Return-Path: <>\n" + raw.replace(b"Return-Path: <>\n", b"")
    flow.deliver_raw(raw, at=msk(2026, 12, 3, 12, 50))
    assert len(flow.outbox()) == before
    stored = flow.messages()
    assert len(stored) == 2 and stored[-1].case_id == flow.case().id


def press_letter(flow: Mail):
    flow.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver("draft_reply.eml", at=msk(2026, 12, 3, 13, 40), reply_to=notice.message_id)
    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 20), reply_to=flow.one("refutation_draft", CUR).message_id)
    press = flow.one("refutation_press", PRESS)
    with flow.app.sessions.begin() as session:  # the outbox job would have sent it by now
        session.get(type(press), press.id).sent_at = msk(2026, 12, 3, 14, 21)
    return press


def dsn_action(original: bytes, action: str, status: str, diagnostic: str, bounce_id: str) -> bytes:
    return (dsn_for(original, PRESS, bounce_id).replace(b"Action: failed", f"Action: {action}".encode())
            .replace(b"Status: 5.1.1", f"Status: {status}".encode())
            .replace(b"smtp; 550 5.1.1 User unknown", f"smtp; {diagnostic}".encode()))


def test_a_delay_warning_for_the_press_letter_says_it_is_late_and_marks_nothing_failed(flow: Mail):
    press = press_letter(flow)
    delayed = dsn_action(press.raw, "delayed", "4.4.1", "451 4.4.1 connection timed out", "delay-1")
    flow.deliver_raw(delayed, at=msk(2026, 12, 3, 18, 30))
    flow.deliver_raw(delayed.replace(b"delay-1@", b"delay-2@"), at=msk(2026, 12, 3, 22, 30))
    assert flow.one("refutation_press", PRESS).delivery_failed_at is None
    (late,) = flow.outbox("delivery_failed", CONTACT)  # told once, not at every warning
    assert header_of(late, "Subject").endswith("Задержка доставки в пресс-службу: комментарий ещё не доставлен")
    assert "продолжает попытки доставки" in plain(body_of(late)) and "4.4.1" in plain(body_of(late))
    assert len(flow.events(flow.case(), "delivery_delayed")) == 2
    # Then Postfix gives up: that is the incident, told as such.
    flow.deliver_raw(dsn_for(press.raw, PRESS, "final-1"), at=msk(2026, 12, 8, 14, 30))
    assert flow.one("refutation_press", PRESS).delivery_failed_at is not None
    assert header_of(flow.outbox("delivery_failed", CONTACT)[-1], "Subject").endswith("ИНЦИДЕНТ: комментарий не "
                                                                                      "доставлен в пресс-службу")


def test_a_success_notification_is_no_incident(flow: Mail):
    press = press_letter(flow)
    flow.deliver_raw(dsn_action(press.raw, "delivered", "2.0.0", "250 2.0.0 OK", "ok-1"),
                     at=msk(2026, 12, 3, 14, 30))
    assert flow.one("refutation_press", PRESS).delivery_failed_at is None
    assert flow.outbox("delivery_failed") == []


def exim_bounce(recipient: str, bounce_id: str) -> bytes:
    """Exim's own plain-text bounce with `bounce_return_message = false`: no DSN, no copy of our headers."""
    return (
        "From: Mail Delivery System <Mailer-Daemon@mx.gov.mari.ru>\r\nTo: adm@kozmo.example\r\n"
        "Subject: Mail delivery failed: returning message to sender\r\n"
        f"Message-ID: <{bounce_id}@mx.gov.mari.ru>\r\nAuto-Submitted: auto-replied\r\n"
        f"X-Failed-Recipients: {recipient}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This message was created automatically by mail delivery software.\r\n\r\n"
        "A message that you sent could not be delivered to one or more of its\r\n"
        "recipients. This is a permanent error. The following address(es) failed:\r\n\r\n"
        f"  {recipient}\r\n    mailbox is full: retry timeout exceeded\r\n"
    ).encode()


def test_a_bounce_without_the_original_message_id_is_matched_by_its_failed_recipient(flow: Mail):
    press = press_letter(flow)
    flow.deliver_raw(exim_bounce(PRESS, "exim-1"), at=msk(2026, 12, 3, 15, 0))
    assert flow.one("refutation_press", PRESS).delivery_failed_at is not None
    alert = flow.one("delivery_failed", CONTACT)
    assert header_of(alert, "Subject").endswith("ИНЦИДЕНТ: комментарий не доставлен в пресс-службу")
    assert "нет Message-ID исходного письма" in plain(body_of(alert))
    assert flow.events(flow.case(), "delivery_failed")[0].detail == {
        "outbox_id": press.id, "kind": "refutation_press", "recipients": [PRESS], "status": None,
        "diagnostic": None, "matched_by": "recipient"}
    # The same bounce again finds the same letter, already reported; an address we never wrote to finds none.
    flow.deliver_raw(exim_bounce(PRESS, "exim-2"), at=msk(2026, 12, 3, 15, 5))
    flow.deliver_raw(exim_bounce("stranger@example.net", "exim-3"), at=msk(2026, 12, 3, 15, 6))
    assert len(flow.outbox("delivery_failed")) == 1


def test_an_id_less_bounce_of_a_letter_older_than_the_window_matches_nothing(flow: Mail):
    press_letter(flow)
    flow.deliver_raw(exim_bounce(PRESS, "exim-late"), at=msk(2026, 12, 9, 15, 0))
    assert flow.one("refutation_press", PRESS).delivery_failed_at is None
    assert flow.outbox("delivery_failed") == []


def test_past_the_limit_the_contact_officials_own_command_answers_stop_and_the_supervisor_is_told(flow: Mail):
    flow.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    notice = flow.one("refutation_new", CONTACT)
    for n in range(22):
        flow.deliver_raw(make_message(sender=CONTACT, subject=f"RE: {notice.subject}", body="#статус\n",
                                      in_reply_to=notice.message_id, references=notice.message_id,
                                      message_id=f"<status-{n}@kozmo.example>"), at=msk(2026, 12, 3, 13, 0))
    assert len(flow.outbox("command_result", CONTACT)) == 20
    (told,) = flow.outbox("auto_mail_limit")
    assert told.recipients == [SUPERVISOR] and CONTACT in told.subject
