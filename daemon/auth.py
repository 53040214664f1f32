"""Who may do what by e-mail: roles, the reply-token proof, and sender authentication (RFC 8601, DKIM).

A command or an approval counts only when both hold (DESIGN.md «Authorising mail»):
* the sender has the role (the config's staff list, plus the ЦУР addresses and domains);
* the mail replies to a letter curmail sent to that very person: References or In-Reply-To
  carry a Message-ID with that recipient's HMAC token (daemon.tokens). Forging From is not enough.

For ЦУР approvals, when `[security] authserv_id` is set, the organisation's own MTA must have
vouched for the sender: only the topmost `Authentication-Results` field with that authserv-id is
trusted (RFC 8601 §5: the border MTA removes or precedes any field claiming its id from outside;
fields inside attached messages are never looked at, since only top-level headers are read), and
it must say `dkim=pass` with `header.d` aligned to the From domain, or `dmarc=pass`. With
`[security] verify_dkim = true` dkimpy checks the signature itself (`dnsfunc` makes it testable offline).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.config import Settings
from daemon.db.models import OutboxMessage
from daemon.tokens import tokens_for
from parsers import ParsedMessage
from parsers.threadkeys import message_refs

CUR_ROLE = "cur"
STAFF_ROLES = ("contact", "responsible", "supervisor", "web_editor")
MANAGERS = frozenset({"contact", "supervisor"})

_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*=\s*([A-Za-z0-9_-]+)")
_PROPERTY = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\s*=\s*(\"[^\"]*\"|[^\s;]+)")


def roles_of(settings: Settings, address: str | None) -> frozenset[str]:
    """The roles of an address: its staff roles, plus «cur» for a ЦУР address or domain."""
    if not address:
        return frozenset()
    roles: set[str] = set()
    member = settings.staff_by_email(address)
    if member is not None:
        roles.update(member.roles)
        roles.add("staff")
    if settings.is_cur_address(address):
        roles.add(CUR_ROLE)
    return frozenset(roles)


@dataclass(frozen=True, slots=True)
class ReplyProof:
    """Our letters the mail answers that were minted for its sender, and the cases those letters are about."""

    message_ids: tuple[str, ...] = ()
    case_ids: frozenset[int] = frozenset()

    @property
    def ok(self) -> bool:
        return bool(self.message_ids)

    def covers(self, case_id: int) -> bool:
        """Whether one of those letters was about this case."""
        return case_id in self.case_ids


def reply_proof(session: Session, settings: Settings, pm: ParsedMessage) -> ReplyProof:
    """Every Message-ID in In-Reply-To/References that we minted for this sender, with their cases."""
    sender = (pm.from_addr or "").lower()
    if not sender:
        return ReplyProof()
    tokens = tokens_for(settings.state.directory)
    ours = tuple(ref for ref in message_refs(pm) if tokens.verify_reference(ref, sender) is not None)
    if not ours:
        return ReplyProof()
    cases = session.scalars(
        select(OutboxMessage.case_id).where(OutboxMessage.message_id.in_(ours), OutboxMessage.case_id.is_not(None))
    )
    return ReplyProof(ours, frozenset(cases))


# ---------------------------------------------------------------- Authentication-Results (RFC 8601)


@dataclass(frozen=True, slots=True)
class AuthResult:
    """One `method=result` of an Authentication-Results field, with its ptype.property values."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuthResults:
    """One parsed Authentication-Results field."""

    authserv_id: str
    results: tuple[AuthResult, ...]


def parse_authentication_results(value: str) -> AuthResults | None:
    """Parse one field value (RFC 8601 §2.2); None when it is not readable. Comments are dropped."""
    text = value.replace("\r", " ").replace("\n", " ")
    for _ in range(5):  # nested comments, innermost first
        text = _COMMENT.sub(" ", text)
    parts = [p.strip() for p in text.split(";")]
    if not parts or not parts[0]:
        return None
    authserv_id = parts[0].split()[0].lower()
    results = []
    for part in parts[1:]:
        match = _RESULT.match(part)
        if match is None:
            continue  # "none" or garbage
        props = {f"{ptype.lower()}.{prop.lower()}": val.strip('"').lower()
                 for ptype, prop, val in _PROPERTY.findall(part[match.end():])}
        results.append(AuthResult(match.group(1).lower(), match.group(2).lower(), props))
    return AuthResults(authserv_id, tuple(results))


def trusted_results(pm: ParsedMessage, authserv_id: str) -> AuthResults | None:
    """The topmost top-level Authentication-Results field written by our own MTA, or None."""
    wanted = authserv_id.strip().lower()
    for value in pm.header_all("authentication-results"):
        parsed = parse_authentication_results(value)
        if parsed is not None and parsed.authserv_id == wanted:
            return parsed
    return None


def aligned(domain: str | None, sender_domain: str) -> bool:
    """The signing domain is the sender's domain or a parent of it (DKIM alignment, RFC 7489 §3.1.1).

    Relaxed DMARC alignment compares organisational domains through the Public Suffix List; without
    it, «the last two labels» would let anyone who registers a name under a public second level
    (msk.ru, spb.ru, com.ru …) sign for a sibling there. A parent-or-equal test needs no list and
    never accepts a sibling; what it gives up (a sibling subdomain as the signer) the ЦУР does not use.
    """
    signer = (domain or "").lower().strip(".")
    sender = sender_domain.lower().strip(".")
    return "." in signer and (sender == signer or sender.endswith("." + signer))


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a sender is authenticated, and the reason in Russian when not."""

    ok: bool
    reason: str = ""


def results_verdict(results: AuthResults | None, sender: str, authserv_id: str) -> Verdict:
    """dkim=pass aligned with the From domain, or dmarc=pass, in our MTA's field."""
    if results is None:
        return Verdict(False, f"нет заголовка Authentication-Results от почтового сервера администрации "
                              f"(authserv-id «{authserv_id}»); подпись отправителя не подтверждена")
    sender_domain = sender.rpartition("@")[2]
    for item in results.results:
        if item.result != "pass":
            continue
        # DMARC itself checked alignment; its header.from must be the very From domain we read.
        if item.method == "dmarc" and (item.properties.get("header.from") or sender_domain) == sender_domain:
            return Verdict(True)
        signer = item.properties.get("header.d") or item.properties.get("header.i", "").rpartition("@")[2]
        if item.method == "dkim" and aligned(signer, sender_domain):
            return Verdict(True)
    said = ", ".join(f"{r.method}={r.result}" for r in results.results) or "нет результатов"
    return Verdict(False, f"проверка подлинности отправителя не пройдена ({said}): нужна dkim=pass "
                          f"или dmarc=pass для домена {sender_domain}")


DnsFunc = Callable[..., bytes | None]

# The TXT lookup dkimpy uses for `[security] verify_dkim`; None is dkimpy's own resolver (live DNS).
# Replaceable so that the whole approval path can be exercised offline against a local key.
dkim_dnsfunc: DnsFunc | None = None


def verify_dkim(raw: bytes, sender: str, dnsfunc: DnsFunc | None = None) -> Verdict:
    """Verify the first DKIM signature with dkimpy, and that its d= is aligned with the From domain."""
    import dkim  # dkimpy; imported late: only installations that turn the check on need it

    checker = dkim.DKIM(raw)
    try:
        ok = checker.verify(dnsfunc=dnsfunc) if dnsfunc is not None else checker.verify()
    except dkim.ValidationError as exc:  # dkimpy raises, not returns False, on a body changed after signing
        if "body hash mismatch" in str(exc):
            return Verdict(False, "подпись DKIM неверна: текст письма изменён после подписания")
        return Verdict(False, f"подпись DKIM неверна ({str(exc)[:120]})")
    except Exception as exc:  # malformed signatures, missing keys and DNS failures alike
        return Verdict(False, f"подпись DKIM не проверена: {type(exc).__name__}")
    if not ok:
        return Verdict(False, "подпись DKIM неверна или отсутствует")
    domain = (checker.domain or b"").decode("ascii", "replace")
    if not aligned(domain, sender.rpartition("@")[2]):
        return Verdict(False, f"подпись DKIM поставлена доменом {domain}, а не доменом отправителя")
    return Verdict(True)


def cur_sender_verdict(
    settings: Settings, pm: ParsedMessage, raw: bytes | None = None, *, dnsfunc: DnsFunc | None = None
) -> Verdict:
    """Whether a ЦУР approval's sender is authenticated, as far as the configuration asks for it."""
    sender = (pm.from_addr or "").lower()
    authserv_id = settings.security.authserv_id
    if authserv_id and settings.security.require_dkim_for_cur:
        verdict = results_verdict(trusted_results(pm, str(authserv_id)), sender, str(authserv_id))
        if not verdict.ok:
            return verdict
    if settings.security.verify_dkim and raw is not None:
        return verify_dkim(raw, sender, dnsfunc or dkim_dnsfunc)
    return Verdict(True)


# ---------------------------------------------------------------- who may run which command

# Commands that only read: any staff member (or the ЦУР, for its own cases) may run them in a new mail.
READ_ONLY = frozenset({"help", "status", "mine", "list", "report"})
# Who may run each command; "assignee" means the case's current assignee.
ALLOWED: dict[str, frozenset[str]] = {
    "help": frozenset({"staff", CUR_ROLE}),
    "status": frozenset({"staff", CUR_ROLE}),
    "mine": frozenset({"staff"}),
    "list": MANAGERS,
    "assign": MANAGERS | {"assignee"},
    "topic": MANAGERS | {"assignee"},
    "due": MANAGERS,
    "extend": MANAGERS | {"assignee"},
    "approved": frozenset({CUR_ROLE}),
    "rework": frozenset({CUR_ROLE}),
    "published": MANAGERS | {"web_editor"},
    "close": MANAGERS | {"assignee"},
    "reopen": MANAGERS,
    "note": frozenset({"staff"}),
    "away": frozenset({"staff"}),  # for oneself only
    "absent": MANAGERS,  # of another member, who cannot send «#отсутствую» (ill, no mail)
    # One's own, or a manager another member's (checked in the command). All four are internal: the
    # ЦУР speaks through #на доработку and its own letters.
    "back": frozenset({"staff"}),
    "report": MANAGERS,
    "send": MANAGERS,
}
_ROLE_RU = {
    "staff": "сотрудник администрации", CUR_ROLE: "ЦУР", "contact": "контактное лицо",
    "supervisor": "руководитель аппарата", "web_editor": "веб-редактор", "assignee": "исполнитель по делу",
    "responsible": "ответственный исполнитель",
}


def who_may(command: str) -> str:
    """«контактное лицо, руководитель аппарата» for the refusal text."""
    return ", ".join(_ROLE_RU.get(r, r) for r in sorted(ALLOWED.get(command, frozenset())))


def role_allows(command: str, roles: frozenset[str], *, is_assignee: bool) -> bool:
    """Whether these roles (plus being the case's assignee) allow the command."""
    allowed = ALLOWED.get(command, frozenset())
    return bool(allowed & roles) or (is_assignee and "assignee" in allowed)
