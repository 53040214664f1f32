"""The two pipeline stages: intake threads a backlog before any workflow runs; acting keeps each case in order."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

import daemon.pipeline
from daemon.app import App
from daemon.db.engine import transaction
from daemon.db.models import Case, MessageStatus, OutboxMessage, StoredMessage
from daemon.errors import ParkMessage
from daemon.pipeline import act_pending, classify_pending
from daemon.replay import replay_parked
from daemon.store import IncomingRaw, store_messages
from tests.workflow.conftest import CUR, FIXTURES, OFFICIAL, Flow, msk, set_headers

SIGNAL_AT = msk(2026, 12, 3, 12, 42)
SIGNAL_ID = "<wf-signal-1@cur12.example.org>"


def store(flow: Flow, name: str, at: datetime, **headers: str) -> None:
    raw = (FIXTURES / name).read_bytes()
    if headers:
        raw = set_headers(raw, {k.replace("_", "-"): v for k, v in headers.items()})
    with transaction(flow.app.sessions) as session:
        store_messages(session, mailbox=None, uidvalidity=None, messages=[IncomingRaw(raw, at)], now=at)


def store_signal_and_follow_up(flow: Flow) -> None:
    """A ЦУР signal and a second ЦУР letter answering it: both belong to one case."""
    store(flow, "signal.eml", SIGNAL_AT)
    store(flow, "generic_cur.eml", msk(2026, 12, 3, 12, 50), From=CUR, Message_ID="<wf-follow-up@cur12.example.org>",
          In_Reply_To=SIGNAL_ID, References=SIGNAL_ID)


def trip_on_the_signal(monkeypatch: pytest.MonkeyPatch):
    """Make acting on the signal raise; returns the real act_row, to put back."""
    original = daemon.pipeline.act_row

    def flaky(session, app, row):
        if row.message_id == SIGNAL_ID:
            raise RuntimeError("the workflow trips")
        return original(session, app, row)

    monkeypatch.setattr(daemon.pipeline, "act_row", flaky)
    return original


def statuses(flow: Flow) -> list[str]:
    return [m.status for m in flow.messages()]


def test_intake_threads_a_backlog_and_opens_its_cases_before_any_workflow_runs(flow: Flow) -> None:
    store_signal_and_follow_up(flow)
    store(flow, "appeal_pos.eml", msk(2026, 12, 3, 13, 0))

    report = classify_pending(flow.app)

    assert (report.classified, report.parked, report.failed) == (3, 0, 0)
    assert statuses(flow) == [MessageStatus.CLASSIFIED] * 3
    signal, follow_up, appeal = flow.messages()
    assert signal.case_id == follow_up.case_id != appeal.case_id
    assert [(c.kind, c.state) for c in flow.cases()] == [("refutation", "new"), ("appeal", "new")]
    assert flow.outbox() == []  # no letter before the act stage

    report = act_pending(flow.app)

    assert (report.processed, report.parked, report.failed) == (3, 0, 0)
    assert statuses(flow) == [MessageStatus.PROCESSED] * 3
    refutation, appeal_case = flow.cases()
    assert (refutation.state, refutation.assignee) == ("assigned", OFFICIAL)
    assert appeal_case.state != "new"
    assert flow.one("refutation_new", OFFICIAL)


def test_the_act_stage_holds_a_cases_later_mail_while_its_earlier_mail_waits_for_a_retry(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_signal_and_follow_up(flow)
    classify_pending(flow.app)
    original = trip_on_the_signal(monkeypatch)
    report = act_pending(flow.app)

    assert (report.processed, report.failed, report.waiting) == (0, 1, 1)
    signal, follow_up = flow.messages()
    assert (signal.status, signal.attempts) == (MessageStatus.CLASSIFIED, 1)
    assert (follow_up.status, follow_up.attempts) == (MessageStatus.CLASSIFIED, 0)  # not tried, not counted

    monkeypatch.setattr(daemon.pipeline, "act_row", original)
    report = act_pending(flow.app)

    assert (report.processed, report.failed, report.waiting) == (2, 0, 0)
    assert statuses(flow) == [MessageStatus.PROCESSED] * 2
    with flow.app.sessions() as session:
        processed = list(session.scalars(select(StoredMessage.processed_at).order_by(StoredMessage.id)))
    assert processed[0] <= processed[1]
    assert flow.case().state == "assigned"  # the opening step ran first, the follow-up after it


def test_a_restarted_daemon_acts_on_what_an_earlier_run_classified(flow: Flow) -> None:
    store(flow, "signal.eml", SIGNAL_AT)
    classify_pending(flow.app)
    restarted = App.open(flow.app.settings, flow.app.clock, migrate=False)  # nothing kept from the first run
    try:
        report = act_pending(restarted)
    finally:
        restarted.close()
    assert report.processed == 1
    assert flow.case().state == "assigned"
    assert flow.one("refutation_new", OFFICIAL)


def test_a_message_parked_while_acting_is_replayed_into_the_same_case(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    store(flow, "signal.eml", SIGNAL_AT)
    classify_pending(flow.app)
    original = daemon.pipeline.act_row

    def refuse(session, app, row):
        raise ParkMessage("a workflow that cannot go on")

    monkeypatch.setattr(daemon.pipeline, "act_row", refuse)
    assert act_pending(flow.app).parked == 1
    (parked,) = flow.messages()
    assert parked.status == MessageStatus.PARKED and parked.case_id is not None

    monkeypatch.setattr(daemon.pipeline, "act_row", original)
    report = replay_parked(flow.app)

    assert (report.classified, report.processed) == (0, 1)
    with flow.app.sessions() as session:
        assert session.scalar(select(Case.id)) == parked.case_id
        assert len(session.scalars(select(Case)).all()) == 1
        assert session.scalars(select(OutboxMessage.kind).where(OutboxMessage.kind == "refutation_new")).first()


def test_a_pass_resumed_in_chunks_still_holds_the_later_mail_of_a_waiting_case(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_signal_and_follow_up(flow)
    classify_pending(flow.app)
    trip_on_the_signal(monkeypatch)
    first = act_pending(flow.app, limit=1)  # the runner walks the queue a chunk at a time
    second = act_pending(flow.app, limit=1, after_id=first.last_id)

    assert (first.failed, second.processed, second.waiting) == (1, 0, 1)
    assert statuses(flow) == [MessageStatus.CLASSIFIED] * 2
