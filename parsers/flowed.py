"""Reading text/plain; format=flowed (RFC 3676): soft line breaks joined, space-stuffing undone."""

from __future__ import annotations

SIGNATURE_SEPARATOR = "-- "


def unflow(text: str, delsp: bool = False) -> str:
    """The text as its writer typed it: each flowed paragraph on one line, quote depth kept as «> ».

    A line ending in a space is soft (RFC 3676 §4.2) and joins the next line of the same quote depth;
    with DelSp=yes that space goes (§4.4). Two deliberate departures, both only ever keep a break:
    the «-- » signature separator is never soft (§4.3), and a line that starts with «#» always starts
    a line, because staff write one #command per line and some clients leave a space after a command.
    """
    out: list[str] = []
    parts: list[str] = []
    depth_of_parts = 0
    for raw_line in text.split("\n"):
        line = raw_line[:-1] if raw_line.endswith("\r") else raw_line
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):  # space-stuffing (§4.4), also the usual «> » after quote marks
            content = content[1:]
        if parts and (depth != depth_of_parts or content.startswith("#")):
            out.append(_quoted(depth_of_parts, parts))  # a flowed line without its end: keep it as is
            parts = []
        soft = content.endswith(" ") and content != SIGNATURE_SEPARATOR
        parts.append(content[:-1] if soft and delsp else content)
        depth_of_parts = depth
        if not soft:
            out.append(_quoted(depth, parts))
            parts = []
    if parts:
        out.append(_quoted(depth_of_parts, parts))
    return "\n".join(out)


def _quoted(depth: int, parts: list[str]) -> str:
    body = "".join(parts)
    if not depth:
        return body
    return ">" * depth + (" " + body if body else "")
