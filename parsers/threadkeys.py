"""Threading keys: normalised subjects, case tags, Message-ID references and normalised publication URLs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from parsers.model import ParsedMessage

# Reply and forward prefixes of mail clients in many languages. Zammad's two-letter regex misses
# «Ответ:», so whole words are listed; each may be numbered: RE[3]:, Re(2):, Re^2:, RE*2:.
_PREFIX_WORDS = (
    "ответ", "пересл", "переслано", "отв", "на", "відп", "відповідь", "fwd", "fw", "fwrd", "re", "aw", "wg",
    "sv", "vs", "antw", "doorst", "tr", "rif", "ref", "rv", "enc", "res", "odp", "pd", "vl", "vb", "r", "ynt",
    "ilt", "i", "ha", "svar", "atb", "pārs", "ats", "pers", "edasi", "vá", "továbbítás",
    "απ", "σχετ", "πρθ", "תגובה", "הועבר", "رد", "إعادة توجيه", "توجيه",
    "回复", "回覆", "答复", "转发", "轉寄", "返信", "転送", "회신", "전달",
)
# Each word may carry an abbreviation dot («Отв.:», «Пересл.:») and a number.
_PREFIX = re.compile(
    r"^\s*(?:(?:" + "|".join(_PREFIX_WORDS) + r")\.?\s*(?:\[\d+\]|\(\d+\)|\^\d+|\*\d+)?\s*[:：]\s*)+",
    re.IGNORECASE,
)
# What a removed tag can leave at the front: «Fw: [CUR-5]: Тема» → «: Тема».
_LEADING_COLONS = re.compile(r"^\s*(?:[:：](?=\s|$)\s*)+")
# Forwarding markers that some clients put in brackets instead: «[Fwd: …]».
_BRACKETED_FWD = re.compile(r"^\s*\[(?:fwd?|пересл)\s*:\s*(.*)\]\s*$", re.IGNORECASE | re.DOTALL)
# A case tag of any project, as curmail writes it: [ABC-42], [ABC #42], [ABC 42].
_ANY_CASE_TAG = re.compile(r"\[\s*[A-Za-zА-Яа-яЁё]{2,12}\s*[-#№ ]\s*#?\s*\d+\s*\]")
_SPACES = re.compile(r"\s+")


def normalize_subject(subject: str, tags: Sequence[str] = ()) -> str:
    """The subject without reply/forward prefixes (any script, repeated or numbered) and case tags.

    Case tags of the given `tags` (e.g. "KZM") are removed in every format find_case_numbers()
    recognises; bracketed tags of the form «[ABC-42]» always go. The result keeps its case;
    compare subjects with subject_key().
    """
    s = subject or ""
    for tag in tags:
        s = _tag_pattern(tag).sub(" ", s)
    s = _ANY_CASE_TAG.sub(" ", s)
    cut = s != (subject or "")
    previous = None
    while previous != s:
        previous = s
        stripped = _PREFIX.sub("", s)
        if cut or stripped != s:  # only a colon that a removed tag or prefix left behind («:)» stays)
            stripped = _LEADING_COLONS.sub("", stripped)
        s = stripped
        bracketed = _BRACKETED_FWD.match(s)
        if bracketed:
            s = bracketed.group(1)
        s = _SPACES.sub(" ", s).strip()
    return s


def subject_key(subject: str, tags: Sequence[str] = ()) -> str:
    """A comparison key for the subject fallback: normalised, case-folded, «ё» as «е»."""
    return normalize_subject(subject, tags).casefold().replace("ё", "е")


def format_case_tag(tag: str, number: int) -> str:
    """The tag curmail writes at the front of a subject: format_case_tag("KZM", 42) → "[KZM-42]"."""
    return f"[{tag}-{number}]"


def find_case_numbers(subject: str, tag: str, old_tags: Sequence[str] = ()) -> tuple[int, ...]:
    """Case numbers tagged in a subject, in order of appearance, without duplicates.

    Recognised anywhere and case-insensitively: "[KZM-42]", "[KZM #42]", "[KZM 42]", "[KZM№42]",
    and a bare "KZM-42" between word boundaries (a letters-dash-digits token is not ordinary
    Russian or English text, so the risk of a false case number is small). `old_tags` are
    earlier prefixes recognised the same way; an entry containing "{n}" is a literal template
    instead, e.g. "Дело №{n}".
    """
    found: list[tuple[int, int]] = []
    for pattern in [_tag_pattern(tag), *(_tag_pattern(old) for old in old_tags)]:
        for m in pattern.finditer(subject or ""):
            found.append((m.start(), int(next(g for g in m.groups() if g))))
    numbers: list[int] = []
    for _, n in sorted(found):
        if n not in numbers:
            numbers.append(n)
    return tuple(numbers)


@lru_cache(maxsize=64)
def _tag_pattern(tag: str) -> re.Pattern[str]:
    if "{n}" in tag:
        head, _, tail = tag.partition("{n}")
        return re.compile(re.escape(head) + r"\s*(?P<n>\d{1,9})" + re.escape(tail), re.IGNORECASE)
    t = re.escape(tag.strip("[] "))
    bracketed = rf"\[\s*{t}\s*[-#№: ]?\s*#?\s*(?P<n>\d{{1,9}})\s*\]"
    bare = rf"(?<![\w-]){t}-(?P<n2>\d{{1,9}})(?![\w-])"
    return re.compile(f"{bracketed}|{bare}", re.IGNORECASE)


_MSGID = re.compile(r"<[^<>\s]+>")


def message_refs(pm: ParsedMessage) -> tuple[str, ...]:
    """Message-IDs this message answers: In-Reply-To first, then References nearest-first; deduped."""
    refs: list[str] = []
    candidates: list[str] = []
    if pm.in_reply_to:
        # pm.in_reply_to keeps the first id; Exchange and iOS may list more, comma-separated.
        raw = pm.header("in-reply-to") or ""
        candidates.extend(_ids_in(raw) if raw.count("<") > 1 else _ids_in(pm.in_reply_to))
    for ref in reversed(pm.references):
        candidates.extend(reversed(_ids_in(ref)))
    for ref in candidates:
        if ref not in refs and ref != pm.message_id:
            refs.append(ref)
    return tuple(refs)


def _ids_in(value: str) -> list[str]:
    ids = _MSGID.findall(value or "")
    if ids:
        return ids
    # Some clients drop the angle brackets; accept a bare local@domain token as the id.
    bare = (value or "").strip()
    if bare and " " not in bare and "@" in bare:
        return [f"<{bare}>"]
    return []


# ---------------------------------------------------------------- publication URLs

_URL = re.compile(
    r"(?:https?://|(?<![\w@./])(?:www\.|m\.)?(?=(?:vk\.com|vk\.ru|t\.me|ok\.ru|dzen\.ru)/))"
    r"[^\s<>\"'«»()\[\]{}]+",
    re.IGNORECASE,
)
_TRAILING_PUNCT = ".,;:!?…»)]}'\""
_TRACKING_PARAMS = {
    "fbclid", "gclid", "yclid", "ysclid", "dclid", "msclkid", "igshid", "mc_cid", "mc_eid", "_openstat",
    "from", "ref", "ref_src", "ref_url", "si", "feature", "share", "utm", "_hsenc", "_hsmi", "openstat",
    "erid", "rlz", "t_ref", "clid", "sharing",
}
_HOST_ALIASES = {
    "vk.ru": "vk.com", "vkontakte.ru": "vk.com", "telegram.me": "t.me", "telegram.dog": "t.me",
    "zen.yandex.ru": "dzen.ru", "zen.yandex.com": "dzen.ru", "odnoklassniki.ru": "ok.ru",
    "youtu.be": "youtube.com", "instagr.am": "instagram.com", "x.com": "twitter.com", "vkvideo.ru": "vk.com",
}
# A VK object in a layer (?w=, ?z=): a post, video, photo…; "_r55" is a comment under it, the same post.
_VK_POST = re.compile(r"^(wall|video|photo|clip|topic|board)(-?\d+_\d+)(?:_r\d+)?$")


def publication_urls(text: str) -> tuple[str, ...]:
    """Links to publications in `text`, normalised so that the same post always gives the same string.

    https scheme; lower-case host without "www."/"m."; platform aliases folded (vk.ru → vk.com,
    telegram.me → t.me, zen.yandex.ru → dzen.ru, youtu.be → youtube.com/watch?v=…); a VK post
    opened from a community page (?w=wall-1_2) becomes vk.com/wall-1_2; t.me/s/ch/5 → t.me/ch/5;
    tracking parameters (utm_*, fbclid, yclid, …) and fragments dropped; trailing "/" dropped.
    Bare site addresses (no path), as found in signatures, are not publications and are skipped.
    """
    urls: list[str] = []
    for m in _URL.finditer(text or ""):
        raw = m.group(0).rstrip(_TRAILING_PUNCT)
        normal = normalize_url(raw)
        if normal and normal not in urls:
            urls.append(normal)
    return tuple(urls)


def normalize_url(raw: str) -> str | None:
    """One URL in the canonical form publication_urls() uses, or None when it is not a publication."""
    if not re.match(r"https?://", raw, re.IGNORECASE):
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    if not host or "." not in host:
        return None
    for prefix in ("www.", "m.", "mobile."):
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
    host = _HOST_ALIASES.get(host, host)
    path = re.sub(r"/{2,}", "/", parts.path or "")
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    ]

    if host == "vk.com":
        # A post opened in a layer over a page: vk.com/club1?w=wall-1_2 is the post wall-1_2.
        for key, value in query:
            post = _VK_POST.match(value.split("/")[0]) if key in ("w", "z") else None
            if post:
                return f"https://vk.com/{post.group(1)}{post.group(2)}"
        query = []  # reply=, thread=, list=… point into the same post
        path = path.lower()  # screen names are case-insensitive: vk.com/Kozmo is vk.com/kozmo
    elif host == "t.me":
        segments = [s for s in path.split("/") if s]
        if segments and segments[0] == "s":
            segments = segments[1:]
        path = "/" + "/".join(segments).lower()  # channel names are case-insensitive
        query = [(k, v) for k, v in query if k not in ("single", "comment", "thread")]
    elif host == "ok.ru" and path.rstrip("/") == "/dk":
        # The mobile site names the post in the query: m.ok.ru/dk?st.cmd=…&st.groupId=G&st.topicId=T.
        params = {k.lower(): v for k, v in query}
        topic, group, friend = params.get("st.topicid"), params.get("st.groupid"), params.get("st.friendid")
        if topic and group:
            return f"https://ok.ru/group/{group}/topic/{topic}"
        if topic and friend:
            return f"https://ok.ru/profile/{friend}/statuses/{topic}"
        query = sorted((k, v) for k, v in query if k.lower() == "st.cmd" or re.fullmatch(r"st\.\w*id", k.lower()))
    elif host == "youtube.com":
        if parts.hostname and parts.hostname.lower().endswith("youtu.be"):
            video = path.strip("/")
            path, query = "/watch", [("v", video)] if video else []
        else:
            query = [(k, v) for k, v in query if k == "v"]
    elif host in ("dzen.ru", "instagram.com", "ok.ru", "twitter.com", "tiktok.com", "rutube.ru"):
        query = []

    path = path.rstrip("/")
    if not path and not query:
        return None  # a bare site address, e.g. in a signature
    return urlunsplit(("https", host, path, urlencode(query), ""))
