"""Line patterns for reply extraction: what each line of a reply is (text, quote, attribution, header…)."""

from __future__ import annotations

import re
from enum import Enum

# Every pattern runs on at most this many characters of a line: bounded input, no runaway matching.
MAX_LINE = 400


class LineKind(Enum):
    """What one line of a reply is."""

    EMPTY = "e"
    TEXT = "t"
    QUOTE = "q"  # starts with ">"
    ATTRIBUTION = "b"  # «… пишет:», «On … wrote:», «-----Исходное сообщение-----»
    HEADER = "h"  # «От: …», «Subject: …» inside a quoted header block
    SIGNATURE = "s"  # «-- », «С уважением,», «Отправлено с iPhone»
    DELIMITER = "d"  # a line of dashes, underscores, stars…


# Verbs that end an attribution line, in the languages staff and the corpora use.
_WROTE = (
    r"(?:wrote|writes|said|says|написал(?:\(а\)|а)?|написав(?:\(ла\)|ла)?|пишет|пише|"
    r"schrieb(?:\s+\S+)?|geschrieben|a\s+écrit|nous\s+a\s+dit|ha\s+scritto|escribió|escreveu|"
    r"napisał(?:\(a\)|a)?|napsal(?:\(a\))?|napísal(?:\(a\))?|skrev(?:\s+følgende\s+den\s.{1,60})?|"
    r"följande|schreef|het\s+volgende\s+geschreven|geschreven|kirjoitti(?:\s.{1,60})?|"
    r"írta|yazdı|a\s+scris|写道|wrote\s+on\s.{1,80})"
)

# «03.12.2026 10:00, Иванов И.И. пишет:», «On Wed, … wrote:», «3 дек. 2026 г., в 10:00, Name <a@b> написал(а):»,
# «Name <a@b> schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:»
_ATTRIBUTION_WROTE = re.compile(
    rf"^[\s>*-]*\S.{{0,300}}?\s{_WROTE}[\s:.-]*$"
    r"|^[\s>*]*\S.{0,200}?\s(?:wrote|schrieb|написал\w*)\s(?:on|am)\s.{1,120}:\s?$",
    re.IGNORECASE,
)

# «ср, 3 дек. 2026 г. в 10:00, Name <a@b>:» (Gmail), «03.12.2026, 10:00, "Name" <a@b>:» (Yandex),
# «Среда, 3 декабря 2026, 10:00 +03:00 от Name <a@b>:» (Mail.ru), and Mail.ru without a display name.
# These need a digit (the date), checked in code: one lazy gap instead of two keeps the match linear.
_ATTRIBUTION_DATED = re.compile(
    r"^[\s>*]*\S.{0,500}?<\s?[^<>@\s]{1,100}@[^<>\s]{1,200}\s?>[\s:]*$"
    r"|^[\s>*]*\S.{0,500}?\sот\s.{0,100}?[^\s@<]{1,100}@[^\s:>]{1,200}>?\s?:$",
    re.IGNORECASE,
)

_ATTRIBUTION_PATTERNS = (
    # «Am 21.04.2016 17:48 schrieb "Name" <a@b>:», «Op 16 aug. 2014 05:13 schreef …:», «Den … skrev …:»
    r"^[\s>]*(?:am|op|den|søn\.)\s.{1,200}?\s(?:schrieb|schreef|skrev)\s[^:]{1,200}:\s?$",
    # Outlook and web-mail separators
    r"^[\s>*_]*-{2,}\s*(?:original\s+message|forwarded\s+message|reply\s+message|исходное\s+сообщение|"
    r"пересылаемое\s+сообщение|перенаправленное\s+сообщение|оригинальное\s+сообщение|"
    r"ursprüngliche\s+nachricht|weitergeleitete\s+nachricht|message\s+transféré|message\s+d'origine|"
    r"mensaje\s+original|mensaje\s+reenviado|messaggio\s+originale|oorspronkelijk\s+bericht|"
    r"původní\s+zpráva|oryginalna\s+wiadomość|原始邮件|原始郵件)\s*-{2,}",
    r"^[\s>*]*(?:begin\s+forwarded\s+message|начало\s+переадресованного\s+сообщения|"
    r"начало\s+пересылаемого\s+сообщения|début\s+du\s+message\s+transféré|"
    r"anfang\s+der\s+weitergeleiteten\s+nachricht)\s*:",
    # The Bat!: «Вы писали 3 декабря 2026 г., 10:00:45:», «You wrote 3 December 2026, 10:00:45:»
    r"^[\s>]*(?:вы\s+писали|you\s+wrote)\s[^:]{0,60}\d.{0,80}:$",
    # «2016-03-03 17:21 GMT+01:00 Some One»
    r"^[\s>]*20\d\d-\d\d-\d\d\s+\d\d?:\d\d\s+GMT[+-]\d\d:\d\d\s+\S.{0,200}$",
    # «在 2016年3月3日 … 写道：»
    r"^[\s>]*在.{1,200}写道[:：]?\s*$",
    # «Posted by x on 01/21/2016»
    r"^[\s>]*posted\s+by\s+.{1,100}\s+on\s+\d\d/\d\d/\d{4}\s*$",
)
_ATTRIBUTION = re.compile("|".join(f"(?:{p})" for p in _ATTRIBUTION_PATTERNS), re.IGNORECASE)

# Header names of a quoted header block (Outlook «От: … Отправлено: … Кому: … Тема: …» and the like).
_HEADER_NAMES = (
    "from|sent|date|to|cc|bcc|reply-to|subject|"
    "от|от кого|отправитель|отправлено|отправленные|дата|кому|копия|тема|"
    "von|gesendet|datum|an|betreff|de|envoyé|à|objet|para|asunto|enviado|fecha|"
    "da|inviato|data|oggetto|van|verzonden|aan|onderwerp|fra|sendt|til|emne|från|skickat|till|ämne|"
    "od|wysłano|do|temat|kopia|发件人|发送时间|收件人|主题|抄送"
)
_HEADER = re.compile(rf"^[\s>]*\**\s*(?:{_HEADER_NAMES})\s*\**\s*[:：]\s*\**\s*\S", re.IGNORECASE)

_SIGNATURE = re.compile(
    r"^\s*(?:--\s*"
    r"|с\s+(?:глубоким\s+|искренним\s+)?уважением\s*[,.!]?"
    r"|с\s+(?:глубоким\s+|искренним\s+)?уважением\s*,\s*\S.{0,60}"
    r"|с\s+наилучшими\s+пожеланиями\b.{0,40}"
    r"|отправлено\s+(?:с|из|со)\s+.{1,80}"
    r"|sent\s+(?:from|via|with|by)\s+.{1,120}"
    r"|[(<]+\s*sent\s+(?:from|via|with|by)\s+.{1,120}"
    r"|get\s+outlook\s+for\s.{0,120}"
    r"|получить\s+outlook\s+для\s.{0,60}"
    r"|\w+\s+from\s+mobile\b.{0,40}"
    r"|from\s+my\s+.{1,20}"
    r"|envoyé\s+depuis\s+(?:mon|yahoo\s+mail).{0,80}"
    r"|von\s+meinem\s+.{1,80}\s+gesendet.{0,40}"
    r"|diese\s+nachricht\s+wurde\s+von\s+.{1,100}\s+gesendet.{0,40}"
    r"|inviato\s+da\s+.{1,80}"
    r"|sendt\s+fra\s+min\s+.{1,80}"
    r"|enviado\s+(?:do\s+meu|desde\s+mi)\s+.{1,80}"
    r"|verzonden\s+met\s+.{1,80}"
    r"|verstuurd\s+vanaf\s+mijn\s+.{1,80}"
    r"|från\s+min\s+.{1,80}"
    r"|從我的\s*iphone\s*傳送"
    r")\s*$",
    re.IGNORECASE,
)
_MARKDOWN_LINK = re.compile(r"\[([^\]\n]{1,200})\]\([^)\n]{1,400}\)")

_DELIMITER = re.compile(r"^\s*[-_,=+~#*ᐧ—–]+\s*$")
# «> text», and The Bat!/Supercite initials: « ПА> text».
_QUOTE = re.compile(r"^\s*(?:>|[^\W\d_]{1,3}>(?:\s|$))")
# A greeting before an attribution is the client's template («Здравствуйте, Анна.» in The Bat!),
# not an answer: the quote under it is then a bottom-posted quote.
GREETING = re.compile(
    r"^\s*(?:здравствуй\w*|добр\w+\s+(?:день|вечер|утро)|доброе\s+утро|привет\w*|уважаем\w+|"
    r"коллеги|hello|hi|dear|good\s+(?:morning|afternoon|evening))\b.{0,60}$",
    re.IGNORECASE,
)


_DIGIT = re.compile(r"\d")


def squeeze(line: str) -> str:
    """The line cut to MAX_LINE with every run of white space made one space.

    Patterns then never meet long runs of blanks, so adjacent optional blanks cannot backtrack badly.
    """
    # str.split() and the regex «\s» agree on what white space is (both use str.isspace), and the
    # split/join pair is several times cheaper than _SPACES.sub(...).strip() on every line.
    return " ".join(line[:MAX_LINE].split())


# Literal pieces of which every _WROTE verb contains at least one, in casefolded form. The patterns
# are case-insensitive, and the regex engine also equates «ı» with «i»: _folded() mirrors both, so
# this cheap test never rejects a line that the expensive pattern would accept.
_WROTE_ANCHORS = (
    "wrote", "writes", "said", "says", "написа", "пише", "schrieb", "geschrieben", "écrit",
    "nous a dit", "scritto", "escribi", "escreveu", "napisa", "napsal", "napísal", "skrev",
    "följande", "schreef", "geschreven", "kirjoitti", "írta", "yazd", "scris", "写道",
)  # fmt: skip


def _folded(line: str) -> str:
    return line.casefold().replace("ı", "i")


# One search for all anchors is several times cheaper than a Python loop of `in` tests.
_WROTE_ANCHOR = re.compile("|".join(map(re.escape, _WROTE_ANCHORS)))


def _may_be_wrote(folded: str) -> bool:
    return _WROTE_ANCHOR.search(folded) is not None


def _may_be_dated(squeezed: str, folded: str) -> bool:
    """Both _ATTRIBUTION_DATED forms end the line: «…<a@b>:» or «… от Name <a@b>:»."""
    return squeezed.rstrip(" :").endswith(">") or (squeezed.endswith(":") and " от " in folded)


def is_attribution(line: str) -> bool:
    """An attribution needs a date, an address or «via»: «as he wrote:» alone is ordinary text."""
    return _is_attribution(squeeze(line))


def _is_attribution(line: str) -> bool:
    """is_attribution of an already squeezed line."""
    if _ATTRIBUTION.match(line):
        return True
    has_at = "@" in line
    if not (has_at or " via " in line):
        has_digit = bool(_DIGIT.search(line))
        if not has_digit:
            return False
    else:
        has_digit = has_at and bool(_DIGIT.search(line))
    folded = _folded(line)
    if has_digit and has_at and _may_be_dated(line, folded) and _ATTRIBUTION_DATED.match(line):
        return True
    return _may_be_wrote(folded) and bool(_ATTRIBUTION_WROTE.match(line))


def _is_signature(line: str) -> bool:
    if "](" in line:  # a Markdown link «[Outlook](https://…)» reads as its label
        line = _MARKDOWN_LINK.sub(r"\1", line)
    return bool(_SIGNATURE.match(line))


def classify_line(line: str) -> LineKind:
    """What one line of a reply is."""
    if not line or line.isspace():
        return LineKind.EMPTY
    line = squeeze(line)
    if line[0] == ">":
        # No delimiter or signature form starts with «>», and every such line is at least a quote.
        if _is_attribution(line):
            return LineKind.ATTRIBUTION
        if (":" in line or "：" in line) and _HEADER.match(line):
            return LineKind.HEADER
        return LineKind.QUOTE
    if line == "--":
        return LineKind.SIGNATURE
    if _DELIMITER.match(line):
        return LineKind.DELIMITER
    if _is_signature(line):
        return LineKind.SIGNATURE
    if _is_attribution(line):
        return LineKind.ATTRIBUTION
    if (":" in line or "：" in line) and _HEADER.match(line):
        return LineKind.HEADER
    if _QUOTE.match(line):
        return LineKind.QUOTE
    return LineKind.TEXT


def classify_lines(lines: list[str]) -> list[LineKind]:
    """The kind of every line; lines inside a ``` code fence are always text."""
    kinds: list[LineKind] = []
    in_code = False
    for line in lines:
        if line.lstrip().startswith("```"):
            in_code = not in_code
            kinds.append(LineKind.TEXT)
        elif in_code:
            kinds.append(LineKind.EMPTY if not line.strip() else LineKind.TEXT)
        else:
            kinds.append(classify_line(line))
    return kinds


_CONTINUATION_PREFIX = re.compile(r"^[\s>]*")


def join_wrapped_attributions(lines: list[str]) -> list[str]:
    """Join an attribution that a client wrapped over two or three lines into one line.

    «20 окт. 2016 г. 19:37 пользователь "Name" <\\nmeta@x.com> написал:» must read as one marker.
    """
    out: list[str] = []
    i = 0
    n = len(lines)
    while i < n:
        joined_upto = _wrapped_attribution_end(lines, i)
        if joined_upto is None:
            out.append(lines[i])
            i += 1
            continue
        parts = [lines[i].strip()] + [lines[j].strip() for j in range(i + 1, joined_upto)]
        out.extend(_split_sentence_from_attribution(" ".join(part for part in parts if part)))
        i = joined_upto
    return out


# «… I will let you know then... Op 16 aug. 2014 05:13 schreef "x" <a@b> het volgende geschreven:»:
# a phone wrapped the last sentence of the reply and the attribution into one paragraph.
_MIDLINE_OPENING = re.compile(r"(?<=[.!?…])\s+(?=(?:on|am|le|el|il|em|op|den|dnia)\s.{0,40}\d)", re.IGNORECASE)


def _split_sentence_from_attribution(joined: str) -> list[str]:
    """[text, attribution] when an attribution starts after a sentence inside the joined line."""
    for boundary in _MIDLINE_OPENING.finditer(joined):
        tail = joined[boundary.end() :]
        if is_attribution(tail):
            return [joined[: boundary.start()], tail]
    return [joined]


# Attributions that begin like this may wrap over blank lines too («On …\n\n<\nmailto:…\n> wrote:»).
_ATTRIBUTION_OPENING = re.compile(r"^[\s>]*(?:on|am|le|el|il|em|op|den|dnia|w\s+dniu)\s", re.IGNORECASE)


def _wrapped_attribution_end(lines: list[str], i: int) -> int | None:
    """End (exclusive) of a wrapped attribution starting at line i, or None when there is none."""
    line = lines[i]
    if not line or len(line) >= MAX_LINE or not _DIGIT.search(line) or _QUOTE.match(line):
        return None
    may_skip_blanks = bool(_ATTRIBUTION_OPENING.match(line))
    parts = [line.rstrip()]
    length = len(parts[0])
    first_line_checked = False
    for j in range(i + 1, min(i + 6, len(lines))):
        nxt = lines[j].strip()
        if not nxt:
            if may_skip_blanks:
                continue
            return None
        parts.append(nxt)
        length += len(nxt) + 1
        if length >= MAX_LINE:
            return None
        # Every wrapped attribution ends its last line with «:» or «>»: a cheap test before the patterns.
        if nxt[-1] not in _ATTRIBUTION_ENDINGS:
            continue
        if not first_line_checked:
            if _HEADER.match(squeeze(line)) or is_attribution(line):
                return None
            first_line_checked = True
        raw = " ".join(parts)
        # A client may break «<a@b\n>:» so that the next line looks quoted: try with and without «>».
        quoted = " ".join([parts[0], *(_CONTINUATION_PREFIX.sub("", part) for part in parts[1:])])
        if is_attribution(raw) or is_attribution(quoted):
            return _with_short_tail(lines, j + 1, raw)
    return None


_ATTRIBUTION_ENDINGS = frozenset(":：>")


def _with_short_tail(lines: list[str], end: int, joined: str) -> int:
    """Take one more short line when it still ends the attribution («<a@b>» + «> wrote:»)."""
    if end < len(lines):
        tail = lines[end].strip()
        if tail and len(tail) <= 24 and is_attribution(f"{joined} {tail}"):
            return end + 1
    return end
