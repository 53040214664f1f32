"""The monthly problems report: top topics and streets with the trend against the month before, and outcomes."""

from __future__ import annotations

from collections import Counter
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook

from daemon.app import App
from daemon.reports.facts import street_of
from daemon.reports.period import month
from daemon.reports.problems import NO_DATA, build_problems, problems_text, problems_xlsx
from tests.reports.dataset import AS_OF, dataset
from tests.reports.seed import Spec, add_all, msk


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the problems report reads the rows (load_facts) the quarterly tests check on PostgreSQL."""
    return f"sqlite:///{tmp_path / 'curmail.db'}"


def in_month(spec: Spec, year: int, number: int) -> bool:
    return spec.kind == "appeal" and (spec.opened.year, spec.opened.month) == (year, number)


def test_december_against_november(app: App) -> None:
    data = dataset()
    with app.sessions() as session:
        add_all(session, data.all())
        report = build_problems(session, app.settings, month(2026, 12), AS_OF)
    specs = data.all()
    december = [s for s in specs if in_month(s, 2026, 12)]
    november = [s for s in specs if in_month(s, 2026, 11)]
    now_topics = Counter(s.topic or "прочее" for s in december)
    before_topics = Counter(s.topic or "прочее" for s in november)
    assert report.total == len(december) == 6
    assert report.previous_total == len(november) == 3
    assert {r.name: (r.count, r.previous) for r in report.by_topic} == {
        topic: (n, before_topics.get(topic, 0)) for topic, n in now_topics.items()}
    roads = next(r for r in report.by_topic if r.name == "дороги и транспорт")
    assert (roads.count, roads.previous, roads.trend) == (1, 1, "без изменений")
    housing = next(r for r in report.by_topic if r.name == "ЖКХ")
    assert housing.trend == "новая"  # no ЖКХ appeals in November
    streets = Counter(street_of(s.address) for s in december if s.address)
    assert {r.name: r.count for r in report.by_street} == dict(streets) == {"Советская": 2}
    closed_in_december = sorted(s.case_id for s in specs if s.kind == "appeal" and s.closed
                                and (s.closed.year, s.closed.month) == (2026, 12))
    assert sorted(r.case_id for r in report.closed) == closed_in_december
    a3 = next(r for r in report.closed if r.case_id == data.appeals["a3"].case_id)
    assert (a3.street, a3.on_time, a3.outcome) == ("Ленина", True, "без итога")

    text = problems_text(report)
    assert "декабрь 2026 г." in text and f"ЖКХ: {now_topics['ЖКХ']} (месяцем ранее 0, новая)" in text
    closed_specs = [s for s in specs if s.case_id in closed_in_december]
    on_time = sum(s.closed <= s.due for s in closed_specs)
    assert f"Закрыто обращений за месяц: {len(closed_specs)} (в срок: {on_time}; итоги: без итога — " in text
    wb = load_workbook(BytesIO(problems_xlsx(report)))
    ws = wb["Темы"]
    assert ws.freeze_panes == "A2" and len(ws._charts) == 1
    assert {row[0].value: row[1].value for row in ws.iter_rows(min_row=2)} == dict(now_topics)
    assert [row[0].value for row in wb["Итоги"].iter_rows(min_row=2)] == [
        r.case_id for r in report.closed]


def test_october_outcomes_show_what_was_done(app: App) -> None:
    data = dataset()
    with app.sessions() as session:
        add_all(session, data.all())
        report = build_problems(session, app.settings, month(2026, 10), msk(2026, 11, 1, 9))
    housing = next(r for r in report.by_topic if r.name == "ЖКХ")
    assert housing.count == 2 and housing.closed == 1  # a2 was closed only on 20.11
    assert housing.top_outcomes == (("Кровля отремонтирована", 1),)


def test_a_month_without_appeals_says_so(app: App) -> None:
    with app.sessions() as session:
        report = build_problems(session, app.settings, month(2025, 2), AS_OF)
    assert report.empty and NO_DATA in problems_text(report)
    assert load_workbook(BytesIO(problems_xlsx(report)))["Темы"]["A2"].value == NO_DATA
