"""Reply extraction: split a plain-text reply into its new text, the quoted part and the signature."""

from __future__ import annotations

from dataclasses import dataclass

from parsers.reply_lines import GREETING, LineKind, classify_line, join_wrapped_attributions

# A reply body longer than this is cut before analysis: nobody types 2 MB of new text,
# and bounding the input keeps every regex pass linear and cheap.
MAX_BODY_CHARS = 2_000_000
# Quoted header blocks have From, Sent/Date, To and Subject; two header-like lines are just text.
MIN_HEADER_BLOCK = 3


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
    if not isinstance(text, str):  # callers outside the pipeline hand in bytes or None: still a str out
        text = text.decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else ""
    try:
        return _split(text)
    except Exception:  # a parser must never raise; the whole text is then the new text
        return ReplyParts(new_text=text.strip(), quoted="", signature="")


def _split(text: str) -> ReplyParts:
    if not text or text.isspace():
        return EMPTY_PARTS
    text = text[:MAX_BODY_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    lines = join_wrapped_attributions(text.split("\n"))
    kinds = _LazyKinds(lines)

    cut = _quote_start(kinds)
    body, leading_quote = _drop_leading_quoted(list(zip(lines[:cut], kinds.upto(cut), strict=True)))
    quoted_lines = [*leading_quote, *lines[cut:]]

    signature: list[str] = []
    sig_at = _signature_start([kind for _, kind in body])
    if sig_at is not None:
        signature = [line for line, _ in body[sig_at:]]
        body = body[:sig_at]
    else:
        # Top posting without an attribution line: a trailing run of quotes after the new text.
        end = len(body)
        while end > 0 and body[end - 1][1] in (LineKind.QUOTE, LineKind.EMPTY):
            end -= 1
        if any(kind is LineKind.TEXT for _, kind in body[:end]):
            quoted_lines = [line for line, _ in body[end:]] + quoted_lines
            body = body[:end]

    kept = [line for line, kind in body if kind not in _DROPPED]
    if signature and signature[0].strip() in ("--", "-- "):
        signature = signature[1:]  # the «-- » delimiter marks the signature; it is not part of it
    return ReplyParts(
        new_text="\n".join(kept).strip(),
        quoted="\n".join(quoted_lines).strip(),
        signature="\n".join(signature).strip(),
    )


# Markers that never belong to the new text when they are left inside it.
_DROPPED = frozenset({LineKind.DELIMITER, LineKind.ATTRIBUTION, LineKind.HEADER})


# A line's final kind depends on the raw kinds of at most this many lines either side of it
# (_merge_header_blocks: a gap of up to 3 lines between headers, then a run of 3 headers).
_MERGE_REACH = 6
# Lines classified in the first step; each further step doubles it.
_FIRST_STEP = 24


class _LazyKinds:
    """The merged kind of every line, classified only as far as the caller looks.

    A top-posted reply is decided within its first lines; the quote under it, often most of the
    mail, is then never classified. The result is the same as classifying every line and merging
    the header blocks of the whole text (see _MERGE_REACH for why a prefix suffices).
    """

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self._raw: list[LineKind] = []
        self._final: list[LineKind] = []
        self._in_code = False
        self._step = _FIRST_STEP

    def __len__(self) -> int:
        return len(self._lines)

    def __getitem__(self, index: int) -> LineKind:
        if index >= len(self._final):
            self._extend(index + 1)
        return self._final[index]

    def upto(self, end: int) -> list[LineKind]:
        if end > len(self._final):
            self._extend(end)
        return self._final[:end]

    def _extend(self, wanted: int) -> None:
        n = len(self._lines)
        if wanted > n:
            raise IndexError(wanted)
        while len(self._final) < wanted:
            target = min(n, max(wanted + _MERGE_REACH, len(self._raw) + self._step))
            self._step *= 2
            self._classify(target)
            merged = list(self._raw)
            _merge_header_blocks(merged)
            self._final = merged if target == n else merged[: max(0, target - _MERGE_REACH)]

    def _classify(self, end: int) -> None:
        """Raw kinds up to `end`; lines inside a ``` code fence are always text."""
        for line in self._lines[len(self._raw) : end]:
            if line.lstrip().startswith("```"):
                self._in_code = not self._in_code
                self._raw.append(LineKind.TEXT)
            elif self._in_code:
                self._raw.append(LineKind.EMPTY if not line.strip() else LineKind.TEXT)
            else:
                self._raw.append(classify_line(line))


def _merge_header_blocks(kinds: list[LineKind]) -> None:
    """Make header lines mean a quoted header block, or nothing.

    A value wrapped onto the next line («Subject: a long\n subject») is part of the block; a run of
    fewer than 3 header lines («Тема: …», «Дата: 5 декабря» in the new text) is content.
    """
    n = len(kinds)
    i = 0
    while i < n:
        if kinds[i] is LineKind.HEADER:
            j = i + 1
            while j < n and kinds[j] is LineKind.TEXT and j - i <= 3:
                j += 1
            if j < n and j > i + 1 and kinds[j] is LineKind.HEADER:
                for k in range(i + 1, j):
                    kinds[k] = LineKind.HEADER
            i = j
        else:
            i += 1
    i = 0
    while i < n:
        if kinds[i] is not LineKind.HEADER:
            i += 1
            continue
        j = i
        while j < n and kinds[j] is LineKind.HEADER:
            j += 1
        if j - i < MIN_HEADER_BLOCK:
            for k in range(i, j):
                kinds[k] = LineKind.TEXT
        i = j


def _quote_start(kinds: _LazyKinds) -> int:
    """Index of the first line of the quoted part after the new text; len(kinds) when there is none."""
    seen_text = False
    for i in range(len(kinds)):
        kind = kinds[i]
        if kind is LineKind.TEXT:
            seen_text = True
        elif not seen_text:
            continue
        elif _starts_quoted_part(kinds, i):
            return i
    return len(kinds)


def _starts_quoted_part(kinds: _LazyKinds, i: int) -> bool:
    """An attribution not answered inline, or a block of at least 3 quoted header lines."""
    if kinds[i] is LineKind.ATTRIBUTION:
        return not _interleaved_after(kinds, i)
    return kinds[i] is LineKind.HEADER and _header_block_at(kinds, i)


def _interleaved_after(kinds: _LazyKinds, i: int) -> bool:
    """True when the attribution at i introduces a `>` quote that the sender answers below it."""
    n = len(kinds)
    j = i + 1
    while j < n and kinds[j] is LineKind.EMPTY:
        j += 1
    if j >= n or kinds[j] is not LineKind.QUOTE:
        return False
    while j < n and kinds[j] in (LineKind.QUOTE, LineKind.EMPTY):
        j += 1
    return j < n and kinds[j] is LineKind.TEXT


def _drop_leading_quoted(body: list[tuple[str, LineKind]]) -> tuple[list[tuple[str, LineKind]], list[str]]:
    """Quotes introduced by an attribution (or a header block) before the new text are not new.

    Bottom posting: «Le … a écrit :» + `>` quote + the answer keeps only the answer. Returns the
    remaining lines and the quote that was taken out.
    """
    out: list[tuple[str, LineKind]] = []
    taken: list[str] = []
    in_attributed_quote = False
    seen_text = False
    for line, kind in body:
        if kind in (LineKind.ATTRIBUTION, LineKind.HEADER):
            # Once the sender has written something, a quote they answer inline stays for context.
            in_attributed_quote = not seen_text
            if in_attributed_quote:
                taken.append(line)
            continue
        seen_text = seen_text or (kind is LineKind.TEXT and not GREETING.match(line))
        if in_attributed_quote and kind in (LineKind.QUOTE, LineKind.EMPTY):
            taken.append(line)
            continue
        in_attributed_quote = False
        out.append((line, kind))
    return out, taken


def _header_block_at(kinds: _LazyKinds, i: int) -> bool:
    """True when at least 3 of the next 6 non-blank lines are header lines («От:», «Тема:», …)."""
    headers = 0
    looked = 0
    for j in range(i, min(i + 12, len(kinds))):
        kind = kinds[j]
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
    seen_text = False
    for i, kind in enumerate(kinds):
        if kind is LineKind.TEXT:
            seen_text = True
        elif kind is LineKind.SIGNATURE and seen_text:
            return i
    return None
