"""Classification of a parsed message: an ordered table of rules, first hit wins, every hit recorded."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from parsers import morph
from parsers.model import Applicant, Classification, Kind, ParsedMessage
from parsers.rules import ClassifierRules, KindPatterns
from parsers.threadkeys import find_case_numbers, normalize_subject, publication_urls

DEFAULT_RULES = ClassifierRules()


@dataclass
class _Facts:
    """What the rules look at, read once per message; `hits` collects every rule that matched."""

    pm: ParsedMessage
    rules: ClassifierRules
    compiled: _Compiled
    sender: str
    sender_name: str
    subject: str
    head: str  # subject plus the head of the new text, the part keyword rules read
    is_reply: bool
    from_cur: bool
    from_staff: bool
    cur_via_staff: bool  # staff forwarded a ЦУР mail: classify the ЦУР content
    urls: tuple[str, ...]
    hits: list[str] = field(default_factory=list)
    _lemmas: morph.LemmaText | None = None
    channel_memo: tuple[str | None] | None = None

    @property
    def lemmas(self) -> morph.LemmaText:
        if self._lemmas is None:
            self._lemmas = morph.LemmaText(self.head, limit=None)
        return self._lemmas

    def lemmas_without(self, ignore: tuple[str, ...]) -> morph.LemmaText:
        """Lemmas of the head with the `ignore` regexes blanked out («без замечаний» is no remark)."""
        text = self.head
        for pattern in ignore:
            text = re.sub(pattern, " ", text, flags=re.IGNORECASE)
        return morph.LemmaText(text, limit=None)


@dataclass(frozen=True)
class _Compiled:
    """Regexes of one ClassifierRules, compiled once and cached by the (hashable) rules."""

    bounce_subjects: re.Pattern[str]
    bounce_senders: re.Pattern[str]
    bounce_body: _AnyPattern
    autoreply_subjects: re.Pattern[str]
    autoreply_body: re.Pattern[str]
    channels: tuple[tuple[str, _AnyPattern], ...]
    kind_regexes: tuple[tuple[KindPatterns, tuple[re.Pattern[str], ...]], ...]


def _fold(text: str) -> str:
    """Case-fold as the regex engine's IGNORECASE compares: every pair it equates folds alike here.

    (It also equates «ı» with «i» and «İ» with «i», which casefold() alone does not.)
    """
    return text.casefold().replace("ı", "i").replace("\u0307", "")


def _required_literal(pattern: str, flags: int) -> str | None:
    """The longest literal text every match of `pattern` contains, folded; None when under 3 characters."""
    try:
        from re import _parser  # the stdlib's own pattern parser; private, hence the fallback below

        items = list(_parser.parse(pattern, flags))
    except Exception:  # another Python, or a pattern the parser reads differently: no pre-check
        return None
    # Top-level items are a sequence, each required: any run of literals in it occurs in every match.
    runs: list[str] = [""]
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            runs[-1] += chr(arg)
        elif name != "AT":  # «^», «\b» are zero-width: the literals either side stay adjacent
            runs.append("")
    literal = _fold(max(runs, key=len))
    return literal if len(literal) >= 3 else None


class _AnyPattern:
    """Whether any of several patterns occurs in a text: the same answer as searching their union.

    A union of fifty phrases is tried at every position of the text (≈1.5 ms on 6 KB); most phrases
    start with a literal word, and a substring test of the folded text rules them out first.
    """

    def __init__(self, patterns: tuple[str, ...], flags: int) -> None:
        self._checks = [(_required_literal(p, flags), re.compile(p, flags)) for p in patterns]

    def search(self, text: str, folded: str | None = None) -> bool:
        """True when any pattern occurs in `text`; `folded` is _fold(text) when the caller has it."""
        for literal, regex in self._checks:
            if literal is not None:
                if folded is None:
                    folded = _fold(text)
                if literal not in folded:
                    continue
            if regex.search(text):
                return True
        return False


def _compile(rules: ClassifierRules) -> _Compiled:
    """Compiled regexes of the rules: cached when the rules are hashable (built by from_mapping)."""
    try:
        return _compile_cached(rules)
    except TypeError:  # rules built by hand with lists inside: still work, just uncached
        return _compile_now(rules)


@lru_cache(maxsize=8)
def _compile_cached(rules: ClassifierRules) -> _Compiled:
    return _compile_now(rules)


def _compile_now(rules: ClassifierRules) -> _Compiled:
    def union(patterns: tuple[str, ...]) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p})" for p in patterns) or r"(?!)", re.IGNORECASE | re.MULTILINE)

    return _Compiled(
        bounce_subjects=union(rules.bounce_subjects),
        bounce_senders=union(rules.bounce_senders),
        bounce_body=_AnyPattern(rules.bounce_body, re.IGNORECASE | re.MULTILINE),
        autoreply_subjects=union(rules.autoreply_subjects),
        autoreply_body=union(rules.autoreply_body),
        channels=tuple((ch, _AnyPattern(pats, 0)) for ch, pats in rules.channel_markers),
        kind_regexes=tuple(
            (kp, tuple(re.compile(p, re.IGNORECASE | re.MULTILINE) for p in kp.regexes))
            for kp in rules.cur_patterns
        ),
    )


# ---------------------------------------------------------------- the rules, in order

Outcome = tuple[str, dict] | None  # (kind, extracted fields) when the rule decides the kind


def _bounce_dsn(f: _Facts) -> Outcome:
    """RFC 3464: multipart/report; report-type=delivery-status (or a parsed delivery report)."""
    ctype = (f.pm.header("content-type") or "").lower()
    is_dsn = f.pm.report is not None or (
        f.pm.content_type == "multipart/report" and "delivery-status" in ctype
    )
    if not is_dsn:
        return None
    return Kind.BOUNCE, {"bounced_message_id": _bounced_id(f.pm)}


def _feedback_report(f: _Facts) -> Outcome:
    """RFC 5965 abuse/feedback reports (ARF) are delivery machinery too: never a case."""
    ctype = (f.pm.header("content-type") or "").lower()
    arf = f.pm.content_type == "multipart/report" and "feedback-report" in ctype
    if arf or _has_feedback_type_line(f.pm.text[:20000]):
        return Kind.BOUNCE, {"bounced_message_id": _bounced_id(f.pm)}
    return None


_FEEDBACK_TYPE = re.compile(r"feedback-type:", re.IGNORECASE)


def _has_feedback_type_line(text: str) -> bool:
    """re.search(r"^feedback-type:", text, IGNORECASE | MULTILINE), trying only lines that start with f/F.

    A case-insensitive pattern anchored at line starts is tried at every position of the text;
    «f» has no other case-insensitive equivalent, so two substring scans find every candidate line.
    """
    starts = [0] if text[:1] in ("f", "F") else []
    for needle in ("\nf", "\nF"):
        at = text.find(needle)
        while at >= 0:
            starts.append(at + 1)
            at = text.find(needle, at + 1)
    return any(_FEEDBACK_TYPE.match(text, start) for start in starts)


def _auto_replied(f: _Facts) -> Outcome:
    """RFC 3834 Auto-Submitted: auto-replied, unless a mailer daemon wrote it (then it is a bounce)."""
    value = (f.pm.auto_submitted or "").strip().lower()
    if value.startswith("auto-replied") and not _is_mailer_daemon(f):
        return Kind.AUTO_REPLY, {}
    return None


def _bounce_heuristic(f: _Facts) -> Outcome:
    """Non-standard bounces (sisimai): two of sender, subject and body look like a delivery failure."""
    c = f.compiled
    sender_sign = (
        _is_mailer_daemon(f)
        or bool(c.bounce_senders.search(_local(f.sender)))
        or bool(f.sender_name and c.bounce_senders.search(f.sender_name))
    )
    if f.from_cur or f.from_staff:
        # The ЦУР's noreply systems send appeals whose text may say «сообщение не доставлено»:
        # from our own counterparts only a real mailer daemon or postmaster writes bounces.
        sender_sign = _is_mailer_daemon(f) or _local(f.sender) == "postmaster"
        if not sender_sign:
            return None
    subject_sign = bool(c.bounce_subjects.search(f.subject))
    if not (sender_sign or subject_sign):
        return None  # the body alone is never enough; skip the costly body search
    body_sign = c.bounce_body.search(f.pm.text[:6000]) or _only_an_attached_message(f.pm)
    signs = (sender_sign, subject_sign, body_sign)
    if sum(signs) >= 2:
        return Kind.BOUNCE, {"bounced_message_id": _bounced_id(f.pm)}
    return None


def _only_an_attached_message(pm: ParsedMessage) -> bool:
    """No text of its own, just an attached message: how some feedback reports (arf-22) look."""
    return not pm.text.strip() and any(a.content_type == "message/rfc822" for a in pm.attachments)


# An attendee's answer to one of our deadline invitations (RFC 5546 §3.2: REPLY, COUNTER, REFRESH).
_ITIP_RESPONSE = re.compile(rb"^METHOD:(?:REPLY|COUNTER|REFRESH)\s*$", re.IGNORECASE | re.MULTILINE)


def _calendar_response(pm: ParsedMessage) -> bool:
    """«Принято: …» from a calendar client: its text («Петров принял приглашение») is no draft nor answer."""
    return any(
        (a.content_type == "text/calendar" or a.filename.lower().endswith(".ics"))
        and _ITIP_RESPONSE.search(a.content[:65536]) is not None
        for a in pm.attachments
    )


def is_out_of_office(pm: ParsedMessage, rules: ClassifierRules | None = None) -> bool:
    """Whether an auto-reply says its writer is away (leave, trip, sick), unlike a calendar answer or a receipt.

    Used on mail already classified auto_reply; its subject or the top of its text carries the
    out-of-office wording of `rules`. Never raises.
    """
    try:
        if _calendar_response(pm):
            return False
        compiled = _compile(rules or ClassifierRules())
        body = (pm.new_text or pm.text or "")[:1500]
        return bool(compiled.autoreply_subjects.search(pm.subject or "") or compiled.autoreply_body.search(body))
    except Exception:  # never raise out of parsers/
        return False


def _auto_reply(f: _Facts) -> Outcome:
    """Vacation and out-of-office replies, X-Autoreply, calendar responses, machine mail from non-ЦУР senders."""
    pm = f.pm
    if _calendar_response(pm):
        return Kind.AUTO_REPLY, {}
    if pm.x_autoreply is not None or pm.header("x-autorespond") is not None:
        return Kind.AUTO_REPLY, {}
    if (pm.precedence or "").strip().lower() == "auto_reply":
        return Kind.AUTO_REPLY, {}
    if f.compiled.autoreply_subjects.search(f.subject):
        return Kind.AUTO_REPLY, {}
    # Body phrases alone («я в отпуске») also occur in citizens' letters: only a short answer to
    # something we sent counts as a vacation notice.
    # A mail that opens with a command is a person's: «#отсутствую до 25.12» is how staff announce an absence.
    body = pm.new_text or pm.text
    if f.is_reply and len(body) < 1500 and f.compiled.autoreply_body.search(body) and _command(f) is None:
        return Kind.AUTO_REPLY, {}
    # Auto-generated does not mean ignorable for the ЦУР's systems, whose notifications are appeals;
    # from anyone else such mail is machine mail that must not open a case.
    machine = (pm.auto_submitted or "no").strip().lower() != "no"
    if machine and not (f.from_cur or f.cur_via_staff):
        return Kind.AUTO_REPLY, {}
    return None


def _command(f: _Facts) -> Outcome:
    """Issue 5 grammar: the new text (or the subject) starts with a #command line."""
    first = next((line for line in (f.pm.new_text or f.pm.text).splitlines() if line.strip()), "")
    subject = normalize_subject(f.subject, (f.rules.case_tag, *f.rules.old_case_tags))
    for candidate in (first, subject):
        word = _command_word(candidate, f.rules.command_words)
        if word:
            return Kind.COMMAND, {}
    # A staff member's mistyped command («#статсу») is still a command: the answer names it and gives
    # the help. Only when every line of the new text is a «#word» line and the first is one word:
    # a draft for social networks may well start with hashtags («#ЖКХ #Козьмодемьянск»).
    lines = [line.strip() for line in (f.pm.new_text or "").splitlines() if line.strip()]
    if f.from_staff and lines and _LONE_HASH_WORD.match(lines[0]) and all(line.startswith("#") for line in lines):
        return Kind.COMMAND, {}
    return None


def _cur_content(f: _Facts) -> Outcome:
    """Mail from a ЦУР address or domain (or forwarded from one by staff), by its content."""
    if not (f.from_cur or f.cur_via_staff):
        return None
    markers_checked = False
    for patterns, regexes in f.compiled.kind_regexes:
        if patterns.reply_only and not f.is_reply:
            continue
        if patterns.kind == Kind.CUR_SIGNAL and not markers_checked:
            # Channel markers of ПОС / Инцидент-менеджмент / 59-ФЗ make a citizen's appeal, although
            # such mail also names a source and a publication; without them it is a signal (п. 8.6).
            markers_checked = True
            appeal = _cur_appeal(f, _channel(f))
            if appeal:
                return appeal
        lemmas = f.lemmas_without(patterns.ignore) if patterns.ignore else f.lemmas
        matched = lemmas.find(patterns.keywords) + [r.pattern for r in regexes if r.search(f.head)]
        if patterns.kind == Kind.CUR_SIGNAL and f.urls:
            matched.append("publication-url")
        if not matched:
            continue
        f.hits.append(f"{patterns.name}: " + ", ".join(matched)[:200])
        if patterns.kind == Kind.CUR_SIGNAL:
            return Kind.CUR_SIGNAL, {
                "publication_urls": f.urls,
                "channel": "internet",
                "address": street_address(f.head),
            }
        if patterns.kind == Kind.APPEAL:
            return _cur_appeal(f, _channel(f) or f.rules.default_cur_appeal_channel)
        return patterns.kind, {}
    return None if markers_checked else _cur_appeal(f, _channel(f))


def _cur_appeal(f: _Facts, channel: str | None) -> Outcome:
    """A citizen's appeal that reached us through the ЦУР: channel, applicant and address."""
    if channel is None:
        return None
    f.hits.append(f"cur-appeal: channel {channel}")
    body = _source_text(f)
    applicant = _applicant(body, f)
    fwd = f.pm.forwarded
    if fwd is not None and fwd.from_addr and not _is_internal(fwd.from_addr, f.rules):
        # The ЦУР forwarded the citizen's own mail: its sender is the applicant.
        applicant = Applicant(
            name=applicant.name or fwd.from_name, email=applicant.email or fwd.from_addr, phone=applicant.phone
        )
    return Kind.APPEAL, {"channel": channel, "applicant": applicant, "address": street_address(body)}


def _forwarded_appeal(f: _Facts) -> Outcome:
    """An appeal that staff forwarded into the mailbox: the original sender is the applicant."""
    fwd = f.pm.forwarded
    if not (f.from_staff and fwd is not None) or f.cur_via_staff:
        return None
    if _is_internal(fwd.from_addr, f.rules):
        return None
    body = f"{fwd.subject}\n{fwd.text}"
    applicant = _applicant(body, f)
    applicant = Applicant(
        name=fwd.from_name or applicant.name,
        email=fwd.from_addr or applicant.email,
        phone=applicant.phone,
    )
    return Kind.APPEAL, {
        "channel": _channel(f) or "other",
        "applicant": applicant,
        "address": street_address(body),
    }


def _staff_reply(f: _Facts) -> Outcome:
    """A staff member's answer or draft: staff sender replying to something."""
    if f.from_staff and f.is_reply:
        return Kind.STAFF_REPLY, {}
    return None


def _outside_appeal(f: _Facts) -> Outcome:
    """Mail from outside (neither ЦУР nor staff) that reads like a citizen's appeal."""
    if f.from_cur or f.from_staff or _is_own(f.sender, f.rules):
        return None
    if f.pm.list_headers or (f.pm.precedence or "").strip().lower() in ("bulk", "list", "junk"):
        return None  # newsletters and mailing lists quote citizens too, but are nobody's appeal
    words = f.lemmas.find(f.rules.appeal_keywords)
    if not words:
        return None
    f.hits.append("outside-appeal: " + ", ".join(words)[:200])
    body = _source_text(f)
    applicant = _applicant(body, f)
    return Kind.APPEAL, {
        "channel": _channel(f) or "other",
        "applicant": Applicant(
            name=applicant.name or f.sender_name, email=f.sender or applicant.email, phone=applicant.phone
        ),
        "address": street_address(body),
    }


# The classification pipeline: one literal tuple, first decisive hit wins (Mailman's chain of rules).
RULES: tuple[tuple[str, Callable[[_Facts], Outcome]], ...] = (
    ("bounce-dsn", _bounce_dsn),
    ("feedback-report", _feedback_report),
    ("auto-submitted-auto-replied", _auto_replied),
    ("bounce-heuristic", _bounce_heuristic),
    ("auto-reply", _auto_reply),
    ("command", _command),
    ("cur-content", _cur_content),
    ("forwarded-appeal", _forwarded_appeal),
    ("staff-reply", _staff_reply),
    ("outside-appeal", _outside_appeal),
)


def classify(pm: ParsedMessage, rules: ClassifierRules | None = None) -> Classification:
    """Kind of a message, every rule that matched, and what the deciding rule extracted. Never raises."""
    rules = rules or DEFAULT_RULES
    try:
        no_reply = no_auto_reply_reasons(pm, rules)
    except Exception as exc:  # keep the loop guard conservative when a header is unreadable
        no_reply = (f"loop check failed: {type(exc).__name__}",)
    try:
        facts = _facts(pm, rules)
        decided: tuple[str, dict] | None = None
        for name, rule in RULES:
            try:
                outcome = rule(facts)
            except Exception as exc:  # one broken rule must not hide the others
                facts.hits.append(f"{name}: error {type(exc).__name__}: {str(exc)[:100]}")
                continue
            if outcome is None:
                continue
            facts.hits.append(name)
            if decided is None:
                decided = outcome
        if decided is None:
            kind, extra = Kind.UNKNOWN, {}
            facts.hits.append(_unknown_reason(facts))
        else:
            kind, extra = decided
        return Classification(
            kind=str(kind),
            reasons=tuple(facts.hits),
            no_auto_reply=bool(no_reply),
            no_auto_reply_reasons=no_reply,
            **extra,
        )
    except Exception as exc:
        return Classification(
            kind=str(Kind.UNKNOWN),
            reasons=(f"unreadable: {type(exc).__name__}: {str(exc)[:200]}",),
            no_auto_reply=True,
            no_auto_reply_reasons=(*no_reply, "classification failed"),
        )


def _unknown_reason(f: _Facts) -> str:
    unreadable = next((d for d in f.pm.defects if d.startswith("message unreadable")), None)
    if unreadable:  # parse_message fell back to headers or less: say so, the caller keeps the raw bytes
        return f"unknown: {unreadable}"
    if f.from_cur:
        return "unknown: from the ЦУР, no content rule matched"
    if f.from_staff:
        return "unknown: from staff, neither a reply, a command nor a forwarded appeal"
    return "unknown: no rule matched"


# ---------------------------------------------------------------- loop rules


def no_auto_reply_reasons(pm: ParsedMessage, rules: ClassifierRules | None = None) -> tuple[str, ...]:
    """Why curmail must never answer this mail automatically (DESIGN.md list); empty when it may."""
    rules = rules or DEFAULT_RULES
    reasons: list[str] = []
    auto = (pm.auto_submitted or "").strip().lower()
    if auto and auto != "no":
        reasons.append(f"Auto-Submitted: {auto[:40]}")
    if pm.x_autoreply is not None:
        reasons.append("X-Autoreply")
    if pm.header("x-autorespond") is not None:
        reasons.append("X-Autorespond")
    precedence = (pm.precedence or "").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        reasons.append(f"Precedence: {precedence}")
    if pm.list_headers:
        reasons.append("List-* headers: " + ", ".join(pm.list_headers[:4]))
    if pm.return_path is not None and pm.return_path.strip() in ("", "<>"):
        reasons.append("empty Return-Path")
    local = _local(pm.from_addr)
    if local in rules.no_reply_local_parts or local.startswith(("noreply", "no-reply", "mailer-daemon")):
        reasons.append(f"sender {local}@")
    if not pm.from_addr:
        reasons.append("no sender address")
    if _is_own(pm.from_addr, rules):
        reasons.append("our own address")
    if rules.own_message_id_domain and pm.message_id.lower().rstrip(">").endswith(
        "@" + rules.own_message_id_domain.lower()
    ):
        reasons.append("our own Message-ID domain")
    if rules.loop_header and pm.header(rules.loop_header) is not None:
        reasons.append(f"our own {rules.loop_header} header")
    return tuple(reasons)


# ---------------------------------------------------------------- facts and helpers


def _facts(pm: ParsedMessage, rules: ClassifierRules) -> _Facts:
    compiled = _compile(rules)
    sender = (pm.from_addr or "").lower()
    subject = pm.subject or ""
    from_cur = _is_cur(sender, rules)
    from_staff = not from_cur and _is_staff(sender, rules)
    fwd = pm.forwarded
    cur_via_staff = from_staff and fwd is not None and _is_cur((fwd.from_addr or "").lower(), rules)
    is_reply = bool(
        pm.in_reply_to
        or pm.references
        or _REPLY_PREFIX.match(subject)
        or find_case_numbers(subject, rules.case_tag, rules.old_case_tags)
    )
    if cur_via_staff and fwd is not None:
        head = f"{fwd.subject}\n{fwd.text}"
    else:
        body = pm.new_text.strip() or pm.text.strip()
        # The subject of a reply is usually our own, echoed back («Re: [CUR-12] Проект комментария»):
        # only the new text speaks for the sender, unless there is none.
        head = body if is_reply and body else f"{subject}\n{body}"
    head = head[: rules.text_head_chars]
    return _Facts(
        pm=pm,
        rules=rules,
        compiled=compiled,
        sender=sender,
        sender_name=pm.from_name or "",
        subject=subject,
        head=head,
        is_reply=is_reply,
        from_cur=from_cur,
        from_staff=from_staff,
        cur_via_staff=cur_via_staff,
        urls=publication_urls(head),
    )


_REPLY_PREFIX = re.compile(r"^\s*(?:re|ответ|отв|на|aw|sv|vs|odp|rif)\s*(?:\[\d+\]|\(\d+\))?\s*:", re.IGNORECASE)


def _local(address: str) -> str:
    return (address or "").lower().partition("@")[0]


def _domain_in(address: str, domains: tuple[str, ...]) -> bool:
    domain = (address or "").lower().rpartition("@")[2]
    return bool(domain) and any(domain == d.lower() or domain.endswith("." + d.lower()) for d in domains)


def _is_cur(address: str, rules: ClassifierRules) -> bool:
    return bool(address) and (
        address in (a.lower() for a in rules.cur_addresses) or _domain_in(address, rules.cur_domains)
    )


def _is_own(address: str, rules: ClassifierRules) -> bool:
    return bool(address) and address.lower() in (a.lower() for a in rules.own_addresses)


def _is_staff(address: str, rules: ClassifierRules) -> bool:
    if not address or _is_own(address, rules):
        return False
    return address in (a.lower() for a in rules.staff_addresses) or _domain_in(address, rules.staff_domains)


def _is_internal(address: str, rules: ClassifierRules) -> bool:
    address = (address or "").lower()
    return _is_own(address, rules) or _is_staff(address, rules) or _is_cur(address, rules)


def _is_mailer_daemon(f: _Facts) -> bool:
    """MAILER-DAEMON itself (not postmaster, who also writes human notices), or a null sender."""
    local = _local(f.sender)
    name = f.sender_name.lower()
    raw_from = (f.pm.header("from") or "").lower()
    return local in ("mailer-daemon", "mail-daemon", "mailerdaemon") or (
        not f.sender and ("mailer-daemon" in name or "mail delivery" in name or "mailer-daemon" in raw_from)
    ) or (not f.sender and f.pm.return_path is not None and not f.pm.return_path.strip("<> "))


def _channel(f: _Facts) -> str | None:
    """The first channel whose marker occurs in the subject, sender name or text head."""
    if f.channel_memo is None:  # several rules ask; the answer depends on the facts alone
        haystack = f"{f.sender_name}\n{f.subject}\n{f.head}"
        folded = _fold(haystack)
        found = next((ch for ch, markers in f.compiled.channels if markers.search(haystack, folded)), None)
        f.channel_memo = (found,)
    return f.channel_memo[0]


def _source_text(f: _Facts) -> str:
    fwd = f.pm.forwarded
    if fwd is not None and (f.cur_via_staff or f.from_staff):
        return f"{fwd.subject}\n{fwd.text}"[:20000]
    return f"{f.subject}\n{f.pm.text}"[:20000]


_MSGID_HEADER = re.compile(r"^\s*message-id:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)


def _bounced_id(pm: ParsedMessage) -> str | None:
    """Message-ID of the original: from the DSN report, else from the embedded original headers."""
    if pm.report is not None and pm.report.original_message_id:
        return pm.report.original_message_id
    sources = [pm.text[:200000]]
    for att in pm.attachments:
        if att.content_type in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            sources.insert(0, att.content[:65536].decode("utf-8", "replace"))
    for text in sources:
        for m in _MSGID_HEADER.finditer(text):
            if m.group(1) != pm.message_id:
                return m.group(1)
    return None


# ---------------------------------------------------------------- commands

_COMMAND_LINE = re.compile(r"^\s*#\s*([^\W\d_]+(?:\s+[^\W\d_]+)?)", re.UNICODE)
_LONE_HASH_WORD = re.compile(r"^#[^\W\d_]+$", re.UNICODE)


def _command_word(line: str, words: tuple[str, ...]) -> str | None:
    m = _COMMAND_LINE.match(line)
    if not m:
        return None
    said = m.group(1).lower().replace("ё", "е")
    known = {w.lower().replace("ё", "е") for w in words}
    if said in known:
        return said
    first = said.split()[0]
    return first if first in known else None


# ---------------------------------------------------------------- applicant and address

_LABEL = r"^\s*[-•*]?\s*(?:{labels})\s*[:\-–]\s*(?P<v>.+?)\s*$"
_NAME_LINE = re.compile(
    _LABEL.format(labels=r"заявитель|фио|ф\.и\.о\.?|автор(?:\s+обращения|\s+сообщения)?|имя|от\s+кого|"
                  r"пользователь|гражданин|applicant|name"),
    re.IGNORECASE | re.MULTILINE,
)
# «…поступило обращение. Заявитель: Сидоров А.»: the applicant label after a finished sentence. Tried only
# when no line starts with a label, because a lookbehind at every position costs three times the anchored search.
_NAME_INLINE = re.compile(
    r"(?<=[.!?;] )(?:заявитель|ф\.?и\.?о\.?)\s*[:\-–]\s*(?P<v>.+?)\s*$", re.IGNORECASE | re.MULTILINE
)
_EMAIL_LINE = re.compile(
    _LABEL.format(labels=r"e-?mail|эл\.?\s*почта|электронная\s+почта|адрес\s+электронной\s+почты|почта"),
    re.IGNORECASE | re.MULTILINE,
)
_PHONE_LINE = re.compile(
    _LABEL.format(labels=r"телефон|тел\.?|контактный\s+телефон|моб\.?\s*тел\.?|phone"), re.IGNORECASE | re.MULTILINE
)
_ADDRESS_LINE = re.compile(
    _LABEL.format(labels=r"адрес(?:\s+проблемы|\s+места|\s+объекта|\s+инцидента)?|место(?:\s+проблемы)?|"
                  r"местоположение|address"),
    re.IGNORECASE | re.MULTILINE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# «+7» or «8» and ten more digits, grouped any way on one line: mobile «8 (917) 123-45-67» and the
# landlines of small towns with five-digit codes, «8 (83632) 7-11-22».
_PHONE = re.compile(r"(?<![\d+])(?:\+7|8)(?:[ \t()\-]{0,3}\d){10}(?!\d)")
# Full words in any case form too: «на улице Мира», «в переулке Школьном», «по проспекту Гагарина».
_STREET_KIND = (
    r"(?:ул\.|улиц(?:а|е|ы|у|ей)|пр-т|проспект(?:а|е|у|ом)?|пр\.|пер\.|переул(?:ок|ка|ке|ку)|бульвар(?:а|е|у)?|"
    r"б-р|пл\.|площад(?:ь|и)|шоссе|ш\.|мкр\.?|микрорайон(?:а|е|у)?|наб\.|набережн(?:ая|ой|ую)|"
    r"проезд(?:а|е|у)?|тупик(?:а|е|у)?)"
)
# A second word only on the same line: «на ул. Ленина\nЗдравствуйте» is not «Ленина Здравствуйте».
_STREET_NAME = r"[А-ЯЁ0-9][\w.-]*(?:[^\S\n]+[А-ЯЁ][\w-]*)?"
# «ул. Советская, д. 12», «улица Советская, 12», «Советская ул., д. 12а/1, кв. 3», with the town before.
_STREET = re.compile(
    r"(?:(?:г\.|город|с\.|д\.|пос\.|пгт)\s*[А-ЯЁ][\w-]+,?\s*)?"
    rf"(?:{_STREET_KIND}\s*{_STREET_NAME}|[А-ЯЁ][\w-]{{2,}}\s+{_STREET_KIND}(?=\s*,))"
    r"(?:(?:,\s*|\s+)(?:д\.|дом)\s*\d+[а-яА-Я]?(?:/\d+)?|,\s*\d+[а-яА-Я]?(?:/\d+)?(?!\d|[.:]\d))?"
    r"(?:\s*,?\s*(?:корп\.|к\.|стр\.)\s*\d+)?"
    r"(?:,?\s*(?:кв\.|квартира)\s*\d+)?",
)
# The house first, as appeals often put it: «у дома 15 по ул. Ленина», «в доме № 3 на улице Мира».
_HOUSE_FIRST = re.compile(
    rf"(?<!\w)(?:д\.|дом[а-я]{{0,2}})\s*№?\s*(?P<n>\d+[а-яА-Я]?(?:/\d+)?)\s+(?:по|на)\s+"
    rf"(?P<street>{_STREET_KIND}\s*{_STREET_NAME})",
)


def _applicant(body: str, f: _Facts) -> Applicant:
    name = _first(_NAME_LINE, body)
    if name is None and ("аявител" in body or "АЯВИТЕЛ" in body or "ФИО" in body or "Ф.И.О" in body):
        name = _first(_NAME_INLINE, body)
    email_line = _first(_EMAIL_LINE, body)
    email = ""
    if email_line:
        m = _EMAIL.search(email_line)
        email = m.group(0).lower() if m else ""
    if not email:
        for m in _emails(body):
            candidate = m.group(0).lower()
            if not _is_internal(candidate, f.rules) and not _local(candidate).startswith(("noreply", "no-reply")):
                email = candidate
                break
    phone_line = _first(_PHONE_LINE, body)
    phone_match = _PHONE.search(phone_line or "") or _find_phone(body)
    phone = re.sub(r"[^\d+]", "", phone_match.group(0)) if phone_match else ""
    return Applicant(name=(name or "")[:200], email=email, phone=phone)


def _emails(text: str) -> Iterator[re.Match[str]]:
    """The matches of _EMAIL.finditer(text), found from each «@» instead of trying every position.

    A match is a run of local-part characters, «@» and a domain; every start inside one run reaches
    the same «@» and the same domain, so the run's first character is the only start worth trying.
    """
    pos = 0
    while (at := text.find("@", pos)) >= 0:
        start = at
        while start > pos and (text[start - 1].isalnum() or text[start - 1] in "_.+-"):
            start -= 1  # [\w.+-]: \w is str.isalnum() or «_» for str patterns
        found = _EMAIL.match(text, start) if start < at else None
        if found is None:
            pos = at + 1
            continue
        yield found
        pos = found.end()


def _find_phone(text: str) -> re.Match[str] | None:
    """_PHONE.search(text), tried only where a number can start («+7» or «8») instead of everywhere."""
    starts: list[int] = []
    for needle in ("+7", "8"):
        at = text.find(needle)
        while at >= 0:
            starts.append(at)
            at = text.find(needle, at + 1)
    # match(text, pos) still sees the character before pos, so the «no digit before» guard holds.
    return next(filter(None, (_PHONE.match(text, start) for start in sorted(starts))), None)


def street_address(text: str) -> str | None:
    """The street address an appeal is about: a labelled «Адрес:» line, else the first «ул. …, д. N»."""
    text = text or ""
    for m in _ADDRESS_LINE.finditer(text):
        value = m.group("v").strip()
        if value and not _EMAIL.search(value):  # «Адрес электронной почты: …» is not a street
            return value[:300]
    m = _STREET.search(text)
    street = m.group(0).strip(" ,.") if m else None
    if (street is None or not re.search(r"\d", street)) and ("дом" in text or "д." in text):
        house_first = _HOUSE_FIRST.search(text)
        if house_first:  # a street with its house beats a bare street named earlier (e.g. in the subject)
            return f"{house_first.group('street').strip(' ,.')}, д. {house_first.group('n')}"[:300]
    return street[:300] if street else None


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    m = pattern.search(text or "")
    return m.group("v").strip() if m else None
