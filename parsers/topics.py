"""Topic of an appeal or signal by lemma keywords, for routing to the responsible official and for reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from parsers import morph

# Defaults for a municipality (issue 6, п. 10.2). Keywords are lemmatized the same way as the text,
# so «дорога» also matches «дороги», «дорогам»; «дорожный» is listed because it is its own lemma.
# A phrase of several words matches as a contiguous run of lemmas.
DEFAULT_TOPICS: Mapping[str, tuple[str, ...]] = {
    "ЖКХ": (
        "ЖКХ", "коммунальный", "отопление", "батарея", "теплоснабжение", "водоснабжение", "вода",
        "водопровод", "канализация", "водоотведение", "электроснабжение", "электричество", "свет",
        "газ", "газоснабжение", "управляющая компания", "УК", "капремонт", "капитальный ремонт",
        "крыша", "кровля", "подъезд", "мусор", "вывоз мусора", "ТКО", "контейнерная площадка",
        "квартплата", "тариф", "аварийный дом", "жилье", "подвал", "протечка", "прорыв",
    ),
    "дороги и транспорт": (
        "дорога", "дорожный", "яма", "ямочный ремонт", "асфальт", "тротуар", "автобус",
        "маршрут", "транспорт", "остановка", "светофор", "пешеходный переход", "переход", "мост",
        "парковка", "ДТП", "трасса", "проезд", "гололед", "расписание", "перевозчик", "такси",
        "паром", "переправа",
    ),
    "благоустройство": (
        "благоустройство", "двор", "дворовый", "освещение", "фонарь", "уличное освещение",
        "сквер", "парк", "детская площадка", "площадка", "озеленение", "дерево", "покос",
        "скамейка", "лавочка", "снег", "уборка снега", "сосулька", "наледь", "грязь", "лужа",
        "бродячий", "собака", "кладбище", "набережная", "комфортная городская среда",
    ),
    "образование": (
        "школа", "школьный", "детский сад", "садик", "учитель", "ученик", "образование",
        "учебный", "класс", "кружок", "ЕГЭ", "ОГЭ", "педагог", "воспитатель", "колледж",
        "техникум", "студент", "школьник",
    ),
    "здравоохранение": (
        "больница", "поликлиника", "врач", "медицинский", "медицина", "скорая", "скорая помощь",
        "лекарство", "аптека", "ФАП", "фельдшер", "здравоохранение", "прививка", "вакцинация",
        "запись к врачу", "терапевт", "педиатр", "лечение",
    ),
    "социальная защита": (
        "пенсия", "пенсионер", "пособие", "социальный", "соцзащита", "инвалид", "инвалидность",
        "малоимущий", "многодетный", "субсидия", "выплата", "льгота", "льготник", "ветеран",
        "участник СВО", "СВО", "мобилизованный", "опека", "сирота", "материальная помощь",
    ),
    "экология": (
        "экология", "экологический", "свалка", "загрязнение", "выброс", "вырубка", "лес",
        "река", "водоем", "Волга", "запах", "дым", "отходы", "несанкционированная свалка",
        "животное", "рыба",
    ),
    "безопасность": (
        "безопасность", "пожар", "пожарный", "полиция", "преступление", "хулиган", "кража",
        "МЧС", "ЧС", "чрезвычайная ситуация", "паводок", "наводнение", "терроризм",
        "видеонаблюдение", "драка", "наркотик", "угроза", "эвакуация",
    ),
    "культура и спорт": (
        "культура", "культурный", "музей", "библиотека", "дом культуры", "ДК", "концерт",
        "праздник", "фестиваль", "спорт", "спортивный", "стадион", "спортзал", "бассейн",
        "секция", "каток", "соревнование", "тренер", "театр", "выставка", "молодежь",
    ),
    "прочее": (),
}

FALLBACK_TOPIC = "прочее"


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """The best topic for a text: its name, the keywords that matched, and the number of hits."""

    topic: str
    words: tuple[str, ...]
    score: int


def match_topic(text: str, topics: Mapping[str, Sequence[str]] | None = None) -> TopicMatch | None:
    """The topic whose keywords occur most often in `text` (lemma matching), or None when nothing hits.

    The score counts every occurrence of every keyword; a phrase of several words counts
    once per occurrence as well. Ties go to the topic listed first, so the order of the
    configuration is the priority. Never raises: unreadable input gives None.
    """
    try:
        table = DEFAULT_TOPICS if topics is None else topics
        lemma_text = morph.LemmaText(text or "", limit=morph.DEFAULT_LIMIT * 2)
        if not lemma_text.seq:
            return None
        best: TopicMatch | None = None
        for topic, keywords in table.items():
            hits = 0
            words: list[str] = []
            for keyword in keywords:
                count = lemma_text.count(keyword)
                if count:
                    hits += count
                    words.append(keyword)
            if hits and (best is None or hits > best.score):
                best = TopicMatch(topic=topic, words=tuple(words), score=hits)
        return best
    except Exception:  # a topic is advice for routing; never let it break intake
        return None

