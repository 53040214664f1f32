"""The monthly problems report goes by itself on the first working day of the month, once, with repeats counted."""

from __future__ import annotations

import email
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from email import policy
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import undefer

from daemon.app import App
from daemon.clock import Clock
from daemon.db.models import OutboxMessage
from daemon.reports import monthly
from daemon.reports.facts import street_of
from daemon.reports.period import month
from daemon.reports.problems import build_problems
from tests.reports.dataset import AS_OF, dataset
from tests.reports.seed import add_all, msk

CONTACT = "ivanova@kozmo.example"
SUPERVISOR = "sidorova@kozmo.example"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the job reads the same rows as the problems report, which is dialect-independent."""
    return f"sqlite:///{tmp_path / 'curmail.db'}"


def at(app: App, moment: datetime) -> App:
    app.clock = Clock(fixed=moment)
    return app


def letters(app: App) -> list[OutboxMessage]:
    with app.sessions() as session:
        return list(session.scalars(select(OutboxMessage).options(undefer(OutboxMessage.raw))
                                    .where(OutboxMessage.kind == monthly.TEMPLATE).order_by(OutboxMessage.id)))


def parsed(row: OutboxMessage) -> email.message.EmailMessage:
    return email.message_from_bytes(row.raw, policy=policy.default)


def test_november_goes_on_the_first_working_day_of_december_once(make_app: Callable[..., App]) -> None:
    app = make_app()
    data = dataset()
    with app.sessions() as session:
        add_all(session, data.all())
    assert monthly.tick(at(app, msk(2026, 11, 30, 18, 0))) is None  # November is not over
    assert monthly.tick(at(app, msk(2026, 12, 1, 8, 59))) is None  # before the working day starts
    result = monthly.tick(at(app, msk(2026, 12, 1, 9, 0)))
    assert result is not None and result.to == (SUPERVISOR, CONTACT)
    assert monthly.tick(at(app, msk(2026, 12, 1, 9, 5))) is None
    assert monthly.tick(at(make_app(), msk(2026, 12, 2, 9, 0))) is None  # another instance, the next day

    rows = letters(app)
    assert sorted(r.recipients[0] for r in rows) == sorted([SUPERVISOR, CONTACT])
    msg = parsed(rows[0])
    assert str(msg["Subject"]).startswith("Проблемы, поднятые в обращениях: ноябрь 2026 г.")
    body = " ".join(msg.get_body(("plain",)).get_content().split())
    november = [s for s in data.all() if s.kind == "appeal" and (s.opened.year, s.opened.month) == (2026, 11)]
    october = [s for s in data.all() if s.kind == "appeal" and (s.opened.year, s.opened.month) == (2026, 10)]
    assert f"Обращений: {len(november)} (за октябрь 2026 г.: {len(october)})" in body
    (attachment,) = msg.iter_attachments()
    assert attachment.get_filename() == "problemy-2026-11.xlsx"
    sheet = load_workbook(BytesIO(attachment.get_content()))["Темы"]
    counts = Counter(s.topic or "прочее" for s in november)
    assert {r[0].value: r[1].value for r in sheet.iter_rows(min_row=2)} == dict(counts)


def test_a_month_ending_in_the_new_year_holidays_goes_on_11_january(app: App) -> None:
    with app.sessions() as session:
        add_all(session, dataset().all())
    assert monthly.send_at(app.settings, month(2026, 12)) == msk(2027, 1, 11, 9, 0)
    assert monthly.tick(at(app, msk(2027, 1, 5, 12, 0))) is None  # a holiday
    assert monthly.tick(at(app, msk(2027, 1, 11, 9, 0))).period.key == "2026-12"
    assert len(letters(app)) == 2


def test_an_empty_month_mails_nothing_and_the_switch_turns_it_off(make_app: Callable[..., App]) -> None:
    app = make_app()
    result = monthly.tick(at(app, msk(2026, 12, 1, 9, 0)))
    assert result is not None and result.empty and result.to == ()
    assert letters(app) == []
    off = make_app(reports={"problems_monthly": False})
    with off.sessions() as session:
        add_all(session, dataset().all())
    assert monthly.tick(at(off, msk(2027, 1, 11, 9, 0))) is None
    assert letters(off) == []


def test_repeats_are_counted_by_topic_and_street(app: App) -> None:
    data = dataset()
    with app.sessions() as session:
        add_all(session, data.all())
        report = build_problems(session, app.settings, month(2026, 12), AS_OF)
    repeats = [data.appeals[label] for label in data.expected_repeats
               if (data.appeals[label].opened.year, data.appeals[label].opened.month) == (2026, 12)]
    assert report.repeats == len(repeats) == 3
    by_topic = Counter(s.topic or "прочее" for s in repeats)
    assert {r.name: r.repeats for r in report.by_topic if r.repeats} == dict(by_topic)
    by_street = Counter(street_of(s.address) for s in repeats if s.address)
    assert {r.name: r.repeats for r in report.by_street if r.repeats} == dict(by_street) == {"Советская": 1}
