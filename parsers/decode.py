"""Text decoding for mail: charsets (incl. unlabeled or mislabeled Cyrillic), RFC 2047 words, raw 8-bit headers."""

from __future__ import annotations

import binascii
import codecs
import re
from dataclasses import dataclass

# Only this much of a body is looked at to choose a charset: detection must stay bounded on 35 MB mail.
DETECT_SAMPLE = 16 * 1024
SHAPE_SAMPLE = 4 * 1024  # characters looked at by the slower, regex-based plausibility checks

_CYRILLIC_CANDIDATES = ("cp1251", "koi8_r", "cp866")
_CYRILLIC_CODECS = frozenset({*_CYRILLIC_CANDIDATES, "koi8_u", "iso8859_5", "mac_cyrillic", "cp855"})
_UTF8_FAMILY = frozenset({"utf_8", "utf_8_sig"})
# Labels that say nothing about 8-bit text: treat 8-bit data under them as unlabeled.
_NON_LABELS = frozenset({"ascii", "unknown-8bit", "x-unknown", "unknown", "default", "us-ascii", "none", ""})

_LOWER_CYR = re.compile("[а-яё]")
_NON_ASCII = re.compile("[^\x00-\x7f]")
_WORD = re.compile(r"[^\W\d_]+")
_ASCII_LETTER = re.compile("[A-Za-z]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Decoded:
    """Decoded text, the codec that produced it, and a note when the label was not trusted."""

    text: str
    charset: str
    note: str = ""


def codec_name(label: str | None) -> str | None:
    """Python codec name for a MIME charset label, or None when it is absent, meaningless or unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = label.split("*", 1)[0]  # RFC 2231 language suffix: "koi8-r*ru"
    if label in _NON_LABELS:
        return None
    if label in ("x-cp1251", "win-1251", "windows1251", "cp-1251", "1251"):
        return "cp1251"
    try:
        return codecs.lookup(label).name.replace("-", "_")
    except (LookupError, ValueError):
        return None


def _byte_set(*ranges: tuple[int, int]) -> bytes:
    return bytes(b for lo, hi in ranges for b in range(lo, hi + 1))


# Per Cyrillic code page: its lower-case letter bytes, and the high bytes that real Russian prose never
# holds (box drawing, odd symbols). Counting bytes in C keeps detection cheap: correct decoding shows
# mostly lower-case letters; a wrong one shows capitals (koi8-r vs cp1251) or garbage (cp866 vs both).
_CODEPAGE_BYTES = {
    "cp1251": (_byte_set((0xE0, 0xFF), (0xB8, 0xB8)), _byte_set((0x80, 0x83), (0x86, 0x8F), (0x98, 0x98),
                                                                  (0x9A, 0x9F), (0xA1, 0xA6), (0xAA, 0xAA),
                                                                  (0xAC, 0xAF), (0xB1, 0xB6), (0xBA, 0xBA),
                                                                  (0xBC, 0xBF))),
    "koi8_r": (_byte_set((0xC0, 0xDF), (0xA3, 0xA3)), _byte_set((0x80, 0x99), (0x9B, 0x9B), (0x9D, 0xA2),
                                                                  (0xA4, 0xB2), (0xB4, 0xBF))),
    "cp866": (_byte_set((0xA0, 0xAF), (0xE0, 0xEF), (0xF1, 0xF1)), _byte_set((0xB0, 0xDF), (0xF2, 0xF7))),
}


def _count(sample: bytes, members: bytes) -> int:
    return len(sample) - len(sample.translate(None, members))


def codepage_score(sample: bytes, name: str) -> int:
    """How much `sample` looks like Russian prose in code page `name`: lower-case letters minus garbage."""
    lower, garbage = _CODEPAGE_BYTES[name]
    return _count(sample, lower) - 3 * _count(sample, garbage)


def _best_cyrillic(sample: bytes, label: str | None) -> str:
    best, best_score = "cp1251", float("-inf")
    for name in _CYRILLIC_CANDIDATES:
        score = codepage_score(sample, name)
        if name == label:
            score += 0.02 * len(sample)  # a declared charset wins a near tie
        if score > best_score:
            best, best_score = name, score
    # a rarer Cyrillic label (iso-8859-5, koi8-u, mac): keep it unless it yields no Russian at all
    if (
        label in _CYRILLIC_CODECS
        and label not in _CYRILLIC_CANDIDATES
        and _looks_cyrillic(sample[:SHAPE_SAMPLE].decode(label, "replace"))
    ):
        return label
    return best


def _cyrillic_words(text: str) -> bool:
    """True for 8-bit Cyrillic read through a Latin code page: whole words of non-ASCII letters.

    French or German words mix a few non-ASCII letters into ASCII ones ("Grüße"); Russian words
    are non-ASCII from end to end, whichever code page is used to look at them.
    """
    pure = mixed = 0
    for word in _WORD.findall(text):
        if word.isascii():
            continue
        if _ASCII_LETTER.search(word):
            mixed += 1
        else:
            pure += 1
    return pure > mixed


def _looks_cyrillic(text: str) -> bool:
    """Most non-ASCII characters are lower-case Cyrillic letters, as in any Russian prose."""
    non_ascii = len(_NON_ASCII.findall(text))
    return non_ascii >= 4 and len(_LOWER_CYR.findall(text)) * 2 >= non_ascii


def _mostly_utf8(data: bytes) -> bool:
    """Valid UTF-8 with a few broken bytes (truncation, a bad byte) rather than another charset."""
    text = data[:SHAPE_SAMPLE].decode("utf-8", "replace")
    bad = text.count("\ufffd")
    non_ascii = len(_NON_ASCII.findall(text)) - bad
    return non_ascii > 0 and bad * 20 <= non_ascii


def _normalizer_guess(sample: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(sample).best()
    except Exception:  # the detector is a heuristic helper; it must never break parsing
        return None
    return codec_name(best.encoding) if best is not None else None


def decode_bytes(data: bytes, label: str | None = None) -> Decoded:
    """Decode mail text without mojibake: trust valid UTF-8, then the label if plausible, else detect."""
    if not data:
        return Decoded("", codec_name(label) or "ascii")
    codec = codec_name(label)
    if data.isascii() and codec not in ("utf_7", "utf_16", "utf_32", "utf_16_le", "utf_16_be"):
        return Decoded(data.decode("ascii"), codec or "ascii")
    if codec and codec.startswith(("utf_16", "utf_32", "utf_7")):
        try:
            return Decoded(data.decode(codec), codec)
        except (UnicodeDecodeError, ValueError):
            codec = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        note = "" if codec in (None, *_UTF8_FAMILY) else f"labelled {label}, but is UTF-8"
        return Decoded(text, "utf_8", note)
    sample = data[:DETECT_SAMPLE]
    if codec in _UTF8_FAMILY:
        best = _best_cyrillic(sample, None)
        if not _mostly_utf8(sample) and _looks_cyrillic(sample.decode(best, "replace")):
            return Decoded(data.decode(best, "replace"), best, f"charset {label}; detected {best}")
        return Decoded(data.decode("utf-8", "replace"), "utf_8", "broken UTF-8 bytes replaced")
    if codec and codec not in _UTF8_FAMILY and codec not in _CYRILLIC_CODECS:
        text = data.decode(codec, "replace")
        if not _cyrillic_words(text[:SHAPE_SAMPLE]):
            return Decoded(text, codec)
    if codec is None and not _cyrillic_words(sample[:SHAPE_SAMPLE].decode("cp1251", "replace")):
        # Unlabeled 8-bit text that is not mostly Cyrillic letters: let the general detector decide.
        guess = _normalizer_guess(sample) or "cp1252"
        return Decoded(data.decode(guess, "replace"), guess, "no charset label; detected")
    best = _best_cyrillic(sample, codec)
    note = "" if best == codec else f"charset {label or 'missing'}; detected {best}"
    return Decoded(data.decode(best, "replace"), best, note)


def fix_8bit(value: str) -> str:
    """Raw 8-bit header bytes arrive as surrogate escapes from the stdlib parser: decode them properly."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogateescape")
        return decode_bytes(raw).text
    return value


# An encoded word, tolerant of what real mailers send: spaces inside, lower-case b/q, a missing "?=" at the end.
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,40})\?([bBqQ])\?(.*?)(?:\?=|$)", re.DOTALL)
_FOLDING = re.compile(r"\r?\n[ \t]*")
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def _word_bytes(encoding: str, payload: str) -> bytes:
    raw = payload.encode("ascii", "replace")
    if encoding in "bB":
        raw = _B64_JUNK.sub(b"", raw)
        if len(raw) % 4 == 1:
            raw = raw[:-1]
        raw += b"=" * (-len(raw) % 4)
        try:
            return binascii.a2b_base64(raw)
        except (binascii.Error, ValueError):
            return b""
    return binascii.a2b_qp(raw, header=True)


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words leniently, joining adjacent words of one charset before decoding."""
    if "=?" not in value:
        return value
    value = _FOLDING.sub(" ", value)
    pieces: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            pieces.append(decode_bytes(bytes(pending), pending_charset).text)
        pending, pending_charset = bytearray(), None

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        charset, encoding, payload = match.groups()
        if between.strip() or not pending:
            flush()
            pieces.append(between)
        elif charset.lower() != (pending_charset or "").lower():
            flush()  # whitespace between encoded words is dropped (RFC 2047 §6.2)
        pending.extend(_word_bytes(encoding, payload))
        pending_charset = charset
        pos = match.end()
    flush()
    pieces.append(value[pos:])
    return "".join(pieces)


def clean_line(value: str) -> str:
    """One display line: no CR/LF or control characters (header injection), whitespace collapsed."""
    value = _CONTROL.sub(" ", value.replace("\r", " ").replace("\n", " ").replace("\t", " "))
    return " ".join(value.split())


def decode_header_value(value: str) -> str:
    """A header value as a person reads it: 8-bit bytes and encoded words decoded, unfolded, one line."""
    if value.isascii() and "=?" not in value and not _CONTROL.search(value):
        return " ".join(value.split())  # the common case, and most of the headers (Received, DKIM, …)
    return clean_line(decode_words(fix_8bit(value)))
