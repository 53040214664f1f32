"""classify(): hand-made Russian ЦУР and staff mail, word forms, loop rules and bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import Kind, ParsedMessage, classify, parse_message
from parsers.classify import street_address
from parsers.model import Address, ForwardedMessage
from parsers.rules import ClassifierRules

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cur"


def fixture(name: str) -> ParsedMessage:
    return parse_message((FIXTURES / name).read_bytes())


def message(**fields) -> ParsedMessage:
    """A ParsedMessage with plain defaults; tests override only what they are about."""
    text = fields.pop("text", "")
    base = {
        "message_id": "<m1@mail.example>",
        "message_id_synthetic": False,
        "in_reply_to": None,
        "references": (),
        "from_addr": "someone@mail.example",
        "from_name": "",
        "to": (Address("curmail@kozmo.example"),),
        "cc": (),
        "reply_to": (),
        "return_path": "<someone@mail.example>",
        "subject": "",
        "date": None,
        "text": text,
        "html": None,
        "new_text": fields.pop("new_text", text),
        "signature": "",
        "forwarded": None,
        "attachments": (),
        "auto_submitted": None,
        "precedence": None,
        "x_autoreply": None,
        "list_headers": (),
        "headers": (),
        "sha256": "0" * 64,
        "size": len(text),
    }
    base.update(fields)
    return ParsedMessage(**base)


def cur_reply(text: str, **fields) -> ParsedMessage:
    return message(
        from_addr="cur@example.org",
        subject="Re: [CUR-12] Проект комментария",
        in_reply_to="<case-12.draft@curmail.kozmo.example>",
        text=text,
        **fields,
    )


# ---------------------------------------------------------------- the hand-made fixtures


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("signal_vk.eml", Kind.CUR_SIGNAL),
        ("proposal.eml", Kind.CUR_PROPOSAL),
        ("approval.eml", Kind.CUR_APPROVAL),
        ("approval_outlook_html.eml", Kind.CUR_APPROVAL),
        ("remarks.eml", Kind.CUR_REMARKS),
        ("request.eml", Kind.CUR_REQUEST),
        ("pos_notification.eml", Kind.APPEAL),
        ("incident_notification.eml", Kind.APPEAL),
        ("fz59_forwarded_by_cur.eml", Kind.APPEAL),
        ("appeal_forwarded_by_staff.eml", Kind.APPEAL),
        ("staff_reply.eml", Kind.STAFF_REPLY),
        ("command_status.eml", Kind.COMMAND),
        ("vacation_ru.eml", Kind.AUTO_REPLY),
        ("bounce_yandex_ru.eml", Kind.BOUNCE),
    ],
)
def test_each_fixture_gets_its_kind(name: str, kind: Kind) -> None:
    result = classify(fixture(name))
    assert result.kind == kind, result.reasons
    assert result.reasons, "the deciding rule must be recorded"


def test_signal_carries_the_normalised_publication_link_and_the_internet_channel() -> None:
    result = classify(fixture("signal_vk.eml"))
    assert result.publication_urls == ("https://vk.com/wall-123456_789",)
    assert result.channel == "internet"
    assert not result.no_auto_reply


def test_pos_notification_is_an_appeal_with_applicant_and_address_although_machine_made() -> None:
    result = classify(fixture("pos_notification.eml"))
    assert result.channel == "pos"
    assert result.applicant is not None
    assert result.applicant.name == "Иванова Мария Петровна"
    assert result.applicant.email == "ivanova.mp@mail.example"
    assert result.applicant.phone == "+79171234567"
    assert result.address == "г. Козьмодемьянск, ул. Советская, д. 12"
    # Opened as a case, but never answered automatically.
    assert result.no_auto_reply
    assert "Auto-Submitted: auto-generated" in result.no_auto_reply_reasons
    assert "Precedence: bulk" in result.no_auto_reply_reasons
    assert "sender noreply@" in result.no_auto_reply_reasons


def test_incident_notification_is_an_incident_appeal_with_the_post_author() -> None:
    result = classify(fixture("incident_notification.eml"))
    assert result.channel == "incident"
    assert result.applicant is not None and result.applicant.name == "Сергей Кузнецов"
    assert result.address is not None and "ул. Рабочая, д. 5" in result.address
    assert "sender no-reply@" in result.no_auto_reply_reasons


def test_59fz_appeal_forwarded_by_the_cur_names_the_applicant() -> None:
    result = classify(fixture("fz59_forwarded_by_cur.eml"))
    assert result.channel == "59fz"
    assert result.applicant is not None
    assert result.applicant.name == "Смирнов Алексей Викторович"
    assert result.applicant.phone == "89035551234"
    assert result.address == "г. Козьмодемьянск, ул. Гагарина, д. 7, кв. 3"


def test_appeal_forwarded_by_staff_takes_the_applicant_from_the_forwarded_original() -> None:
    pm = fixture("appeal_forwarded_by_staff.eml")
    result = classify(pm)
    assert result.kind == Kind.APPEAL
    assert result.reasons[0] == "forwarded-appeal"
    assert result.applicant is not None
    assert result.applicant.email == "olga.vasilieva@mail.example"
    assert result.applicant.phone == "+79270001122"
    assert result.address is not None and "ул. Чайковского, д. 14" in result.address


def test_approval_with_no_remarks_is_still_an_approval() -> None:
    result = classify(fixture("approval.eml"))
    assert result.kind == Kind.CUR_APPROVAL
    assert not any(r.startswith("cur-remarks") for r in result.reasons)


def test_bounce_names_the_message_id_of_our_original() -> None:
    result = classify(fixture("bounce_yandex_ru.eml"))
    assert result.bounced_message_id == "<case-12.press.77aa@curmail.kozmo.example>"
    assert "empty Return-Path" in result.no_auto_reply_reasons


# ---------------------------------------------------------------- word forms and negation


@pytest.mark.parametrize(
    "text",
    [
        "Согласовано.", "Согласовываем.", "Текст согласован.", "согласовываю", "Одобряем.", "Не возражаем.",
        "Согласны с текстом", "Даём добро на публикацию",
    ],
)
def test_approval_word_forms(text: str) -> None:
    assert classify(cur_reply(text)).kind == Kind.CUR_APPROVAL


@pytest.mark.parametrize(
    "text",
    [
        "Не согласовано.",
        "Не согласовываем, есть замечания.",
        "Согласовано с замечаниями: уберите вторую фразу.",
        "Верните на доработку.",
        "Прошу доработать текст.",
        "Уберите последний абзац, остальное согласовано.",
        "Не согласны с формулировкой.",
        "Отклоняем.",
    ],
)
def test_remarks_win_over_approval(text: str) -> None:
    assert classify(cur_reply(text)).kind == Kind.CUR_REMARKS


@pytest.mark.parametrize(
    "text", ["Согласовано, без замечаний.", "Замечаний нет, публикуйте.", "Правок нет. Согласовано"]
)
def test_no_remarks_is_an_approval(text: str) -> None:
    assert classify(cur_reply(text)).kind == Kind.CUR_APPROVAL


@pytest.mark.parametrize(
    "text", ["Прошу согласовать текст с главой и прислать снова.", "Ок", "Необходимо согласовать с юристами."]
)
def test_asking_for_an_approval_or_a_bare_ok_is_not_an_approval(text: str) -> None:
    assert classify(cur_reply(text)).kind != Kind.CUR_APPROVAL


def test_a_request_that_mentions_a_publication_is_still_a_request() -> None:
    pm = message(
        from_addr="petrova@cur12.example.org",
        subject="Запрос",
        text="По публикации о ремонте моста прошу предоставить сведения о сроках работ в срок до 10.12.2026.",
    )
    assert classify(pm).kind == Kind.CUR_REQUEST


def test_approval_words_outside_a_reply_do_not_approve() -> None:
    pm = message(from_addr="cur@example.org", subject="Информация", text="Согласовано.")
    assert classify(pm).kind != Kind.CUR_APPROVAL


# ---------------------------------------------------------------- senders and kinds


def test_cur_vacation_notice_is_an_auto_reply_not_content() -> None:
    pm = message(
        from_addr="ivanova@cur12.example.org",
        subject="Автоматический ответ: Re: [CUR-12] Проект",
        auto_submitted="auto-replied",
        text="Я в отпуске до 10.12. Согласование — через cur@example.org.",
    )
    assert classify(pm).kind == Kind.AUTO_REPLY


def test_machine_mail_from_outside_the_cur_is_an_auto_reply() -> None:
    pm = message(from_addr="robot@shop.example", auto_submitted="auto-generated", text="Ваш заказ отправлен")
    assert classify(pm).kind == Kind.AUTO_REPLY


def test_machine_mail_from_the_cur_is_classified_by_content() -> None:
    pm = message(
        from_addr="noreply@cur12.example.org",
        auto_submitted="auto-generated",
        precedence="bulk",
        subject="Новое сообщение на платформе обратной связи",
        text="Госуслуги. Решаем вместе: поступило сообщение. Заявитель: Петров И.И.",
    )
    result = classify(pm)
    assert (result.kind, result.channel) == (Kind.APPEAL, "pos")


def test_a_hashtag_is_not_a_command() -> None:
    pm = message(from_addr="petrov@kozmo.example", in_reply_to="<x@curmail.kozmo.example>", text="#ЖКХ #Козьмодемьянск")
    assert classify(pm).kind == Kind.STAFF_REPLY


@pytest.mark.parametrize("word", sorted(__import__("parsers.commands").commands.COMMAND_WORDS))
def test_every_spelling_of_the_grammar_makes_a_command_mail(word: str) -> None:
    """A staff reply that starts with any command the grammar knows is a command, never the case's answer."""
    pm = message(from_addr="petrov@kozmo.example", in_reply_to="<x@curmail.kozmo.example>",
                 text=f"#{word.capitalize()} до 25.12.2026 Сидорова\nОтвет подготовит она.")
    assert classify(pm).kind == Kind.COMMAND


@pytest.mark.parametrize("subject", ["Re: #мои", "RE: [CUR-12] #Статус", "#отчёт квартал"])
def test_command_in_the_subject(subject: str) -> None:
    pm = message(from_addr="petrov@kozmo.example", subject=subject, text="")
    assert classify(pm).kind == Kind.COMMAND


def test_outside_mail_that_reads_like_an_appeal() -> None:
    pm = message(
        from_addr="citizen@mail.example",
        from_name="Анна",
        subject="Жалоба",
        text="Прошу принять меры: на ул. Ленина, д. 3 третий день не вывозят мусор.",
    )
    result = classify(pm)
    assert (result.kind, result.channel) == (Kind.APPEAL, "other")
    assert result.applicant is not None and result.applicant.email == "citizen@mail.example"
    assert result.address == "ул. Ленина, д. 3"


def test_unmatched_cur_mail_is_unknown_with_the_reason() -> None:
    pm = message(from_addr="cur@example.org", subject="Привет", text="Добрый день")
    result = classify(pm)
    assert result.kind == Kind.UNKNOWN
    assert "ЦУР" in result.reasons[-1]


def test_configured_rules_replace_the_defaults() -> None:
    rules = ClassifierRules(cur_addresses=("cur@gov.example",), cur_domains=(), staff_domains=("city.example",))
    pm = message(from_addr="cur@gov.example", subject="Re: x", in_reply_to="<a@b>", text="Согласовано")
    assert classify(pm, rules).kind == Kind.CUR_APPROVAL
    assert classify(pm).kind != Kind.CUR_APPROVAL  # not a ЦУР address under the defaults


def test_rules_from_toml_like_data() -> None:
    rules = ClassifierRules.from_mapping(
        {
            "cur_addresses": ["cur@gov.example"],
            "cur_domains": [],
            "case_tag": "KZM",
            "channel_markers": {"pos": [r"(?i)решаем\s+вместе"]},
        }
    )
    assert hash(rules)  # lists became tuples: the compiled regexes can be cached
    pm = message(from_addr="cur@gov.example", subject="[KZM-3] Решаем вместе", text="Заявитель: Иванов")
    result = classify(pm, rules)
    assert (result.kind, result.channel) == (Kind.APPEAL, "pos")


@pytest.mark.parametrize("data", [{"bounce_body": ["("]}, {"no_such_setting": 1}])
def test_bad_rules_config_fails_at_start_up(data: dict) -> None:
    from daemon.errors import ConfigError

    with pytest.raises(ConfigError):
        ClassifierRules.from_mapping(data)


def test_rules_with_lists_still_classify() -> None:
    rules = ClassifierRules(cur_addresses=["cur@gov.example"], cur_domains=[])  # type: ignore[arg-type]
    pm = message(from_addr="cur@gov.example", subject="Re: x", in_reply_to="<a@b>", text="Согласовано")
    assert classify(pm, rules).kind == Kind.CUR_APPROVAL


def test_staff_forward_of_cur_mail_is_classified_as_the_cur_mail() -> None:
    original = ForwardedMessage(
        from_addr="cur@example.org",
        from_name="ЦУР",
        subject="Запрос информации",
        date=None,
        text="Прошу предоставить сведения о ремонте дорог в срок до 10.12.2026.",
    )
    pm = message(
        from_addr="petrov@kozmo.example", subject="Fwd: Запрос информации", forwarded=original, text="см. ниже"
    )
    assert classify(pm).kind == Kind.CUR_REQUEST


# ---------------------------------------------------------------- loop rules


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"auto_submitted": "auto-replied"}, "Auto-Submitted: auto-replied"),
        ({"x_autoreply": "yes"}, "X-Autoreply"),
        ({"precedence": "list"}, "Precedence: list"),
        ({"precedence": "junk"}, "Precedence: junk"),
        ({"list_headers": ("list-unsubscribe",)}, "List-* headers: list-unsubscribe"),
        ({"return_path": ""}, "empty Return-Path"),
        ({"from_addr": "postmaster@mail.example"}, "sender postmaster@"),
        ({"from_addr": "no-reply@mail.example"}, "sender no-reply@"),
        ({"message_id": "<case-1.x@curmail.kozmo.example>"}, "our own Message-ID domain"),
        ({"headers": (("x-curmail-loop", "kozmo"),)}, "our own X-Curmail-Loop header"),
        ({"from_addr": "curmail@kozmo.example"}, "our own address"),
    ],
)
def test_never_auto_reply(fields: dict, reason: str) -> None:
    result = classify(message(text="Здравствуйте", **fields))
    assert result.no_auto_reply
    assert reason in result.no_auto_reply_reasons


def test_ordinary_mail_may_be_answered() -> None:
    result = classify(message(auto_submitted="no", text="Здравствуйте"))
    assert not result.no_auto_reply
    assert result.no_auto_reply_reasons == ()


# ---------------------------------------------------------------- bad input


def test_broken_message_is_unknown_never_an_exception() -> None:
    broken = dataclasses.replace(message(), text=None, new_text=None, subject=None)  # type: ignore[arg-type]
    result = classify(broken)
    assert result.kind == Kind.UNKNOWN
    assert result.reasons[0].startswith("unreadable")


def test_garbage_bytes_classify_without_raising() -> None:
    result = classify(parse_message(b"\x00\xff\xfe garbage \r\n\r\n\x81\x82"))
    assert result.kind in {k.value for k in Kind}


# ---------------------------------------------------------------- false friends


def test_a_citizen_mentioning_a_vacation_is_not_an_auto_reply() -> None:
    pm = message(
        from_addr="citizen@mail.example",
        subject="Яма во дворе",
        text="Я в отпуске был две недели, вернулся — во дворе яма. Прошу принять меры.",
    )
    assert classify(pm).kind == Kind.APPEAL


def test_cur_letter_about_undelivered_mail_is_not_a_bounce() -> None:
    pm = message(
        from_addr="petrova@cur12.example.org",
        subject="Недоставленное сообщение жителям",
        text="Сообщение не доставлено жителям ул. Мира. Прошу предоставить информацию в срок до 10.12.2026.",
    )
    assert classify(pm).kind == Kind.CUR_REQUEST


def test_pos_notification_quoting_a_delivery_failure_is_still_an_appeal() -> None:
    pm = message(
        from_addr="noreply@cur12.example.org",
        auto_submitted="auto-generated",
        subject="ПОС: сообщение не доставлено в управляющую компанию",
        text="Госуслуги. Решаем вместе. Заявитель: Орлов П.\nТекст: ваше сообщение не дошло, user unknown",
    )
    assert classify(pm).kind == Kind.APPEAL


def test_a_bounce_from_the_cur_mail_server_is_a_bounce() -> None:
    pm = message(
        from_addr="mailer-daemon@cur12.example.org",
        return_path="",
        subject="Undelivered Mail Returned to Sender",
        text="This is the mail system at host cur12.example.org. User unknown.",
    )
    assert classify(pm).kind == Kind.BOUNCE


def test_cur_appeal_without_a_channel_marker_gets_the_default_channel() -> None:
    pm = message(
        from_addr="cur@example.org",
        subject="Обращение",
        text="Направляем обращение гражданина для рассмотрения.\nЗаявитель: Козлов Иван\nТелефон: 89001234567",
    )
    result = classify(pm)
    assert (result.kind, result.channel) == (Kind.APPEAL, "other")
    assert result.applicant is not None and result.applicant.name == "Козлов Иван"


def test_cur_forward_of_a_citizens_mail_names_the_citizen() -> None:
    original = ForwardedMessage(
        from_addr="oleg@mail.example",
        from_name="Олег Смирнов",
        subject="Обращение",
        date=None,
        text="На ул. Лесной, д. 4 нет воды.",
    )
    pm = message(
        from_addr="cur@example.org",
        subject="Fwd: Обращение (Госуслуги. Решаем вместе)",
        forwarded=original,
        text="Направляем для работы.\n\nНа ул. Лесной, д. 4 нет воды.",
    )
    result = classify(pm)
    assert (result.kind, result.channel) == (Kind.APPEAL, "pos")
    assert result.applicant is not None
    assert (result.applicant.name, result.applicant.email) == ("Олег Смирнов", "oleg@mail.example")
    assert result.address == "ул. Лесной, д. 4"


def test_a_newsletter_quoting_citizens_is_not_an_appeal() -> None:
    pm = message(
        from_addr="news@media.example",
        precedence="bulk",
        list_headers=("list-unsubscribe",),
        text="Жители города подали жалобу на состояние дорог.",
    )
    assert classify(pm).kind == Kind.UNKNOWN


def test_labelled_email_line_is_not_the_street_address() -> None:
    pm = message(
        from_addr="noreply@cur12.example.org",
        subject="ПОС: новое сообщение",
        text="Адрес электронной почты: a@b.example\nАдрес: ул. Мира, д. 1\nТекст: мусор",
    )
    assert classify(pm).address == "ул. Мира, д. 1"


_addresses = st.sampled_from(
    ["", "cur@example.org", "noreply@cur12.example.org", "petrov@kozmo.example", "x@mail.example", "mailer-daemon@a.b"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sender=_addresses,
    subject=st.text(max_size=80),
    text=st.text(max_size=600),
    reply=st.booleans(),
    auto=st.sampled_from([None, "no", "auto-generated", "auto-replied", "\x00"]),
)
def test_classify_never_raises(sender: str, subject: str, text: str, reply: bool, auto: str | None) -> None:
    pm = message(
        from_addr=sender,
        subject=subject,
        text=text,
        auto_submitted=auto,
        in_reply_to="<r@x>" if reply else None,
    )
    result = classify(pm)
    assert result.kind in {k.value for k in Kind}
    assert result.reasons
    assert not [r for r in result.reasons if ": error " in r or r.startswith("unreadable")]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("на ул. Советская, д. 12 яма", "ул. Советская, д. 12"),
        ("улица Ленина, 5 — нет света", "улица Ленина, 5"),
        ("Советская ул., д. 12а/1, кв. 3", "Советская ул., д. 12а/1, кв. 3"),
        ("г. Козьмодемьянск, ул. Гагарина, д. 7, кв. 3", "г. Козьмодемьянск, ул. Гагарина, д. 7, кв. 3"),
        ("пер. Школьный, 3.", "пер. Школьный, 3"),
        ("На ул. Чайковского, д. 14 не горят фонари", "ул. Чайковского, д. 14"),
        ("по ул. Лесной, 10:00 утра", "ул. Лесной"),
        ("Адрес проблемы: двор за магазином «Магнит»\nул. Мира, д. 1", "двор за магазином «Магнит»"),
        ("Здравствуйте, спасибо", None),
        ("Вывоз мусора на ул. Ленина\nЗдравствуйте!", "ул. Ленина"),  # the next line is not the street's name
        ("Не вывозят мусор у дома 15 по ул. Ленина.", "ул. Ленина, д. 15"),
        ("Вывоз мусора на ул. Ленина\nНе вывозят мусор у дома 15 по ул. Ленина.", "ул. Ленина, д. 15"),
        ("в доме № 3 на улице Мира течёт крыша", "улице Мира, д. 3"),
        ("Жалоба: ул. Мира, д. 1. Также у дома 5 по ул. Ленина", "ул. Мира, д. 1"),
    ],
)
def test_street_address(text: str, address: str | None) -> None:
    assert street_address(text) == address


def test_keywords_are_read_only_in_the_head_of_the_text() -> None:
    filler = "Жители обсуждают ремонт моста через реку. " * 200  # about 8 KB
    pm = cur_reply(filler + "Согласовано.")
    result = classify(pm)
    assert result.kind == Kind.UNKNOWN
    assert classify(cur_reply("Согласовано. " + filler)).kind == Kind.CUR_APPROVAL


def test_our_echoed_subject_does_not_classify_a_reply() -> None:
    pm = cur_reply("Спасибо, получили.")  # subject: «Re: [CUR-12] Проект комментария»
    assert classify(pm).kind == Kind.UNKNOWN


def test_a_message_the_parser_cannot_read_is_unknown_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    import parsers.parse as parse_module

    def broken_tree(raw: bytes, fast: bool = True) -> None:
        raise ValueError("simulated parser bug")

    monkeypatch.setattr(parse_module, "_tree", broken_tree)
    raw = "From: citizen@mail.example\r\nSubject: Привет\r\n\r\nДобрый день".encode()
    pm = parse_message(raw)
    assert pm.defects[0] == "message unreadable (ValueError: simulated parser bug)"
    assert (pm.sha256, pm.size) == (hashlib.sha256(raw).hexdigest(), len(raw))
    result = classify(pm)
    assert result.kind == Kind.UNKNOWN
    assert result.reasons[-1] == "unknown: message unreadable (ValueError: simulated parser bug)"


@pytest.mark.parametrize(
    ("subject", "text", "channel", "applicant", "address"),
    [
        (
            "Обращение из голосовой системы обратной связи",
            "Поступило обращение через региональную голосовую систему обратной связи.\n"
            "Заявитель: Петров Иван Сергеевич\nТелефон: +7 927 111-22-33\nАдрес: г. Волжск, ул. Мира, д. 8\n"
            "Текст обращения: не работает уличное освещение.",
            "voice",
            ("Петров Иван Сергеевич", "+79271112233"),
            "г. Волжск, ул. Мира, д. 8",
        ),
        (
            "Звонок на горячую линию",
            "На горячую линию поступило обращение жителя. Заявитель: Сидоров А.\nАдрес: ул. Мира, д. 2",
            "voice",
            ("Сидоров А.", ""),
            "ул. Мира, д. 2",
        ),
        (
            "Результаты опроса",
            "По результатам опроса жителей поступила жалоба на освещение у дома 4 по ул. Лесной.",
            "survey",
            ("", ""),
            "ул. Лесной, д. 4",
        ),
    ],
)
def test_voice_and_survey_channels(
    subject: str, text: str, channel: str, applicant: tuple[str, str], address: str
) -> None:
    result = classify(message(from_addr="cur@example.org", subject=subject, text=text))
    assert (result.kind, result.channel) == (Kind.APPEAL, channel)
    assert result.applicant is not None
    assert (result.applicant.name, result.applicant.phone) == applicant
    assert result.address == address


@pytest.mark.parametrize(
    ("written", "phone"),
    [
        ("8 (917) 123-45-67", "89171234567"),
        ("+7 (917) 123 45 67", "+79171234567"),
        ("8 (83632) 7-11-22", "88363271122"),  # a Козьмодемьянск landline: five-digit area code
        ("+7 83632 71122", "+78363271122"),
        ("8-836-32-7-11-22", "88363271122"),
        ("8 917 123 45 678", ""),  # eleven digits after the 8: not a Russian number
    ],
)
def test_applicant_phone_formats(written: str, phone: str) -> None:
    text = f"Госуслуги. Решаем вместе.\nЗаявитель: Орлов П.\nТелефон: {written}\nТекст: мусор"
    result = classify(message(from_addr="noreply@cur12.example.org", subject="ПОС: обращение", text=text))
    assert result.applicant is not None and result.applicant.phone == phone
