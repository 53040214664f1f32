"""The appeal flow: a deadline by channel (59-ФЗ 30 days, roll-forward as configured), routing, the answer closes it."""

from __future__ import annotations

from datetime import UTC

from tests.workflow.conftest import CONTACT, OFFICIAL, Flow, body_of, msk, plain


def test_a_pos_appeal_gets_the_pos_norm_and_a_notice_with_channel_applicant_and_address(flow: Flow):
    flow.deliver("appeal_pos.eml", at=msk(2026, 12, 3, 10, 0))  # Thursday
    case = flow.case()
    assert (case.kind, case.channel, case.state) == ("appeal", "pos", "assigned")
    assert case.assignee == OFFICIAL  # «дорога», «асфальт»: Petrov's «дороги и транспорт»
    assert case.due_at == msk(2026, 12, 3, 18, 0).astimezone(UTC)  # 8 working hours from 10:00
    assert case.data["applicant"]["name"] == "Смирнова Ольга Николаевна"
    for who in (OFFICIAL, CONTACT):
        text = plain(body_of(flow.one("appeal_new", who)))
        assert "Канал: ПОС («Госуслуги. Решаем вместе»)" in text
        assert "Смирнова Ольга Николаевна" in text
        assert "ул. Гагарина" in text
        assert "до 18:00 03.12.2026 (МСК)" in text


def test_a_59fz_appeal_runs_30_calendar_days_moved_off_a_day_off(flow: Flow):
    flow.deliver("appeal_59fz.eml", at=msk(2026, 4, 30, 16, 0))
    case = flow.case()
    assert case.channel == "59fz"
    # 30 April + 30 days = Saturday 30 May; the term moves to Monday 1 June (ГК РФ ст. 193).
    assert case.due_at == msk(2026, 6, 1, 18, 0).astimezone(UTC)


def test_without_roll_forward_the_term_ends_on_the_day_off(make_flow):
    flow = make_flow(calendar={"roll_forward_non_working": False})
    flow.deliver("appeal_59fz.eml", at=msk(2026, 4, 30, 16, 0))
    assert flow.case().due_at == msk(2026, 5, 30, 18, 0).astimezone(UTC)


def test_the_channel_norm_comes_from_the_configuration(make_flow):
    flow = make_flow(deadlines={"appeal": {"pos": "2wd", "other": "30d"}})
    flow.deliver("appeal_pos.eml", at=msk(2026, 12, 3, 10, 0))
    assert flow.case().due_at == msk(2026, 12, 7, 18, 0).astimezone(UTC)  # Thu + 2 working days = Mon


def test_the_staff_answer_closes_the_appeal_with_its_outcome(flow: Flow):
    flow.deliver("appeal_59fz.eml", at=msk(2026, 4, 30, 16, 0))
    notice = flow.one("appeal_new", flow.case().assignee)
    flow.deliver("appeal_answer.eml", at=msk(2026, 5, 12, 11, 0), reply_to=notice.message_id)
    case = flow.case()
    assert case.state == "closed"
    assert case.outcome == "фонари во дворе отремонтированы 3 декабря, заявителю направлен ответ."
    assert case.data["answer"]["on_time"] is True
    assert flow.events(case, "transition:answered")[0].detail["outcome"] == case.outcome


def test_a_second_appeal_from_the_same_applicant_is_marked_a_repeat_with_its_history(flow: Flow):
    flow.deliver("appeal_pos.eml", at=msk(2026, 12, 3, 10, 0))
    first = flow.case()
    flow.deliver("appeal_pos.eml", at=msk(2026, 12, 10, 10, 0), Message_ID="<pos-again@pos.gosuslugi.ru>",
                 Subject="Новое сообщение ПОС: опять разбита дорога")
    second = flow.cases()[-1]
    assert second.id != first.id
    assert second.data["repeat_of"] == [first.id]
    assert flow.events(second, "repeat_detected")
    text = plain(body_of(flow.outbox("appeal_new", second.assignee)[-1]))
    assert "ПОВТОРНОЕ обращение" in text
    assert f"дело № {first.id} от 03.12.2026 10:00 (МСК)" in text
    first_text = plain(body_of(flow.outbox("appeal_new", first.assignee)[0]))
    assert "ПОВТОРНОЕ" not in first_text


def test_a_long_chain_of_repeats_links_only_the_latest_ten(flow: Flow) -> None:
    for n in range(12):  # the same applicant writes again and again, each time a new appeal
        flow.deliver("appeal_pos.eml", at=msk(2026, 12, 3, 9, n), Message_ID=f"<chain-{n}@pos.gosuslugi.ru>",
                     Subject=f"Обращение номер {n}")
    cases = flow.cases()
    assert len(cases) == 12
    assert cases[-1].data["repeat_of"] == [c.id for c in cases[1:11]]  # the ten before it, oldest first
    letter = flow.outbox("appeal_new")[-1]
    assert "Ранее по этому вопросу (последние 10)" in body_of(letter)
