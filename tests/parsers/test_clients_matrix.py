"""Each mail client × each kind: hand-made Russian .eml from Outlook, Thunderbird, Gmail, Yandex, Mail.ru, Apple.

The ЦУР (a.petrova@cur12.ru) writes signals, proposals, approvals, remarks and requests from every client;
staff of the Волжск administration (volzhsk.ru, some from personal mailboxes) send drafts and forward
citizens' appeals. Replies from the ЦУР quote curmail's own acknowledgement or draft, and those quotes
contain «замечания», «предложения», «Согласовано»: a reply read with its quote would be misclassified,
so each test here also proves the client's quoting is cut off.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from parsers import Kind, classify, extract_deadline, parse_message
from parsers.rules import ClassifierRules
from parsers.threadkeys import find_case_numbers, message_refs

CLIENTS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "clients"
MSK = ZoneInfo("Europe/Moscow")

# The deployment these fixtures come from, as its [cur], [organization] and [[staff]] config would give it.
RULES = ClassifierRules.from_mapping(
    {
        "cur_addresses": [],
        "cur_domains": ["cur12.ru"],
        "staff_domains": ["volzhsk.ru"],
        "staff_addresses": [
            "ivanov.volzhsk@gmail.com", "ivanov.volzhsk@mail.ru", "ivanov-volzhsk@yandex.ru",
            "priem.volzhsk@gmail.com", "priem.volzhsk@mail.ru", "priem-volzhsk@yandex.ru",
        ],
        "own_addresses": ["curmail@volzhsk.ru"],
        "own_message_id_domain": "curmail.volzhsk.ru",
        "case_tag": "CUR",
    }
)

# client -> kind -> fixture. Apple's column mixes Apple Mail (macOS) and iPhone Mail, as staff use both.
MATRIX: dict[str, dict[str, str]] = {
    "Outlook": {
        "cur_signal": "outlook_ru_cur_signal.eml",
        "cur_proposal": "outlook_ru_cur_proposal.eml",
        "cur_approval": "outlook_ru_cur_approval.eml",
        "cur_remarks": "outlook_ru_cur_remarks.eml",
        "cur_request": "outlook_ru_cur_request.eml",
        "forwarded_appeal": "outlook_ru_forward_appeal.eml",
        "staff_draft": "outlook_ru_header_block.eml",
    },
    "Thunderbird": {
        "cur_signal": "thunderbird_ru_cur_signal.eml",
        "cur_proposal": "thunderbird_ru_cur_proposal.eml",
        "cur_approval": "thunderbird_ru_cur_approval.eml",
        "cur_remarks": "thunderbird_ru_cur_remarks.eml",
        "cur_request": "thunderbird_ru_cur_request.eml",
        "forwarded_appeal": "thunderbird_ru_forward_appeal.eml",
        "staff_draft": "thunderbird_ru_reply.eml",
    },
    "Gmail": {
        "cur_signal": "gmail_ru_cur_signal.eml",
        "cur_proposal": "gmail_ru_cur_proposal.eml",
        "cur_approval": "gmail_ru_cur_approval.eml",
        "cur_remarks": "gmail_ru_cur_remarks.eml",
        "cur_request": "gmail_ru_cur_request.eml",
        "forwarded_appeal": "gmail_ru_forward_appeal.eml",
        "staff_draft": "gmail_ru_reply.eml",
    },
    "Yandex": {
        "cur_signal": "yandex_ru_cur_signal.eml",
        "cur_proposal": "yandex_ru_cur_proposal.eml",
        "cur_approval": "yandex_ru_cur_approval.eml",
        "cur_remarks": "yandex_ru_cur_remarks.eml",
        "cur_request": "yandex_ru_cur_request.eml",
        "forwarded_appeal": "yandex_ru_forward_appeal.eml",
        "staff_draft": "yandex_ru_reply.eml",
    },
    "Mail.ru": {
        "cur_signal": "mailru_ru_cur_signal.eml",
        "cur_proposal": "mailru_ru_cur_proposal.eml",
        "cur_approval": "mailru_ru_cur_approval.eml",
        "cur_remarks": "mailru_ru_cur_remarks.eml",
        "cur_request": "mailru_ru_cur_request.eml",
        "forwarded_appeal": "mailru_ru_forward_appeal.eml",
        "staff_draft": "mailru_ru_reply.eml",
    },
    "Apple Mail / iPhone": {
        "cur_signal": "apple_mail_ru_cur_signal.eml",
        "cur_proposal": "apple_mail_ru_cur_proposal.eml",
        "cur_approval": "iphone_ru_cur_approval.eml",
        "cur_remarks": "iphone_ru_cur_remarks.eml",
        "cur_request": "apple_mail_ru_cur_request.eml",
        "forwarded_appeal": "apple_mail_ru_forward_appeal.eml",
        "staff_draft": "iphone_ru_reply.eml",
    },
}
# More of the same kinds from the same clients (other quoting styles, HTML-only, bottom posting).
MORE = {
    "forwarded_appeal": ["outlook_ru_html_forward_appeal.eml", "iphone_ru_forward_appeal.eml"],
    "staff_draft": [
        "outlook_ru_original_message.eml", "outlook_en_original_message.eml", "outlook_ru_html_only.eml",
        "thunderbird_ru_bottom_post.eml", "apple_mail_ru_reply.eml", "thebat_ru_reply.eml",
    ],
}
EXPECTED_KIND = {
    "cur_signal": Kind.CUR_SIGNAL,
    "cur_proposal": Kind.CUR_PROPOSAL,
    "cur_approval": Kind.CUR_APPROVAL,
    "cur_remarks": Kind.CUR_REMARKS,
    "cur_request": Kind.CUR_REQUEST,
    "forwarded_appeal": Kind.APPEAL,
    "staff_draft": Kind.STAFF_REPLY,
}
CASES = [
    pytest.param(name, kind, id=f"{client}-{kind}") for client, row in MATRIX.items() for kind, name in row.items()
] + [pytest.param(name, kind, id=f"more-{name}") for kind, names in MORE.items() for name in names]


def read(name: str):
    return parse_message((CLIENTS_DIR / name).read_bytes())


def squeeze(text: str) -> str:
    return " ".join(text.split())


def test_every_client_has_every_kind() -> None:
    for client, row in MATRIX.items():
        assert set(row) == set(EXPECTED_KIND), client
        for name in row.values():
            assert (CLIENTS_DIR / name).is_file(), name


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_each_clients_mail_gets_its_kind(name: str, kind: str) -> None:
    pm = read(name)
    assert pm.defects == (), pm.defects
    result = classify(pm, RULES)
    assert result.kind == EXPECTED_KIND[kind], result.reasons
    assert result.reasons


# ---------------------------------------------------------------- signals: link, channel, 3-hour term

SIGNALS = {
    # fixture: (the publication as normalised, the deadline its wording sets from the Date header)
    "outlook_ru_cur_signal.eml": ("https://vk.com/wall-201234_5678", datetime(2026, 12, 3, 12, 1, tzinfo=MSK)),
    "thunderbird_ru_cur_signal.eml": ("https://t.me/volzhsk_online/4321", datetime(2026, 12, 3, 12, 3, tzinfo=MSK)),
    "gmail_ru_cur_signal.eml": (
        "https://ok.ru/group/70000001234567/topic/155000000123456",
        datetime(2026, 12, 3, 12, 5, tzinfo=MSK),
    ),
    # «незамедлительно»: the default urgent term of one hour
    "yandex_ru_cur_signal.eml": ("https://dzen.ru/a/Z1aBcDeFgH", datetime(2026, 12, 3, 10, 7, tzinfo=MSK)),
    "mailru_ru_cur_signal.eml": ("https://vk.com/wall-201234_5678", datetime(2026, 12, 3, 12, 9, tzinfo=MSK)),
    "apple_mail_ru_cur_signal.eml": ("https://t.me/volzhsk_online/4321", datetime(2026, 12, 3, 12, 13, tzinfo=MSK)),
}


@pytest.mark.parametrize("name", SIGNALS)
def test_signal_gives_the_post_the_channel_and_the_term(name: str) -> None:
    url, due = SIGNALS[name]
    pm = read(name)
    result = classify(pm, RULES)
    assert result.publication_urls == (url,)
    assert result.channel == "internet"
    assert pm.date is not None
    deadline = extract_deadline(pm.new_text, pm.date)
    assert deadline is not None and deadline.at == due, deadline


def test_signals_about_one_post_from_different_clients_share_the_key() -> None:
    """Mail.ru's mobile share link and Outlook's community-page link name the same VK post."""
    assert classify(read("outlook_ru_cur_signal.eml"), RULES).publication_urls == (
        classify(read("mailru_ru_cur_signal.eml"), RULES).publication_urls
    )
    assert classify(read("thunderbird_ru_cur_signal.eml"), RULES).publication_urls == (
        classify(read("apple_mail_ru_cur_signal.eml"), RULES).publication_urls
    )


# ---------------------------------------------------------------- requests: every deadline phrase

REQUESTS = {
    "outlook_ru_cur_request.eml": ("в срок до 10.12.2026", datetime(2026, 12, 10, 18, 0, tzinfo=MSK)),
    "thunderbird_ru_cur_request.eml": ("до 10 декабря 2026 г.", datetime(2026, 12, 10, 18, 0, tzinfo=MSK)),
    "gmail_ru_cur_request.eml": ("до 12:00 05.12.2026", datetime(2026, 12, 5, 12, 0, tzinfo=MSK)),
    "yandex_ru_cur_request.eml": ("не позднее 15:00 завтрашнего дня", datetime(2026, 12, 4, 15, 0, tzinfo=MSK)),
    "mailru_ru_cur_request.eml": ("в течение 2 рабочих дней", datetime(2026, 12, 7, 18, 0, tzinfo=MSK)),  # Thu → Mon
    "apple_mail_ru_cur_request.eml": ("сегодня до 17:00", datetime(2026, 12, 3, 17, 0, tzinfo=MSK)),
}


@pytest.mark.parametrize("name", REQUESTS)
def test_request_deadline_from_each_client(name: str) -> None:
    phrase, due = REQUESTS[name]
    pm = read(name)
    assert pm.date is not None
    deadline = extract_deadline(pm.new_text, pm.date)
    assert deadline is not None
    assert (deadline.phrase, deadline.at) == (phrase, due)
    assert pm.signature  # the specialist's signature is kept apart, not read as the request


# ---------------------------------------------------------------- ЦУР replies: new text only, threaded to the case

REPLIES = {
    "outlook_ru_cur_proposal.eml": "Коллеги, добрый день! Предлагаем следующий вариант комментария:",
    "thunderbird_ru_cur_proposal.eml": "Добрый день! Проект комментария с нашей стороны:",
    "gmail_ru_cur_proposal.eml": "Коллеги, предлагаем текст для публикации:",
    "yandex_ru_cur_proposal.eml": "Добрый день! Вариант комментария от ЦУР:",
    "mailru_ru_cur_proposal.eml": "Коллеги, предлагаемый текст комментария:",
    "apple_mail_ru_cur_proposal.eml": "Добрый день! Предлагаем опубликовать такой текст:",
    "outlook_ru_cur_approval.eml": "Согласовано.",
    "thunderbird_ru_cur_approval.eml": "Согласовываем, можно публиковать.",
    "gmail_ru_cur_approval.eml": "Текст согласован, размещайте.",
    "yandex_ru_cur_approval.eml": "Согласовано, без замечаний.",
    "mailru_ru_cur_approval.eml": "Одобряем, публикуйте.",
    "iphone_ru_cur_approval.eml": "Согласовано",
    "outlook_ru_cur_remarks.eml": (
        "Есть замечания: уберите второе предложение и добавьте телефон горячей линии теплосети."
    ),
    "thunderbird_ru_cur_remarks.eml": "На доработку: укажите, когда закончатся работы на теплотрассе.",
    "gmail_ru_cur_remarks.eml": "Не согласовано. Прошу доработать: нужна ссылка на график работ.",
    "yandex_ru_cur_remarks.eml": "Замечания: замените «в штатном режиме» на конкретную дату завершения работ.",
    "mailru_ru_cur_remarks.eml": "Прошу скорректировать формулировку, без слова «недостоверны».",
    "iphone_ru_cur_remarks.eml": "Верните на доработку, нет подписи ответственного",
}
OUR_ACK = "Сигнал ЦУР зарегистрирован"
OUR_DRAFT = "Направляем на согласование проект официального комментария"


@pytest.mark.parametrize("name", REPLIES)
def test_cur_reply_new_text_signature_and_case(name: str) -> None:
    pm = read(name)
    assert squeeze(pm.new_text).startswith(REPLIES[name]), pm.new_text
    assert OUR_ACK not in pm.new_text and OUR_DRAFT not in pm.new_text
    assert (OUR_ACK in pm.text) or (OUR_DRAFT in pm.text)  # the quote is there, only cut from the new text
    assert pm.signature
    assert find_case_numbers(pm.subject, "CUR") == (31,)
    ours = "<case-31.ack.5e1f@curmail.volzhsk.ru>" if "proposal" in name else "<case-31.draft1.c0de@curmail.volzhsk.ru>"
    assert message_refs(pm)[0] == ours
    assert "<CUR-Case-31@curmail.volzhsk.ru>" in message_refs(pm)


def test_a_proposal_keeps_the_proposed_text_in_its_new_text() -> None:
    for name in [n for n in REPLIES if "proposal" in n]:
        new_text = read(name).new_text
        assert "«" in new_text and "Дубовая роща" in new_text, name


# ---------------------------------------------------------------- forwarded appeals: the citizen, not the forwarder

FORWARDED_APPEALS = [*(row["forwarded_appeal"] for row in MATRIX.values()), *MORE["forwarded_appeal"]]


@pytest.mark.parametrize("name", FORWARDED_APPEALS)
def test_forwarded_appeal_names_the_citizen_and_the_address(name: str) -> None:
    pm = read(name)
    result = classify(pm, RULES)
    assert result.reasons[0] == "forwarded-appeal"
    assert result.applicant is not None
    assert (result.applicant.name, result.applicant.email, result.applicant.phone) == (
        "Кузнецов Пётр",
        "kuznetsov.p@yandex.ru",
        "+79170001122",
    )
    assert result.address == "ул. Ленина, д. 15"
    assert result.channel == "other"
    assert pm.forwarded is not None and pm.forwarded.subject == "Вывоз мусора на ул. Ленина"


def test_fast_and_full_mime_parsers_agree_on_every_client_fixture() -> None:
    from tests.parsers.test_parse import fast_and_full_agree

    used = [fast_and_full_agree(path.read_bytes()) for path in sorted(CLIENTS_DIR.glob("*.eml"))]
    assert sum(used) >= 40  # every well-formed client mail takes the fast path


def test_thunderbirds_soft_line_breaks_do_not_reach_the_proposed_text() -> None:
    raw = (CLIENTS_DIR / "thunderbird_ru_cur_proposal.eml").read_bytes().decode("utf-8")
    assert "роща не \r\nсоответствует" in raw  # format=flowed, wrapped at 72 columns
    proposed = (
        "«Информация об отключении отопления в мкр. Дубовая роща не соответствует действительности. "
        "Котельная работает в штатном режиме»."
    )
    assert proposed in read("thunderbird_ru_cur_proposal.eml").new_text.split("\n")


@pytest.mark.parametrize(
    ("name", "kind", "urls", "due"),
    [
        ("outlook_ru_forward_cur_request.eml", Kind.CUR_REQUEST, (), datetime(2026, 12, 10, 18, 0, tzinfo=MSK)),
        (
            "gmail_ru_forward_cur_signal.eml",
            Kind.CUR_SIGNAL,
            ("https://ok.ru/group/70000001234567/topic/155000000123456",),
            datetime(2026, 12, 3, 12, 5, tzinfo=MSK),  # three hours from the ЦУР's own send time
        ),
    ],
)
def test_cur_mail_that_staff_forward_is_classified_as_the_cur_mail(
    name: str, kind: Kind, urls: tuple[str, ...], due: datetime
) -> None:
    pm = read(name)
    result = classify(pm, RULES)
    assert result.kind == kind, result.reasons
    assert result.publication_urls == urls
    original = pm.forwarded
    assert original is not None and original.from_addr == "a.petrova@cur12.ru" and original.date is not None
    deadline = extract_deadline(original.text, original.date)
    assert deadline is not None and deadline.at == due
    assert "Пересылаю" in pm.new_text or "пересылаю" in pm.new_text


def test_an_appeal_forwarded_as_an_attachment_names_the_citizen() -> None:
    """Outlook's «Переслать как вложение»: the appeal is a message/rfc822 part, not a quoted block."""
    pm = parse_message((CLIENTS_DIR.parent / "parse" / "forwarded_rfc822.eml").read_bytes())
    result = classify(pm, RULES)
    assert (result.kind, result.reasons[0]) == (Kind.APPEAL, "forwarded-appeal")
    assert result.applicant is not None
    assert (result.applicant.name, result.applicant.email) == ("Кузнецова Мария", "maria.k@yandex.ru")
    assert result.address == "ул. Пушкина, д. 3"
