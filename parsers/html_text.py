"""HTML mail bodies to readable plain text that keeps paragraph breaks, quotes and link targets."""

from __future__ import annotations

import re

# html2text is pure Python and slow on big input; a letter's readable text is well within this.
HTML_CAP = 256 * 1024

# html2text escapes Markdown at line starts ("\-", "1\.", "\+"); for mail those escapes only hide
# signature and quote separators such as "-- " and "-----Original Message-----".
_MD_ESCAPE = re.compile(r"^([ \t]*\d*)\\([-+.])", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")
_TAG = re.compile(r"<[^<>]*>")
_BLOCK_TAG = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|/h\d|p|div|tr|li)\b[^<>]*>", re.IGNORECASE)
JUNK_ESCAPES = 2000  # more stray "<" than this: the markup is junk, strip tags instead of rendering


# A well-formed tag, with bounded, unambiguous repeats so that matching it is linear in its length.
_WELL_FORMED_TAG = re.compile(
    r"<(?:/?[A-Za-z][\w:.-]{0,64}"
    r"(?:[\s/]+[^\s\"'<>/=]{1,256}(?:\s*=\s*(?:\"[^\"]{0,8192}\"|'[^']{0,8192}'|[^\s\"'<>`]{1,8192}))?){0,256}"
    r"[\s/]*|![^<>]{0,8192}|\?[^<>]{0,8192})>"
)


def defuse_markup(html: str) -> tuple[str, int]:
    """HTML with comments dropped and every "<" that does not open a well-formed tag escaped.

    CPython 3.11's HTMLParser, under html2text, is quadratic on unclosed tags, attributes and
    comments (20 KB of "<a " takes seconds); after this linear pass it sees only closed tags.
    Returns the markup and how many stray "<" were escaped.
    """
    escaped = 0
    out: list[str] = []
    pos = 0
    unclosed_comment = False  # once "-->" is missing after some "<!--", it is missing after later ones
    start = html.find("<")
    while start >= 0:
        if html.startswith("<!--", start):
            end = -1 if unclosed_comment else html.find("-->", start + 4)
            unclosed_comment = end < 0
            out.append(html[pos:start])
            if end < 0:
                out.append("&lt;!--")
                escaped += 1
                pos = start + 4
            else:
                pos = end + 3  # comments (Outlook's conditional ones too) carry no readable text
        else:
            tag = _WELL_FORMED_TAG.match(html, start)
            if tag:
                out.append(html[pos : tag.end()])
                pos = tag.end()
            else:
                out.append(html[pos:start])
                out.append("&lt;")
                escaped += 1
                pos = start + 1
        start = html.find("<", pos)
    out.append(html[pos:])
    return "".join(out), escaped


def _converter():
    import html2text

    conv = html2text.HTML2Text()
    conv.body_width = 0  # never re-wrap: line breaks are meaningful to reply and forward detection
    conv.ignore_images = True
    conv.ignore_emphasis = True
    conv.ignore_tables = True
    conv.unicode_snob = True  # keep «», — and Cyrillic as they are
    conv.single_line_break = False
    conv.use_automatic_links = True
    return conv


def _crude(html: str) -> str:
    """Last-resort tag stripper, used only if html2text fails on hostile markup."""
    import html as html_lib

    text = _BLOCK_TAG.sub("\n", html)
    text = _TAG.sub("", text)
    return html_lib.unescape(text)


def html_to_text(html: str) -> tuple[str, str]:
    """Readable text of an HTML body, plus a defect note ("" when none)."""
    note = ""
    if len(html) > HTML_CAP:
        html = html[:HTML_CAP]
        note = f"HTML longer than {HTML_CAP} characters: converted the beginning only"
    defused, escaped = defuse_markup(html)
    try:
        if escaped > JUNK_ESCAPES:
            raise ValueError("junk markup")
        text = _converter().handle(defused)
    except Exception as exc:  # html2text on broken markup: fall back, never raise
        text = _crude(html)
        note = f"HTML not rendered ({type(exc).__name__}: {exc}); tags stripped"
    text = _MD_ESCAPE.sub(r"\1\2", text)
    text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip("\n"), note
