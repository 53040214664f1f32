"""The generic flow: other ЦУР or staff mail goes to the contact official with one working day; closed-case mail."""

from __future__ import annotations

from datetime import UTC

from daemon.cases import CaseKind
from daemon.db.engine import transaction
from daemon.db.models import Case
from daemon.workflow.generic import reclassify
from tests.workflow.conftest import CONTACT, OFFICIAL, Flow, body_of, msk


def test_other_cur_mail_goes_to_the_contact_official_with_one_working_day(flow: Flow):
    flow.deliver("generic_cur.eml", at=msk(2026, 12, 4, 10, 0))  # Friday
    case = flow.case()
    assert (case.kind, case.state, case.assignee) == ("generic", "assigned", CONTACT)
    assert case.due_at == msk(2026, 12, 7, 18, 0).astimezone(UTC)  # the next working day, Monday
    letter = flow.one("generic_new", CONTACT)
    assert "совещании контактных лиц" in body_of(letter)
    assert "до 18:00 07.12.2026 (МСК)" in body_of(letter)
    assert flow.outbox(to=OFFICIAL) == []


def test_the_contact_official_can_reclassify_it_and_the_new_kinds_workflow_starts(flow: Flow):
    flow.deliver("generic_cur.eml", at=msk(2026, 12, 4, 10, 0))
    with transaction(flow.app.sessions) as session:
        reclassify(session, flow.app, session.get(Case, flow.case().id), CaseKind.REQUEST, actor=CONTACT)
    case = flow.case()
    assert (case.kind, case.state) == ("request", "assigned")
    assert flow.events(case, "transition:reclassified")[0].detail == {"from_kind": "generic", "to_kind": "request"}
    assert [e.actor for e in flow.events(case, "transition:reclassified")] == [CONTACT]
    assert len(flow.outbox("request_new", CONTACT)) == 1  # the request's own notification now


def test_mail_for_a_closed_case_opens_a_new_case_only_when_configured(make_flow):
    flow = make_flow(workflow={"new_case_for_closed": True})
    flow.deliver("request.eml", at=msk(2026, 12, 2, 10, 0))
    notice = flow.one("request_new", OFFICIAL)
    flow.deliver("request_answer.eml", at=msk(2026, 12, 4, 11, 0), reply_to=notice.message_id)
    answer = flow.outbox("request_answer")[0]
    flow.deliver("late_note.eml", at=msk(2026, 12, 4, 12, 0), reply_to=answer.message_id,
                 From="Петрова Е.В. <petrova@cur12.example.org>")
    closed, new = flow.cases()
    assert closed.state == "closed" and new.state == "assigned"
    assert flow.events(closed, "followup_opened")[0].detail == {"new_case": new.id}
    assert f"[KZM-{new.id}]" in body_of(flow.one("closed_case_mail", OFFICIAL))

