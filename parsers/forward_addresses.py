"""Mailbox lists as clients print them in quoted headers: «Name <a@b>», «Name [mailto:a@b]», «a@b; c@d»."""

from __future__ import annotations

import re

from parsers.forward_patterns import EMAIL
from parsers.model import Address

MAX_VALUE_CHARS = 4_000

# Outlook pastes «a@b<mailto:a@b>» and «Name<mailto:a@b>»: the mailto copy adds nothing.
_MAILTO_COPY = re.compile(r"<mailto:[^<>\s]{1,300}>", re.IGNORECASE)
# HTML turned into text writes a mailto link as «[a@b](mailto:a@b)»: keep the link text.
_MARKDOWN_MAILTO = re.compile(r"\[([^\[\]\n]{1,300})\]\(mailto:[^()\s]{1,300}\)", re.IGNORECASE)
_ADDRESS_TOKEN = re.compile(
    rf"<\s*(?:mailto:)?(?P<angle>{EMAIL})\s*>|\[\s*(?:mailto:)?(?P<square>{EMAIL})\s*\]|(?P<bare>{EMAIL})",
    re.IGNORECASE,
)
_NAME_JUNK = " \t,;:\"'<>[]()"


def parse_mailboxes(value: str) -> list[Address]:
    """Every mailbox in a header value, in order; a name without an address gives Address(email="")."""
    value = _MAILTO_COPY.sub("", _MARKDOWN_MAILTO.sub(r"\1", (value or "")[:MAX_VALUE_CHARS]))
    tokens = list(_ADDRESS_TOKEN.finditer(value))
    if not tokens:
        name = _clean_name(value)
        return [Address(email="", name=name)] if name else []
    mailboxes: list[Address] = []
    previous_end = 0
    skip_next_name = False
    for index, token in enumerate(tokens):
        email = (token.group("angle") or token.group("square") or token.group("bare")).lower()
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.group("bare") and following is not None and not following.group("bare"):
            gap = value[token.end() : following.start()]
            if not gap.strip(" \t\"'") and (following.group("angle") or following.group("square")).lower() == email:
                # «bessie.berry@acme.com <bessie.berry@acme.com>»: one mailbox, written twice.
                skip_next_name = True
                previous_end = token.end()
                continue
        name = "" if skip_next_name else _clean_name(value[previous_end : token.start()])
        skip_next_name = False
        if "@" in name or name.lower() == email:
            name = ""
        if mailboxes and mailboxes[-1].email == email and email:
            previous_end = token.end()
            continue  # the same address twice in a row is one mailbox
        mailboxes.append(Address(email=email, name=name))
        previous_end = token.end()
    return mailboxes


def _clean_name(raw: str) -> str:
    name = raw.strip(_NAME_JUNK).strip()
    # «"Иванов, И.И."» keeps its inner comma; a stray «on behalf of» tail belongs to no one.
    return re.sub(r"\s+", " ", name)
