"""«#отсутствую» / «#на месте»: an absent official's new cases go to the stand-in, open ones are handed over."""

from __future__ import annotations

import email
from email import policy

import pytest

from tests.interface.conftest import FIXTURES, Mail
from tests.support.mail import make_message
from tests.workflow.conftest import CONTACT, OFFICIAL, SUPERVISOR, body_of, msk, plain, set_headers

SIGNAL = (FIXTURES / "workflow" / "signal.eml").read_bytes()


def signal(n: int) -> bytes:
    """A ЦУР signal about publication n: its own Message-ID, URL and subject, so it opens a case of its own."""
    raw = SIGNAL.replace(b"wall-123456_789", f"wall-123456_{n}00".encode())
    return set_headers(raw, {"Message-ID": f"<wf-signal-{n}00@cur12.example.org>",
                             "Subject": f"Недостоверная информация: отключение воды, публикация {n}"})


def command(sender: str, reply_to: str, body: str, n: int) -> bytes:
    return make_message(sender=sender, subject="RE: письмо curmail", body=body, in_reply_to=reply_to,
                        references=reply_to, message_id=f"<absence-{n}@kozmo.example>")


def results(flow: Mail, to: str) -> list[str]:
    return [plain(body_of(row)) for row in flow.outbox("command_result", to)]


def routed(flow: Mail, case_id: int) -> dict:
    case = next(c for c in flow.cases() if c.id == case_id)
    (event,) = [e for e in case.events if e.action == "transition:routed"]
    return event.detail


def test_away_hands_open_cases_over_routes_new_ones_to_the_deputy_until_back(flow: Mail):
    flow.deliver_raw(signal(1), at=msk(2026, 12, 3, 10, 0))
    (first,) = flow.cases()
    assert first.assignee == OFFICIAL
    notice = flow.one("refutation_new", OFFICIAL)

    flow.deliver_raw(command(OFFICIAL, notice.message_id, "#отсутствую до 25.12.2026 Сидорова\n", 1),
                     at=msk(2026, 12, 3, 11, 0))
    (reply,) = results(flow, OFFICIAL)
    assert "✓ отсутствие до 25.12.2026 18:00 (МСК); новые дела на это время назначаются: Сидорова" in reply
    assert f"ваши открытые дела переданы: [KZM-{first.id}]" in reply
    assert "попросите передать их командой #назначить" in reply
    assert flow.cases()[0].assignee == SUPERVISOR
    handed = plain(body_of(flow.one("case_assigned", SUPERVISOR)))
    assert "Воду отключили на неделю" in handed  # the whole case, as with #назначить

    # A new signal while he is away goes to the deputy; the routing record says whom she stands in for.
    flow.deliver_raw(signal(2), at=msk(2026, 12, 4, 10, 0))
    second = flow.cases()[-1]
    assert second.assignee == SUPERVISOR
    assert routed(flow, second.id)["instead_of"] == OFFICIAL
    assert len(flow.outbox("refutation_new", OFFICIAL)) == 1  # nothing new for the absent official

    # The contact official's list says who is away and who stands in.
    flow.deliver_raw(make_message(sender=CONTACT, subject="#список", body="", message_id="<list-1@kozmo.example>"),
                     at=msk(2026, 12, 4, 11, 0))
    (listing,) = results(flow, CONTACT)
    assert "отсутствуют:" in listing and "Петров Сергей Иванович" in listing
    assert "до 25.12.2026 18:00 (МСК); замещает Сидорова" in listing

    # Back early: new cases are his again; what was handed over stays with the deputy.
    (answer,) = flow.outbox("command_result", OFFICIAL)
    flow.deliver_raw(command(OFFICIAL, answer.message_id, "#на месте\n", 2), at=msk(2026, 12, 7, 9, 0))
    assert "✓ отсутствие отменено; новые дела снова назначаются вам" in results(flow, OFFICIAL)[-1]
    flow.deliver_raw(signal(3), at=msk(2026, 12, 7, 10, 0))
    assert [c.assignee for c in flow.cases()] == [SUPERVISOR, SUPERVISOR, OFFICIAL]


def test_an_absence_ends_by_itself_and_the_contact_stands_in_when_no_deputy_is_named(flow: Mail):
    flow.deliver_raw(signal(1), at=msk(2026, 12, 3, 10, 0))
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver_raw(command(OFFICIAL, notice.message_id, "#away 4.12.2026\n", 1), at=msk(2026, 12, 3, 11, 0))
    assert "новые дела на это время назначаются: Иванова" in results(flow, OFFICIAL)[0]
    flow.deliver_raw(signal(2), at=msk(2026, 12, 4, 10, 0))
    assert flow.cases()[-1].assignee == CONTACT
    flow.deliver_raw(signal(3), at=msk(2026, 12, 4, 18, 1))  # past the end of the working day given
    assert flow.cases()[-1].assignee == OFFICIAL


def test_a_deputy_who_is_away_too_passes_the_cases_on(flow: Mail):
    flow.deliver_raw(signal(1), at=msk(2026, 12, 3, 10, 0))
    to_contact = flow.one("refutation_new", CONTACT)
    flow.deliver_raw(command(CONTACT, to_contact.message_id, "#отпуск до 20.12.2026\n", 1),
                     at=msk(2026, 12, 3, 10, 30))
    to_official = flow.one("refutation_new", OFFICIAL)
    flow.deliver_raw(command(OFFICIAL, to_official.message_id, "#отсутствую 25.12.2026 Иванова\n", 2),
                     at=msk(2026, 12, 3, 11, 0))
    reply = results(flow, OFFICIAL)[0]
    assert "назначаются: Сидорова Анна Викторовна" in reply and "Иванова Мария Петровна" in reply
    assert "тоже отсутствует" in reply
    flow.deliver_raw(signal(2), at=msk(2026, 12, 4, 10, 0))
    assert flow.cases()[-1].assignee == SUPERVISOR


@pytest.mark.parametrize(("sender", "body", "error"), [
    (OFFICIAL, "#отсутствую\n", "✗ ошибка: укажите, до какого дня вы отсутствуете"),
    (OFFICIAL, "#отсутствую 01.12.2026\n", "✗ ошибка: дата 01.12.2026 18:00 (МСК) уже прошла"),
    (OFFICIAL, "#отсутствую 25.12.2027\n", "✗ ошибка: отсутствие дольше 180 дней"),
    (OFFICIAL, "#отсутствую 25.12.2026 Кузькин\n", "✗ ошибка: заместитель «Кузькин» не найден в списке сотрудников"),
    (OFFICIAL, "#отсутствую 25.12.2026 Петров\n", "✗ ошибка: заместителем нельзя назначить себя"),
    (OFFICIAL, "#отсутствует Иванова до 25.12.2026\n", "✗ отклонено: команду могут выполнять: контактное лицо"),
    (CONTACT, "#отсутствует Кузькин до 25.12.2026\n", "✗ ошибка: сотрудник «Кузькин» не найден"),
    (CONTACT, "#отсутствует\n", "✗ ошибка: укажите сотрудника и дату"),
    (CONTACT, "#отсутствует Петров\n", "✗ ошибка: укажите, до какого дня длится отсутствие"),
    (CONTACT, "#отсутствует Петров 25.12.2026 Петров\n", "✗ ошибка: заместителем нельзя назначить самого"),
])
def test_a_bad_or_unauthorised_absence_is_refused_with_the_reason_and_changes_nothing(flow: Mail, sender: str,
                                                                                     body: str, error: str):
    flow.deliver_raw(signal(1), at=msk(2026, 12, 3, 10, 0))
    notice = flow.one("refutation_new", sender)
    flow.deliver_raw(command(sender, notice.message_id, body, 1), at=msk(2026, 12, 3, 11, 0))
    assert error in results(flow, sender)[0]
    flow.deliver_raw(signal(2), at=msk(2026, 12, 4, 10, 0))
    assert [c.assignee for c in flow.cases()] == [OFFICIAL, OFFICIAL]


def test_an_absence_needs_a_reply_to_our_letter_so_a_forged_one_moves_nothing(flow: Mail):
    flow.deliver_raw(signal(1), at=msk(2026, 12, 3, 10, 0))
    forged = make_message(sender=OFFICIAL, subject="#отсутствую 25.12.2026 Иванова", body="",
                          message_id="<forged@evil.example>")
    flow.deliver_raw(forged, at=msk(2026, 12, 3, 11, 0))
    assert "✗ отклонено: команда меняет дело" in results(flow, OFFICIAL)[0]
    assert flow.cases()[0].assignee == OFFICIAL


def out_of_office(sender: str, reply_to: str, n: int, *, calendar: bool = False) -> bytes:
    """An Outlook out-of-office reply (RFC 3834-marked), or a calendar client's «Принято» when `calendar`."""
    subject = "Принято: срок" if calendar else "Автоматический ответ: [KZM-1] Недостоверная информация"
    body = "Петров принял приглашение." if calendar else "Я в отпуске до 25.12.2026. По срочным вопросам: Иванова."
    msg = email.message_from_bytes(make_message(
        sender=sender, subject=subject, body=body,
        in_reply_to=reply_to, references=reply_to, message_id=f"<oof-{n}@kozmo.example>",
        headers={"Auto-Submitted": "auto-replied"}), policy=policy.default)
    if calendar:
        msg.add_attachment(b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n", maintype="text",
                           subtype="calendar", filename="reply.ics")
    return msg.as_bytes()


def test_the_assignees_out_of_office_reply_tells_the_contact_once_who_can_reassign_from_it(flow: Mail):
    flow.deliver_raw(signal(1), at=msk(2026, 12, 3, 10, 0))
    notice = flow.one("refutation_new", OFFICIAL)
    to_official = [row.id for row in flow.outbox(to=OFFICIAL)]  # the new-case letter and the calendar invitation
    flow.deliver_raw(out_of_office(OFFICIAL, notice.message_id, 1), at=msk(2026, 12, 3, 10, 1))
    letter = flow.one("assignee_out_of_office", CONTACT)
    text = plain(body_of(letter))
    assert "Петров Сергей Иванович <petrov@kozmo.example> ответил(а) автоответом об отсутствии" in text
    assert "> Я в отпуске до 25.12.2026." in text and "Срок по делу: до 13:00 03.12.2026 (МСК)" in text
    assert [row.id for row in flow.outbox(to=OFFICIAL)] == to_official  # the auto-responder is never answered
    # A second auto-reply on the same case (to a reminder, say) tells nobody again.
    flow.deliver_raw(out_of_office(OFFICIAL, notice.message_id, 2), at=msk(2026, 12, 3, 11, 0))
    assert len(flow.outbox("assignee_out_of_office")) == 1
    # The contact official re-assigns by answering that very letter.
    flow.deliver_raw(command(CONTACT, letter.message_id, "#назначить Сидорова\n", 1), at=msk(2026, 12, 3, 11, 5))
    assert flow.cases()[0].assignee == SUPERVISOR


def test_a_calendar_answer_or_someone_elses_auto_reply_is_no_out_of_office_notice(flow: Mail):
    flow.deliver_raw(signal(1), at=msk(2026, 12, 3, 10, 0))
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver_raw(out_of_office(OFFICIAL, notice.message_id, 1, calendar=True), at=msk(2026, 12, 3, 10, 1))
    to_contact = flow.one("refutation_new", CONTACT)
    flow.deliver_raw(out_of_office(CONTACT, to_contact.message_id, 2), at=msk(2026, 12, 3, 10, 2))
    assert flow.outbox("assignee_out_of_office") == []
    assert flow.cases()[0].assignee == OFFICIAL


def test_the_contact_records_the_assignees_absence_from_the_out_of_office_notice(flow: Mail):
    """Znuny's administrator-set out-of-office: the member who is ill cannot send «#отсутствую» himself."""
    flow.deliver_raw(signal(1), at=msk(2026, 12, 3, 10, 0))
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver_raw(out_of_office(OFFICIAL, notice.message_id, 1), at=msk(2026, 12, 3, 10, 1))
    letter = flow.one("assignee_out_of_office", CONTACT)
    assert "«#отсутствует Петров до <дата> [заместитель]»" in plain(body_of(letter))

    flow.deliver_raw(command(CONTACT, letter.message_id, "#отсутствует Петров до 25.12.2026 Сидорова\n", 1),
                     at=msk(2026, 12, 3, 10, 30))
    (reply,) = results(flow, CONTACT)
    assert ("✓ Петров Сергей Иванович <petrov@kozmo.example> отсутствует до 25.12.2026 18:00 (МСК); новые дела "
            "на это время назначаются: Сидорова") in reply
    assert "открытые дела Петров Сергей Иванович <petrov@kozmo.example> переданы: [KZM-1]" in reply
    assert flow.cases()[0].assignee == SUPERVISOR
    flow.one("case_assigned", SUPERVISOR)
    flow.deliver_raw(signal(2), at=msk(2026, 12, 4, 10, 0))
    assert flow.cases()[-1].assignee == SUPERVISOR

    # The contact ends it when he is back; new cases are his again.
    (answer,) = flow.outbox("command_result", CONTACT)
    flow.deliver_raw(command(CONTACT, answer.message_id, "#на месте Петров\n", 2), at=msk(2026, 12, 7, 9, 0))
    assert ("✓ отсутствие отменено; новые дела снова назначаются Петров Сергей Иванович <petrov@kozmo.example>"
            in results(flow, CONTACT)[-1])
    flow.deliver_raw(signal(3), at=msk(2026, 12, 7, 10, 0))
    assert flow.cases()[-1].assignee == OFFICIAL


def test_a_member_may_not_end_someone_elses_absence(flow: Mail):
    flow.deliver_raw(signal(1), at=msk(2026, 12, 3, 10, 0))
    to_contact = flow.one("refutation_new", CONTACT)
    flow.deliver_raw(command(CONTACT, to_contact.message_id, "#отсутствую 25.12.2026 Сидорова\n", 1),
                     at=msk(2026, 12, 3, 10, 30))
    flow.deliver_raw(command(OFFICIAL, flow.one("refutation_new", OFFICIAL).message_id, "#на месте Иванова\n", 2),
                     at=msk(2026, 12, 3, 11, 0))
    assert "✗ отклонено: отменить отсутствие другого сотрудника могут: контактное лицо" in results(flow, OFFICIAL)[0]
    flow.deliver_raw(make_message(sender=SUPERVISOR, subject="#список", body="", message_id="<list-1@kozmo.example>"),
                     at=msk(2026, 12, 3, 12, 0))
    listing = results(flow, SUPERVISOR)[0]
    assert "отсутствуют:" in listing and "Иванова Мария Петровна" in listing


def test_the_contact_officials_own_out_of_office_reply_reaches_the_supervisor(flow: Mail):
    flow.deliver_raw(signal(1), at=msk(2026, 12, 3, 10, 0))
    to_contact = flow.one("refutation_new", CONTACT)
    flow.deliver_raw(command(CONTACT, to_contact.message_id, "#назначить Иванова\n", 1), at=msk(2026, 12, 3, 10, 5))
    assert flow.cases()[0].assignee == CONTACT
    flow.deliver_raw(out_of_office(CONTACT, to_contact.message_id, 2), at=msk(2026, 12, 3, 10, 10))
    letter = flow.one("assignee_out_of_office", SUPERVISOR)
    assert "Иванова Мария Петровна <ivanova@kozmo.example> ответил(а) автоответом" in plain(body_of(letter))
    assert flow.outbox("assignee_out_of_office", CONTACT) == []
