"""Repeat appeals through the appeal workflow: same address and topic from another applicant is linked, shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reports.test_topics import deliver_raw
from tests.workflow.conftest import FIXTURES, Flow, body_of, make_flow, msk, plain, set_headers  # noqa: F401


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the key lookup itself runs on both databases in test_repeats."""
    return f"sqlite:///{tmp_path / 'curmail.db'}"


@pytest.fixture
def appeals(make_flow) -> Flow:  # noqa: F811 - pytest injects the imported fixture
    return make_flow()


def test_a_neighbour_about_the_same_address_and_topic_is_a_repeat_with_history(appeals: Flow) -> None:
    flow = appeals
    flow.deliver("appeal_pos.eml", at=msk(2026, 12, 3, 10, 0))
    (first,) = flow.cases()
    neighbour = (FIXTURES / "appeal_pos.eml").read_bytes()
    for old, new in (("Смирнова Ольга Николаевна", "Кузьмин Пётр Ильич"), ("+7 900 000-00-00", "+7 900 111-22-33"),
                     ("ул. Гагарина, д. 5", "улица Гагарина, 5")):
        assert old.encode() in neighbour
        neighbour = neighbour.replace(old.encode(), new.encode())
    # Another ПОС message (its own id and subject), so it opens its own case rather than joining the first.
    neighbour = set_headers(neighbour, {"Message-ID": "<pos-neighbour@pos.gosuslugi.ru>",
                                        "Subject": "Новое сообщение ПОС: яма у дома"})
    deliver_raw(flow, neighbour, msk(2026, 12, 20, 10, 0))
    second = flow.cases()[-1]
    assert second.id != first.id and second.data["applicant"]["name"] == "Кузьмин Пётр Ильич"
    assert second.topic == first.topic == "дороги и транспорт"
    assert second.data["repeat_of"] == [first.id]
    assert [e.detail for e in flow.events(second, "repeat_detected")] == [{"repeat_of": [first.id]}]
    text = plain(body_of(flow.outbox("appeal_new", second.assignee)[-1]))
    assert "ПОВТОРНОЕ обращение" in text and f"дело № {first.id} от 03.12.2026 10:00 (МСК)" in text
    assert "ещё не закрыто" in text
