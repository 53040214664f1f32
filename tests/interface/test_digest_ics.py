"""The working-day digest and the calendar invitations (ICS parsed back with icalendar, in MSK)."""

from __future__ import annotations

import email
from datetime import UTC, timedelta
from email import policy

import icalendar

from daemon import digest
from daemon.clock import Clock
from tests.interface.conftest import Mail, command_mail
from tests.support.mail import make_message
from tests.workflow.conftest import CONTACT, MSK, OFFICIAL, SUPERVISOR, body_of, msk, plain


def html_of(row) -> str:
    msg = email.message_from_bytes(row.raw, policy=policy.default)
    return msg.get_body(("html",)).get_content()


def tick(flow: Mail, at) -> digest.TickResult:
    flow.app.clock = Clock(fixed=at)
    return digest.tick(flow.app)


def three_cases(flow: Mail) -> None:
    """Overdue on the 3rd (refutation), due on the 4th (generic), due 30 days on (appeal 59-ФЗ)."""
    flow.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    flow.deliver("generic_cur.eml", at=msk(2026, 12, 3, 12, 50))
    flow.deliver("appeal_59fz.eml", at=msk(2026, 12, 3, 13, 0))


def test_the_digest_lists_overdue_today_week_and_load_once_a_day(flow: Mail):
    three_cases(flow)
    assert tick(flow, msk(2026, 12, 4, 8, 59)).reason == "too early"
    result = tick(flow, msk(2026, 12, 4, 9, 5))  # Friday 4 December, a working day
    assert result.sent > 0
    main = flow.one("digest", CONTACT)
    assert flow.one("digest", SUPERVISOR).subject == main.subject
    assert "просрочено 1" in main.subject
    text = plain(body_of(main))
    cases = {c.kind: c for c in flow.cases()}
    assert f"ПРОСРОЧЕНО (1): [KZM-{cases['refutation'].id}]" in text
    assert f"Срок сегодня (1): [KZM-{cases['generic'].id}]" in text
    assert "Нагрузка" in text and "Петров Сергей Иванович: 1 / 1" in text
    html = html_of(main)
    assert "<table" in html and "style=" in html and "<style" not in html  # inline CSS for Outlook
    assert "Петров Сергей Иванович" in html
    personal = flow.one("digest_personal", OFFICIAL)
    assert f"[KZM-{cases['refutation'].id}]" in body_of(personal) and "ПРОСРОЧЕНО" in body_of(personal)
    letters = len(flow.outbox())
    assert tick(flow, msk(2026, 12, 4, 15, 0)).reason == "already sent"
    assert len(flow.outbox()) == letters


def test_no_digest_on_a_day_off_and_none_when_nothing_is_open(flow: Mail):
    assert tick(flow, msk(2026, 12, 4, 9, 5)).reason == "nothing to show"
    assert flow.outbox() == []
    three_cases(flow)
    assert tick(flow, msk(2026, 12, 5, 10, 0)).reason == "day off"  # Saturday
    assert tick(flow, msk(2026, 12, 7, 9, 0)).sent > 0  # Monday


def test_the_digest_shows_what_was_published_yesterday(flow: Mail):
    flow.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver("draft_reply.eml", at=msk(2026, 12, 3, 13, 40), reply_to=notice.message_id)
    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 20),
                 reply_to=flow.outbox("refutation_draft")[0].message_id)
    flow.deliver("published.eml", at=msk(2026, 12, 3, 15, 30),
                 reply_to=flow.outbox("refutation_web")[0].message_id)
    tick(flow, msk(2026, 12, 4, 9, 0))
    text = plain(body_of(flow.one("digest", CONTACT)))
    assert "Опубликовано вчера:" in text and "https://kozmo.example/news/oficialnyj-kommentarij-voda.html" in text


# ---------------------------------------------------------------- ICS


def invites(flow: Mail, to: str) -> list[icalendar.Calendar]:
    found = []
    for row in flow.outbox(to=to):
        if not row.kind.startswith("calendar_"):
            continue
        msg = email.message_from_bytes(row.raw, policy=policy.default)
        (part,) = [p for p in msg.iter_attachments() if p.get_content_type() == "text/calendar"]
        assert part.get_param("method") in ("REQUEST", "CANCEL")
        found.append(icalendar.Calendar.from_ical(part.get_payload(decode=True)))
    return found


def event_of(calendar: icalendar.Calendar) -> icalendar.Event:
    (event,) = calendar.walk("VEVENT")
    return event


def test_deadline_invitation_moves_and_is_cancelled_with_a_stable_uid(flow: Mail):
    flow.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    case = flow.case()
    (first,) = invites(flow, OFFICIAL)
    assert str(first["method"]) == "REQUEST"
    event = event_of(first)
    end = event.decoded("dtend")
    assert end == msk(2026, 12, 3, 15, 42) and end.utcoffset() == timedelta(hours=3)
    assert str(event["dtend"].params["TZID"]) == "Europe/Moscow"
    assert first.walk("VTIMEZONE"), "Outlook needs the VTIMEZONE"
    assert int(event["sequence"]) == 0 and "mailto:petrov@kozmo.example" in str(event["attendee"])
    uid = str(event["uid"])

    notice = flow.one("refutation_new", CONTACT)
    flow.deliver_raw(command_mail("outlook_html_only.eml", sender=CONTACT, case_id=case.id,
                                  reply_to=notice.message_id), at=msk(2026, 12, 3, 13, 0))
    moved = event_of(invites(flow, OFFICIAL)[1])
    assert str(moved["uid"]) == uid and int(moved["sequence"]) == 1
    assert moved.decoded("dtend").astimezone(MSK) == msk(2026, 12, 10, 15, 0)

    flow.deliver_raw(command_mail("mailru_plain.eml", sender=CONTACT, case_id=case.id, reply_to=notice.message_id,
                                  Message_ID="<close-1@kozmo.example>"), at=msk(2026, 12, 3, 13, 30))
    cancel = invites(flow, OFFICIAL)[2]
    assert str(cancel["method"]) == "CANCEL"
    cancelled = event_of(cancel)
    assert str(cancelled["uid"]) == uid and int(cancelled["sequence"]) == 2
    assert str(cancelled["status"]) == "CANCELLED"
    assert flow.case().due_at == msk(2026, 12, 10, 15, 0).astimezone(UTC)


def test_reassignment_cancels_the_old_holders_event_and_invites_the_new_one(flow: Mail):
    flow.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    case = flow.case()
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver_raw(command_mail("thunderbird_flowed.eml", sender=OFFICIAL, case_id=case.id,
                                  reply_to=notice.message_id), at=msk(2026, 12, 3, 13, 0))
    assert [str(c["method"]) for c in invites(flow, OFFICIAL)] == ["REQUEST", "CANCEL"]
    (new,) = invites(flow, SUPERVISOR)
    assert str(new["method"]) == "REQUEST"
    assert str(event_of(new)["uid"]) != str(event_of(invites(flow, OFFICIAL)[0])["uid"])


def test_long_lists_are_cut_with_an_exact_count(flow: Mail, monkeypatch):
    monkeypatch.setattr(digest, "ROW_LIMIT", 0)
    three_cases(flow)
    tick(flow, msk(2026, 12, 4, 9, 5))
    text = plain(body_of(flow.one("digest", CONTACT)))
    assert "ПРОСРОЧЕНО (1): … и ещё 1" in text and "[KZM-" not in text.split("Нагрузка")[0]
    assert "… и ещё 1</td>" in html_of(flow.one("digest", CONTACT))


def test_on_monday_the_digest_shows_what_was_published_since_friday(flow: Mail):
    flow.deliver("signal.eml", at=msk(2026, 12, 4, 12, 42))  # Friday
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver("draft_reply.eml", at=msk(2026, 12, 4, 13, 40), reply_to=notice.message_id)
    flow.deliver("approval.eml", at=msk(2026, 12, 4, 14, 20),
                 reply_to=flow.outbox("refutation_draft")[0].message_id)
    flow.deliver("published.eml", at=msk(2026, 12, 4, 18, 30),  # after Friday's digest went out
                 reply_to=flow.outbox("refutation_web")[0].message_id)
    tick(flow, msk(2026, 12, 7, 9, 0))  # Monday
    text = plain(body_of(flow.one("digest", CONTACT)))
    assert "Опубликовано с 04.12.2026: [KZM-1]" in text
    assert "Опубликовано с 04.12.2026" in html_of(flow.one("digest", CONTACT))


def test_the_quarterly_report_deadline_comes_as_an_invitation_and_is_cancelled_when_sent(flow: Mail):
    from daemon.reports import obligations

    flow.app.clock = Clock(fixed=msk(2027, 1, 11, 9, 0))  # the first working day after the New Year holidays
    assert obligations.tick(flow.app) == "generated"
    (report,) = [c for c in flow.cases() if c.kind == "report"]
    (invite,) = invites(flow, CONTACT)
    event = event_of(invite)
    assert str(invite["method"]) == "REQUEST" and "Статистика работы с обращениями" in str(event["summary"])
    assert event.decoded("dtend") == report.due_at.astimezone(MSK)
    draft = flow.one("quarterly_draft", CONTACT)
    flow.deliver_raw(make_message(sender=CONTACT, subject=f"RE: {draft.subject}", body="#отправить\n",
                                  in_reply_to=draft.message_id, references=draft.message_id),
                     at=msk(2027, 1, 11, 10, 0))
    report = next(c for c in flow.cases() if c.kind == "report")
    assert report.state == "closed"
    cancel = invites(flow, CONTACT)[-1]
    assert str(cancel["method"]) == "CANCEL" and str(event_of(cancel)["uid"]) == str(event["uid"])
