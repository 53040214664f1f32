"""Fast MIME tree for well-formed mail: boundaries found with bytes.find, headers read by the stdlib.

The stdlib feed parser looks at every line of every part in Python, which makes a 150 KB base64
attachment the most expensive thing in a message. Here header blocks are split into fields by
the stdlib's own compat32 policy (the same Message objects); bodies are cut at their boundaries by
C-level search.
Anything unusual (a missing boundary, a defect, a digest, a delivery report, deep nesting) gives
None, and the caller uses the full stdlib parser, which knows every malformed case.
"""

from __future__ import annotations

import re
from email.message import Message
from email.policy import compat32

MAX_FAST_DEPTH = 16
PARAM_FIELD_CAP = 8 * 1024  # longer Content-Type/-Disposition fields are cut on the full path
_PARAMETER_FIELDS = frozenset({"content-type", "content-disposition"})
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_EMBEDDED = frozenset({"message/rfc822", "message/global"})
# A field name (printable ASCII but ":") and its colon; the feed parser's header line test.
_HEADER_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+:")


class _Unsure(Exception):
    """The input is not plainly well-formed: leave it to the full parser."""


def fast_tree(raw: bytes) -> Message | None:
    """The same compat32 tree as BytesParser would build for well-formed `raw`, or None when unsure."""
    if raw.startswith(b"From "):  # an mbox separator line: the full parser knows what to do
        return None
    try:
        return _message(raw, 0)
    except (_Unsure, RecursionError):
        return None


def _headers(head: bytes) -> Message:
    """Header block (without its final line ending) as the feed parser would store it: raw, unfolded later."""
    if b"\r" in head and head.count(b"\r") != head.count(b"\r\n"):
        raise _Unsure  # a bare CR, which the stdlib takes for a line end
    message = Message()
    lines = head.decode("ascii", "surrogateescape").split("\n")
    current: list[str] = []
    for index, line in enumerate(lines):
        if index < len(lines) - 1:
            line += "\n"
        if line[:1] in (" ", "\t"):
            if not current:
                raise _Unsure  # the first header line is a continuation
            current.append(line)
            continue
        if current:
            _store(message, current)
        if not _HEADER_NAME.match(line):
            raise _Unsure  # not a header line: the full parser records the defect
        current = [line]
    if current:
        _store(message, current)
    return message


def _store(message: Message, lines: list[str]) -> None:
    name, value = compat32.header_source_parse(lines)
    if len(value) > PARAM_FIELD_CAP and name.strip().lower() in _PARAMETER_FIELDS:
        raise _Unsure  # the full path cuts such fields before the quadratic parameter parser runs
    message.set_raw(name, value)


def _message(raw: bytes, depth: int) -> Message:
    if depth > MAX_FAST_DEPTH:
        raise _Unsure
    if raw.startswith((b"\r\n", b"\n")):
        raise _Unsure  # a part without headers: rare, let the full parser decide its default type
    end = _HEADER_END.search(raw)
    if end is None:
        raise _Unsure
    message = _headers(raw[: end.start()])
    body = raw[end.end() :]
    ctype = message.get_content_type()
    maintype = ctype.split("/", 1)[0]
    if maintype == "multipart":
        if ctype == "multipart/digest":
            raise _Unsure  # children default to message/rfc822 there
        boundary = message.get_boundary()
        if not boundary:
            raise _Unsure
        preamble, chunks, epilogue = _split(body, b"--" + boundary.encode("ascii", "surrogateescape"))
        message.preamble = preamble
        message.epilogue = epilogue
        message.set_payload([_message(chunk, depth + 1) for chunk in chunks])
    elif maintype == "message":
        if ctype not in _EMBEDDED:
            raise _Unsure  # delivery-status blocks and the rest: the full parser's business
        message.set_payload([_message(body, depth + 1)])
    else:
        message.set_payload(body.decode("ascii", "surrogateescape"))
    return message


def _eol_before(data: bytes, index: int) -> int:
    """Index where the line ending just before `index` starts (the delimiter owns that line ending)."""
    if data[index - 2 : index] == b"\r\n":
        return index - 2
    if data[index - 1 : index] == b"\n":
        return index - 1
    return index


def _split(body: bytes, delimiter: bytes) -> tuple[str | None, list[bytes], str | None]:
    """Preamble, part chunks and epilogue of a multipart body; _Unsure unless it closes properly."""
    chunks: list[bytes] = []
    start: int | None = None
    preamble: str | None = None
    pos = 0
    size = len(body)
    while True:
        found = body.find(delimiter, pos)
        if found < 0:
            raise _Unsure  # no close delimiter
        pos = found + 1
        if found > 0 and body[found - 1] != 0x0A:
            if body[found - 1] == 0x0D:
                raise _Unsure  # after a bare CR, which the stdlib takes for a line end
            continue  # not at a line start
        after = found + len(delimiter)
        closing = body.startswith(b"--", after)
        cursor = after + 2 if closing else after
        while cursor < size and body[cursor] in (0x20, 0x09):
            cursor += 1
        if cursor < size and body[cursor] not in (0x0A, 0x0D):
            continue  # "--boundary-and-more": text, not a delimiter
        if body.startswith(b"\r\n", cursor):
            line_end = cursor + 2
        elif cursor < size:
            line_end = cursor + 1
        else:
            line_end = cursor
        if start is None:
            if found:
                preamble = body[: _eol_before(body, found)].decode("ascii", "surrogateescape")
        else:
            chunks.append(body[start : _eol_before(body, found)])
        if closing:
            if start is None or not chunks:
                raise _Unsure
            rest = body[line_end:]
            return preamble, chunks, rest.decode("ascii", "surrogateescape") if rest else None
        start = line_end
        pos = line_end
