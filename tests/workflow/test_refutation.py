"""The refutation flow of Algorithm п. 1-8, end to end through the pipeline, with the bad inputs of issue 4."""

from __future__ import annotations

import email
from datetime import UTC
from email import policy
from pathlib import Path

from sqlalchemy import update

from daemon.db.engine import transaction
from daemon.db.models import MessageStatus, StoredMessage
from daemon.pipeline import process_pending
from daemon.sender import send_due_sync
from daemon.workflow.refutation import read_proposal, read_publication
from parsers import parse_message
from tests.workflow.conftest import (
    CONTACT,
    CUR,
    OFFICIAL,
    PRESS,
    WEB_EDITOR,
    Flow,
    attachment_names,
    body_of,
    header_of,
    msk,
    plain,
)

SIGNAL_AT = msk(2026, 12, 3, 12, 42)


def open_signal(flow: Flow) -> None:
    flow.deliver("signal.eml", at=SIGNAL_AT)


def send_draft(flow: Flow, fixture: str = "draft_reply.eml", at=None, **headers) -> None:
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver(fixture, at=at or msk(2026, 12, 3, 13, 40), reply_to=notice.message_id, **headers)


def test_signal_opens_a_routed_case_with_a_three_hour_deadline_and_one_notification(flow: Flow):
    open_signal(flow)
    case = flow.case()
    assert (case.kind, case.state) == ("refutation", "assigned")
    assert case.assignee == OFFICIAL  # «водоснабжение» is in Petrov's topic ЖКХ
    assert case.topic == "ЖКХ"
    assert case.due_at == msk(2026, 12, 3, 15, 42).astimezone(UTC)  # receipt + 3 h
    assert case.data["publication"]["url"] == "https://vk.com/wall-123456_789"
    assert "Подслушано Козьмодемьянск" in case.data["publication"]["source"]
    assert flow.actions(case)[:3] == ["opened", "transition:routed", "deadline_set"]

    for who in (OFFICIAL, CONTACT):
        letter = flow.one("refutation_new", who)
        text = plain(body_of(letter))
        assert "до 15:42 03.12.2026 (МСК)" in text
        assert "https://vk.com/wall-123456_789" in text
        assert "Воду отключили на неделю" in text
        assert "Ответьте на это письмо текстом официального комментария" in text
        assert "максимально конкретно указать на ошибку" in text
        assert header_of(letter, "Subject").startswith(f"[KZM-{case.id}] ")
    assert len(flow.outbox("refutation_new")) == 2  # one letter each (acks and invitations are issue 5's)


def test_a_later_proposal_is_attached_and_forwarded_to_the_official(flow: Flow):
    open_signal(flow)
    notice = flow.one("refutation_new", CONTACT)
    flow.deliver("proposal.eml", at=msk(2026, 12, 3, 13, 5), reply_to=notice.message_id)
    case = flow.case()
    assert case.state == "assigned"
    assert "восстановлено 2 декабря" in case.data["proposals"][-1]["text"]
    assert "proposal_received" in flow.actions(case)
    forwarded = flow.one("refutation_proposal", OFFICIAL)
    assert "Отключение длилось 6 часов" in body_of(forwarded)


def test_the_full_cycle_draft_approval_press_web_publication(flow: Flow):
    open_signal(flow)
    send_draft(flow)
    case = flow.case()
    assert case.state == "awaiting_approval"
    draft = case.data["drafts"][0]
    assert draft["version"] == 1 and len(draft["sha256"]) == 64
    assert draft["text"].startswith("Информация об отключении водоснабжения")
    assert "С уважением" not in draft["text"] and ">" not in draft["text"]  # new text only
    assert [a["filename"] for a in draft["attachments"]] == ["график_работ.pdf"]
    met = flow.events(case, "draft_deadline_met")[0]
    assert met.detail["on_time"] is True and case.data["draft_on_time"] is True

    to_cur = flow.one("refutation_draft", CUR)
    assert header_of(to_cur, "From").endswith("<adm@kozmo.example>")
    assert header_of(to_cur, "Subject").startswith(f"[KZM-{case.id}] Проект официального комментария")
    assert header_of(to_cur, "In-Reply-To") == "<wf-signal-1@cur12.example.org>"
    assert "восстановлено в тот же день" in body_of(to_cur)
    assert attachment_names(to_cur) == ["график_работ.pdf"]

    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 20), reply_to=to_cur.message_id)
    case = flow.case()
    assert case.state == "sent_to_press"
    assert case.data["approved"]["sha256"] == draft["sha256"] and case.data["approved"]["version"] == 1

    press = flow.one("refutation_press", PRESS)
    subject = header_of(press, "Subject")
    assert "Официальный комментарий администрации городского округа «Город Козьмодемьянск»: " in subject
    assert subject.endswith("отключение воды в микрорайоне")
    body = body_of(press)
    assert body.startswith("Информация об отключении водоснабжения")
    assert "https://vk.com/wall-123456_789" in body and "<wf-approval-1@cur12.example.org>" in body
    assert attachment_names(press) == ["график_работ.pdf"]
    web = flow.one("refutation_web", WEB_EDITOR)
    assert "восстановлено в тот же день" in body_of(web)

    flow.deliver("published.eml", at=msk(2026, 12, 3, 15, 30), reply_to=web.message_id)
    case = flow.case()
    assert (case.state, case.outcome) == ("closed", "published")
    assert case.data["published_url"] == "https://kozmo.example/news/oficialnyj-kommentarij-voda.html"
    assert case.closed_at is not None
    transitions = [(e.from_state, e.to_state) for e in case.events if e.action.startswith("transition:")]
    assert transitions == [("new", "assigned"), ("assigned", "awaiting_approval"),
                           ("awaiting_approval", "sent_to_press"), ("sent_to_press", "closed")]


def test_the_press_letter_goes_exactly_once_even_when_the_approval_is_repeated(flow: Flow):
    open_signal(flow)
    send_draft(flow)
    to_cur = flow.one("refutation_draft", CUR)
    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 20), reply_to=to_cur.message_id)
    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 21), reply_to=to_cur.message_id,
                 Message_ID="<wf-approval-again@cur12.example.org>")
    assert len(flow.outbox("refutation_press")) == 1
    assert "approval_repeated" in flow.actions(flow.case())


def test_remarks_send_the_draft_back_and_a_new_draft_repeats_the_cycle(flow: Flow):
    open_signal(flow)
    send_draft(flow)
    first = flow.one("refutation_draft", CUR)
    flow.deliver("remarks.eml", at=msk(2026, 12, 3, 14, 25), reply_to=first.message_id)
    case = flow.case()
    assert case.state == "rework"
    assert case.due_at == msk(2026, 12, 3, 17, 25).astimezone(UTC)  # the 3-hour term runs again from the remarks
    remarks = flow.one("refutation_remarks", OFFICIAL)
    assert "Укажите точное время отключения" in body_of(remarks)
    assert "восстановлено в тот же день" in body_of(remarks)  # the draft being reworked

    flow.deliver("draft_reply_v2.eml", at=msk(2026, 12, 3, 14, 50), reply_to=remarks.message_id)
    case = flow.case()
    assert case.state == "awaiting_approval"
    assert [d["version"] for d in case.data["drafts"]] == [1, 2]
    second = [r for r in flow.outbox("refutation_draft", CUR) if r.id != first.id]
    assert len(second) == 1 and "с 9:00 до 15:00" in body_of(second[0])

    flow.deliver("approval.eml", at=msk(2026, 12, 3, 15, 0), reply_to=second[0].message_id)
    case = flow.case()
    assert case.state == "sent_to_press"
    assert case.data["approved"]["version"] == 2
    assert "с 9:00 до 15:00" in body_of(flow.one("refutation_press", PRESS))


def test_an_approval_of_a_changed_draft_is_refused_with_a_reply(flow: Flow):
    open_signal(flow)
    send_draft(flow)
    first = flow.one("refutation_draft", CUR)
    send_draft(flow, "draft_reply_v2.eml", at=msk(2026, 12, 3, 14, 0))  # corrected before the ЦУР answered
    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 20), reply_to=first.message_id)
    case = flow.case()
    assert case.state == "awaiting_approval" and "approved" not in case.data
    refused = flow.events(case, "approval_refused")[0]
    assert refused.detail["reason"] == "changed" and refused.detail["version"] == 1
    reply = flow.one("approval_refused", CUR)
    assert "последняя версия проекта — 2" in body_of(reply)
    assert header_of(reply, "In-Reply-To") == "<wf-approval-1@cur12.example.org>"
    assert flow.one("approval_refused", CONTACT)
    assert flow.outbox("refutation_press") == []


def test_a_forged_approval_without_our_token_is_not_an_approval(flow: Flow):
    open_signal(flow)
    send_draft(flow)
    to_cur = flow.one("refutation_draft", CUR)
    # Threaded by the case tag, From forged as the ЦУР, but answering no letter we sent to that address.
    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 20), reply_to="<guess@curmail.kozmo.example>",
                 Subject=f"RE: [KZM-{flow.case().id}] Проект официального комментария")
    case = flow.case()
    assert case.state == "awaiting_approval"
    assert flow.events(case, "approval_refused")[0].detail["reason"] == "not_reply"
    assert "Согласование не принято" in header_of(flow.one("approval_refused", CONTACT), "Subject")
    # A letter of ours to someone else does not authorise the ЦУР address either.
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 22), reply_to=notice.message_id,
                 Message_ID="<wf-approval-stolen@cur12.example.org>")
    assert [e.detail["reason"] for e in flow.events(flow.case(), "approval_refused")] == ["not_reply", "not_reply"]
    assert flow.outbox("refutation_press") == [] and to_cur.kind == "refutation_draft"


def test_an_approval_from_an_address_that_is_not_the_curs_is_recorded_and_the_contact_told(flow: Flow):
    open_signal(flow)
    send_draft(flow)
    to_cur = flow.one("refutation_draft", CUR)
    flow.deliver("approval_outsider.eml", at=msk(2026, 12, 3, 14, 15), reply_to=to_cur.message_id)
    case = flow.case()
    assert case.state == "awaiting_approval"
    assert flow.events(case, "approval_refused")[0].detail["reason"] == "not_cur"
    assert "не с адреса ЦУР" in body_of(flow.one("approval_refused", CONTACT))
    assert flow.outbox("refutation_press") == []


def test_a_reply_without_new_text_gets_a_request_for_the_text(flow: Flow):
    open_signal(flow)
    send_draft(flow, "empty_reply.eml", at=msk(2026, 12, 3, 13, 10))
    case = flow.case()
    assert case.state == "assigned" and case.data["drafts"] == []
    ask = flow.one("draft_empty", OFFICIAL)
    assert "Пришлите текст" in header_of(ask, "Subject")
    assert flow.outbox("refutation_draft") == []


def test_we_never_answer_mail_flagged_no_auto_reply(flow: Flow):
    open_signal(flow)
    # A list header makes it mail we must never answer, although it is still the official's reply.
    send_draft(flow, "empty_reply.eml", at=msk(2026, 12, 3, 13, 10), List_Id="<staff.kozmo.example>")
    case = flow.case()
    assert "empty_reply" in flow.actions(case) and case.data["drafts"] == []
    assert flow.outbox("draft_empty") == []


def test_a_late_draft_is_recorded_as_late(flow: Flow):
    open_signal(flow)
    send_draft(flow, at=msk(2026, 12, 3, 16, 30))
    case = flow.case()
    assert case.state == "awaiting_approval"
    assert case.data["draft_on_time"] is False
    assert flow.events(case, "draft_deadline_met")[0].detail["on_time"] is False


def test_the_web_editors_reply_without_a_url_does_not_close_the_case(flow: Flow):
    open_signal(flow)
    send_draft(flow)
    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 20), reply_to=flow.one("refutation_draft", CUR).message_id)
    web = flow.one("refutation_web", WEB_EDITOR)
    flow.deliver("empty_reply.eml", at=msk(2026, 12, 3, 15, 0), reply_to=web.message_id,
                 From="Кузнецов <kuznetsov@kozmo.example>", Message_ID="<wf-web-nourl@mail.kozmo.example>")
    case = flow.case()
    assert case.state == "sent_to_press"
    assert flow.events(case, "publication_not_recorded")[0].detail["url_found"] is False


def test_the_approved_comment_reaches_the_press_address_once_over_smtp(flow: Flow, smtp_sink):
    flow.app.settings = flow.settings.model_copy(
        update={"smtp": flow.settings.smtp.model_copy(update={"port": smtp_sink.port})}
    )
    open_signal(flow)
    send_draft(flow)
    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 20), reply_to=flow.one("refutation_draft", CUR).message_id)
    for minute in (21, 22):  # two sender runs: the second finds nothing left to send
        send_due_sync(flow.app.sessions, flow.settings, now=msk(2026, 12, 3, 14, minute).astimezone(UTC), owner="t")
    to_press = [m for m in smtp_sink.messages if PRESS in m.rcpt_tos]
    assert len(to_press) == 1
    parsed = email.message_from_bytes(to_press[0].raw, policy=policy.default)
    # The press service gets the prescribed subject, without our case tag.
    assert parsed["Subject"].startswith("Официальный комментарий администрации")
    assert parsed.get_body(("plain",)).get_content().startswith("Информация об отключении водоснабжения")


def test_a_replayed_draft_or_approval_sends_nothing_twice(flow: Flow):
    open_signal(flow)
    send_draft(flow)
    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 20), reply_to=flow.one("refutation_draft", CUR).message_id)
    with transaction(flow.app.sessions) as session:  # what `curmail replay` does: process them again
        session.execute(update(StoredMessage).values(status=MessageStatus.STORED))
    process_pending(flow.app)
    assert len(flow.outbox("refutation_draft")) == 1 and len(flow.outbox("refutation_press")) == 1
    case = flow.case()
    assert len(case.data["drafts"]) == 1 and case.state == "sent_to_press"
    assert "approval_repeated" in flow.actions(case)


def test_with_an_authserv_id_the_approval_needs_our_mtas_dkim_pass(make_flow):
    flow = make_flow(security={"authserv_id": "mx.kozmo.example"})
    open_signal(flow)
    send_draft(flow)
    to_cur = flow.one("refutation_draft", CUR)
    # The sender's own copy of the field does not count: only our MTA's authserv-id is trusted.
    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 20), reply_to=to_cur.message_id,
                 Authentication_Results="mx.evil.example; dkim=pass header.d=example.org")
    assert flow.case().state == "awaiting_approval"
    assert flow.events(flow.case(), "approval_refused")[0].detail["reason"] == "not_authenticated"
    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 25), reply_to=to_cur.message_id,
                 Authentication_Results="mx.kozmo.example; dkim=pass header.d=example.org",
                 Message_ID="<wf-approval-signed@cur12.example.org>")
    assert flow.case().state == "sent_to_press"
    assert len(flow.outbox("refutation_press")) == 1


def test_a_signal_forwarded_by_staff_keeps_the_cur_as_the_party_that_approves(flow: Flow):
    flow.deliver("signal_forwarded_by_staff.eml", at=msk(2026, 12, 3, 12, 50))
    case = flow.case()
    assert case.kind == "refutation" and case.data["cur_address"] == CUR
    assert case.data["proposals"][0]["text"] == "«Водоснабжение восстановлено 2 декабря»."
    assert "Водоснабжение восстановлено 2 декабря" in body_of(flow.one("refutation_new", OFFICIAL))
    send_draft(flow, at=msk(2026, 12, 3, 13, 30))
    assert flow.one("refutation_draft", CUR)  # the draft goes to the ЦУР, not back to the forwarding colleague


def test_publication_and_proposal_are_read_from_the_shared_cur_signal_fixture():
    pm = parse_message((Path(__file__).parents[1] / "fixtures" / "cur" / "signal_vk.eml").read_bytes())
    publication = read_publication(pm.text, ("https://m.vk.com/wall-123456_789",))
    assert publication.source == "сообщество «Подслушано Козьмодемьянск» (12 400 подписчиков)"
    assert publication.quote.startswith("«С января школу № 2 закрывают")
    assert read_proposal(pm.text).startswith("«Информация о закрытии школы № 2 не соответствует")
    assert read_proposal("Предлагаем встретиться: завтра в 10:00") is None
