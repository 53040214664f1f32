"""Everything the classifier can be configured with, as plain data, with defaults for the Mari El ЦУР."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from daemon.errors import ConfigError
from parsers.commands import COMMAND_WORDS


@dataclass(frozen=True)
class KindPatterns:
    """Patterns that make ЦУР mail one kind: keyword phrases (matched on lemmas) and/or regexes.

    A keyword phrase matches any word form of its words, as a contiguous run: «согласовано»
    also hits «согласовываем», «согласован». Regexes are Python syntax, searched
    case-insensitively in the subject and the head of the new text. `reply_only` limits the
    rule to mail that answers something (In-Reply-To/References, a case tag or a Re: prefix):
    an approval or remarks make sense only as an answer to our draft.
    """

    kind: str  # a parsers.model.Kind value
    name: str  # rule name recorded in Classification.reasons
    keywords: tuple[str, ...] = ()
    regexes: tuple[str, ...] = ()
    reply_only: bool = False
    # Regexes blanked out before the keywords are tested: «без замечаний» must not count as «замечание».
    ignore: tuple[str, ...] = ()


# Order matters: the first hit wins. Remarks come before approval so that «не согласовано»
# or «согласовано с замечаниями» is never read as an approval (an approval sends text to the press).
DEFAULT_CUR_PATTERNS: tuple[KindPatterns, ...] = (
    KindPatterns(
        kind="cur_remarks",
        name="cur-remarks",
        keywords=(
            "на доработку", "доработать", "доработка", "замечание", "не согласовать",
            "не согласовывать", "не согласовано", "исправить", "поправить", "переделать",
            "скорректировать", "корректировка", "уточнить формулировку", "внести правка", "правка",
            "не подходит", "не принимается", "отклонить", "отклоняем", "не согласен", "убрать", "заменить",
            "дополнить",
        ),
        reply_only=True,
        ignore=(
            r"без\s+(?:каких-либо\s+)?(?:замечани\w*|правок|исправлений|корректировок|доработ\w*)",
            r"(?:замечани\w*|правок|возражений)\s+(?:нет|не\s+имеем|не\s+имеется|отсутству\w*)",
            r"нет\s+(?:замечаний|правок)", r"замечани\w*\s+учтен\w*",
        ),
    ),
    KindPatterns(
        kind="cur_approval",
        name="cur-approval",
        keywords=(
            "согласовано", "согласовываем", "можно публиковать", "публикуйте", "можно размещать",
            "размещайте", "одобрено", "одобряем", "утверждено", "утверждаем", "возражений нет", "не возражаем",
            "без замечаний", "согласен с текстом", "добро на публикацию", "approved",
        ),
        reply_only=True,
        # «прошу согласовать», «необходимо согласовать с главой» ask for an approval, they do not give one.
        ignore=(
            r"(?:прошу|просим|необходимо|нужно|надо|требуется|следует|должны?|направляем\s+на)\s+"
            r"(?:\w+\s+)?(?:согласова\w*|согласовани\w*)",
        ),
    ),
    KindPatterns(
        kind="cur_proposal",
        name="cur-proposal-reply",
        keywords=(
            "предлагаем текст", "предлагаемый текст", "предложение по комментарию", "проект комментария",
            "вариант комментария", "вариант ответа", "предлагаемый комментарий", "предлагаем комментарий",
            "предлагаем следующий", "предлагаем опубликовать", "проект опровержения", "вариант опровержения",
            "предлагаемый ответ",
        ),
        reply_only=True,
    ),
    # Strong signs of a signal come before the request rule (a signal also asks for a comment
    # «в течение 3 часов»); a publication URL counts as a strong sign as well.
    KindPatterns(
        kind="cur_signal",
        name="cur-signal",
        keywords=(
            "недостоверный", "недостоверная информация", "опровержение", "опровергнуть",
            "информационный риск", "официальный комментарий", "требуется комментарий", "нужен комментарий",
            "дать комментарий", "прокомментировать", "фейк",
        ),
    ),
    KindPatterns(
        kind="cur_request",
        name="cur-request",
        keywords=(
            "запрос", "официальный запрос", "прошу предоставить", "просим предоставить", "просим представить",
            "прошу представить", "просим направить", "прошу направить", "просим сообщить", "прошу сообщить",
            "предоставить информацию", "предоставить сведения", "представить информацию",
            "представить сведения", "направить информацию", "направить сведения",
        ),
        regexes=(r"в\s+срок\s+до", r"не\s+позднее", r"в\s+течение\s+\d+"),
    ),
    # Weak signs of a signal: only when the mail is not a request.
    KindPatterns(
        kind="cur_signal",
        name="cur-signal-weak",
        keywords=(
            "негативный", "негатив", "публикация", "пост", "источник", "цитата", "разъяснение",
            "сообщение в сети", "в социальных сетях",
        ),
    ),
    KindPatterns(
        kind="appeal",
        name="cur-appeal-keywords",
        keywords=(
            "обращение гражданина", "поступить обращение", "направлять обращение", "текст обращения",
            "заявитель", "жалоба",
        ),
    ),
    KindPatterns(
        kind="cur_proposal",
        name="cur-proposal",
        keywords=(
            "предлагаем текст", "предлагаемый текст", "проект комментария", "вариант комментария",
            "предлагаемый комментарий", "предлагаем комментарий", "проект опровержения",
            "вариант опровержения",
        ),
    ),
)

# Channel markers (п. 8 of the regulation), searched in the subject, sender name and the head of
# the text. Regexes are case-sensitive unless they start with (?i): «ПОС» must not match «пос.»
# (посёлок) in a street address.
DEFAULT_CHANNEL_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pos", (
        r"(?i)реша[еe]м\s+вместе", r"\bПОС\b", r"(?i)платформ\w*\s+обратной\s+связи",
        r"(?i)pos\.gosuslugi\.ru", r"(?i)госуслуги\W+решаем",
    )),
    ("incident", (
        r"(?i)инцидент[\s-]*менеджмент", r"(?i)(?:нов\w+\s+)?инцидент\w*\s+(?:№|n|#)\s*\S+",
        r"(?i)^\s*новый\s+инцидент",
    )),
    ("59fz", (
        r"(?i)59\s*-\s*ФЗ", r"(?i)\bФЗ\s*-?\s*59\b", r"(?i)о\s+порядке\s+рассмотрения\s+обращений\s+граждан",
    )),
    ("voice", (
        r"(?i)голосов\w+\s+(?:систем\w*|канал\w*)\s+обратн\w+\s+связ", r"(?i)горяч\w+\s+лини",
        r"(?i)\bIVR\b",
    )),
    ("survey", (r"(?i)результат\w*\s+(?:опрос|анкетирован)", r"(?i)в\s+ходе\s+(?:опроса|анкетирования)")),
)

# Words that mark a citizen's appeal in mail from outside (not ЦУР, not staff), or forwarded by staff.
DEFAULT_APPEAL_KEYWORDS: tuple[str, ...] = (
    "обращение", "жалоба", "заявление", "прошу принять меры", "просим принять меры", "прошу разобраться",
    "прошу помочь", "прошу рассмотреть", "заявитель", "житель", "жители",
)

# Commands of issue 5 (Russian and English); a mail whose new text starts with one is a command.
DEFAULT_COMMAND_WORDS: tuple[str, ...] = COMMAND_WORDS

# Subjects of delivery failures (RFC 3464 and the non-standard formats of the sisimai corpus).
DEFAULT_BOUNCE_SUBJECTS: tuple[str, ...] = (
    r"undeliver", r"undelivered\s+mail", r"delivery\s+status\s+notification", r"returned\s+mail",
    r"mail\s+delivery\s+fail", r"delivery\s+fail", r"failure\s+notice", r"non[-\s]?deliver",
    r"delivery\s+notification", r"delivery\s+report", r"message\s+not\s+delivered", r"could\s+not\s+send",
    r"mail\s+system\s+error", r"returned\s+to\s+sender", r"delivery\s+problem", r"mail\s+could\s+not\s+be",
    r"warning:\s+could\s+not", r"message\s+delivery\s+(?:has\s+)?failed", r"delivery\s+has\s+failed",
    r"permanent\s+error", r"rejected", r"bounced?\b", r"not\s+delivered", r"unable\s+to\s+deliver",
    r"nondeliverable", r"failed\s+delivery", r"message\s+you\s+sent", r"mail\s+failure",
    r"error\s+sending", r"delivery\s+failure", r"\bdsn\b", r"no\s+se\s+puede\s+entregar",
    r"non\s+remis", r"unzustellbar", r"nicht\s+zustellbar", r"недоставленн", r"не\s+доставлен",
    r"ошибка\s+доставки", r"невозможно\s+доставить", r"сообщение\s+не\s+может\s+быть\s+доставлено",
    r"возврат\s+письма", r"notification\s+de\s+non", r"mail\s+returned", r"returned\s+message",
    r"message\s+status", r"delivery\s+delay", r"delayed\s+mail", r"spam\s+(?:report|complaint)",
    r"abuse\s+report", r"complaint", r"email\s+feedback", r"feedback\s+report", r"report\s+domain",
    r"mail\s+failed", r"delivery\s+status\b", r"errors\s+from\s+\S+\[", r"loop\s+alert",
    r"not\s+(?:a\s+)?member\b", r"aws\s+notification", r"メールエラー",
)

# Senders whose mail is machine mail about delivery (local part before "@", or a display name).
DEFAULT_BOUNCE_SENDERS: tuple[str, ...] = (
    r"^mailer-daemon\b", r"^postmaster\b", r"^mail-daemon\b", r"^maildaemon\b", r"^mailerdaemon\b",
    r"^mail\s+delivery\s+(?:subsystem|system)", r"^mail\s+administrator", r"^mdaemon\b", r"^bounces?\b",
    r"^(?:ms)?exchange\b", r"^microsoftexchange", r"^mail\s+delivery", r"^internet\s+mail\s+delivery",
    r"^mailer\b", r"^smtp\b", r"^returned\s+mail", r"^double-bounce", r"^abuse\b", r"^fbl\b",
    r"^feedback", r"^complaints?\b", r"^nobody\b", r"^root\b", r"^mail\s+router", r"^post_master\b",
    r"^no-?reply\b", r"^[\w.]+-(?:admin|owner|request|bounces?)$",
    r"^системный\s+администратор", r"^почтовая\s+служба", r"^служба\s+доставки",
)

# Body phrases of the non-standard bounce formats (first lines of the notice).
DEFAULT_BOUNCE_BODY: tuple[str, ...] = (
    r"this\s+is\s+the\s+mail\s+system\s+at", r"i'm\s+afraid\s+i\s+wasn't\s+able\s+to\s+deliver",
    r"delivery\s+to\s+the\s+following\s+recipients?\s+failed", r"was\s+not\s+delivered\s+to",
    r"could\s+not\s+be\s+delivered", r"couldn't\s+be\s+delivered", r"wasn't\s+delivered",
    r"message\s+could\s+not\s+be\s+delivered", r"undeliverable", r"permanent\s+fatal\s+errors?",
    r"the\s+following\s+addresses\s+had\s+permanent", r"delivery\s+has\s+failed",
    r"unable\s+to\s+deliver", r"returned\s+to\s+sender", r"user\s+unknown", r"mailbox\s+unavailable",
    r"recipient\s+address\s+rejected", r"no\s+such\s+user", r"mailbox\s+(?:is\s+)?full",
    r"quota\s+exceeded", r"message\s+delivery\s+failed", r"sorry,\s+we\s+were\s+unable",
    r"hi\.\s+this\s+is\s+the\s+qmail-send", r"failed\s+recipient", r"delivery\s+status\s+notification",
    r"your\s+message\s+.{0,60}(?:was|has\s+been|could\s+not\s+be)\s+(?:rejected|blocked|returned)",
    r"the\s+original\s+message\s+was\s+received\s+at", r"reporting-mta:", r"final-recipient:",
    r"feedback-type:", r"diagnostic-code:", r"сообщение\s+не\s+(?:было\s+)?доставлено",
    r"не\s+удалось\s+доставить", r"не\s+может\s+быть\s+доставлено", r"ваше\s+(?:письмо|сообщение)\s+не",
    r"адрес\s+получателя\s+не\s+найден", r"почтовый\s+ящик\s+переполнен",
    r"error\s+delivering", r"did\s+not\s+reach\s+the\s+following\s+recipient", r"invalid\s+user\s+address",
    r"no\s+valid\s+recipients", r"failed\s+addresses\s+follow", r"transcript\s+of\s+session\s+follows",
    r'"notificationType"\s*:\s*"(?:Bounce|Complaint)"', r"not\s+a\s+member\s+of\s+this\s+mailing\s+list",
    r"duplicated\s+message-id",
)

# Subjects and body openings of vacation and out-of-office replies (RU and EN plus common clients).
DEFAULT_AUTOREPLY_SUBJECTS: tuple[str, ...] = (
    r"^\s*auto(?:matic)?\s*[-:]?\s*(?:reply|response|answer)", r"^\s*auto:", r"^\s*autoreply",
    r"out\s+of\s+(?:the\s+)?office", r"\bvacation\b", r"\bon\s+leave\b", r"away\s+from\s+(?:my|the)",
    r"automatische\s+antwort", r"abwesenheit", r"r[ée]ponse\s+automatique", r"absence\s+(?:notice|message)",
    r"risposta\s+automatica", r"respuesta\s+autom[áa]tica", r"自動", r"автоматическ\w+\s+ответ",
    r"автоответ", r"^\s*отсутствую", r"вне\s+офиса",
)
DEFAULT_AUTOREPLY_BODY: tuple[str, ...] = (
    r"i\s+am\s+(?:currently\s+)?(?:out\s+of\s+(?:the\s+)?office|on\s+(?:vacation|leave|holiday)|away)",
    r"i\s+will\s+be\s+(?:out\s+of\s+(?:the\s+)?office|away)", r"this\s+is\s+an\s+auto(?:matic|mated)?[-\s]?reply",
    r"автоматический\s+ответ", r"(?:я\s+)?(?:нахожусь|буду)\s+в\s+отпуске", r"я\s+в\s+отпуске",
    r"буду\s+отсутствовать", r"в\s+командировке\s+до", r"отсутствую\s+(?:на\s+рабочем\s+месте|до|с)\b",
    r"нахожусь\s+на\s+больничном",
)


@dataclass(frozen=True)
class ClassifierRules:
    """All settings of classify(); the daemon builds one from the TOML config, tests use the defaults.

    Addresses are compared lower-cased; a domain matches itself and its subdomains.
    """

    cur_addresses: tuple[str, ...] = ("cur@example.org",)
    cur_domains: tuple[str, ...] = ("cur12.example.org",)
    staff_addresses: tuple[str, ...] = ()
    staff_domains: tuple[str, ...] = ("kozmo.example",)
    own_addresses: tuple[str, ...] = ("curmail@kozmo.example",)
    # Right-hand side of the Message-IDs curmail writes. Keep it distinct from the staff's mail
    # server domain, or staff mail would look like our own and never get an acknowledgement.
    own_message_id_domain: str = "curmail.kozmo.example"
    loop_header: str = "X-Curmail-Loop"  # any value of this header means the mail came from us
    case_tag: str = "CUR"
    old_case_tags: tuple[str, ...] = ()
    cur_patterns: tuple[KindPatterns, ...] = DEFAULT_CUR_PATTERNS
    channel_markers: tuple[tuple[str, tuple[str, ...]], ...] = DEFAULT_CHANNEL_MARKERS
    default_cur_appeal_channel: str = "other"
    appeal_keywords: tuple[str, ...] = DEFAULT_APPEAL_KEYWORDS
    command_words: tuple[str, ...] = DEFAULT_COMMAND_WORDS
    bounce_subjects: tuple[str, ...] = DEFAULT_BOUNCE_SUBJECTS
    bounce_senders: tuple[str, ...] = DEFAULT_BOUNCE_SENDERS
    bounce_body: tuple[str, ...] = DEFAULT_BOUNCE_BODY
    autoreply_subjects: tuple[str, ...] = DEFAULT_AUTOREPLY_SUBJECTS
    autoreply_body: tuple[str, ...] = DEFAULT_AUTOREPLY_BODY
    # Local parts that must never get an automatic answer (DESIGN.md, RT/Znuny/Zammad union).
    no_reply_local_parts: tuple[str, ...] = (
        "mailer-daemon", "postmaster", "noreply", "no-reply", "no_reply", "donotreply", "do-not-reply",
        "do_not_reply", "bounce", "bounces", "mail-daemon", "auto-reply", "autoreply", "notifications",
    )
    # How much of the new text the keyword rules read: decisive words sit at the top.
    text_head_chars: int = 4096

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ClassifierRules:
        """Rules from plain config data (a TOML table): lists become tuples, pattern tables KindPatterns.

        `cur_patterns` is a list of tables with the KindPatterns fields; `channel_markers` is a table
        {channel: [regex, …]} (order kept). Keys left out keep their defaults. A key that is not a
        setting, or a regex that does not compile, raises ConfigError naming it.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown classifier setting(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "cur_patterns":
                values[key] = tuple(
                    KindPatterns(**{k: _frozen(v) for k, v in dict(item).items()}) for item in value
                )
            elif key == "channel_markers":
                items = value.items() if isinstance(value, Mapping) else value
                values[key] = tuple((str(channel), _frozen(patterns)) for channel, patterns in items)
            else:
                values[key] = _frozen(value)
        rules = cls(**values)
        rules.check_regexes()
        return rules

    def check_regexes(self) -> None:
        """Compile every regex once, so that a typo in the config fails at start-up, not on a message."""
        groups: list[tuple[str, tuple[str, ...]]] = [
            ("bounce_subjects", self.bounce_subjects),
            ("bounce_senders", self.bounce_senders),
            ("bounce_body", self.bounce_body),
            ("autoreply_subjects", self.autoreply_subjects),
            ("autoreply_body", self.autoreply_body),
            *((f"channel_markers.{ch}", pats) for ch, pats in self.channel_markers),
            *((f"cur_patterns.{p.name}", (*p.regexes, *p.ignore)) for p in self.cur_patterns),
        ]
        for where, patterns in groups:
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ConfigError(f"classifier regex in {where} does not compile: {pattern!r} ({exc})") from exc


def _frozen(value: Any) -> Any:
    """Lists (from TOML) as tuples, recursively, so that the rules stay hashable and immutable."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value
