"""Commands by e-mail, from mails shaped like each client (tests/fixtures/commands), on a live refutation case."""

from __future__ import annotations

import email
from datetime import UTC
from email import policy

import pytest

from tests.interface.conftest import Mail, command_mail
from tests.support.mail import make_message
from tests.workflow.conftest import (
    CONTACT,
    CUR,
    MSK,
    OFFICIAL,
    PRESS,
    SUPERVISOR,
    WEB_EDITOR,
    attachment_names,
    body_of,
    header_of,
    msk,
    plain,
)

SIGNAL_AT = msk(2026, 12, 3, 12, 42)
LATER = msk(2026, 12, 3, 13, 0)


def open_signal(flow: Mail) -> int:
    flow.deliver("signal.eml", at=SIGNAL_AT)
    return flow.case().id


def reply_of(flow: Mail, to: str) -> str:
    (row,) = flow.outbox("command_result", to)
    return plain(body_of(row))


def test_thunderbird_status_and_assign_hand_the_whole_case_over(flow: Mail):
    number = open_signal(flow)
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver_raw(command_mail("thunderbird_flowed.eml", sender=OFFICIAL, case_id=number,
                                  reply_to=notice.message_id), at=LATER)
    case = flow.case()
    assert case.assignee == SUPERVISOR
    (result,) = flow.outbox("command_result", OFFICIAL)
    assert header_of(result, "Subject") == f"[KZM-{number}] Обработано: Дело назначено"
    assert header_of(result, "In-Reply-To") == "<tb-1@kozmo.example>" or header_of(result, "In-Reply-To")
    text = reply_of(flow, OFFICIAL)
    assert "> #статус" in text and "состояние: назначено исполнителю" in text and "Срок: 03.12.2026 15:42" in text
    assert "> #назначить sidorova@kozmo.example ✓ дело передано: Сидорова Анна Викторовна" in text
    handed = flow.one("case_assigned", SUPERVISOR)
    msg = email.message_from_bytes(handed.raw, policy=policy.default)
    assert next(p.get_filename() for p in msg.iter_attachments()).endswith(".eml")
    assert "Воду отключили на неделю" in body_of(handed)
    assert len(flow.outbox("refutation_new", SUPERVISOR)) == 1  # the workflow's own letter: what to do, by when


def test_the_reply_is_threaded_under_the_command_mail(flow: Mail):
    number = open_signal(flow)
    notice = flow.one("refutation_new", OFFICIAL)
    raw = command_mail("thunderbird_flowed.eml", sender=OFFICIAL, case_id=number, reply_to=notice.message_id)
    flow.deliver_raw(raw, at=LATER)
    (result,) = flow.outbox("command_result", OFFICIAL)
    command_id = email.message_from_bytes(raw, policy=policy.default)["Message-ID"]
    assert header_of(result, "In-Reply-To") == command_id
    assert command_id in header_of(result, "References") and notice.message_id in header_of(result, "References")
    assert header_of(result, "Auto-Submitted") == "auto-replied"


def test_outlook_html_only_sets_deadline_and_topic(flow: Mail):
    number = open_signal(flow)
    notice = flow.one("refutation_new", CONTACT)
    flow.deliver_raw(command_mail("outlook_html_only.eml", sender=CONTACT, case_id=number,
                                  reply_to=notice.message_id), at=LATER)
    case = flow.case()
    assert case.due_at == msk(2026, 12, 10, 15, 0).astimezone(UTC)
    assert case.topic == "ЖКХ, отопление"
    text = reply_of(flow, CONTACT)
    assert "срок установлен: 10.12.2026 15:00 (МСК)" in text and "тема дела: ЖКХ, отопление" in text


def test_mailru_close_with_outcome(flow: Mail):
    number = open_signal(flow)
    notice = flow.one("refutation_new", CONTACT)
    flow.deliver_raw(command_mail("mailru_plain.eml", sender=CONTACT, case_id=number, reply_to=notice.message_id),
                     at=LATER)
    case = flow.case()
    assert (case.state, case.outcome) == ("closed", "дан ответ заявителю")
    assert "дело закрыто; итог: дан ответ заявителю" in reply_of(flow, CONTACT)


def test_english_read_only_commands_work_in_a_new_mail_but_reopen_needs_a_reply(flow: Mail):
    number = open_signal(flow)
    flow.deliver_raw(command_mail("english_commands.eml", sender=CONTACT, case_id=number), at=LATER)
    text = reply_of(flow, CONTACT)
    assert f"Дело [KZM-{number}]" in text  # #status
    assert "мои открытые дела: открытых дел нет" in text  # #mine: the case is Petrov's
    assert f"все открытые дела: 1: [KZM-{number}]" in text  # #list
    assert "--- Справка по командам ---" not in text or "#помощь" in text  # #help answered
    assert "> #reopen ✗ отклонено: команда меняет дело" in text
    refused = flow.events(flow.case(), "command_refused")
    assert [e.detail["command"] for e in refused] == ["reopen"]


def test_iphone_mine_without_a_case(flow: Mail):
    number = open_signal(flow)
    flow.deliver_raw(command_mail("iphone.eml", sender=OFFICIAL), at=LATER)
    text = reply_of(flow, OFFICIAL)
    assert f"мои открытые дела: 1: [KZM-{number}]" in text and "срок 03.12.2026 15:42 (МСК)" in text


def test_yandex_report_is_handed_to_the_reports_feature(flow: Mail):
    open_signal(flow)
    flow.deliver_raw(command_mail("yandex_html.eml", sender=SUPERVISOR), at=LATER)
    text = reply_of(flow, SUPERVISOR)
    assert "> #Отчёт 4 2026 ✓ отчёт за" in text and "направлен вам отдельным письмом" in text
    assert len(flow.outbox("quarterly_on_demand", SUPERVISOR)) == 1


def test_an_official_may_not_ask_for_reports(flow: Mail):
    open_signal(flow)
    flow.deliver_raw(command_mail("yandex_html.eml", sender=OFFICIAL), at=LATER)
    assert "> #Отчёт 4 2026 ✗ отклонено: команду могут выполнять: контактное лицо" in reply_of(flow, OFFICIAL)
    assert flow.outbox("quarterly_on_demand") == []


def draft_to_cur(flow: Mail) -> str:
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver("draft_reply.eml", at=msk(2026, 12, 3, 13, 40), reply_to=notice.message_id)
    return flow.one("refutation_draft", CUR).message_id


def test_outlook_cp1251_approval_by_command_sends_to_press(flow: Mail):
    number = open_signal(flow)
    to_cur = draft_to_cur(flow)
    flow.deliver_raw(command_mail("outlook_plain_cp1251.eml", sender=CUR, case_id=number, reply_to=to_cur),
                     at=msk(2026, 12, 3, 14, 0))
    assert flow.case().state == "sent_to_press"
    assert len(flow.outbox("refutation_press", PRESS)) == 1
    assert "текст согласован и направлен в пресс-службу" in reply_of(flow, CUR)


def test_gmail_rework_by_command_returns_the_draft(flow: Mail):
    number = open_signal(flow)
    to_cur = draft_to_cur(flow)
    flow.deliver_raw(command_mail("gmail_alternative.eml", sender=CUR, case_id=number, reply_to=to_cur),
                     at=msk(2026, 12, 3, 14, 0))
    case = flow.case()
    assert case.state == "rework"
    assert case.data["remarks"][-1]["text"] == "уточните адрес и сроки ремонта"
    assert "уточните адрес и сроки ремонта" in body_of(flow.one("refutation_remarks", OFFICIAL))
    assert "проект возвращён исполнителю с замечаниями" in reply_of(flow, CUR)


def test_subject_command_published_closes_the_case(flow: Mail):
    number = open_signal(flow)
    to_cur = draft_to_cur(flow)
    flow.deliver("approval.eml", at=msk(2026, 12, 3, 14, 20), reply_to=to_cur)
    web = flow.one("refutation_web", WEB_EDITOR)
    flow.deliver_raw(command_mail("subject_command.eml", sender=WEB_EDITOR, case_id=number, reply_to=web.message_id),
                     at=msk(2026, 12, 3, 15, 0))
    case = flow.case()
    assert (case.state, case.outcome) == ("closed", "published")
    assert case.data["published_url"] == "https://kozmo.example/news/17"


def test_unknown_commands_are_named_and_help_follows(flow: Mail):
    number = open_signal(flow)
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver_raw(command_mail("unknown_commands.eml", sender=OFFICIAL, case_id=number,
                                  reply_to=notice.message_id), at=LATER)
    text = reply_of(flow, OFFICIAL)
    assert "> #удалить всё ✗ неизвестная команда" in text
    assert "> #МыВместе ✗ неизвестная команда" in text
    assert "--- Справка по командам ---" in text and "#продлить <дата> <причина>" in text


@pytest.mark.parametrize("date_text", ["32.13.2026", "завтра вечером", "31.02.2026"])
def test_a_malformed_date_is_quoted_with_the_accepted_formats(flow: Mail, date_text: str):
    number = open_signal(flow)
    notice = flow.one("refutation_new", CONTACT)
    raw = make_message(sender=CONTACT, subject=f"RE: [KZM-{number}] Запрос", body=f"#срок {date_text}\n",
                       in_reply_to=notice.message_id, references=notice.message_id)
    flow.deliver_raw(raw, at=LATER)
    text = reply_of(flow, CONTACT)
    assert f"не удалось прочитать дату «{date_text}»" in text
    assert "«10.12.2026», «10.12.2026 15:00», «10 декабря»" in text
    assert flow.case().due_at == msk(2026, 12, 3, 15, 42).astimezone(UTC)  # unchanged


def test_a_command_on_a_case_the_sender_may_not_touch_is_refused_with_the_reason(flow: Mail):
    number = open_signal(flow)
    notice = flow.one("refutation_new", OFFICIAL)
    # Petrov is the assignee but only the contact official and the supervisor may move a deadline.
    flow.deliver_raw(command_mail("outlook_html_only.eml", sender=OFFICIAL, case_id=number,
                                  reply_to=notice.message_id), at=LATER)
    text = reply_of(flow, OFFICIAL)
    assert ("> #срок 10.12.2026 15:00 ✗ отклонено: команду могут выполнять: контактное лицо, "
            "руководитель аппарата") in text
    case = flow.case()
    assert case.due_at == msk(2026, 12, 3, 15, 42).astimezone(UTC)
    assert flow.events(case, "command_refused")[0].detail["command"] == "due"


def test_a_stranger_cannot_run_commands_and_gets_no_backscatter(flow: Mail):
    number = open_signal(flow)
    cur_notice = flow.one("ack", CUR)
    # Even a reply to a letter of ours (forwarded to them, say) with the case tag does not help.
    flow.deliver_raw(command_mail("mailru_plain.eml", sender="ivanov@mail.ru", case_id=number,
                                  reply_to=cur_notice.message_id), at=LATER)
    case = flow.case()
    assert case.state == "assigned"
    refused = flow.events(case, "command_refused")
    assert refused and "не числится среди сотрудников" in refused[0].detail["reason"]
    assert flow.outbox(to="ivanov@mail.ru") == []


def test_a_command_from_an_auto_responder_runs_nothing_and_gets_no_reply(flow: Mail):
    number = open_signal(flow)
    notice = flow.one("refutation_new", CONTACT)
    for header, value in (("Auto_Submitted", "auto-replied"), ("Precedence", "bulk")):
        raw = command_mail("mailru_plain.eml", sender=CONTACT, case_id=number, reply_to=notice.message_id,
                           **{header: value, "Message_ID": f"<auto-{header}@kozmo.example>"})
        flow.deliver_raw(raw, at=LATER)
    case = flow.case()
    assert case.state == "assigned"
    assert "command_ignored" in flow.actions(case)  # the bulk copy was read as a command, and ignored
    assert flow.outbox("command_result") == []


def test_extend_follows_the_rules_of_the_case_kind(flow: Mail):
    flow.deliver("appeal_59fz.eml", at=msk(2026, 12, 3, 10, 0))
    appeal = flow.case()
    original_due = appeal.due_at
    notice = flow.outbox("appeal_new", CONTACT)[0]

    def command(body: str, n: int) -> None:
        flow.deliver_raw(make_message(sender=CONTACT, subject=f"RE: [KZM-{appeal.id}] Обращение", body=body,
                                      in_reply_to=notice.message_id, references=notice.message_id,
                                      message_id=f"<extend-{n}@kozmo.example>"), at=msk(2026, 12, 4, 10, 0))

    command("#срок 20.01.2027\n", 1)  # a later date for an appeal is an extension, which needs a reason
    (first,) = flow.outbox("command_result", CONTACT)
    assert "только продлением с причиной: #продлить <дата> <причина>" in plain(body_of(first))
    assert flow.case().due_at == original_due

    command("#продлить 20.01.2027 запрошены сведения у подрядчика\n", 2)
    case = flow.case()
    assert case.due_at == msk(2027, 1, 20, 18, 0).astimezone(UTC)  # a date alone: the end of its working day
    assert case.data["applicant_notice"]["reason"] == "запрошены сведения у подрядчика"
    second = plain(body_of(flow.outbox("command_result", CONTACT)[1]))
    assert "срок продлён до 20.01.2027 18:00 (МСК); причина: запрошены сведения у подрядчика" in second

    command("#продлить 20.03.2027 ещё подождём\n", 3)  # past 30 days from the original term
    third = plain(body_of(flow.outbox("command_result", CONTACT)[2]))
    assert "✗ ошибка: Срок можно продлить не более чем на 30 дн." in third

    command("#статус\n", 4)  # both terms, and the reason in the history
    status = plain(body_of(flow.outbox("command_result", CONTACT)[3]))
    assert "Срок: 20.01.2027 18:00 (МСК)" in status
    assert f"Первоначальный срок: {original_due.astimezone(MSK):%d.%m.%Y %H:%M} (МСК)" in status
    assert "срок продлён: 20.01.2027 18:00 (МСК), причина: запрошены сведения у подрядчика" in status


def test_extend_is_refused_for_a_refutation_and_list_for_an_official(flow: Mail):
    number = open_signal(flow)
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver_raw(make_message(sender=OFFICIAL, subject=f"RE: [KZM-{number}] x",
                                  body="#продлить 04.12.2026 нужно согласование\n#список\n",
                                  in_reply_to=notice.message_id, references=notice.message_id), at=LATER)
    text = reply_of(flow, OFFICIAL)
    assert "✗ ошибка: Продлить срок можно только по обращению граждан." in text
    assert "> #список ✗ отклонено: команду могут выполнять: контактное лицо, руководитель аппарата" in text


def test_close_then_reopen(flow: Mail):
    number = open_signal(flow)
    notice = flow.one("refutation_new", CONTACT)
    flow.deliver_raw(make_message(sender=CONTACT, subject=f"RE: [KZM-{number}] x", body="#закрыть дубль\n#открыть\n",
                                  in_reply_to=notice.message_id, references=notice.message_id), at=LATER)
    case = flow.case()
    assert (case.state, case.outcome) == ("assigned", None)
    assert [e.to_state for e in case.events if e.action.startswith("transition:")][-2:] == ["closed", "assigned"]
    assert "дело открыто снова" in reply_of(flow, CONTACT)


def test_a_mail_with_only_a_mistyped_command_gets_help_instead_of_opening_a_case(flow: Mail):
    number = open_signal(flow)
    notice = flow.one("refutation_new", OFFICIAL)
    raw = make_message(sender=OFFICIAL, subject=f"RE: [KZM-{number}] Сигнал", body="#статсу\n\n-- \nПетров\n",
                       in_reply_to=notice.message_id, references=notice.message_id)
    flow.deliver_raw(raw, at=LATER)
    text = reply_of(flow, OFFICIAL)
    assert "> #статсу ✗ неизвестная команда; возможно, имелась в виду #статус" in text
    assert "--- Справка по командам ---" in text
    assert [c.id for c in flow.cases()] == [number]  # no new case, and the refutation did not take it as a draft
    assert flow.case().state == "assigned"


def test_a_new_mail_with_a_bare_case_tag_adds_information_but_cannot_reassign_close_or_approve(flow: Mail):
    number = open_signal(flow)
    flow.deliver_raw(make_message(sender=CONTACT, subject=f"[KZM-{number}] дополнение",
                                  body="Подрядчик сообщил, что воду дадут к вечеру.",
                                  message_id="<info-1@kozmo.example>"), at=LATER)
    info = flow.messages()[-1]
    assert info.case_id == number and flow.outbox("command_result") == []
    flow.deliver_raw(make_message(sender=CONTACT, subject=f"[KZM-{number}] #назначить Сидорова",
                                  body="#закрыть дубль\n#согласовано\n", message_id="<bare-1@kozmo.example>"), at=LATER)
    case = flow.case()
    assert case.state != "closed" and case.assignee == OFFICIAL
    assert flow.outbox("case_assigned") == [] and flow.outbox("refutation_press") == []
    reasons = {e.detail["command"]: e.detail["reason"] for e in flow.events(case, "command_refused")}
    assert set(reasons) == {"assign", "close", "approved"}
    assert "принимается только в ответе на письмо curmail" in reasons["assign"]
    assert "принимается только в ответе на письмо curmail" in reasons["close"]
    assert "команду могут выполнять: ЦУР" in reasons["approved"]
    text = reply_of(flow, CONTACT)
    assert "> #закрыть дубль ✗ отклонено" in text and f"[KZM-{number}] #назначить Сидорова ✗ отклонено" in text


def test_a_reply_to_our_answer_carries_the_token_for_the_next_command(flow: Mail):
    number = open_signal(flow)
    notice = flow.one("refutation_new", CONTACT)
    flow.deliver_raw(make_message(sender=CONTACT, subject=f"RE: [KZM-{number}] x", body="#статус\n",
                                  in_reply_to=notice.message_id, references=notice.message_id,
                                  message_id="<first@kozmo.example>"), at=LATER)
    (answer,) = flow.outbox("command_result", CONTACT)
    flow.deliver_raw(make_message(sender=CONTACT, subject=f"RE: {answer.subject}", body="#закрыть дубль\n",
                                  in_reply_to=answer.message_id, references=answer.message_id,
                                  message_id="<second@kozmo.example>"), at=LATER)
    assert (flow.case().state, flow.case().outcome) == ("closed", "дубль")
    # The same answer forwarded to someone else proves nothing for them: the token is per recipient.
    flow.deliver_raw(make_message(sender=SUPERVISOR, subject=f"RE: {answer.subject}", body="#открыть\n",
                                  in_reply_to=answer.message_id, references=answer.message_id,
                                  message_id="<third@kozmo.example>"), at=LATER)
    assert flow.case().state == "closed"
    assert "> #открыть ✗ отклонено: команда меняет дело" in reply_of(flow, SUPERVISOR)


def test_an_approval_of_a_superseded_draft_is_answered_as_not_done(flow: Mail):
    number = open_signal(flow)
    first = draft_to_cur(flow)
    flow.deliver("remarks.eml", at=msk(2026, 12, 3, 13, 50), reply_to=first)
    flow.deliver("draft_reply_v2.eml", at=msk(2026, 12, 3, 14, 0),
                 reply_to=flow.one("refutation_remarks", OFFICIAL).message_id)
    assert len(flow.outbox("refutation_draft", CUR)) == 2
    flow.deliver_raw(make_message(sender=CUR, subject=f"RE: [KZM-{number}] Проект", body="#согласовано\n",
                                  in_reply_to=first, references=first), at=msk(2026, 12, 3, 14, 10))
    case = flow.case()
    assert case.state == "awaiting_approval" and flow.outbox("refutation_press") == []
    text = reply_of(flow, CUR)
    assert "> #согласовано ✗ не принято: после отправки этой версии проекта исполнитель прислал новую" in text
    assert flow.events(case, "approval_refused")[-1].detail["reason"] == "changed"  # kept, not rolled back
    assert len(flow.outbox("approval_refused", CONTACT)) == 1


def test_a_repeated_approval_says_the_text_was_already_sent(flow: Mail):
    number = open_signal(flow)
    to_cur = draft_to_cur(flow)
    for n in (1, 2):
        flow.deliver_raw(make_message(sender=CUR, subject=f"RE: [KZM-{number}] Проект", body="#согласовано\n",
                                      in_reply_to=to_cur, references=to_cur, message_id=f"<ok-{n}@example.org>"),
                         at=msk(2026, 12, 3, 14, n))
    first, second = (plain(body_of(row)) for row in flow.outbox("command_result", CUR))
    assert "✓ текст согласован и направлен в пресс-службу" in first
    assert "✓ текст уже был согласован и направлен в пресс-службу; повторно не отправлялся" in second
    assert len(flow.outbox("refutation_press", PRESS)) == 1


def test_every_case_event_the_code_records_has_a_russian_name_in_the_status_history():
    import re
    from pathlib import Path

    from daemon.commands import ACTION_RU

    root = Path(__file__).resolve().parents[2] / "daemon"
    source = "\n".join(p.read_text(encoding="utf-8") for p in root.rglob("*.py"))
    literal = set(re.findall(r'action="([a-z_]+)"', source)) - {"store_true"}
    templated = {f"{k}_{e}" for k in ("reminder", "escalation") for e in ("sent", "skipped")}
    templated |= {f"report_{k}_{e}" for k in ("reminder", "escalation") for e in ("sent", "skipped")}
    templated |= {f"outbox_{k}" for k in ("failed", "uncertain", "confirmed", "resend")}
    missing = sorted((literal | templated) - set(ACTION_RU))
    assert missing == []
    assert all(re.search("[а-яё]", text) for text in ACTION_RU.values())


CUR_REQUESTER = "petrova@cur12.example.org"


def staff_reply(sender: str, reply_to: str, subject: str, body: str, *, file: tuple[str, bytes] | None = None,
              message_id: str | None = None) -> bytes:
    """A staff reply to one of our letters, optionally with a file, as a mail client sends it."""
    msg = email.message_from_bytes(make_message(sender=sender, subject=subject, body=body, in_reply_to=reply_to,
                                                references=reply_to, message_id=message_id),
                                   policy=policy.default)
    if file is not None:
        msg.add_attachment(file[1], maintype="application", subtype="pdf", filename=file[0])
    return msg.as_bytes()


def test_a_note_on_a_request_reaches_the_assignee_and_never_the_cur(flow: Mail):
    flow.deliver("request.eml", at=msk(2026, 12, 2, 10, 0))
    case = flow.case()
    copy_to_contact = flow.one("request_new", CONTACT)
    assert "начните письмо со строки «#заметка»" in plain(body_of(copy_to_contact))  # how staff learn of it
    to_cur_before = [row.kind for row in flow.outbox(to=CUR_REQUESTER)]  # the acknowledgement of receipt
    flow.deliver_raw(staff_reply(
        CONTACT, copy_to_contact.message_id, f"RE: [KZM-{case.id}] Запрос",
        "#заметка Петров, ЦУР звонил: ответ нужен до обеда.\nСправка подрядчика во вложении.\n\n-- \nКонтактное лицо\n",
        file=("справка.pdf", b"%PDF-1.4 note"), message_id="<note-1@kozmo.example>"), at=msk(2026, 12, 2, 11, 0))
    case = flow.case()
    assert (case.state, case.assignee) == ("assigned", OFFICIAL)  # not taken as the answer
    assert [row.kind for row in flow.outbox(to=CUR_REQUESTER)] == to_cur_before
    (event,) = flow.events(case, "note")
    assert event.detail == {"text": "Петров, ЦУР звонил: ответ нужен до обеда.\nСправка подрядчика во вложении.",
                            "files": ["справка.pdf"]}
    letter = flow.one("case_note", OFFICIAL)
    assert header_of(letter, "Subject").startswith(f"[KZM-{case.id}] Заметка по делу от ")
    text = plain(body_of(letter))
    assert "> Петров, ЦУР звонил: ответ нужен до обеда." in text and "Заявителю и ЦУР она не отправлялась" in text
    assert "Контактное лицо" not in text  # the signature under the note is not part of it
    assert attachment_names(letter) == ["справка.pdf"]
    assert "заметка записана в историю дела и направлена исполнителю" in reply_of(flow, CONTACT)

    # The assignee answers the colleague with a note of their own: recorded, nobody mailed, still no answer.
    flow.deliver_raw(staff_reply(OFFICIAL, letter.message_id, f"RE: {letter.subject}", "#note запросил, жду к 12:00\n",
                               message_id="<note-2@kozmo.example>"), at=msk(2026, 12, 2, 11, 30))
    assert [e.detail["text"] for e in flow.events(flow.case(), "note")][-1] == "запросил, жду к 12:00"
    assert len(flow.outbox("case_note")) == 1 and flow.outbox("request_answer") == []
    assert "> #note запросил, жду к 12:00 ✓ заметка записана в историю дела" in reply_of(flow, OFFICIAL)

    # #статус shows the notes; the real answer still goes to the ЦУР, without them.
    flow.deliver_raw(make_message(sender=SUPERVISOR, subject=f"[KZM-{case.id}] #статус", body="",
                                  message_id="<status-1@kozmo.example>"), at=msk(2026, 12, 2, 11, 40))
    status = reply_of(flow, SUPERVISOR)
    assert "заметка: Петров, ЦУР звонил: ответ нужен до обеда. Справка подрядчика во вложении." in status
    assert "заметка: запросил, жду к 12:00" in status

    # Handed over, the new assignee gets every note whole beside the letters.
    assign = staff_reply(CONTACT, copy_to_contact.message_id, f"RE: [KZM-{case.id}] Запрос", "#назначить Сидорова\n",
                       message_id="<assign-1@kozmo.example>")
    flow.deliver_raw(assign, at=msk(2026, 12, 2, 11, 50))
    handed_letter = flow.one("case_assigned", SUPERVISOR)
    handed = plain(body_of(handed_letter))
    # The note with a file travels as its mail beside the ЦУР's request; the note without one does not.
    attached = email.message_from_bytes(handed_letter.raw, policy=policy.default)
    mails = [email.message_from_bytes(part.get_payload(decode=True), policy=policy.default)
             for part in attached.iter_attachments()]
    assert sorted(m["Message-ID"] for m in mails) == ["<note-1@kozmo.example>", "<wf-request-1@cur12.example.org>"]
    assert "Заметка 1: Иванова Мария Петровна" in handed and "> Справка подрядчика во вложении." in handed
    assert "Заметка 2: Петров Сергей Иванович" in handed and "> запросил, жду к 12:00" in handed
    notice = flow.one("request_new", SUPERVISOR)
    flow.deliver("request_answer.eml", at=msk(2026, 12, 2, 12, 0), reply_to=notice.message_id)
    answer = flow.one("request_answer", CUR_REQUESTER)
    assert "звонил" not in body_of(answer) and "справка.pdf" not in attachment_names(answer)
    assert flow.case().state == "closed"


def test_an_empty_note_is_refused_and_the_cur_may_not_leave_one(flow: Mail):
    number = open_signal(flow)
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver_raw(staff_reply(OFFICIAL, notice.message_id, f"RE: [KZM-{number}] x", "#заметка\n\n-- \nПетров\n"),
                     at=LATER)
    assert "> #заметка ✗ ошибка: напишите текст заметки после команды" in reply_of(flow, OFFICIAL)
    assert flow.events(flow.case(), "note") == [] and flow.case().state == "assigned"
    flow.deliver_raw(make_message(sender=CUR, subject=f"RE: [KZM-{number}] x", body="#заметка ждём проект\n"),
                     at=LATER)
    assert "> #заметка ждём проект ✗ отклонено: команду могут выполнять: сотрудник администрации" in reply_of(flow, CUR)
    assert flow.events(flow.case(), "note") == []
