"""The ЦУР request flow: deadline from the text or an assumed default, routing, the answer with files, closing."""

from __future__ import annotations

from datetime import UTC

from tests.workflow.conftest import (
    CONTACT,
    OFFICIAL,
    Flow,
    attachment_names,
    body_of,
    header_of,
    msk,
    plain,
)

CUR_SENDER = "petrova@cur12.example.org"


def test_the_deadline_stated_in_the_request_is_used_and_the_official_notified(flow: Flow):
    flow.deliver("request.eml", at=msk(2026, 12, 2, 10, 0))
    case = flow.case()
    assert (case.kind, case.state, case.assignee) == ("request", "assigned", OFFICIAL)  # ТКО: topic ЖКХ
    assert case.due_at == msk(2026, 12, 10, 18, 0).astimezone(UTC)  # «в срок до 10.12.2026»: end of that day
    assert case.due_assumed is False
    for who in (OFFICIAL, CONTACT):
        text = plain(body_of(flow.one("request_new", who)))
        assert "до 18:00 10.12.2026 (МСК)" in text
        assert "в срок до 10.12.2026" in text
        assert "срок принят по умолчанию" not in text


def test_without_a_deadline_the_default_applies_and_the_letter_says_it_was_assumed(flow: Flow):
    flow.deliver("request_no_deadline.eml", at=msk(2026, 12, 2, 10, 0))  # Wednesday
    case = flow.case()
    assert case.due_assumed is True
    assert case.due_at == msk(2026, 12, 4, 18, 0).astimezone(UTC)  # 2 working days: Friday 18:00
    letter = flow.one("request_new", OFFICIAL)
    assert "(срок принят по умолчанию)" in header_of(letter, "Subject")
    assert "срок принят по умолчанию" in body_of(letter)
    assert flow.events(case, "deadline_set")[0].detail["assumed"] is True


def test_the_staff_answer_with_its_files_goes_to_the_cur_and_closes_the_case(flow: Flow):
    flow.deliver("request.eml", at=msk(2026, 12, 2, 10, 0))
    notice = flow.one("request_new", OFFICIAL)
    flow.deliver("request_answer.eml", at=msk(2026, 12, 4, 11, 0), reply_to=notice.message_id)
    case = flow.case()
    assert (case.state, case.outcome) == ("closed", "answered")
    assert case.data["answer"]["on_time"] is True
    answer = flow.one("request_answer", CUR_SENDER)
    assert header_of(answer, "In-Reply-To") == "<wf-request-1@cur12.example.org>"
    assert header_of(answer, "Subject") == f"[KZM-{case.id}] Ответ на запрос: Запрос информации о вывозе ТКО"
    assert "ООО «Чистый город»" in body_of(answer)
    assert attachment_names(answer) == ["график_ТКО.xlsx"]
    assert [e.to_state for e in case.events if e.action.startswith("transition:")] == ["assigned", "closed"]


def test_an_empty_answer_gets_a_request_for_the_text_and_the_case_stays_open(flow: Flow):
    flow.deliver("request.eml", at=msk(2026, 12, 2, 10, 0))
    notice = flow.one("request_new", OFFICIAL)
    flow.deliver("empty_reply.eml", at=msk(2026, 12, 3, 11, 0), reply_to=notice.message_id)
    case = flow.case()
    assert case.state == "assigned"
    assert "ответ на запрос ЦУР" in body_of(flow.one("draft_empty", OFFICIAL))
    assert flow.outbox("request_answer") == []


def test_mail_for_a_closed_request_is_attached_and_the_assignee_told(flow: Flow):
    flow.deliver("request.eml", at=msk(2026, 12, 2, 10, 0))
    notice = flow.one("request_new", OFFICIAL)
    flow.deliver("request_answer.eml", at=msk(2026, 12, 4, 11, 0), reply_to=notice.message_id)
    answer = flow.one("request_answer", CUR_SENDER)
    flow.deliver("late_note.eml", at=msk(2026, 12, 4, 12, 0), reply_to=answer.message_id,
                 From="Петрова Е.В. <petrova@cur12.example.org>")
    (case,) = flow.cases()  # no new case unless configured
    assert case.state == "closed"
    assert "mail_after_close" in flow.actions(case)
    assert flow.messages()[-1].case_id == case.id
    told = flow.one("closed_case_mail", OFFICIAL)
    assert "Спасибо за оперативную работу" in body_of(told)
    assert "#открыть" in body_of(told)
