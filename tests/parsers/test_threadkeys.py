"""Threading keys: subject normalisation, case tags, Message-ID references, publication URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from parsers import parse_message
from parsers.threadkeys import (
    find_case_numbers,
    format_case_tag,
    message_refs,
    normalize_subject,
    publication_urls,
    subject_key,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cur"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Ремонт дороги", "Ремонт дороги"),
        ("RE[3]: Ремонт дороги", "Ремонт дороги"),
        ("Re(2): Ремонт дороги", "Ремонт дороги"),
        ("Re^2: Ремонт дороги", "Ремонт дороги"),
        ("RE: FW: Re: Ремонт дороги", "Ремонт дороги"),
        ("Fwd: Fw: FWD: Ремонт дороги", "Ремонт дороги"),
        ("AW: WG: SV: VS: Ремонт дороги", "Ремонт дороги"),
        ("Ответ: Отв: Пересл: На: Ремонт дороги", "Ремонт дороги"),
        ("ОТВЕТ:Ремонт дороги", "Ремонт дороги"),
        ("Re : Ремонт дороги", "Ремонт дороги"),
        ("回复：Fwd: Ремонт дороги", "Ремонт дороги"),
        ("[Fwd: Ремонт дороги]", "Ремонт дороги"),
        ("Re: [CUR-42] Ремонт дороги", "Ремонт дороги"),
        ("[CUR #42] Re: Ремонт   дороги", "Ремонт дороги"),
        ("Ремонт дороги", "Ремонт дороги"),
        ("Отв.: Пересл.: Ремонт дороги", "Ремонт дороги"),  # abbreviations with a dot
        ("Відп: Ремонт дороги", "Ремонт дороги"),  # Ukrainian
        ("ΑΠ: ΣΧΕΤ: Ремонт дороги", "Ремонт дороги"),  # Greek
        ("תגובה: Ремонт дороги", "Ремонт дороги"),  # Hebrew
        ("رد: إعادة توجيه: Ремонт дороги", "Ремонт дороги"),  # Arabic
        ("返信: 転送: 회신: Ремонт дороги", "Ремонт дороги"),  # Japanese, Korean
        ("Vá: Továbbítás: Svar: Ремонт дороги", "Ремонт дороги"),  # Hungarian, Nordic
        ("Fw: [CUR-42]: Ремонт дороги", "Ремонт дороги"),  # the colon a removed tag leaves
        ("Re: :) спасибо", ":) спасибо"),  # a colon that is part of the subject stays
        ("Regarding: the road", "Regarding: the road"),  # a word that only starts with "Re" stays
        ("Наличие ям: ул. Ленина", "Наличие ям: ул. Ленина"),  # «На» only as a whole prefix word
        ("", ""),
    ],
)
def test_normalize_subject(subject: str, expected: str) -> None:
    assert normalize_subject(subject, ["CUR"]) == expected


def test_subject_key_ignores_case_and_yo() -> None:
    assert subject_key("RE: Отчёт за КВАРТАЛ") == subject_key("отчет за квартал")


def test_old_tags_are_stripped_when_given() -> None:
    assert normalize_subject("Re: Дело №17 Жалоба", ["CUR", "Дело №{n}"]) == "Жалоба"


def test_format_case_tag() -> None:
    assert format_case_tag("KZM", 42) == "[KZM-42]"


@pytest.mark.parametrize(
    ("subject", "numbers"),
    [
        ("[KZM-42] Сигнал", (42,)),
        ("Re: Ответ: [kzm-42] Сигнал", (42,)),
        ("Сигнал [KZM #42]", (42,)),
        ("Сигнал [KZM 42]", (42,)),
        ("Сигнал [KZM№42]", (42,)),
        ("по делу KZM-42 дополнение", (42,)),
        ("[KZM-42] и [KZM-43], снова KZM-42", (42, 43)),
        ("XKZM-42 и KZM-42x", ()),  # inside other words: not a tag
        ("Сигнал 42", ()),
        ("[ABC-42] чужой тег", ()),
    ],
)
def test_find_case_numbers(subject: str, numbers: tuple[int, ...]) -> None:
    assert find_case_numbers(subject, "KZM") == numbers


def test_find_case_numbers_in_old_formats() -> None:
    subject = "Re: [ЦУР-7] и Дело №9 и [KZM-10]"
    assert find_case_numbers(subject, "KZM", ["ЦУР", "Дело №{n}"]) == (7, 9, 10)


def test_tag_round_trip() -> None:
    assert find_case_numbers("Re: " + format_case_tag("KZM", 1234) + " тема", "KZM") == (1234,)


def test_message_refs_nearest_first_and_deduplicated() -> None:
    pm = parse_message(
        b"Message-ID: <c@x>\r\n"
        b"In-Reply-To: <b@x>\r\n"
        b"References: <a@x> <b@x>\r\n"
        b"Subject: t\r\n\r\nbody\r\n"
    )
    assert message_refs(pm) == ("<b@x>", "<a@x>")


def test_message_refs_of_a_fixture() -> None:
    pm = parse_message((FIXTURES / "approval.eml").read_bytes())
    assert message_refs(pm) == (
        "<case-12.draft1.f00d@curmail.kozmo.example>",
        "<CUR-Case-12@curmail.kozmo.example>",
    )


def test_message_refs_of_a_new_message_is_empty() -> None:
    pm = parse_message((FIXTURES / "signal_vk.eml").read_bytes())
    assert message_refs(pm) == ()


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("https://vk.com/wall-123_456", "https://vk.com/wall-123_456"),
        ("http://www.vk.com/wall-123_456/", "https://vk.com/wall-123_456"),
        ("https://m.vk.com/wall-123_456?utm_source=share&utm_medium=x", "https://vk.com/wall-123_456"),
        ("https://vk.ru/wall-123_456#comments", "https://vk.com/wall-123_456"),
        ("https://vk.com/club123?w=wall-123_456", "https://vk.com/wall-123_456"),
        ("https://vk.com/wall-123_456?reply=789&thread=700", "https://vk.com/wall-123_456"),
        ("https://vk.com/kozmo_gorod?w=wall-123_456%2Fall", "https://vk.com/wall-123_456"),
        ("ссылка vk.com/wall-123_456, проверьте", "https://vk.com/wall-123_456"),
        ("https://t.me/kozmo_news/123", "https://t.me/kozmo_news/123"),
        ("https://telegram.me/kozmo_news/123", "https://t.me/kozmo_news/123"),
        ("https://t.me/s/kozmo_news/123?single", "https://t.me/kozmo_news/123"),
        ("https://T.ME/kozmo_news/123/", "https://t.me/kozmo_news/123"),
        ("https://ok.ru/group/5555/topic/7777?utm_campaign=a", "https://ok.ru/group/5555/topic/7777"),
        ("https://zen.yandex.ru/media/kozmo/post-abc?yclid=9", "https://dzen.ru/media/kozmo/post-abc"),
        ("https://dzen.ru/a/ZXy?from=feed", "https://dzen.ru/a/ZXy"),
        ("https://www.instagram.com/p/Cabc123/?igshid=xyz", "https://instagram.com/p/Cabc123"),
        ("https://youtu.be/dQw4w9WgXcQ?si=abc", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
        ("https://m.youtube.com/watch?v=dQw4w9WgXcQ&feature=share", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
        ("«https://news.example/article/5?fbclid=1&page=2».", "https://news.example/article/5?page=2"),
        # a comment link opened over a community page is its post
        ("https://vk.com/kozmo_gorod?w=wall-123_456_r789", "https://vk.com/wall-123_456"),
        ("https://vkvideo.ru/video-123_456?list=ln-x", "https://vk.com/video-123_456"),
        ("https://vk.com/Kozmo_Gorod", "https://vk.com/kozmo_gorod"),
        ("https://t.me/Kozmo_News/123", "https://t.me/kozmo_news/123"),
        # the mobile OK site names the post in its query
        (
            "https://m.ok.ru/dk?st.cmd=altGroupMediaTopic&st.groupId=5555&st.topicId=7777&_prevCmd=main",
            "https://ok.ru/group/5555/topic/7777",
        ),
        ("https://m.ok.ru/dk?st.cmd=friendStatus&st.friendId=12&st.topicId=88", "https://ok.ru/profile/12/statuses/88"),
        ("https://ok.ru/profile/12/statuses/88?utm_source=x", "https://ok.ru/profile/12/statuses/88"),
        ("https://dzen.ru/a/ZXy-AbC?share_to=link&utm_referrer=x", "https://dzen.ru/a/ZXy-AbC"),
        ("https://dzen.ru/video/watch/65ab?rid=12&referrer_clid=5", "https://dzen.ru/video/watch/65ab"),
    ],
)
def test_publication_urls_normalised(text: str, url: str) -> None:
    assert publication_urls(text) == (url,)


def test_two_signals_about_one_post_get_the_same_url() -> None:
    first = "Публикация: https://m.vk.com/wall-1_2?utm_source=vk_share"
    second = "Смотрите https://vk.ru/club1?w=wall-1_2 (источник)"
    assert publication_urls(first) == publication_urls(second)


def test_bare_sites_and_mail_addresses_are_not_publications() -> None:
    text = "ЦУР: https://cur12.example.org/ , почта cur@vk.com, сайт www.kozmo.example"
    assert publication_urls(text) == ()


def test_several_urls_keep_their_order_without_duplicates() -> None:
    text = "https://t.me/a/1 и https://vk.com/wall-1_2 и снова https://t.me/s/a/1"
    assert publication_urls(text) == ("https://t.me/a/1", "https://vk.com/wall-1_2")


def test_two_posts_on_the_mobile_ok_site_stay_apart() -> None:
    first = "https://m.ok.ru/dk?st.cmd=altGroupMediaTopic&st.groupId=5555&st.topicId=7777"
    second = "https://m.ok.ru/dk?st.cmd=altGroupMediaTopic&st.groupId=5555&st.topicId=8888"
    assert publication_urls(first) != publication_urls(second)
    assert publication_urls(first) == publication_urls("https://ok.ru/group/5555/topic/7777")


def test_signals_about_one_post_from_each_platforms_mobile_and_share_links_agree() -> None:
    same_post = [
        ("https://vk.com/wall-123_456", "vk.com/kozmo?w=wall-123_456_r9 и m.vk.com/wall-123_456?utm_source=vk_share"),
        ("https://t.me/kozmo_news/123", "https://telegram.me/s/Kozmo_News/123?single&utm_medium=x"),
        ("https://ok.ru/group/5555/topic/7777", "m.ok.ru/dk?st.cmd=altGroupMediaTopic&st.topicId=7777&st.groupId=5555"),
        ("https://dzen.ru/a/ZXy", "https://zen.yandex.ru/a/ZXy?from=channel&utm_source=tg"),
    ]
    for canonical, text in same_post:
        assert set(publication_urls(text)) == {canonical}, text


def test_every_id_of_a_comma_separated_in_reply_to_is_a_reference() -> None:
    pm = parse_message(
        b"Message-ID: <c@x>\r\nIn-Reply-To: <a@x>, <b@y>\r\nReferences: <r1@x>,<r2@y>\r\nSubject: t\r\n\r\nbody\r\n"
    )
    assert pm.in_reply_to == "<a@x>"
    assert message_refs(pm) == ("<a@x>", "<b@y>", "<r2@y>", "<r1@x>")
