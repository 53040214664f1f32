"""п. 10.2 topics: the `[topics]` taxonomy labels and routes cases on lemmas; `#тема` corrects and is recorded."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from types import SimpleNamespace

import pytest

from daemon.clock import Clock
from daemon.db.engine import transaction
from daemon.pipeline import process_pending
from daemon.reports.period import quarter
from daemon.reports.quarterly import build
from daemon.store import IncomingRaw, store_messages
from daemon.workflow.routing import route
from tests.workflow.conftest import (
    CONTACT,
    OFFICIAL,
    Flow,
    make_flow,  # noqa: F401 - the workflow's fixture, used by `appeals`
    make_settings,
    msk,
)

TOPICS = {"ЖКХ": ["отопление", "батарея"], "переправа": ["паром", "переправа"], "прочее": []}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: routing reads settings, and the command path is dialect-independent (covered elsewhere)."""
    return f"sqlite:///{tmp_path / 'curmail.db'}"


@pytest.fixture
def appeals(make_flow) -> Flow:  # noqa: F811 - pytest injects the imported fixture
    return make_flow()


def test_configured_topics_replace_the_built_in_taxonomy(tmp_path: Path) -> None:
    app = SimpleNamespace(settings=make_settings(tmp_path, "sqlite://", topics=TOPICS))
    ferry = route(app, "Когда откроют переправу? Паромы стоят у берега.")  # word forms: переправу, паромы
    assert (ferry.assignee, ferry.topic, ferry.by) == (CONTACT, "переправа", "contact")
    assert set(ferry.words) == {"паром", "переправа"}
    # Petrov's «ЖКХ» takes its keywords from [topics] now, not from the built-in list.
    heating = route(app, "В квартире холодные батареи, отопления нет")
    assert (heating.assignee, heating.topic) == (OFFICIAL, "ЖКХ")
    assert route(app, "Во дворе мусор не вывозят").topic is None  # «мусор» is a built-in ЖКХ word only
    # The built-in taxonomy is gone: «больница» is no topic of this configuration.
    assert route(app, "В больнице не хватает врачей").topic is None
    builtin = SimpleNamespace(settings=make_settings(tmp_path, "sqlite://"))
    assert route(builtin, "В больнице не хватает врачей").topic == "здравоохранение"
    assert route(builtin, "Во дворе мусор не вывозят").topic == "ЖКХ"


def command_mail(sender: str, reply_to: str, subject: str, text: str, when) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "adm@kozmo.example"
    msg["Subject"] = "Re: " + subject
    msg["Message-ID"] = make_msgid(domain="kozmo.example")
    msg["In-Reply-To"] = reply_to
    msg["References"] = reply_to
    msg["Date"] = format_datetime(when)
    msg.set_content(text)
    return msg.as_bytes()


def deliver_raw(target: Flow, raw: bytes, at) -> None:
    target.app.clock = Clock(fixed=at)
    with transaction(target.app.sessions) as session:
        store_messages(session, mailbox=None, uidvalidity=None, messages=[IncomingRaw(raw, at)], now=at)
    report = process_pending(target.app)
    assert report.parked == 0 and report.failed == 0, report


def test_topic_correction_is_recorded_and_counted_in_the_report(appeals: Flow) -> None:
    flow = appeals
    flow.deliver("appeal_pos.eml", at=msk(2026, 12, 3, 10, 0))
    case = flow.case()
    assert case.topic == "дороги и транспорт"  # «яма на дороге», «асфальт»: matched on lemmas
    (routed,) = flow.events(case, "transition:routed")
    assert routed.detail["topic"] == "дороги и транспорт"
    notice = flow.one("appeal_new", CONTACT)

    when = msk(2026, 12, 3, 11, 0)
    deliver_raw(flow, command_mail(CONTACT, notice.message_id, notice.subject, "#тема благоустройство\n", when),
                when)
    case = flow.case()
    assert case.topic == "благоустройство"
    (event,) = flow.events(case, "topic_set")
    assert (event.actor, event.detail) == (CONTACT, {"old": "дороги и транспорт", "new": "благоустройство"})
    assert event.at == when

    with flow.app.sessions() as session:
        figures = build(session, flow.app.settings, quarter(2026, 4), msk(2027, 1, 11, 9, 0))
    assert figures.by_topic == [("благоустройство", 1)]


def test_topic_names_are_filed_under_the_taxonomy_spelling_and_unknown_ones_are_flagged(appeals: Flow) -> None:
    from tests.workflow.conftest import body_of

    flow = appeals
    flow.deliver("appeal_pos.eml", at=msk(2026, 12, 3, 10, 0))
    notice = flow.one("appeal_new", CONTACT)
    when = msk(2026, 12, 3, 11, 0)
    deliver_raw(flow, command_mail(CONTACT, notice.message_id, notice.subject, "#тема  жкх\n", when), when)
    assert flow.case().topic == "ЖКХ"  # the reports count one «ЖКХ», not «жкх» beside it
    (first,) = flow.outbox("command_result", CONTACT)
    assert "тема дела: ЖКХ" in " ".join(body_of(first).split())

    later = msk(2026, 12, 3, 12, 0)
    deliver_raw(flow, command_mail(CONTACT, notice.message_id, notice.subject, "#тема ремонт забора\n", later),
                later)
    case = flow.case()
    assert case.topic == "ремонт забора"
    assert [e.detail for e in flow.events(case, "topic_set")] == [
        {"old": "дороги и транспорт", "new": "ЖКХ"}, {"old": "ЖКХ", "new": "ремонт забора"}]
    second = flow.outbox("command_result", CONTACT)[-1]
    text = " ".join(body_of(second).split())
    assert "такой темы нет в справочнике" in text and "благоустройство" in text
