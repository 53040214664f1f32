"""Repeat appeals (п. 6.3.2): same applicant, or same address and topic, within the window; linked and audited."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from daemon.app import App
from daemon.db.models import Case, CaseEvent
from daemon.reports.facts import facts_of, normalize_address, street_of
from daemon.reports.repeats import ACTION, find_repeats, mark_repeats, match_repeats, repeat_history
from tests.reports.dataset import dataset
from tests.reports.seed import add_all, msk


def test_find_repeats_links_the_earlier_appeals(app: App) -> None:
    data = dataset()
    with app.sessions() as session:
        add_all(session, data.all())
    everyone = {**data.appeals, **data.earlier}
    with app.sessions() as session:
        for label, spec in data.appeals.items():
            case = session.get(Case, spec.case_id)
            expected = [everyone[e].case_id for e in data.expected_repeats.get(label, [])]
            assert find_repeats(session, case, app.settings) == expected, label


def test_window_decides_for_the_same_applicant(app: App) -> None:
    data = dataset()
    with app.sessions() as session:
        add_all(session, data.all())
        clara = facts_of(session.get(Case, data.appeals["a12"].case_id))
        first = facts_of(session.get(Case, data.earlier["earlier_clara"].case_id))
    assert match_repeats(clara, [first], timedelta(days=365)) == ()  # 399 days apart
    assert match_repeats(clara, [first], timedelta(days=400)) == (first.case_id,)  # same phone, other spelling


def test_mark_repeats_stores_the_links_and_audits_them(app: App) -> None:
    data = dataset()
    with app.sessions() as session:
        add_all(session, data.all())
    a1, a6 = data.appeals["a1"].case_id, data.appeals["a6"].case_id
    with app.sessions() as session, session.begin():
        assert mark_repeats(session, session.get(Case, a6), app.settings, at=msk(2026, 12, 10, 9, 1)) == [a1]
        assert mark_repeats(session, session.get(Case, a1), app.settings, at=msk(2026, 12, 10, 9, 1)) == []
    with app.sessions() as session:
        assert session.get(Case, a6).data["repeat_of"] == [a1]
        (event,) = session.scalars(select(CaseEvent).where(CaseEvent.action == ACTION)).all()
        assert (event.case_id, event.detail) == (a6, {"repeat_of": [a1]})
        (history,) = repeat_history(session, [a1])
        assert history["number"] == a1 and history["outcome"] == "Кровля отремонтирована"


def test_addresses_compare_in_any_spelling() -> None:
    forms = ["ул. Советская, д. 12", "Советская улица, 12", "Советская ул., д. 12", "улица Советская 12"]
    assert len({normalize_address(f) for f in forms}) == 1
    assert normalize_address("ул. Советская, д. 14") != normalize_address(forms[0])
    assert {street_of(f) for f in forms} == {"Советская"}
    assert street_of("пр. Гагарина, 3а") == "Гагарина"
    assert normalize_address(None) is None and street_of("") is None
