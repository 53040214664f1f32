"""Build the bytes of one outgoing letter: our headers, the case tag at the front, safe header values.

Header safety: every value that goes into a header passes `clean_header`, which drops CR, LF and
every other control character. A parsed header is not safe to copy: on CPython 3.11.7 the encoded
word `=?utf-8?q?a=0ABcc:_evil@x?=` decodes to a Subject with a real line feed (gh-121650), and copied
as is it would add a Bcc header. References and In-Reply-To take only well-formed `<…>` ids.

Threading (DESIGN.md "Our outgoing headers"): References carry a stable per-case pseudo-id
`<curmail-case-{tenant}-{N}@{domain}>` (as RT's `<RT-Ticket-N@org>`) so the staff's client groups all
letters of a case, and are trimmed to the first 4 + last 6 ids when the chain grows long.
"""

from __future__ import annotations

import binascii
import random
import re
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import encoders, policy
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from functools import lru_cache

# compat32 with SMTP line endings; bodies are 7bit or base64 and headers RFC 2047 encoded words.
POLICY = policy.compat32.clone(linesep="\r\n")
CRLF = "\r\n"

MAX_SUBJECT_CHARS = 250
REFERENCES_HEAD = 4
REFERENCES_TAIL = 6
LOOP_HEADER = "X-Curmail-Loop"

_MSGID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
# Line and paragraph separators that some clients render as line breaks.
_BREAKS = {"\u0085", "\u2028", "\u2029"}
_SPACE_RUNS = re.compile(r" {2,}")
_NEWLINES = re.compile(r"\r\n|\r|\n")
_BASE64_LINE = 57  # bytes per 76-character base64 line, as email.base64mime writes them


@dataclass(frozen=True)
class OutgoingAttachment:
    """A file to attach; `params` add Content-Type parameters, e.g. {"method": "REQUEST"} for text/calendar."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"
    params: Mapping[str, str] = field(default_factory=dict)
    inline: bool = False


@dataclass(frozen=True)
class Letter:
    """Everything a letter says, before it becomes bytes."""

    from_name: str
    from_address: str
    to: str
    subject: str
    text: str
    message_id: str
    date: datetime
    html: str | None = None
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    auto_submitted: str = "auto-generated"
    bulk: bool = True
    loop_address: str | None = None
    attachments: Sequence[OutgoingAttachment] = ()


def clean_header(value: object) -> str:
    """The one sanitiser for header values: no CR/LF or other control characters, spaces collapsed."""
    text = str(value)
    if text.isprintable():
        # No control character, tab, line or paragraph separator can be printable: only spaces to fix.
        return _SPACE_RUNS.sub(" ", text).strip()
    kept = []
    for char in text:
        if char in _BREAKS or char in "\r\n\t\v\f":
            kept.append(" ")
        elif unicodedata.category(char) == "Cc":  # C0, DEL and C1 controls
            continue
        else:
            kept.append(char)
    return _SPACE_RUNS.sub(" ", "".join(kept)).strip()


def tag_for(case_tag: str, case_number: int) -> str:
    """«[KZM-42]»: the ASCII case tag that threads replies (RT PR #324: it goes at the front)."""
    return f"[{case_tag}-{case_number}]"


def tagged_subject(subject: str, tag: str) -> str:
    """Put the tag at the front exactly once, whatever reply prefixes or copies of it the subject has."""
    subject = clean_header(subject)
    without = re.sub(re.escape(tag), " ", subject, flags=re.IGNORECASE)
    without = re.sub(r" {2,}", " ", without).strip()
    result = f"{tag} {without}".strip()
    return result[:MAX_SUBJECT_CHARS]


def msgids(values: Sequence[str] | str | None) -> list[str]:
    """Every well-formed `<id@domain>` in the given header value(s), in order, without duplicates."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    found: list[str] = []
    for value in values:
        for msgid in _MSGID.findall(clean_header(value)):
            if msgid not in found:
                found.append(msgid)
    return found


def trim_references(references: Sequence[str], head: int = REFERENCES_HEAD, tail: int = REFERENCES_TAIL) -> list[str]:
    """Keep the first `head` and the last `tail` ids of a long chain (the root and the recent replies)."""
    refs = list(references)
    if len(refs) <= head + tail:
        return refs
    return refs[:head] + refs[-tail:]


def case_pseudo_id(tenant: str, case_number: int, domain: str) -> str:
    """The stable per-case id every letter of the case references: `<curmail-case-{tenant}-{N}@{domain}>`."""
    safe_tenant = re.sub(r"[^A-Za-z0-9_-]", "_", tenant) or "default"
    return f"<curmail-case-{safe_tenant}-{case_number}@{domain}>"


def thread_references(
    in_reply_to: str | None, references: Sequence[str], case_id: str | None
) -> tuple[str | None, list[str]]:
    """In-Reply-To and the trimmed References: the case id first, then the chain, then the parent."""
    parent = (msgids(in_reply_to) or [None])[0]
    chain = msgids([*([case_id] if case_id else []), *references, *([parent] if parent else [])])
    return parent, trim_references(chain)


@lru_cache(maxsize=1024)
def _field(name: str, value: str) -> str:
    """One folded header field `Name: value` (no line end); non-ASCII becomes RFC 2047 encoded words.

    Leading ASCII words such as the case tag stay readable in the raw header, for filters that grep it.
    Cached: a batch of notifications repeats the same From and Subject many times.
    """
    if value.isascii():
        header = Header(value, "us-ascii", header_name=name)
    else:
        words = value.split(" ")
        plain = 0
        while plain < len(words) and words[plain].isascii():
            plain += 1
        header = Header(header_name=name)
        if plain:
            header.append(" ".join(words[:plain]), "us-ascii")
        header.append(" ".join(words[plain:]), "utf-8")
    return f"{name}: {header.encode(linesep=CRLF)}"


@lru_cache(maxsize=256)
def _address_field(name: str, display_name: str, address: str) -> str:
    address = clean_header(address)
    display_name = clean_header(display_name)
    if not display_name:
        return f"{name}: {address}"
    if display_name.isascii():
        return _field(name, formataddr((display_name, address)))
    header = Header(display_name, "utf-8", header_name=name)
    header.append(f"<{address}>", "us-ascii")
    return f"{name}: {header.encode(linesep=CRLF)}"


def _text_part(text: str, subtype: str) -> MIMEText:
    # MIMEText picks 7bit for ASCII, base64 for UTF-8: safe through any relay, no 8BITMIME needed.
    canonical = text.replace("\r\n", "\n").replace("\n", "\r\n")  # RFC 2045 §6.4: CRLF before base64
    return MIMEText(canonical, subtype, "us-ascii" if text.isascii() else "utf-8")


def _attachment_part(attachment: OutgoingAttachment) -> MIMEBase:
    maintype, _, subtype = attachment.content_type.partition("/")
    params = {clean_header(k): clean_header(v) for k, v in attachment.params.items()}
    part = MIMEBase(maintype or "application", subtype or "octet-stream", **params)
    part.set_payload(attachment.content)
    encoders.encode_base64(part)
    filename = clean_header(attachment.filename) or "attachment"
    part.add_header("Content-Disposition", "inline" if attachment.inline else "attachment",
                    filename=filename if filename.isascii() else ("utf-8", "", filename))
    return part


def _text_part_bytes(text: str, subtype: str, *, mime_version: bool) -> bytes:
    """What _text_part(text, subtype).as_bytes(policy=POLICY) writes, built directly.

    The email package spends most of a letter's 0.5 ms on objects and header folding for these
    three fixed header lines; tests compare both ways byte for byte.
    """
    canonical = text.replace("\r\n", "\n").replace("\n", "\r\n")
    version = "MIME-Version: 1.0\r\n" if mime_version else ""
    if text.isascii():
        head = f'Content-Type: text/{subtype}; charset="us-ascii"\r\n{version}Content-Transfer-Encoding: 7bit\r\n\r\n'
        return head.encode("ascii") + "\r\n".join(_NEWLINES.split(canonical)).encode("ascii")
    data = canonical.encode("utf-8")
    lines = [binascii.b2a_base64(data[i : i + _BASE64_LINE], newline=False) for i in range(0, len(data), _BASE64_LINE)]
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\n{version}Content-Transfer-Encoding: base64\r\n\r\n'
    return head.encode("ascii") + b"".join(line + b"\r\n" for line in lines)


def _boundary(parts: Sequence[bytes]) -> str:
    """A boundary as the email generator makes it, checked not to occur in the parts."""
    token = random.randrange(sys.maxsize)
    boundary = "=" * 15 + f"{token:019d}" + "=="
    pattern = re.compile(rb"^--" + re.escape(boundary.encode()) + rb"(?:--)?\r?$", re.MULTILINE)
    counter = 0
    candidate = boundary
    while any(pattern.search(part) for part in parts):
        candidate = f"{boundary}.{counter}"
        pattern = re.compile(rb"^--" + re.escape(candidate.encode()) + rb"(?:--)?\r?$", re.MULTILINE)
        counter += 1
    return candidate


def _multipart_bytes(subtype: str, parts: Sequence[bytes], *, mime_version: bool) -> bytes:
    """A multipart of ready parts, written as the compat32 generator writes it."""
    boundary = _boundary(parts)
    field = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
    if len(field) > 78:  # compat32 folds a longer field at the parameter
        field = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"'
    version = "MIME-Version: 1.0\r\n" if mime_version else ""
    delimiter = f"--{boundary}\r\n".encode("ascii")
    return b"".join([
        f"{field}\r\n{version}\r\n".encode("ascii"),
        delimiter, parts[0], *(b"\r\n" + delimiter + part for part in parts[1:]),
        f"\r\n--{boundary}--\r\n".encode("ascii"),
    ])


def _text_body_bytes(letter: Letter, *, mime_version: bool) -> bytes:
    """The plain text, or multipart/alternative of plain text and HTML."""
    if not letter.html:
        return _text_part_bytes(letter.text, "plain", mime_version=mime_version)
    parts = [_text_part_bytes(letter.text, "plain", mime_version=True),
             _text_part_bytes(letter.html, "html", mime_version=True)]
    return _multipart_bytes("alternative", parts, mime_version=mime_version)


def _body_bytes(letter: Letter) -> bytes:
    """The MIME body with its Content-* headers; only attachments still go through email.mime."""
    if not letter.attachments:
        return _text_body_bytes(letter, mime_version=False)
    parts = [_text_body_bytes(letter, mime_version=True),
             *(_attachment_part(a).as_bytes(policy=POLICY) for a in letter.attachments)]
    return _multipart_bytes("mixed", parts, mime_version=False)


def compose(letter: Letter) -> bytes:
    """The letter as RFC 5322 bytes with CRLF line ends, ready for SMTP DATA and IMAP APPEND.

    Our header fields are folded here (email.header, cached) and the MIME body by the compat32
    generator: the modern header folder spends milliseconds per Cyrillic subject, which alone would
    halve the outbox throughput. Every value still goes through clean_header first.
    """
    fields = [
        _address_field("From", letter.from_name, letter.from_address),
        _address_field("To", "", letter.to),
        _field("Subject", clean_header(letter.subject)[:MAX_SUBJECT_CHARS]),
        f"Date: {format_datetime(letter.date)}",
        f"Message-ID: {msgids(letter.message_id)[0]}",
    ]
    if letter.in_reply_to:
        fields.append(f"In-Reply-To: {msgids(letter.in_reply_to)[0]}")
    refs = msgids(list(letter.references))
    if refs:
        fields.append(_field("References", " ".join(refs)))
    # RFC 3834 and the de-facto headers that make auto-responders and Exchange keep quiet.
    fields.append(f"Auto-Submitted: {clean_header(letter.auto_submitted)}")
    fields.append("X-Auto-Response-Suppress: All")
    if letter.bulk:
        fields.append("Precedence: bulk")
    if letter.loop_address:
        fields.append(f"{LOOP_HEADER}: {clean_header(letter.loop_address)}")
    fields.append("MIME-Version: 1.0")
    head = (CRLF.join(fields) + CRLF).encode("ascii")
    return head + _body_bytes(letter)
