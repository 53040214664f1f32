"""The e-mail command grammar (debbugs style): «#статус», «#срок 10.12.2026», «#на доработку …».

Rules:
* Commands sit at the top of the new text, one per line. Blank lines (also the NBSP-only and
  empty-paragraph lines that Outlook and HTML conversion leave) are skipped; processing stops at
  the first other line that is not a command, at a signature («-- », «С уважением», «Отправлено
  с iPhone») or at a quote («>», «… пишет:», «-----Original Message-----», «От: …»).
* The subject may carry one command, after «Re:»/«Fwd:»/«Ответ:»… prefixes and case tags such
  as «[KZM-42]» are stripped. It comes first in the result; the same command repeated in the body
  is kept once.
* Each command has Russian and English spellings, matched case-insensitively with «ё» ≡ «е».
  A «#word» line that is no command is reported in `unknown`; after `MAX_UNKNOWN` of them the
  parse stops (debbugs: after a few unknown lines, stop and send help).
* Nothing here raises. Input is read up to `TEXT_LIMIT` characters and `MAX_COMMANDS` commands.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime

from parsers.deadline import normalise, parse_when
from parsers.workcalendar import WorkCalendar

TEXT_LIMIT = 20_000  # commands are at the top; nothing past this can be one
LINE_LIMIT = 2_000
MAX_COMMANDS = 30
MAX_UNKNOWN = 3

ACCEPTED_DATE_FORMATS = "«10.12.2026», «10.12.2026 15:00», «10 декабря», «10 декабря 15:00»"


@dataclass(frozen=True, slots=True)
class Command:
    """One understood command: canonical English `name`, its argument text, the line it came from."""

    name: str
    args: str
    line: str
    source: str = "body"  # "body" or "subject"


@dataclass(frozen=True, slots=True)
class CommandParse:
    """What a command mail said, in order, and where and why reading stopped."""

    commands: tuple[Command, ...]
    unknown: tuple[str, ...]
    stopped_at: str | None  # the line that stopped the parse; None when the text ran out
    stop_reason: str | None = None  # "text" | "signature" | "quote" | "unknown" | "limit"
    rest: str = ""  # the new text from a stopping non-command line on (e.g. remarks below «#на доработку»)

    @property
    def found_any(self) -> bool:
        """True when the mail held anything command-shaped, known or not."""
        return bool(self.commands or self.unknown)


@dataclass(frozen=True, slots=True)
class CommandHelp:
    """One row of the help reply."""

    name: str
    syntax_ru: str
    syntax_en: str
    description: str  # Russian
    example: str


COMMAND_HELP: tuple[CommandHelp, ...] = (
    CommandHelp("help", "#помощь", "#help", "список команд с примерами", "#помощь"),
    CommandHelp(
        "status",
        "#статус [номер]",
        "#status [N]",
        "состояние дела в этой переписке или дела с номером: сроки, исполнитель, история",
        "#статус KZM-42",
    ),
    CommandHelp("mine", "#мои", "#mine", "мои открытые дела со сроками", "#мои"),
    CommandHelp("list", "#список", "#list", "все открытые дела (контактное лицо и руководитель аппарата)", "#список"),
    CommandHelp(
        "assign",
        "#назначить <e-mail или фамилия>",
        "#assign <e-mail or surname>",
        "передать дело другому исполнителю; он получит всё дело",
        "#назначить Петров",
    ),
    CommandHelp("topic", "#тема <тема>", "#topic <topic>", "задать тему дела", "#тема ЖКХ, отопление"),
    CommandHelp(
        "due",
        "#срок <дата>",
        "#due <date>",
        f"изменить срок в пределах правил для вида дела; даты: {ACCEPTED_DATE_FORMATS}",
        "#срок 10.12.2026 15:00",
    ),
    CommandHelp(
        "extend",
        "#продлить <дата> <причина>",
        "#extend <date> <reason>",
        "продлить срок с указанием причины (причина записывается в историю)",
        "#продлить 25.12.2026 запрошены сведения у подрядчика",
    ),
    CommandHelp("approved", "#согласовано", "#approved", "согласовать текст (только ЦУР)", "#согласовано"),
    CommandHelp(
        "rework",
        "#на доработку <замечания>",
        "#rework <remarks>",
        "вернуть текст на доработку с замечаниями (только ЦУР)",
        "#на доработку уточните адрес и сроки ремонта",
    ),
    CommandHelp(
        "published",
        "#опубликовано <ссылка>",
        "#published <URL>",
        "отметить публикацию на сайте (веб-редактор)",
        "#опубликовано https://example.ru/news/123",
    ),
    CommandHelp(
        "close", "#закрыть <итог>", "#close <outcome>", "закрыть дело с итогом", "#закрыть дан ответ заявителю"
    ),
    CommandHelp("reopen", "#открыть", "#reopen", "снова открыть закрытое дело", "#открыть"),
    CommandHelp(
        "note",
        "#заметка <текст>",
        "#note <text>",
        "служебная заметка в истории дела: её видят сотрудники, заявителю и ЦУР она не отправляется "
        "и ответом по делу не считается",
        "#заметка подрядчик обещал дать воду к 18:00, жду подтверждения",
    ),
    CommandHelp(
        "away",
        "#отсутствую <до даты> [заместитель]",
        "#away <until> [substitute]",
        "отпуск, командировка, больничный: до этой даты новые дела назначаются заместителю (иначе контактному "
        "лицу), ему же передаются ваши открытые дела",
        "#отсутствую до 25.12.2026 Сидорова",
    ),
    CommandHelp(
        "absent",
        "#отсутствует <сотрудник> <до даты> [заместитель]",
        "#absent <member> <until> [substitute]",
        "для контактного лица и руководителя: оформить отсутствие сотрудника, который не может сделать это сам",
        "#отсутствует Петров до 25.12.2026",
    ),
    CommandHelp("back", "#на месте [сотрудник]", "#back [member]", "отменить отсутствие раньше срока", "#на месте"),
    CommandHelp("report", "#отчёт [квартал]", "#report [quarter]", "отчёт по обращениям за квартал", "#отчёт 4 2026"),
    CommandHelp(
        "send",
        "#отправить",
        "#send",
        "отправить: квартальный отчёт — в ЦУР; согласованный комментарий — в пресс-службу Главы",
        "#отправить",
    ),
)

_ALIASES: dict[str, str] = {
    **dict.fromkeys(("помощь", "справка", "команды", "help"), "help"),
    **dict.fromkeys(("статус", "состояние", "status"), "status"),
    **dict.fromkeys(("мои", "mine", "my"), "mine"),
    **dict.fromkeys(("список", "list"), "list"),
    **dict.fromkeys(("назначить", "передать", "assign"), "assign"),
    **dict.fromkeys(("тема", "topic"), "topic"),
    **dict.fromkeys(("срок", "due"), "due"),
    **dict.fromkeys(("продлить", "продление", "extend"), "extend"),
    **dict.fromkeys(("согласовано", "согласовываем", "согласовываю", "approved", "approve"), "approved"),
    **dict.fromkeys(("на доработку", "надоработку", "доработать", "rework"), "rework"),
    **dict.fromkeys(("опубликовано", "published", "publish"), "published"),
    **dict.fromkeys(("закрыть", "close"), "close"),
    **dict.fromkeys(("открыть", "переоткрыть", "reopen"), "reopen"),
    **dict.fromkeys(("отчет", "report"), "report"),
    **dict.fromkeys(("отправить", "send"), "send"),
    **dict.fromkeys(("заметка", "примечание", "note"), "note"),
    **dict.fromkeys(("отсутствую", "отпуск", "away"), "away"),
    **dict.fromkeys(("отсутствует", "absent"), "absent"),
    **dict.fromkeys(("на месте", "вернулся", "вернулась", "back"), "back"),
}

# Every spelling the grammar takes: the classifier's default `command_words`, so that a mail it
# reads as a command is one this grammar understands (a list of its own let «#передать Сидорова»
# pass as an ordinary staff reply, i.e. as the answer to a request).
COMMAND_WORDS: tuple[str, ...] = tuple(_ALIASES)

# How a suggestion is written back: the alias keys are «ё»-folded («отчет»).
_SPELLING = {"отчет": "отчёт"}

# A command line: «#word [word2] [args]»; html2text may escape the «#» as «\#».
_COMMAND_LINE = re.compile(r"^\\?[#＃](?P<word>[^\s#:;,.!?()«»\"]{1,40})(?P<rest>.*)$", re.DOTALL)
_SECOND_WORD = re.compile(r"^[ \t_-]*(?P<word>[^\s:;,.!?()«»\"]{1,40})")
_EMPHASIS = re.compile(r"^(?P<mark>\*{1,3}|_{1,3})(?P<body>.+?)(?P=mark)$", re.DOTALL)
_BLANK_MARKERS = frozenset({"", "&nbsp;", "\\", "_", "*"})
_SIGNATURE = re.compile(
    r"^(?:\\?--\s*$|\\?-\s*-\s*$|__+\s*$|с\s+уважением|с\s+наилучшими|best\s+regards|kind\s+regards|regards\b"
    r"|(?:отправлено|sent|послано)\s+(?:с|со|из|from|via)\b|get\s+outlook\s+for|получить\s+outlook\s+для)",
    re.IGNORECASE,
)
_QUOTE = re.compile(
    r"^(?:>|\|"
    r"|-{2,}\s*(?:original\s+message|исходное\s+сообщение|пересылаемое\s+сообщение|forwarded\s+message)"
    r"|(?:от|from|sent|отправлено|кому|to|тема|subject|дата|date)\s*:\s*\S"
    r"|.{0,200}(?:пишет|писал|писала|написал|написала|написал\(а\)|wrote)\s*:\s*$"
    r"|.{0,200}<[^<>\s]+@[^<>\s]+>\s*:\s*$)",
    re.IGNORECASE,
)
_SUBJECT_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|fw|aw|wg|sv|vs|ответ|отв|пересл|на)\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*:\s*"
    r"|\[[^\[\]\n]{1,40}\]\s*)",
    re.IGNORECASE,
)
_CASE_TAG = re.compile(r"\s*\[[A-Za-z][A-Za-z0-9]{0,15}[-#]\d{1,9}\]\s*")
_ONLY_PUNCTUATION = re.compile(r"^[\s.,;:!?)\]»\"*_-]*$")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+")


def parse_commands(new_text: str, subject: str = "") -> CommandParse:
    """Commands from the subject and the top of a mail's new text. Never raises."""
    try:
        return _parse(new_text or "", subject or "")
    except Exception:  # never raise out of parsers/; an empty parse makes the daemon send help
        return CommandParse((), (), None, None)


def _parse(new_text: str, subject: str) -> CommandParse:
    commands: list[Command] = []
    unknown: list[str] = []
    subject_command = _subject_command(subject[:LINE_LIMIT])
    if isinstance(subject_command, Command):
        commands.append(subject_command)
    elif isinstance(subject_command, str):
        unknown.append(subject_command)

    lines = new_text[:TEXT_LIMIT].splitlines()
    stopped_at: str | None = None
    stop_reason: str | None = None
    rest = ""
    for index, raw in enumerate(lines):
        line = _clean(raw)
        if line in _BLANK_MARKERS:
            continue
        parsed = _command_from_line(line[:LINE_LIMIT], _SPACES.sub(" ", raw).strip()[:LINE_LIMIT])
        if parsed is None:
            stopped_at = raw.strip()
            if _SIGNATURE.match(line):
                stop_reason = "signature"
            elif _QUOTE.match(line):
                stop_reason = "quote"
            else:
                stop_reason = "text"
                rest = "\n".join(lines[index:]).strip()
            break
        if isinstance(parsed, str):
            unknown.append(parsed)
            if len(unknown) >= MAX_UNKNOWN:
                stopped_at, stop_reason = raw.strip(), "unknown"
                break
            continue
        if len(commands) >= MAX_COMMANDS:
            stopped_at, stop_reason = raw.strip(), "limit"
            break
        if commands and commands[0].source == "subject" and _same(commands[0], parsed):
            commands.pop(0)  # the body repeats the subject's command: keep one, in body order
        commands.append(parsed)
    return CommandParse(tuple(commands), tuple(unknown), stopped_at, stop_reason, rest)


def suggest_command(line: str) -> str | None:
    """The command a mistyped «#word» line most likely meant («#зыкрыть» → «#закрыть»), or None."""
    try:
        match = _COMMAND_LINE.match(_clean(line or "")[:LINE_LIMIT])
        if match is None:
            return None
        word = _key(match.group("word"))
        close = difflib.get_close_matches(word, [k for k in _ALIASES if " " not in k], n=1, cutoff=0.75)
        return f"#{_SPELLING.get(close[0], close[0])}" if close else None
    except Exception:  # never raise out of parsers/
        return None


def _same(first: Command, second: Command) -> bool:
    return first.name == second.name and first.args.casefold() == second.args.casefold()


def _clean(raw: str) -> str:
    """One line as a person sees it: exotic spaces gone, Markdown emphasis from HTML conversion removed."""
    line = _SPACES.sub(" ", raw).strip()
    emphasis = _EMPHASIS.match(line)
    if emphasis is not None:
        line = emphasis.group("body").strip()
    return line


def _command_from_line(line: str, original: str | None = None) -> Command | str | None:
    """A Command, the line itself when it is «#something» unknown, or None for a non-command line."""
    original = line if original is None else original
    match = _COMMAND_LINE.match(line)
    if match is None:
        return None
    word = _key(match.group("word"))
    rest = match.group("rest")
    second = _SECOND_WORD.match(rest)
    if second is not None:
        two_words = f"{word} {_key(second.group('word'))}"
        if two_words in _ALIASES:
            return Command(_ALIASES[two_words], _args(rest[second.end() :]), original)
    joined = word.replace("_", " ").replace("-", " ")
    for key in (word, joined, joined.replace(" ", "")):
        if key in _ALIASES:
            return Command(_ALIASES[key], _args(rest), original)
    if not any(ch.isalpha() for ch in word):
        return None  # «#1», «#42»: a number, not a command
    return original


def _key(word: str) -> str:
    return normalise(word).casefold()


def _args(rest: str) -> str:
    text = rest.strip()
    text = re.sub(r"^[:\-–—]\s*", "", text)
    return "" if _ONLY_PUNCTUATION.match(text) else text


def _subject_command(subject: str) -> Command | str | None:
    text = _SPACES.sub(" ", subject).strip()
    for _ in range(20):
        stripped = _SUBJECT_PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    text = _CASE_TAG.sub(" ", text).strip()
    if not text.startswith(("#", "＃")):
        return None
    parsed = _command_from_line(text)
    if isinstance(parsed, Command):
        return Command(parsed.name, parsed.args, subject.strip(), "subject")
    return parsed


# --- dates that staff type ---------------------------------------------------------------------

_LEADING_PREPOSITION = re.compile(r"^\s*(?:до|на|по|к|не\s+позднее)\s+", re.IGNORECASE)


def parse_staff_date_prefix(
    text: str, now: datetime, calendar: WorkCalendar | None = None
) -> tuple[datetime | None, str]:
    """A date (and time) at the start of `text`, and the text after it: for «#продлить <дата> <причина>».

    A date alone means the end of that day's working hours; a date without a year is the next
    such date from today. Returns (None, text) when no date starts the text. Never raises.
    """
    try:
        source = (text or "")[:LINE_LIMIT]
        lead = _LEADING_PREPOSITION.match(source)
        offset = lead.end() if lead else 0
        moment, used = parse_when(source[offset:], now, calendar)
        if moment is None:
            return None, source.strip()
        return moment, source[offset + used :].strip(" \t,.;:-–—")
    except Exception:  # never raise out of parsers/
        return None, (text or "").strip()


def parse_staff_date(text: str, now: datetime, calendar: WorkCalendar | None = None) -> datetime | None:
    """A whole argument read as a date: «10.12.2026», «10.12.2026 15:00», «10 декабря», «10 декабря 15:00».

    None when the text is not exactly a date (the reply then quotes it with ACCEPTED_DATE_FORMATS).
    """
    moment, rest = parse_staff_date_prefix(text, now, calendar)
    if moment is None or rest:
        return None
    return moment


def format_help() -> str:
    """The plain-text Russian help for «#помощь» and for mails where nothing was understood."""
    lines = [
        "Команды пишутся в начале письма, по одной в строке; можно по-русски или по-английски.",
        "Чтение команд останавливается на первой строке, которая не является командой, на подписи или цитате.",
        "",
    ]
    for row in COMMAND_HELP:
        lines.append(f"{row.syntax_ru}  ({row.syntax_en}) — {row.description}.")
        lines.append(f"    Пример: {row.example}")
    lines.append("")
    lines.append(f"Даты: {ACCEPTED_DATE_FORMATS}. Время — московское.")
    return "\n".join(lines)
