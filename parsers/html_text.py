"""HTML mail bodies to readable plain text that keeps paragraph breaks, quotes and link targets."""

from __future__ import annotations

import re

# html2text is pure Python and slow on big input; a letter's readable text is well within this.
HTML_CAP = 512 * 1024

# html2text escapes Markdown at line starts ("\-", "1\.", "\+"); for mail those escapes only hide
# signature and quote separators such as "-- " and "-----Original Message-----".
_MD_ESCAPE = re.compile(r"^(\s*\d*)\\([-+.])", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")
_TAG = re.compile(r"<[^>]*>")
_BLOCK_TAG = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|/h\d|p|div|tr|li)\b[^>]*>", re.IGNORECASE)
_STYLE = re.compile(r"<(style|script|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


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

    text = _STYLE.sub(" ", html)
    text = _BLOCK_TAG.sub("\n", text)
    text = _TAG.sub("", text)
    return html_lib.unescape(text)


def html_to_text(html: str) -> tuple[str, str]:
    """Readable text of an HTML body, plus a defect note ("" when none)."""
    note = ""
    if len(html) > HTML_CAP:
        html = html[:HTML_CAP]
        note = f"HTML longer than {HTML_CAP} characters: converted the beginning only"
    try:
        text = _converter().handle(html)
    except Exception as exc:  # html2text on broken markup: fall back, never raise
        text = _crude(html)
        note = f"HTML conversion failed ({type(exc).__name__}); tags stripped"
    text = _MD_ESCAPE.sub(r"\1\2", text)
    text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip("\n"), note
