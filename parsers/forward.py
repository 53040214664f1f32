"""Forward extraction: the original sender, date, subject and body of a forwarded mail, plus the note."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from parsers.forward_addresses import parse_mailboxes
from parsers.forward_dates import parse_client_date
from parsers.forward_patterns import (
    CUT_LINE,
    EMAIL,
    END_OF_FORWARD,
    FORWARD_PREFIX,
    FORWARD_SEPARATOR,
    GENERIC_SEPARATOR,
    GLUED_HEADER,
    GLUED_SUBJECT_NO_COLON,
    HEADER_LINE,
    LABEL_FIELDS,
    SUBJECT_PREFIX,
    Field,
)
from parsers.model import Address, ForwardedMessage
from parsers.reply_lines import is_attribution

MAX_TEXT_CHARS = 2_000_000
MAX_LINE = 2_000  # a header line longer than this is not a header line
# A quoted header block is at most this many lines. Only the first block in the text counts: the
# outermost forward is the one the forwarder meant.
BLOCK_MAX_LINES = 14
DUMP_LOOKAROUND = 30  # lines looked at around a block for raw headers

_INVISIBLE = re.compile("[\ufeff\u200b\u200c\u200d\u200e\u200f\u2060]")
_RULE = re.compile(r"^[\s>]*[-_=]{10,}\s*$")
_QUOTE_PREFIX = re.compile(r"^\s?>\s?")
_ATTRIBUTION_ADDRESS = re.compile(rf"[<(\[]*\s*(?:mailto:)?({EMAIL})")
# Words between the date and the name in an attribution («28/10/2021, 12:46 пользователь "Name"»).
_ATTRIBUTION_LEAD = re.compile(
    r"^.*(?:\d|,)\s*(?:пользователь|користувач|użytkownik|používateľ|heeft|schrieb|skrev|időpontban|user|"
    r"от(?=\s))?\s*",  # Mail.ru: «Среда, 2 декабря 2026, 18:40 +03:00 от Name <a@b>:»
    re.IGNORECASE,
)
_NAME_QUOTES = " \t\"'«»„“”<>()[],:"
_SPACES = re.compile(r"\s+")


def _flat(line: str) -> str:
    """The line with runs of white space made one space: no pattern meets a long run of blanks."""
    return _SPACES.sub(" ", line[:MAX_LINE]).strip()


def _header(line: str) -> re.Match[str] | None:
    """«От: …», «*Subject:* …», «> Тема: …» as a match (label, value), or None."""
    return HEADER_LINE.match(_flat(line)) if len(line) <= MAX_LINE else None


@dataclass(frozen=True, slots=True)
class _Block:
    """A quoted header block found in the text."""

    start: int  # first line of the block (or of its separator)
    end: int  # first line after the block
    fields: dict[Field, str]
    quoted: bool  # every line began with «>» (Apple Mail, MailMate)
    forward_separator: bool  # preceded by a separator that only forwards write


def find_forwarded(text: str, subject: str = "") -> ForwardedMessage | None:
    """The original of a forwarded mail found in its text, or None. Never raises."""
    try:
        return _find(text or "", subject or "")
    except Exception:  # a parser must never raise: an unreadable forward is simply not recognised
        return None


def is_forward_subject(subject: str) -> bool:
    """True when the outermost subject prefix is a forward prefix («Fwd:», «FW:», «Пересл:», «WG:»…)."""
    match = SUBJECT_PREFIX.match(subject or "")
    return bool(match and FORWARD_PREFIX.match(match.group(1)))


def strip_subject_prefixes(subject: str) -> str:
    """«Fwd: RE: Тема» → «Тема»."""
    subject = subject or ""
    for _ in range(20):
        match = SUBJECT_PREFIX.match(subject)
        if not match:
            break
        subject = subject[match.end() :]
    return subject.strip()


def _find(text: str, subject: str) -> ForwardedMessage | None:
    text = _INVISIBLE.sub("", text[:MAX_TEXT_CHARS]).replace("\r\n", "\n").replace("\r", "\n")
    lines = text.replace("\u00a0", " ").split("\n")
    subject_says_forward = is_forward_subject(subject)
    # «RE:» outside and an Outlook header block inside is a quoted reply, unless a separator says «forward».
    subject_says_reply = bool(SUBJECT_PREFIX.match(subject)) and not subject_says_forward

    block = _first_header_block(lines)
    attribution = _first_attribution(lines, block.start if block is not None else len(lines))
    # Yandex: «-------- Пересылаемое сообщение --------» + «03.12.2026, 10:00, "Name" <a@b>:»;
    # Outlook for Mac: an attribution and «FW:» in the subject.
    if attribution is not None and (subject_says_forward or _separator_above(lines, attribution)[1]):
        return _from_attribution(lines, attribution, subject)
    if block is not None and (block.forward_separator or not subject_says_reply):
        return _from_block(lines, block, subject)
    return None


def _first_header_block(lines: list[str]) -> _Block | None:
    for i, line in enumerate(lines):
        if len(line) > MAX_LINE or (":" not in line and "：" not in line):
            continue
        if "@" in line and line.count(":") >= 3 and _glued_header_count(line) >= 3:
            block = _glued_block(lines, i)
            if block is not None:
                return block
        if _header(line):
            block = _block_at(lines, i)
            if block is not None:
                return block
    return None


def _glued_header_count(line: str) -> int:
    return len(GLUED_HEADER.findall(line))


def _glued_block(lines: list[str], i: int) -> _Block | None:
    """Yahoo: «----- Forwarded Message ----- From: …To: …Cc: …Sent: …Subject: …» on one line."""
    lead, *parts = GLUED_HEADER.split(lines[i])
    if _header(lead):
        parts.insert(0, lead)
        lead = ""
    fields: dict[Field, str] = {}
    for part in parts:
        match = _header(part)
        field = LABEL_FIELDS.get(match.group(1).lower()) if match else None
        if match is not None and field is not None and field not in fields:
            fields[field] = match.group(2)
    if Field.SUBJECT not in fields and parts:
        no_colon = GLUED_SUBJECT_NO_COLON.search(parts[-1])
        if no_colon:
            fields[Field.SUBJECT] = no_colon.group(1)
    if Field.FROM not in fields:
        return None
    separator = bool(FORWARD_SEPARATOR.match(_flat(lead))) if lead.strip() else _separator_above(lines, i)[1]
    return _Block(start=i, end=i + 1, fields=fields, quoted=False, forward_separator=separator)


def _block_at(lines: list[str], i: int) -> _Block | None:
    """A header block starting at line i: From plus at least one of Subject/Date/To, no blank line inside."""
    fields: dict[Field, str] = {}
    quoted = True
    last_field: Field | None = None
    j = i
    n = len(lines)
    while j < n and j - i < BLOCK_MAX_LINES:
        line = lines[j]
        bare = _QUOTE_PREFIX.sub("", line) if line.lstrip().startswith(">") else line
        if not bare.strip() or len(line) > MAX_LINE:
            break
        if _RAW_HEADER.match(_flat(bare)):
            return None  # «Message-ID:», «Received:» … : a header dump in a bounce, not a forward
        if _IGNORED_HEADER.match(_flat(bare)):
            j += 1  # Outlook's «Importance: High», «Вложения: акт.pdf» sit inside the block
            continue
        match = _header(line)
        field = LABEL_FIELDS.get(match.group(1).lower()) if match else None
        if field is not None and match is not None:
            if field in fields:
                break  # a second From: is the next quoted message
            fields[field] = match.group(2)
            last_field = field
        elif last_field is not None and _wrapped_value(lines, j, last_field):
            # Long To/Cc/Subject values wrap onto the next line.
            fields[last_field] = f"{fields[last_field]} {bare.strip()}"
        else:
            break
        quoted = quoted and line.lstrip().startswith(">")
        j += 1
    if Field.FROM not in fields or len(fields) < 2:
        return None
    if not ({Field.SUBJECT, Field.DATE, Field.TO} & fields.keys()):
        return None
    if _raw_header_dump(lines, i, j):
        return None
    start, forward_separator = _separator_above(lines, i)
    return _Block(start=start, end=j, fields=fields, quoted=quoted, forward_separator=forward_separator)


# Headers that no client shows in a forward, but bounces and «show original» dumps do.
_RAW_HEADER = re.compile(
    r"^(?:message-id|received|return-path|mime-version|content-type|content-transfer-encoding|"
    r"dkim-signature|delivered-to|x-[\w-]{1,60})\s?:",
    re.IGNORECASE,
)


_IGNORED_HEADER = re.compile(
    r"^\**(?:importance|priority|attachments|важность|приоритет|вложения|wichtigkeit|anlagen)\**\s?:",
    re.IGNORECASE,
)


def _raw_header_dump(lines: list[str], start: int, end: int) -> bool:
    """True when the block's paragraph holds raw RFC 5322 headers («Message-ID:», «Received:»):
    a bounce's copy of the original headers, not a forward."""
    top = start
    while top > 0 and start - top < DUMP_LOOKAROUND and lines[top - 1].strip():
        top -= 1
    bottom = end
    while bottom < len(lines) and bottom - end < DUMP_LOOKAROUND and lines[bottom].strip():
        bottom += 1
    return any(_RAW_HEADER.match(_flat(lines[k])) for k in range(top, bottom))


def _wrapped_value(lines: list[str], j: int, field: Field) -> bool:
    """Line j continues the previous header when another header follows it (or it holds an address).

    New Outlook puts the body right under «Тема:» with no blank line, so an unlabelled line after the
    last header is body, not a wrapped subject.
    """
    if field not in (Field.TO, Field.CC, Field.SUBJECT):
        return False
    if field in (Field.TO, Field.CC) and "@" in lines[j]:
        return True
    return j + 1 < len(lines) and bool(_header(lines[j + 1]))


def _separator_above(lines: list[str], i: int) -> tuple[int, bool]:
    """The separator line just above a block (blank lines allowed), and whether only forwards write it."""
    k = i - 1
    while k >= 0 and i - k <= 3 and not _QUOTE_PREFIX.sub("", lines[k]).strip():
        k -= 1
    if k < 0 or i - k > 3:
        return i, False
    above = lines[k]
    if len(above) <= MAX_LINE and FORWARD_SEPARATOR.match(_flat(above)):
        return k, True
    if len(above) <= MAX_LINE and GENERIC_SEPARATOR.match(_flat(above)) and "@" not in above:
        return k, False
    return i, False


def _from_block(lines: list[str], block: _Block, subject: str) -> ForwardedMessage:
    fields = block.fields
    senders = parse_mailboxes(fields.get(Field.FROM, ""))
    sender = senders[0] if senders else Address(email="", name="")
    body_lines = _until_end_marker(lines[block.end :])
    while body_lines and (not body_lines[0].strip() or CUT_LINE.match(body_lines[0])):
        body_lines = body_lines[1:]  # blank lines and The Bat!'s scissors line before the text
    if block.quoted or _all_quoted(body_lines):
        body_lines = [_QUOTE_PREFIX.sub("", line) for line in body_lines]
    original_subject = fields.get(Field.SUBJECT, "").strip() or strip_subject_prefixes(subject)
    return ForwardedMessage(
        from_addr=sender.email,
        from_name=sender.name,
        subject=original_subject,
        date=parse_client_date(fields.get(Field.DATE, "")),
        text="\n".join(body_lines).strip(),
        to=tuple(parse_mailboxes(fields.get(Field.TO, ""))),
        cc=tuple(parse_mailboxes(fields.get(Field.CC, ""))),
        note="\n".join(lines[: block.start]).strip(),
    )


def _attribution_name(before_address: str) -> str:
    """The display name just before the address in an attribution line, or ""."""
    name = _ATTRIBUTION_LEAD.sub("", before_address[-300:]).strip(_NAME_QUOTES)
    return "" if "@" in name or len(name) > 120 else re.sub(r"\s+", " ", name)


def _all_quoted(lines: list[str]) -> bool:
    """Missive quotes the forwarded body with «>» under an unquoted header block."""
    filled = [line for line in lines if line.strip()]
    return bool(filled) and all(line.lstrip().startswith(">") for line in filled)


def _first_attribution(lines: list[str], before: int) -> int | None:
    """Index of the first «… <a@b> написал:» line above line `before`, or None."""
    for i in range(min(before, len(lines))):
        line = lines[i]
        if len(line) <= MAX_LINE and "@" in line and is_attribution(line) and _ATTRIBUTION_ADDRESS.search(line):
            return i
    return None


def _from_attribution(lines: list[str], i: int, subject: str) -> ForwardedMessage | None:
    """The forward introduced by the attribution at line i, with any «Кому:»/«Тема:» lines under it."""
    line = lines[i]
    address = _ATTRIBUTION_ADDRESS.search(line)
    if address is None:
        return None
    fields: dict[Field, str] = {}
    j = i + 1
    while j < len(lines) and j - i <= BLOCK_MAX_LINES:
        match = _header(lines[j])
        field = LABEL_FIELDS.get(match.group(1).lower()) if match else None
        if match is None or field is None or field is Field.FROM or field in fields:
            break
        fields[field] = match.group(2)
        j += 1
    body = textwrap.dedent("\n".join(_until_end_marker(lines[j:]))).strip()
    body = "\n".join(_QUOTE_PREFIX.sub("", part) if part.startswith(">") else part for part in body.split("\n"))
    start, _ = _separator_above(lines, i)
    return ForwardedMessage(
        from_addr=address.group(1).lower(),
        from_name=_attribution_name(line[: address.start()]),
        subject=fields.get(Field.SUBJECT, "").strip() or strip_subject_prefixes(subject),
        date=parse_client_date(fields.get(Field.DATE, "") or line),
        text=body.strip(),
        to=tuple(parse_mailboxes(fields.get(Field.TO, ""))),
        cc=tuple(parse_mailboxes(fields.get(Field.CC, ""))),
        note="\n".join(lines[:start]).strip(),
    )


def _until_end_marker(lines: list[str]) -> list[str]:
    """Body lines up to «-------- Конец пересылаемого сообщения --------» (Yandex) or a closing rule (Mail.ru)."""
    for k, line in enumerate(lines):
        if len(line) <= MAX_LINE and END_OF_FORWARD.match(_flat(line)):
            return lines[:k]
    end = len(lines)
    while end > 0 and (not lines[end - 1].strip() or _RULE.match(_flat(lines[end - 1]))):
        end -= 1
    return lines[:end]
