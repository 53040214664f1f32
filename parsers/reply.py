"""Reply extraction: split a plain-text reply into its new text, the quoted part and the signature."""

from __future__ import annotations

from dataclasses import dataclass

from parsers.reply_lines import LineKind, classify_lines, join_wrapped_attributions

# A reply body longer than this is cut before analysis: nobody types 2 MB of new text,
# and bounding the input keeps every regex pass linear and cheap.
MAX_BODY_CHARS = 2_000_000


@dataclass(frozen=True, slots=True)
class ReplyParts:
    """A reply split into what the sender wrote now, what they quoted, and their signature."""

    new_text: str
    quoted: str
    signature: str


EMPTY_PARTS = ReplyParts(new_text="", quoted="", signature="")


def extract_reply(body: str) -> str:
    """The new text of a reply: no quotes, no signature. Never raises."""
    return split_reply(body).new_text


def split_reply(text: str) -> ReplyParts:
    """Split a plain-text reply into new text, quoted text and signature. Never raises."""
    try:
        return _split(text)
    except Exception:  # a parser must never raise; the whole text is then the new text
        return ReplyParts(new_text=(text or "").strip(), quoted="", signature="")


def _split(text: str) -> ReplyParts:
    if not text or text.isspace():
        return EMPTY_PARTS
    text = text[:MAX_BODY_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    lines = join_wrapped_attributions(text.split("\n"))
    kinds = classify_lines(lines)

    cut = _quote_start(kinds)
    body_lines, quoted_lines = lines[:cut], lines[cut:]
    body_kinds = kinds[:cut]

    sig_at = _signature_start(body_kinds)
    if sig_at is not None:
        signature_lines = body_lines[sig_at:]
        body_lines, body_kinds = body_lines[:sig_at], body_kinds[:sig_at]
    else:
        signature_lines = []

    # Trailing quote lines after the last text line belong to the quote (bottom of a top-post).
    kept = [line for line, kind in zip(body_lines, body_kinds, strict=True) if kind is not LineKind.DELIMITER]
    new_text = _strip_blank_edges("\n".join(kept))
    return ReplyParts(
        new_text=new_text,
        quoted=_strip_blank_edges("\n".join(quoted_lines)),
        signature=_strip_blank_edges("\n".join(signature_lines)),
    )


def _quote_start(kinds: list[LineKind]) -> int:
    """Index of the first line of the quoted part; len(kinds) when nothing is quoted."""
    seen_text = False
    n = len(kinds)
    for i, kind in enumerate(kinds):
        if kind is LineKind.TEXT:
            seen_text = True
        elif seen_text and (
            kind is LineKind.ATTRIBUTION or (kind is LineKind.HEADER and _header_block_at(kinds, i))
        ):
            return i
    # Top posting without an attribution line: a trailing run of quotes and blanks.
    end = n
    while end > 0 and kinds[end - 1] in (LineKind.QUOTE, LineKind.EMPTY):
        end -= 1
    if seen_text and end < n and any(k is LineKind.QUOTE for k in kinds[end:]):
        return end
    return n


def _header_block_at(kinds: list[LineKind], i: int) -> bool:
    """True when at least 3 of the next 6 non-blank lines are header lines («От:», «Тема:», …)."""
    headers = 0
    looked = 0
    for kind in kinds[i : i + 12]:
        if kind is LineKind.EMPTY:
            continue
        looked += 1
        if kind is LineKind.HEADER:
            headers += 1
        if looked >= 6:
            break
    return headers >= 3


def _signature_start(kinds: list[LineKind]) -> int | None:
    """Index where the signature begins in the new text, or None."""
    for i, kind in enumerate(kinds):
        if kind is LineKind.SIGNATURE and any(k is LineKind.TEXT for k in kinds[:i]):
            return i
    return None


def _strip_blank_edges(text: str) -> str:
    return text.strip()
