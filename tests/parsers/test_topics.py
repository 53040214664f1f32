"""Topic matching on lemmas: word forms hit, scores rank topics, configured topics replace the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from parsers import parse_message
from parsers.topics import DEFAULT_TOPICS, match_topic

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cur"


def test_default_taxonomy_is_the_municipal_one() -> None:
    assert list(DEFAULT_TOPICS) == [
        "ЖКХ", "дороги и транспорт", "благоустройство", "образование", "здравоохранение",
        "социальная защита", "экология", "безопасность", "культура и спорт", "прочее",
    ]
    assert all(DEFAULT_TOPICS[t] for t in DEFAULT_TOPICS if t != "прочее")


@pytest.mark.parametrize("text", ["Дорога разбита", "Дороги не чистят", "по дорогам не проехать", "дорожный знак упал"])
def test_word_forms_of_road_all_match(text: str) -> None:
    match = match_topic(text)
    assert match is not None and match.topic == "дороги и транспорт"


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Третий день нет отопления, батареи холодные, управляющая компания молчит", "ЖКХ"),
        ("Во дворе не работает уличное освещение, детская площадка сломана", "благоустройство"),
        ("В детском саду № 3 не хватает воспитателей", "образование"),
        ("В поликлинике невозможно записаться к врачу", "здравоохранение"),
        ("Многодетной семье не назначили пособие", "социальная защита"),
        ("На берегу реки образовалась несанкционированная свалка", "экология"),
        ("Подростки устроили драку, вызвали полицию", "безопасность"),
        ("В доме культуры отменили концерт, стадион закрыт", "культура и спорт"),
    ],
)
def test_typical_appeals(text: str, topic: str) -> None:
    match = match_topic(text)
    assert match is not None
    assert match.topic == topic, match


def test_the_topic_with_most_hits_wins_and_the_words_are_reported() -> None:
    text = "Яма на дороге у школы. Ямы на дорогах по всему району, асфальт разрушен."
    match = match_topic(text)
    assert match is not None
    assert match.topic == "дороги и транспорт"
    assert {"дорога", "яма", "асфальт"} <= set(match.words)
    assert match.score >= 5


def test_no_keyword_no_topic() -> None:
    assert match_topic("Здравствуйте, спасибо за ответ") is None
    assert match_topic("") is None


def test_configured_topics_replace_the_defaults() -> None:
    topics = {"паром": ["паром", "переправа"], "рынок": ["рынок", "торговля"]}
    match = match_topic("Когда откроют переправу? Паромы стоят.", topics)
    assert match is not None
    assert (match.topic, match.score) == ("паром", 2)
    assert match_topic("Дорога разбита", topics) is None


def test_phrases_match_as_runs_of_lemmas() -> None:
    topics = {"ТКО": ["вывоз мусора"]}
    assert match_topic("Нарушен график вывоза мусора", topics) is not None
    assert match_topic("Мусор не вывозят", topics) is None  # both words, but not the phrase


def test_topic_of_a_fixture_appeal() -> None:
    pm = parse_message((FIXTURES / "pos_notification.eml").read_bytes())
    match = match_topic(pm.text)
    assert match is not None and match.topic == "дороги и транспорт"


@pytest.fixture
def snowball_only(monkeypatch):
    """Pretend pymorphy3 cannot load, so that parsers.morph falls back to Snowball stems."""
    import sys

    from parsers import morph

    caches = (morph._backend, morph.lemma, morph.lemma_set, morph.phrase_lemmas)
    for cache in caches:
        cache.cache_clear()
    monkeypatch.setitem(sys.modules, "pymorphy3", None)
    yield morph
    monkeypatch.undo()
    for cache in caches:
        cache.cache_clear()


def test_snowball_fallback_still_matches_word_forms(snowball_only) -> None:
    assert snowball_only.backend_name() == "snowball"
    match = match_topic("Дороги не чистят, на дорогах ямы")
    assert match is not None and match.topic == "дороги и транспорт"
    text = snowball_only.LemmaText("Согласовываем. Текст согласован.")
    assert text.has("согласовывать") and text.has("согласовано")


def test_pymorphy3_is_the_normal_backend() -> None:
    from parsers import morph

    assert morph.backend_name() == "pymorphy3"
    assert morph.lemma("согласовываем") == "согласовывать"
