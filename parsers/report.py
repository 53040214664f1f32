"""RFC 3464 delivery-status reports: recipients, action, status, diagnostic and the original Message-ID."""

from __future__ import annotations

import re
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from parsers.decode import clean_line, decode_bytes, fix_8bit
from parsers.model import DeliveryReport

_ID = re.compile(r"<[^<>\s]+>")
_FIELD = re.compile(r"^([A-Za-z-]+):[ \t]*(.*(?:\n[ \t]+.*)*)", re.MULTILINE)
_HEADER_CAP = 64 * 1024
_MAX_PARTS = 200


def _addr_type_value(value: str) -> str:
    """'rfc822; User@Example.org' -> 'user@example.org'."""
    value = clean_line(fix_8bit(value))
    if ";" in value:
        value = value.split(";", 1)[1]
    return value.strip().strip("<>").lower()


def _fields_of(block: Message | str) -> list[tuple[str, str]]:
    if isinstance(block, Message):
        return [(k.lower(), str(v)) for k, v in block.raw_items()]
    return [(m.group(1).lower(), m.group(2)) for m in _FIELD.finditer(block)]


def _status_blocks(part: Message) -> list[list[tuple[str, str]]]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [_fields_of(b) for b in payload]
    text = payload if isinstance(payload, str) else ""
    return [_fields_of(chunk) for chunk in re.split(r"\r?\n[ \t]*\r?\n", text)]


def _first_id(value: str | None) -> str | None:
    if not value:
        return None
    found = _ID.search(clean_line(fix_8bit(value)))
    return found.group(0) if found else None


def _original_id(part: Message) -> str | None:
    ctype = part.get_content_type()
    if ctype == "message/rfc822" or (ctype.startswith("message/") and part.is_multipart()):
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return _first_id(inner[0].get("Message-ID"))
        return None
    payload = part.get_payload(decode=True) or b""
    headers = HeaderParser(policy=compat32).parsestr(decode_bytes(payload[:_HEADER_CAP]).text)
    return _first_id(headers.get("Message-ID"))


def delivery_report(message: Message) -> DeliveryReport | None:
    """The DSN of a multipart/report message, or None when it carries no message/delivery-status part."""
    status_part = None
    original_id = None
    stack = [message]
    seen = 0
    while stack and seen < _MAX_PARTS:
        part = stack.pop()
        seen += 1
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            status_part = status_part or part
        elif ctype in ("message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers"):
            original_id = original_id or _original_id(part)
        elif ctype.startswith("multipart/") and part.is_multipart():
            stack.extend(reversed([p for p in part.get_payload() if isinstance(p, Message)]))
    if status_part is None:
        return None
    recipients: list[str] = []
    action = status = diagnostic = None
    for fields in _status_blocks(status_part):
        values = dict(reversed(fields))  # first occurrence wins
        recipient = values.get("final-recipient") or values.get("original-recipient")
        if recipient:
            address = _addr_type_value(recipient)
            if address and address not in recipients:
                recipients.append(address)
        action = action or (clean_line(values["action"]).lower() if values.get("action") else None)
        status = status or (clean_line(values["status"]).split(" ")[0] if values.get("status") else None)
        if values.get("diagnostic-code") and not diagnostic:
            diagnostic = clean_line(fix_8bit(values["diagnostic-code"]))
    return DeliveryReport(
        original_message_id=original_id,
        recipients=tuple(recipients),
        action=action or None,
        status=status or None,
        diagnostic=diagnostic,
    )
