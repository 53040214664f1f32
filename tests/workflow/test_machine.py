"""The state-machine mechanism: tables per kind, refusal of illegal moves, an audit row for every move."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from daemon.cases import CaseKind, open_case
from daemon.db.engine import transaction
from daemon.db.models import Case, CaseEvent
from daemon.dispatch import reassign_case
from daemon.errors import IllegalTransition
from daemon.workflow.machine import TABLES, Event, apply, can_apply, close, reopen, substantive
from daemon.workflow.routing import reassign
from daemon.workflow.states import WAITING_ON_STAFF, State
from tests.workflow.conftest import CONTACT, CUR, OFFICIAL, Flow, body_of, msk


def new_case(flow: Flow, kind: CaseKind = CaseKind.REFUTATION) -> int:
    with transaction(flow.app.sessions) as session:
        case = open_case(session, kind=kind, subject="Тест", normalized_subject="Тест", counterpart=CUR,
                         opened_at=msk(2026, 12, 3, 9, 0), message=None)
        return case.id


def move(flow: Flow, case_id: int, *events: Event, actor: str = OFFICIAL) -> str:
    with transaction(flow.app.sessions) as session:
        case = session.get(Case, case_id)
        for event in events:
            apply(session, flow.app, case, event, actor=actor)
        return case.state


def transitions(flow: Flow, case_id: int) -> list[tuple[str, str | None, str | None, str]]:
    with flow.app.sessions() as session:
        rows = session.scalars(
            select(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.action.like("transition:%"))
            .order_by(CaseEvent.id)
        )
        return [(e.action, e.from_state, e.to_state, e.actor) for e in rows]


def test_every_kind_that_opens_cases_has_a_table_and_every_target_is_a_known_state():
    for kind in CaseKind:
        assert kind in TABLES
        for (source, _event), target in TABLES[kind].items():
            assert isinstance(source, State) and isinstance(target, State)
            assert (State.NEW, Event.ROUTED) in TABLES[kind]


def test_the_refutation_cycle_is_legal_and_each_move_is_audited(flow: Flow):
    case_id = new_case(flow)
    state = move(flow, case_id, Event.ROUTED, Event.DRAFT, Event.REMARKS, Event.DRAFT, Event.APPROVED, Event.PUBLISHED)
    assert state == "closed"
    assert [(a, f, t) for a, f, t, _ in transitions(flow, case_id)] == [
        ("transition:routed", "new", "assigned"),
        ("transition:draft", "assigned", "awaiting_approval"),
        ("transition:remarks", "awaiting_approval", "rework"),
        ("transition:draft", "rework", "awaiting_approval"),
        ("transition:approved", "awaiting_approval", "sent_to_press"),
        ("transition:published", "sent_to_press", "closed"),
    ]
    assert {actor for *_, actor in transitions(flow, case_id)} == {OFFICIAL}


@pytest.mark.parametrize(
    ("kind", "prefix", "event"),
    [
        (CaseKind.REFUTATION, (), Event.APPROVED),  # nothing to approve in state new
        (CaseKind.REFUTATION, (Event.ROUTED,), Event.APPROVED),  # no draft yet
        (CaseKind.REFUTATION, (Event.ROUTED,), Event.PUBLISHED),  # not sent to the press
        (CaseKind.REFUTATION, (Event.ROUTED, Event.DRAFT, Event.APPROVED), Event.DRAFT),  # approved text is final
        (CaseKind.REQUEST, (Event.ROUTED,), Event.APPROVED),  # requests are not approved by the ЦУР
        (CaseKind.APPEAL, (Event.ROUTED, Event.ANSWERED), Event.ANSWERED),  # closed
        (CaseKind.GENERIC, (), Event.ANSWERED),
    ],
)
def test_an_illegal_move_is_refused_and_changes_nothing(flow: Flow, kind, prefix, event):
    case_id = new_case(flow, kind)
    before = move(flow, case_id, *prefix)
    audited = len(transitions(flow, case_id))
    with pytest.raises(IllegalTransition, match="невозможно"):
        move(flow, case_id, event)
    with flow.app.sessions() as session:
        assert session.get(Case, case_id).state == before
    assert len(transitions(flow, case_id)) == audited


def test_closing_sets_closed_at_and_reopening_clears_it(flow: Flow):
    case_id = new_case(flow, CaseKind.REQUEST)
    move(flow, case_id, Event.ROUTED, Event.CLOSED)
    with flow.app.sessions() as session:
        assert session.get(Case, case_id).closed_at == flow.app.clock()
    assert move(flow, case_id, Event.REOPENED) == "assigned"
    with flow.app.sessions() as session:
        assert session.get(Case, case_id).closed_at is None


def test_waiting_states_are_those_in_which_staff_owe_work():
    # The contract with the reminders: a refutation waiting for the ЦУР or the press raises no reminder.
    assert State.AWAITING_APPROVAL not in WAITING_ON_STAFF and State.SENT_TO_PRESS not in WAITING_ON_STAFF
    assert {State.ASSIGNED, State.REWORK} <= WAITING_ON_STAFF


def test_reassignment_is_audited_and_refused_on_a_closed_case(flow: Flow):
    case_id = new_case(flow, CaseKind.GENERIC)
    move(flow, case_id, Event.ROUTED)
    with transaction(flow.app.sessions) as session:
        reassign(session, flow.app, session.get(Case, case_id), OFFICIAL, actor=CONTACT)
    with flow.app.sessions() as session:
        case = session.get(Case, case_id)
        assert case.assignee == OFFICIAL and not can_apply(case, Event.DRAFT)
    assert transitions(flow, case_id)[-1] == ("transition:reassigned", "assigned", "assigned", CONTACT)
    move(flow, case_id, Event.CLOSED)
    with pytest.raises(IllegalTransition), transaction(flow.app.sessions) as session:
        reassign(session, flow.app, session.get(Case, case_id), CONTACT, actor=CONTACT)


def test_an_illegal_move_caused_by_mail_is_recorded_in_the_case(flow: Flow):
    flow.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    notice = flow.one("refutation_new", OFFICIAL)
    # Remarks before any draft was sent: nothing to rework.
    flow.deliver("remarks.eml", at=msk(2026, 12, 3, 13, 0), reply_to=notice.message_id)
    case = flow.case()
    assert case.state == "assigned"
    refused = flow.events(case, "remarks_refused")[0]
    assert "невозможно" in refused.detail["reason"]


def test_close_with_an_outcome_and_reopen(flow: Flow):
    case_id = new_case(flow, CaseKind.APPEAL)
    move(flow, case_id, Event.ROUTED)
    with transaction(flow.app.sessions) as session:
        close(session, flow.app, session.get(Case, case_id), "дубликат обращения № 12", actor=CONTACT)
    with transaction(flow.app.sessions) as session:
        case = session.get(Case, case_id)
        assert (case.state, case.outcome) == ("closed", "дубликат обращения № 12")
        reopen(session, flow.app, case, actor=CONTACT)
        assert (case.state, case.outcome) == ("assigned", None)


def test_a_reassigned_case_sends_the_full_case_letter_to_the_new_assignee(flow: Flow):
    flow.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    with transaction(flow.app.sessions) as session:
        reassign_case(session, flow.app, session.get(Case, flow.case().id), "sidorova@kozmo.example", actor=CONTACT)
    case = flow.case()
    assert case.assignee == "sidorova@kozmo.example" and case.state == "assigned"
    letter = flow.one("refutation_new", "sidorova@kozmo.example")
    assert "Исполнитель: Сидорова Анна Викторовна" in body_of(letter)
    assert len(flow.outbox("refutation_new", OFFICIAL)) == 1  # the first assignee is not written to again


@pytest.mark.parametrize(
    ("new_text", "expected"),
    [
        ("-- \nПетров С.И.\nначальник отдела ЖКХ", ""),
        ("С уважением,\nПетров С.И.\nначальник отдела ЖКХ", ""),
        ("Спасибо!", ""),
        ("Спасибо, информация неверна.", "Спасибо, информация неверна."),
        ("Школа продолжит работу.\n-- \nПетров", "Школа продолжит работу."),
        ("Школа продолжит работу.\n\nС уважением,\nПетров", "Школа продолжит работу.\n\nС уважением,\nПетров"),
    ],
)
def test_a_bare_signature_or_sign_off_is_no_text(new_text, expected):
    assert substantive(new_text) == expected
