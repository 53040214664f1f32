"""parse_message(raw) -> ParsedMessage: the one reader of raw mail, and the only importer of mail-parser.

The MIME tree is built once: by parsers.mimetree for well-formed mail (boundaries cut in C), else
by the stdlib parser (policy compat32), which knows every malformed case. mail-parser contributes
its hardened address and date readers for what the stdlib rejects; none of its objects leave this
module. Reply and forward extraction run on the text here, so callers never parse twice.
Nothing here raises: failures become entries in `defects`.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone
from email.errors import MissingHeaderBodySeparatorDefect
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_tz

from mailparser.dates import parse_mail_date
from mailparser.utils import get_addresses

from parsers.attachments import is_tnef, make_attachment, part_filename, unpack_tnef
from parsers.decode import clean_line, decode_bytes, decode_header_value, decode_words, fix_8bit
from parsers.flowed import unflow
from parsers.forward import find_forwarded
from parsers.html_text import html_to_text
from parsers.mimetree import PARAM_FIELD_CAP, fast_tree
from parsers.model import Address, Attachment, ForwardedMessage, ParsedMessage
from parsers.reply import split_reply
from parsers.report import delivery_report

MAX_DEPTH = 40  # MIME nesting we walk; deeper parts are dropped with a defect
MAX_PARTS = 2000  # parts we look at in one message
# Boundary lines read at most. A multipart of k parts has k + 1 of them, so past this many there are
# more than MAX_PARTS parts and the walk would ignore the tail anyway; the tree-building is what costs.
MAX_DELIMITERS = 2 * MAX_PARTS + 1000
MAX_FORWARD_DEPTH = 3  # message/rfc822 inside message/rfc822 … read as forwarded mail this deep
TEXT_CAP = 1024 * 1024  # characters of readable text kept; the rest is cut with a defect
HEADER_CAP = 16 * 1024  # characters of one header value that we decode

_ID = re.compile(r"<([^<>]*)>")
# Bounded repeats and no "@" inside the parts: unbounded ones backtrack quadratically (or worse) on
# hostile headers such as 16 KB of "a@a@a@…" or of letters without any "@".
_BARE_ID = re.compile(r"[^\s,<>;@]{1,256}@[^\s,<>;@]{1,256}")
_EMAIL = re.compile(r"[^\s<>,;:\"()\[\]@]{1,64}@[^\s<>,;:\"()\[\]@.]{1,63}(?:\.[^\s<>,;:\"()\[\]@.]{1,63}){1,8}")
_ADDRESS_HEADERS = ("from", "to", "cc", "reply-to")
_BODY_TYPES = ("text/plain", "text/html")
# One well-formed mailbox: `Name <a@b>`, `"Quoted, Name" <a@b>` or a bare `a@b` (names may be encoded words).
_MAILBOX = (
    r'\s*(?:({name}"(?:[^"\\]|\\.)*"|[^",<>;:@()\\\[\]]*?)\s*<({addr}[^<>\s@,;"()]+@[^<>\s@,;"()]+)>'
    r'|({bare}[^<>\s@,;"()]+@[^<>\s@,;"()]+))\s*'
)
_SIMPLE_MAILBOX = re.compile(_MAILBOX.format(name="?P<name>", addr="?P<addr>", bare="?P<bare>"))
_PLAIN_MAILBOX = _MAILBOX.format(name="?:", addr="?:", bare="?:")
_SIMPLE_LIST = re.compile(rf"{_PLAIN_MAILBOX}(?:,{_PLAIN_MAILBOX})*,?\s*")
# A Content-Type or Content-Disposition field with its continuation lines (the first header too).
_PARAM_FIELD_TEXT = rb"content-(?:type|disposition)[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*"
_PARAM_FIELD_FIRST = re.compile(_PARAM_FIELD_TEXT, re.IGNORECASE)
# Anchored on the "\n" before the name, a literal the regex engine can scan for quickly.
_PARAM_FIELD = re.compile(rb"\n(" + _PARAM_FIELD_TEXT + rb")", re.IGNORECASE)
_OBS_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]+:", re.MULTILINE)
_BOUNDARY_PARAM = re.compile(rb'boundary[ \t]*=[ \t]*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))', re.IGNORECASE)


def _parser() -> BytesParser:
    return BytesParser(policy=compat32)


# --- headers --------------------------------------------------------------------------------------


def _raw_headers(message: Message) -> list[tuple[str, str]]:
    """Top-level (lower-cased name, raw value) pairs; values keep 8-bit bytes as surrogate escapes."""
    return [(str(name).strip().lower(), str(value)[:HEADER_CAP]) for name, value in message.raw_items()]


def _first(raw: list[tuple[str, str]], name: str) -> str | None:
    for key, value in raw:
        if key == name:
            return value
    return None


def _ids(value: str | None) -> list[str]:
    """Message-IDs in a header, comma- or space-separated, folded or not, with or without brackets."""
    if not value:
        return []
    value = fix_8bit(value)
    found = ["<" + "".join(m.split()) + ">" for m in _ID.findall(value)]
    if not found:
        found = [f"<{m}>" for m in _BARE_ID.findall(value)]
    result: list[str] = []
    for item in found:
        if len(item) > 2 and item not in result:
            result.append(item)
    return result


# An encoded word (RFC 2047) as it appears in a header, even an invalid one that hides "<", "," or "@".
_ENCODED_WORD_SPAN = re.compile(r"=\?[^?\s]{1,40}\?[bBqQ]\?[^\n]{0,400}?\?=")
_SHIELD = "curmailencodedword{}x"
_SHIELDED = re.compile(r"curmailencodedword(\d+)x")


def _shield_encoded_words(text: str) -> tuple[str, list[str]]:
    """Replace each encoded word by an inert atom before the address structure is parsed.

    RFC 2047 §5: an encoded word may only stand for display text, never for address syntax, and it
    is decoded after parsing. Decoding first would let `=?utf-8?q?Bob_<cur@example.org>,?=` supply
    the sender address: anyone could pose as the ЦУР or as staff.
    """
    words: list[str] = []

    def shield(match: re.Match[str]) -> str:
        words.append(match.group(0))
        return _SHIELD.format(len(words) - 1)

    return _ENCODED_WORD_SPAN.sub(shield, text), words


def _unshield(text: str, words: list[str]) -> str:
    return _SHIELDED.sub(lambda m: words[int(m.group(1))] if int(m.group(1)) < len(words) else "", text)


def _addresses(value: str | None, defects: list[str], header: str) -> tuple[Address, ...]:
    if not value:
        return ()
    text = fix_8bit(value).replace("\r", "").replace("\n", " ")
    text, encoded_words = _shield_encoded_words(text) if "=?" in text else (text, [])
    problems: list[dict] = []
    if _SIMPLE_LIST.fullmatch(text):
        # The common, well-formed case: a regex is ~20x cheaper than a structural parse.
        pairs = [(m["name"] or "", m["addr"] or m["bare"]) for m in _SIMPLE_MAILBOX.finditer(text)]
    else:
        try:  # mail-parser's structural recovery for everything odd
            pairs = get_addresses(text, defects=problems, decode_names=True)
        except Exception:  # its failure is a defect, not an error
            pairs = []
            problems.append({"reason": "address parser failed"})
    if not any(addr for _, addr in pairs):
        try:
            pairs = [(n, a) for n, a in getaddresses([text]) if "@" in a]
        except Exception:  # the stdlib recurses on nested comments: "((((…"
            pairs = []
        if not pairs:
            pairs = [("", a) for a in _EMAIL.findall(text)]
    if problems:
        defects.append(f"{header}: address recovered from malformed header")
    result: list[Address] = []
    for name, addr in pairs:
        addr = clean_line(addr).strip("<>").lower()
        if not addr or _SHIELDED.search(addr):
            continue  # an address made of an encoded word is no address
        if len(name) > 1 and name[0] == name[-1] == '"':
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        name = clean_line(decode_words(_unshield(name, encoded_words))).strip("\"' ")
        if name.lower() == addr:
            name = ""
        result.append(Address(email=addr, name=name))
    return tuple(result)


def _bare_name(raw: list[tuple[str, str]]) -> str:
    """A From header without any address ("From: Whomever"): keep what it says as the name."""
    value = _first(raw, "from")
    return decode_header_value(value).strip("\"' ") if value else ""


def _return_path(value: str | None) -> str | None:
    if value is None:
        return None
    value = clean_line(fix_8bit(value))
    if value.replace(" ", "") in ("<>", ""):
        return ""
    found = _EMAIL.search(value)
    return found.group(0).lower() if found else value.strip("<>").lower()


# Zone names Russian mail servers and scripts still write; RFC 5322 would read them as -0000 (UTC),
# which moves a ЦУР request three hours and with it every «в течение 3 часов».
_RUSSIAN_ZONES = {
    "MSK": "+0300", "MSD": "+0400", "KALT": "+0200", "SAMT": "+0400", "YEKT": "+0500", "OMST": "+0600",
    "KRAT": "+0700", "IRKT": "+0800", "YAKT": "+0900", "VLAT": "+1000", "MAGT": "+1100", "PETT": "+1200",
}
_ZONE_NAME = re.compile(r"(?<=\d)\s+(" + "|".join(_RUSSIAN_ZONES) + r")\s*(?:\([^)]*\))?\s*$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if value is None:
        return None
    value = clean_line(fix_8bit(value))
    zone = _ZONE_NAME.search(value)
    if zone:
        value = value[: zone.start()] + " " + _RUSSIAN_ZONES[zone.group(1).upper()]
    if _ISO_DATE.match(value):  # some systems write ISO 8601 instead of RFC 5322
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None:
            if when.tzinfo is None:
                defects.append("Date: no time zone; read as UTC")
                when = when.replace(tzinfo=UTC)
            if 1971 <= when.year <= 2100:
                return when
    result = parse_mail_date(value)
    when: datetime | None = None
    if result.value is not None:
        try:
            offset = timedelta(minutes=round(float(result.timezone) * 60))
            when = result.value.astimezone(timezone(offset))
        except (ValueError, OverflowError, TypeError):
            when = result.value
    else:
        parts = parsedate_tz(value)  # the stdlib is more lenient about order and missing seconds
        if parts is not None:
            try:
                offset = parts[9] if parts[9] is not None else 0
                if parts[9] is None:
                    defects.append("Date: no time zone; read as UTC")
                year = parts[0] + (2000 if parts[0] < 50 else 1900 if parts[0] < 100 else 0)
                when = datetime(year, *parts[1:6], tzinfo=timezone(timedelta(seconds=offset)))
            except (ValueError, OverflowError, TypeError):
                when = None
    if when is None or not 1971 <= when.year <= 2100:
        defects.append(f"Date: unreadable ({value[:80]!r})")
        return None
    return when


def _auto_header(raw: list[tuple[str, str]], name: str) -> str | None:
    value = _first(raw, name)
    return None if value is None else decode_header_value(value)


def _list_headers(raw: list[tuple[str, str]]) -> tuple[str, ...]:
    names: list[str] = []
    for key, _ in raw:
        if key.startswith("list-") and key not in names:
            names.append(key)
    return tuple(names)


# --- body -----------------------------------------------------------------------------------------


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:  # a malformed charset parameter is as good as none: detection follows
        return None


def _payload_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _param(part: Message, name: str) -> str:
    try:
        value = part.get_param(name)
    except Exception:  # a malformed parameter list: as if the parameter were absent
        return ""
    return value.strip().lower() if isinstance(value, str) else ""


def _is_flowed(part: Message) -> bool:
    # A substring test first: the parameter parser is not free, and almost no mail is flowed.
    return "flowed" in str(part.get("content-type", "")).lower() and _param(part, "format") == "flowed"


def _defect_names(part: Message) -> list[str]:
    return [type(d).__name__ for d in getattr(part, "defects", ())]


class _Walk:
    """One pass over the MIME tree: body texts, attachments, embedded messages and defects."""

    def __init__(self, message: Message, level: int) -> None:
        self.plain: list[str] = []
        self.html: list[str] = []
        self.attachments: list[Attachment] = []
        self.embedded: list[Message] = []
        self.defects: list[str] = []
        self.tnef_body = ""
        self._walk(message, level)

    def _note(self, text: str) -> None:
        if text and text not in self.defects:
            self.defects.append(text)

    def _walk(self, root: Message, level: int) -> None:
        stack: list[tuple[Message, int]] = [(root, 0)]
        seen = 0
        while stack:
            part, depth = stack.pop()
            seen += 1
            if seen > MAX_PARTS:
                self._note(f"more than {MAX_PARTS} MIME parts: the rest ignored")
                return
            if depth > MAX_DEPTH:
                self._note(f"MIME nested deeper than {MAX_DEPTH} levels: inner parts ignored")
                continue
            for name in _defect_names(part):
                self._note(name)
            try:
                self._visit(part, depth, level, stack)
            except Exception as exc:  # one bad part must not lose the rest of the message
                self._note(f"part {part.get_content_type()} unreadable ({type(exc).__name__})")

    def _visit(self, part: Message, depth: int, level: int, stack: list[tuple[Message, int]]) -> None:
        ctype = part.get_content_type()
        payload = part.get_payload()
        if isinstance(payload, list):
            if ctype in ("message/delivery-status", "message/global-delivery-status"):
                return  # read by parsers.report
            if part.get_content_maintype() == "message":
                self._embedded(part, payload, level)
                return
            children = [p for p in payload if isinstance(p, Message)]
            stack.extend((child, depth + 1) for child in reversed(children))
            return
        filename = part_filename(part)
        disposition = (part.get_content_disposition() or "").lower()
        if ctype.startswith("multipart/"):
            # a multipart whose boundary never appears: its body is all we have, read it as text
            self._note(f"{clean_line(ctype)} without parts: body read as text")
            ctype = "text/plain"
        if ctype in _BODY_TYPES and disposition != "attachment" and not filename:
            decoded = decode_bytes(_payload_bytes(part), _charset(part))
            self._note(decoded.note)
            if ctype != "text/plain":
                self.html.append(decoded.text)
            elif _is_flowed(part):  # Thunderbird and others wrap at 72 columns with soft breaks
                self.plain.append(unflow(decoded.text, _param(part, "delsp") == "yes"))
            else:
                self.plain.append(decoded.text)
            return
        content = _payload_bytes(part)
        if is_tnef(ctype, filename):
            files, body, note = unpack_tnef(content)
            self._note(note)
            if files or body:
                self.attachments.extend(files)
                self.tnef_body = self.tnef_body or body
                return
        self.attachments.append(make_attachment(filename, ctype, content))

    def _embedded(self, part: Message, payload: list, level: int) -> None:
        inner = next((p for p in payload if isinstance(p, Message)), None)
        if inner is None:
            return
        self.embedded.append(inner)
        try:
            content = inner.as_bytes()
        except Exception:  # a tree the generator cannot write back: keep the attachment empty
            content = b""
            self._note("embedded message could not be serialised")
        subject = decode_header_value(str(inner.get("Subject", "")))[:120]
        filename = part_filename(part) or (f"{subject}.eml" if subject else "message.eml")
        self.attachments.append(make_attachment(filename, part.get_content_type(), content))


def _readable_text(walk: _Walk) -> tuple[str, str | None]:
    html = "\n".join(walk.html) if walk.html else None
    plain = "\n\n".join(t.strip("\r\n") for t in walk.plain)
    if plain.strip() or (walk.plain and html is None):
        text = plain
    elif html is not None:  # no plain part, or an empty one beside real HTML (some Outlook builds)
        text, note = html_to_text(html)
        walk._note(note)
    else:
        text = walk.tnef_body
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > TEXT_CAP:
        text = text[:TEXT_CAP]
        walk._note(f"text longer than {TEXT_CAP} characters: cut")
    return text, html


# --- reply and forward extraction (parsers.reply and parsers.forward) ---------------------------------


def _split(text: str, defects: list[str]) -> tuple[str, str]:
    try:
        parts = split_reply(text)
        return parts.new_text, parts.signature
    except Exception as exc:  # the reply splitter is heuristic; a failure keeps the full text
        defects.append(f"reply extraction failed ({type(exc).__name__})")
        return text, ""


def _textual_forward(text: str, subject: str, defects: list[str]) -> ForwardedMessage | None:
    try:
        return find_forwarded(text, subject)
    except Exception as exc:
        defects.append(f"forward extraction failed ({type(exc).__name__})")
        return None


# --- assembly -------------------------------------------------------------------------------------


def _build(message: Message, raw: bytes, level: int, extra_defects: list[str]) -> ParsedMessage:
    defects: list[str] = list(extra_defects)
    raw_headers = _raw_headers(message)
    headers = tuple((key, decode_header_value(value)) for key, value in raw_headers)
    digest = hashlib.sha256(raw).hexdigest()

    ids = _ids(_first(raw_headers, "message-id"))
    message_id = ids[0] if ids else f"<{digest}@curmail.invalid>"
    in_reply_to = _ids(_first(raw_headers, "in-reply-to"))
    references = tuple(_ids(" ".join(v for k, v in raw_headers if k == "references")))

    addresses = {h: _addresses(_first(raw_headers, h), defects, h) for h in _ADDRESS_HEADERS}
    sender = addresses["from"][0] if addresses["from"] else Address(email="", name=_bare_name(raw_headers))
    subject = decode_header_value(_first(raw_headers, "subject") or "")

    walk = _Walk(message, level)
    text, html = _readable_text(walk)
    defects.extend(d for d in walk.defects if d not in defects)

    forwarded = None
    if walk.embedded and level < MAX_FORWARD_DEPTH:
        inner = _build(walk.embedded[0], b"", level + 1, [])
        forwarded = ForwardedMessage(
            from_addr=inner.from_addr,
            from_name=inner.from_name,
            subject=inner.subject,
            date=inner.date,
            text=inner.text,
            to=inner.to,
            cc=inner.cc,
            note=text.strip(),
        )
    if level == 0:
        new_text, signature = _split(text, defects)
        forwarded = forwarded or _textual_forward(text, subject, defects)
    else:
        new_text, signature = text, ""

    content_type = clean_line(message.get_content_type()).split(" ")[0].rstrip(";")
    report = None
    if content_type == "multipart/report":
        try:
            report = delivery_report(message)
        except Exception as exc:
            defects.append(f"delivery report unreadable ({type(exc).__name__})")

    return ParsedMessage(
        message_id=message_id,
        message_id_synthetic=not ids,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=references,
        from_addr=sender.email,
        from_name=sender.name,
        to=addresses["to"],
        cc=addresses["cc"],
        reply_to=addresses["reply-to"],
        return_path=_return_path(_first(raw_headers, "return-path")),
        subject=subject,
        date=_date(_first(raw_headers, "date"), defects),
        text=text,
        html=html,
        new_text=new_text,
        signature=signature,
        forwarded=forwarded,
        attachments=tuple(walk.attachments),
        auto_submitted=_auto_header(raw_headers, "auto-submitted"),
        precedence=_auto_header(raw_headers, "precedence"),
        x_autoreply=_auto_header(raw_headers, "x-autoreply"),
        list_headers=_list_headers(raw_headers),
        headers=headers,
        sha256=digest,
        size=len(raw),
        defects=tuple(defects),
        content_type=content_type,
        report=report,
    )


def _repair_header_names(raw: bytes) -> bytes | None:
    """Header block with obsolete "Name :" fields (RFC 5322 §4.5) rewritten, or None if there are none.

    The stdlib takes such a line for the start of the body and loses every header after it.
    """
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    end = min(ends) if ends else len(raw)
    head, count = _OBS_FIELD.subn(rb"\1:", raw[:end])
    return head + raw[end:] if count else None


def _defuse_parameters(raw: bytes) -> bytes | None:
    """`raw` with overlong Content-Type/-Disposition fields cut, or None when there are none.

    The stdlib's parameter parser is quadratic in the number of ";" in a field: a 1 MB
    `name="a;a;a;…"` would keep it busy for minutes. No real field comes near PARAM_FIELD_CAP.
    """
    if raw.count(b";") <= 64:
        return None  # the parser's work is at most (number of ";") x (field length): bounded already
    pieces: list[bytes] = []
    last = 0
    first = _PARAM_FIELD_FIRST.match(raw)
    spans = [first.span()] if first else []
    spans += [match.span(1) for match in _PARAM_FIELD.finditer(raw)]
    for start, end in spans:
        if end - start <= PARAM_FIELD_CAP:
            continue
        field = raw[start : start + PARAM_FIELD_CAP - 1]
        if field.count(b'"') % 2:
            field += b'"'
        pieces += [raw[last:start], field]
        last = end
    return b"".join([*pieces, raw[last:]]) if pieces else None


def _cut_part_flood(raw: bytes) -> bytes | None:
    """`raw` cut before its boundary line number MAX_DELIMITERS + 1, or None when it has no more than that.

    Both tree builders make a Message per part before the walk's MAX_PARTS cap applies: 700,000
    empty parts (32 MB) took 10 s. Only lines that open with a declared boundary count, so a text
    full of "-- " lines (an SQL dump) is never cut.
    """
    if raw.count(b"\n--") <= MAX_DELIMITERS:
        return None  # the common case, decided by one C-level scan
    boundaries = {match.group(1) or match.group(2) for match in _BOUNDARY_PARAM.finditer(raw)}
    if not boundaries:
        return None
    alternatives = b"|".join(re.escape(b) for b in sorted(boundaries, key=len, reverse=True))
    for number, match in enumerate(re.finditer(rb"\n--(?:" + alternatives + rb")", raw), 1):
        if number > MAX_DELIMITERS:
            return raw[: match.start() + 1]
    return None


def _tree(raw: bytes, fast: bool = True) -> tuple[Message, list[str]]:
    """The MIME tree; when the stdlib recursion gives out (absurd nesting), the headers and a flat body."""
    cut = _cut_part_flood(raw)
    if cut is not None:
        message, notes = _tree(cut, fast)
        return message, [f"more than {MAX_DELIMITERS} MIME boundary lines: read up to there", *notes]
    if fast:
        quick = fast_tree(raw)  # declines overlong parameter fields itself
        if quick is not None:
            return quick, []
    notes: list[str] = []
    defused = _defuse_parameters(raw)
    if defused is not None:
        raw = defused
        notes.append(f"Content-Type/Disposition longer than {PARAM_FIELD_CAP} bytes: cut")
    try:
        message = _parser().parsebytes(raw)
    except RecursionError:
        message = _parser().parsebytes(raw, headersonly=True)
        notes.append("MIME nested too deeply to parse: body read as plain text")
    if any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in message.defects):
        repaired = _repair_header_names(raw)
        if repaired is not None:
            message, _ = _tree(repaired, fast)
            notes.append("header names with a space before the colon repaired")
    return message, notes


def _minimal(raw: bytes, reason: str) -> ParsedMessage:
    """What is left when even the fallback failed: identity of the raw bytes and the reason."""
    digest = hashlib.sha256(raw).hexdigest()
    return ParsedMessage(
        message_id=f"<{digest}@curmail.invalid>",
        message_id_synthetic=True,
        in_reply_to=None,
        references=(),
        from_addr="",
        from_name="",
        to=(),
        cc=(),
        reply_to=(),
        return_path=None,
        subject="",
        date=None,
        text="",
        html=None,
        new_text="",
        signature="",
        forwarded=None,
        attachments=(),
        auto_submitted=None,
        precedence=None,
        x_autoreply=None,
        list_headers=(),
        headers=(),
        sha256=digest,
        size=len(raw),
        defects=(reason,),
    )


def parse_message(raw: bytes) -> ParsedMessage:
    """Read one raw message. Never raises: whatever could not be read is named in `defects`."""
    return _parse(raw, fast=True)


def _parse(raw: bytes, fast: bool) -> ParsedMessage:
    """parse_message, with the fast MIME splitter on or off (tests compare the two)."""
    if not isinstance(raw, bytes):
        try:
            raw = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
        except Exception:
            raw = b""
    try:
        message, notes = _tree(raw, fast)
        return _build(message, raw, 0, notes)
    except (Exception, RecursionError, MemoryError) as exc:
        first = f"message unreadable ({type(exc).__name__}: {str(exc)[:200]})"
    try:  # second chance: headers only, body as flat text
        message = _parser().parsebytes(raw, headersonly=True)
        return _build(message, raw, 0, [first, "read as headers and a flat body"])
    except (Exception, RecursionError, MemoryError):
        return _minimal(raw, first)
