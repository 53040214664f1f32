"""Routing by staff topics on lemmas: the responsible official whose topic matches, else the contact official."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from daemon.workflow.routing import find_staff, route, taxonomy
from tests.support.settings import STAFF
from tests.workflow.conftest import CONTACT, OFFICIAL, Flow, make_settings

EDUCATION = {"name": "Смирнов Андрей Львович", "email": "smirnov@kozmo.example", "roles": ["responsible"],
             "topics": ["образование", "Дом детского творчества"]}


@pytest.fixture
def staffed(tmp_path) -> SimpleNamespace:
    """Routing reads only the settings: no database needed (the pipeline test below uses one)."""
    settings = make_settings(tmp_path, "sqlite://", staff=[*STAFF, EDUCATION])
    return SimpleNamespace(app=SimpleNamespace(settings=settings), settings=settings)


@pytest.mark.parametrize(
    ("text", "assignee", "topic"),
    [
        ("Жители жалуются: в подъездах нет отопления, батареи холодные", OFFICIAL, "ЖКХ"),
        ("На дорогах города ямы, автобусы не ходят по расписанию", OFFICIAL, "дороги и транспорт"),
        ("Учителя школы № 2 уволились, ученики без уроков", "smirnov@kozmo.example", "образование"),
        # A topic of the staff member's own (not a built-in one) matches any word form of its words.
        ("В доме детского творчества закрыли мастерскую", "smirnov@kozmo.example", "Дом детского творчества"),
    ],
)
def test_the_responsible_official_whose_topic_matches_gets_the_case(staffed, text, assignee, topic):
    chosen = route(staffed.app, text)
    assert (chosen.assignee, chosen.topic, chosen.by) == (assignee, topic, "topic")
    assert chosen.words


def test_no_staff_topic_matches_so_the_contact_official_gets_it_with_the_topic_label(staffed):
    chosen = route(staffed.app, "В больнице не хватает врачей, запись к терапевту на месяц вперёд")
    assert (chosen.assignee, chosen.by, chosen.topic) == (CONTACT, "contact", "здравоохранение")


def test_nothing_matches_at_all(staffed):
    chosen = route(staffed.app, "Добрый день, коллеги")
    assert (chosen.assignee, chosen.topic, chosen.words) == (CONTACT, None, ())


def test_without_a_contact_official_the_supervisor_stands_in(tmp_path):
    settings = make_settings(tmp_path, "sqlite://", staff=[s for s in STAFF if "contact" not in s["roles"]])
    assert route(SimpleNamespace(settings=settings), "Добрый день").assignee == "sidorova@kozmo.example"


def test_staff_topics_come_first_and_keep_the_configured_order(staffed):
    table = taxonomy(staffed.settings)
    assert list(table.staff_topics) == ["ЖКХ", "дороги и транспорт", "образование", "Дом детского творчества"]
    assert table.owners["образование"] == ("smirnov@kozmo.example",)
    assert "здравоохранение" in table.all_topics and "прочее" not in table.all_topics


def test_a_signal_is_routed_on_its_text_and_the_topic_stored(make_flow):
    flow: Flow = make_flow(staff=[*STAFF, EDUCATION])
    flow.deliver("signal.eml", at=flow.app.clock())
    case = flow.case()
    assert case.assignee == OFFICIAL and case.topic == "ЖКХ"  # the text is about the water supply
    routed = flow.events(case, "transition:routed")[0].detail
    assert routed["by"] == "topic" and "водоснабжение" in routed["words"]


@pytest.mark.parametrize(("who", "email"), [("Петров", OFFICIAL), ("PETROV@kozmo.example", OFFICIAL),
                                            ("сидорова", "sidorova@kozmo.example"), ("Никто", None)])
def test_find_staff_by_surname_or_address(staffed, who, email):
    member = find_staff(staffed.settings, who)
    assert (member.email if member else None) == email
