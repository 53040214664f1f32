"""Attachments: decoded file names (RFC 2231/2047, raw 8-bit), sha256, and TNEF winmail.dat unpacking."""

from __future__ import annotations

import hashlib
from email.message import Message

from parsers.decode import clean_line, decode_bytes, decode_words, fix_8bit
from parsers.html_text import html_to_text
from parsers.model import Attachment

TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})


def make_attachment(filename: str, content_type: str, content: bytes) -> Attachment:
    """An Attachment with size and sha256 computed from the decoded content."""
    return Attachment(
        filename=filename,
        content_type=content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
    )


def part_filename(part: Message) -> str:
    """The decoded file name of a MIME part, or "" when it has none."""
    try:
        name = part.get_filename() or ""  # Content-Disposition filename, else Content-Type name
    except Exception:  # malformed parameters: the stdlib can trip on them; a missing name is fine
        return ""
    if not isinstance(name, str):  # a 3-tuple when RFC 2231 decoding was not applied
        try:
            name = str(name[2])
        except Exception:
            return ""
    # Outlook and web mailers put RFC 2047 words inside the quoted parameter; some send raw 8-bit bytes.
    return clean_line(decode_words(fix_8bit(name.strip().strip('"'))))


def is_tnef(content_type: str, filename: str) -> bool:
    return content_type in TNEF_TYPES or filename.lower() == "winmail.dat"


def _tnef_text(value: object) -> str:
    if isinstance(value, bytes):
        return decode_bytes(value.rstrip(b"\x00")).text
    return str(value or "").strip("\x00")


def unpack_tnef(content: bytes) -> tuple[list[Attachment], str, str]:
    """Files and body text (plain, else HTML converted) inside a TNEF blob: (attachments, text, defect note)."""
    try:
        from tnefparse import TNEF

        tnef = TNEF(content, do_checksum=False)
    except Exception as exc:  # not TNEF after all, or truncated: keep the blob as it is
        return [], "", f"winmail.dat could not be unpacked ({type(exc).__name__})"
    files: list[Attachment] = []
    for item in tnef.attachments:
        try:
            name = item.long_filename()
        except Exception:  # tnefparse decodes names as UTF-8; Outlook writes the OEM code page
            name = getattr(item, "_name", b"")
        name = _tnef_text(name)
        data = item.data if isinstance(item.data, bytes) else b""
        files.append(make_attachment(clean_line(name) or "attachment.bin", "application/octet-stream", data))
    body = ""
    try:
        body = _tnef_text(tnef.body) if tnef.body else ""
        if not body.strip() and tnef.htmlbody:  # Outlook's HTML mail carries only PR_HTML
            body, _ = html_to_text(_tnef_text(tnef.htmlbody))
    except Exception:
        body = ""
    return files, body, ""
