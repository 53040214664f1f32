"""Jinja2 rendering of outgoing mail: one sandboxed template per kind, with subject, text and optional HTML.

Each template `templates/<kind>.j2` defines `{% block subject %}`, `{% block body %}` (plain text) and
optionally `{% block html %}`. The blocks are rendered one by one with the same context.

Safety, and why:
- `SandboxedEnvironment`: operators may edit the templates, and a template must not reach Python
  internals (`{{ ''.__class__ }}`) whatever they write.
- `StrictUndefined`: a misspelt variable is an error at enqueue time, not a silently empty deadline.
- Data is never parsed as a template: a citizen's «{{ 7*7 }}» in a quoted text stays text.
- Autoescaping applies to the `html` block only (the `_HtmlBlockAutoescape` extension wraps it in
  `{% autoescape true %}`), so plain-text bodies are not littered with `&quot;`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.ext import Extension
from jinja2.lexer import TOKEN_BLOCK_BEGIN, TOKEN_BLOCK_END, TOKEN_NAME, Token, TokenStream
from jinja2.sandbox import SandboxedEnvironment

from daemon.errors import RenderError
from daemon.resources import templates_dir
from parsers.workcalendar import WorkCalendar, default_calendar

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class RenderedMail:
    """What a template produced: a one-line subject, the text body and an optional HTML alternative."""

    subject: str
    text: str
    html: str | None = None


class _HtmlBlockAutoescape(Extension):
    """Wrap the body of `{% block html %}` in `{% autoescape true %}` … `{% endautoescape %}`."""

    def filter_stream(self, stream: TokenStream) -> Iterable[Token]:
        tokens = list(stream)
        return list(_wrap_html_block(tokens))


def _tag_name(tokens: list[Token], index: int) -> str | None:
    """The tag name when tokens[index] opens a `{% name … %}` tag, else None."""
    if tokens[index].type != TOKEN_BLOCK_BEGIN or index + 1 >= len(tokens):
        return None
    following = tokens[index + 1]
    return following.value if following.type == TOKEN_NAME else None


def _tag(lineno: int, *names: str) -> list[Token]:
    return [Token(lineno, TOKEN_BLOCK_BEGIN, "{%"), *(Token(lineno, TOKEN_NAME, n) for n in names),
            Token(lineno, TOKEN_BLOCK_END, "%}")]


def _wrap_html_block(tokens: list[Token]) -> Iterator[Token]:
    # Jinja compiles every block to its own function, so blocks nested in the html block get their
    # own autoescape scope too. depth counts the open blocks from the html block inwards.
    depth = 0
    index = 0
    while index < len(tokens):
        token = tokens[index]
        name = _tag_name(tokens, index)
        opens_html = name == "block" and index + 2 < len(tokens) and tokens[index + 2].value == "html"
        if name == "block" and (depth > 0 or opens_html):
            # Copy `{% block … %}` through its block_end, then open the autoescape scope.
            while tokens[index].type != TOKEN_BLOCK_END:
                yield tokens[index]
                index += 1
            yield tokens[index]
            yield from _tag(token.lineno, "autoescape", "true")
            depth += 1
            index += 1
            continue
        if depth > 0 and name == "endblock":
            yield from _tag(token.lineno, "endautoescape")
            depth -= 1
        yield token
        index += 1


def _quote(text: str, prefix: str = "> ") -> str:
    """Quote a citizen's or official's text line by line, as mail clients do."""
    return "\n".join(prefix + line if line else prefix.rstrip() for line in str(text).splitlines())


def one_line(text: str) -> str:
    """Collapse all whitespace (newlines included) to single spaces: the shape of a subject."""
    return _SPACES.sub(" ", text).strip()


class Renderer:
    """Renders `<kind>.j2` from the operator's folder (if any) first, then the built-in templates."""

    def __init__(self, search_path: Sequence[Path] = (), *, calendar: WorkCalendar | None = None) -> None:
        folders = [str(Path(p)) for p in search_path] + [str(templates_dir())]
        self.calendar = calendar or default_calendar()
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(folders),
            undefined=StrictUndefined,
            autoescape=False,
            extensions=[_HtmlBlockAutoescape],
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["msk"] = self._msk
        self.env.filters["deadline"] = self._deadline
        self.env.filters["quote"] = _quote

    def _msk(self, moment: datetime) -> str:
        return self.calendar.format_msk(moment)

    def _deadline(self, moment: datetime) -> str:
        return self.calendar.format_deadline(moment)

    def render(self, kind: str, context: Mapping[str, Any]) -> RenderedMail:
        """Render the subject, body and optional html blocks of `<kind>.j2`; RenderError on any problem."""
        if not _KIND.match(kind):
            raise RenderError(f"template name «{kind}» is not a plain lower-case identifier")
        try:
            template = self.env.get_template(f"{kind}.j2")
            missing = {"subject", "body"} - set(template.blocks)
            if missing:
                raise RenderError(f"template {kind}.j2 lacks block(s): {', '.join(sorted(missing))}")
            jinja_context = template.new_context(dict(context))
            parts = {
                name: "".join(block(jinja_context)) for name, block in template.blocks.items()
                if name in ("subject", "body", "html")
            }
        except RenderError:
            raise
        except TemplateError as exc:
            raise RenderError(f"template {kind}.j2: {type(exc).__name__}: {exc}") from exc
        subject = one_line(parts["subject"])
        if not subject:
            raise RenderError(f"template {kind}.j2 rendered an empty subject")
        text = parts["body"].strip("\n") + "\n"
        html = parts.get("html")
        return RenderedMail(subject=subject, text=text, html=html.strip() + "\n" if html and html.strip() else None)
