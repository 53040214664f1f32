"""The refutation workflow (Algorithm п. 1-8): signal, routing, draft, ЦУР approval, press service, publication.

States: new → assigned → awaiting_approval ⇄ rework → sent_to_press → closed (outcome «published»).
Approval is what puts a text in the administration's name in front of the Head's press service, so
it counts only from a ЦУР address that answers the very letter that carried the current draft
version to that address (its per-recipient Message-ID token, daemon.tokens), and the press letter
is enqueued exactly once per approved version (a dedupe key).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon import auth
from daemon.app import App
from daemon.cases import record_event
from daemon.db.models import Case, OutboxMessage, StoredMessage
from daemon.errors import IllegalTransition
from daemon.notices import contact_addresses
from daemon.rules import classifier_rules
from daemon.tokens import tokens_for
from daemon.workflow import routing
from daemon.workflow.deadlines import compute_due, set_due
from daemon.workflow.machine import (
    Event,
    Inbound,
    apply,
    attachments_of,
    can_apply,
    case_data,
    refuse,
    send,
    staff_name,
    update_data,
)
from daemon.workflow.states import State
from parsers import morph, parse_message
from parsers.threadkeys import normalize_subject

log = logging.getLogger("curmail.workflow.refutation")

TEXT_LIMIT = 20_000
DRAFT_TEMPLATE = "refutation_draft"
_URL = re.compile(r"https?://[^\s<>«»\"']+", re.IGNORECASE)
_SOURCE = re.compile(r"^[ \t]*Источник[ \t]*[:：][ \t]*(?P<v>.+)$", re.IGNORECASE | re.MULTILINE)
_QUOTE = re.compile(r"^[ \t]*(?:Цитата|Текст публикации)[ \t]*[:：][ \t]*(?P<v>.+?)(?:\n[ \t]*\n|\Z)",
                    re.IGNORECASE | re.MULTILINE | re.DOTALL)
_PROPOSAL = re.compile(
    r"(?:^|[ \t,])(?:Предлага\w*|Проект|Вариант)(?:[ \t]+[^\s:：]+){1,3}?[ \t]*[:：]\s*(?P<v>\S.*?)(?:\n[ \t]*\n|\Z)",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
)
_PROPOSAL_WORDS = re.compile(r"текст|комментари|опровержени|ответ", re.IGNORECASE)

REFUSAL_TEXT = {
    "not_cur": "письмо пришло не с адреса ЦУР, указанного в настройках",
    "not_reply": "письмо не является ответом на письмо, которое curmail направил этому адресату",
    "not_draft": "письмо отвечает не на письмо с проектом комментария",
    "changed": "после отправки этой версии проекта исполнитель прислал новую; согласовать нужно последнюю версию",
    "no_draft": "по делу нет проекта, ожидающего согласования",
    "not_authenticated": "подлинность отправителя не подтверждена почтовым сервером администрации (DKIM/DMARC)",
}


@dataclass(frozen=True, slots=True)
class Publication:
    """What the ЦУР signal says about the publication."""

    url: str | None
    source: str | None
    quote: str | None


def signal_text(inbound: Inbound) -> str:
    """The ЦУР's own words: the forwarded original when staff forwarded the signal, else the new text."""
    fwd = inbound.pm.forwarded
    if fwd is not None and fwd.text.strip():
        return fwd.text.strip()[:TEXT_LIMIT]
    return (inbound.new_text or inbound.pm.text.strip())[:TEXT_LIMIT]


def read_publication(text: str, urls: tuple[str, ...]) -> Publication:
    source = _SOURCE.search(text)
    quote = _QUOTE.search(text)
    return Publication(
        url=urls[0] if urls else None,
        source=source.group("v").strip() if source else None,
        quote=quote.group("v").strip() if quote else None,
    )


def read_proposal(text: str) -> str | None:
    """The ЦУР's proposed comment: what follows «Предлагаемый комментарий:» up to a blank line, if any."""
    for match in _PROPOSAL.finditer(text):
        lead = text[match.start():match.start("v")]
        if _PROPOSAL_WORDS.search(lead):
            return match.group("v").strip()
    return None


def cur_origin(app: App, inbound: Inbound) -> str | None:
    """The ЦУР address behind the mail: its sender, or the original sender when staff forwarded it."""
    if app.settings.is_cur_address(inbound.sender):
        return inbound.sender
    fwd = inbound.pm.forwarded
    if fwd is not None and fwd.from_addr and app.settings.is_cur_address(fwd.from_addr):
        return fwd.from_addr.lower()
    return None


def publication_title(case: Case, tags: tuple[str, ...] = ()) -> str:
    """«тема публикации» for the press subject: the signal's subject without prefixes and tags."""
    title = normalize_subject(case.subject, tags)
    return re.sub(r"^(?:Сигнал ЦУР|Недостоверная информация|Информационный риск)\s*[:.-]\s*", "", title,
                  flags=re.IGNORECASE).strip() or title or "публикация"


def administration_of(app: App) -> str:
    """«городского округа «Город Козьмодемьянск»» for «Официальный комментарий администрации …»."""
    org = app.settings.organization
    if org.short_name:
        return org.short_name
    return re.sub(r"^\s*администрация\s+", "", org.name, flags=re.IGNORECASE) or org.name


def _cur_recipients(app: App, case: Case) -> list[str]:
    """Where drafts go: the ЦУР address that wrote to us, else the configured ЦУР addresses."""
    counterpart = (case.data or {}).get("cur_address") or case.counterpart
    if counterpart and app.settings.is_cur_address(counterpart):
        return [counterpart]
    return list(app.settings.cur.addresses)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _context(app: App, case: Case, **extra: Any) -> dict[str, Any]:
    data = case.data or {}
    return {
        "publication": data.get("publication", {}),
        "signal_text": data.get("signal_text", ""),
        "proposal": (data.get("proposals") or [{}])[-1].get("text"),
        "due_at": case.due_at,
        "assignee_name": staff_name(app.settings, case.assignee),
        "title": publication_title(case, (app.settings.organization.case_tag,)),
        "cur_name": app.settings.cur.name,
        **extra,
    }


# ---------------------------------------------------------------- opening


def on_open(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """A signal (or a proposal that threads nowhere) opened the case: route, set the 3-hour deadline, notify."""
    text = signal_text(inbound)
    publication = read_publication(text, inbound.classification.publication_urls)
    proposal = read_proposal(text)
    if proposal is None and inbound.kind == "cur_proposal":
        proposal = text  # a proposal that opened the case is the proposal as a whole
    data: dict[str, Any] = {
        "origin_message_id": inbound.pm.message_id,
        "cur_address": cur_origin(app, inbound),
        "publication": {"url": publication.url, "source": publication.source, "quote": publication.quote},
        "signal_text": text,
        "proposals": [{"text": proposal, "from": inbound.sender, "at": _iso(inbound.received_at)}] if proposal else [],
        "drafts": [],
    }
    update_data(case, **data)
    chosen = routing.route(app, f"{case.subject}\n{text}")
    routing.assign(session, app, case, chosen, actor="curmail", message=inbound.row)
    due = compute_due(app.settings, case.kind, inbound.received_at)
    set_due(session, app, case, due, assumed=False, reason="refutation draft: receipt + configured term",
                 actor="curmail", message=inbound.row)
    notify_new(session, app, case)


def notify_new(session: Session, app: App, case: Case) -> None:
    """The one letter to the official and the contact official: publication, proposal, deadline, what to do."""
    to = [case.assignee, *contact_addresses(app)]
    send(session, app, case, kind="refutation_new", to=[a for a in to if a],
         context=_context(app, case, routed_to_contact=case.assignee in contact_addresses(app)),
         dedupe_key=f"refutation_new:{case.id}:{case.assignee}")


# ---------------------------------------------------------------- later mail


def on_message(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """A message threaded into an open refutation case."""
    settings = app.settings
    kind = inbound.kind
    from_cur = settings.is_cur_address(inbound.sender)
    from_staff = settings.staff_by_email(inbound.sender) is not None
    if kind == "cur_proposal" and from_cur:
        take_proposal(session, app, case, inbound)
    elif kind == "cur_approval" or (not from_cur and not from_staff and _looks_like(app, inbound, "cur_approval")):
        take_approval(session, app, case, inbound)
    elif kind == "cur_remarks" and from_cur:
        take_remarks(session, app, case, inbound)
    elif kind == "staff_reply" and from_staff:
        if case.state == State.SENT_TO_PRESS:
            take_publication(session, app, case, inbound)
        else:
            take_draft(session, app, case, inbound)


def _looks_like(app: App, inbound: Inbound, wanted: str) -> bool:
    """Whether the mail reads as an approval by the configured ЦУР patterns (remarks checked first)."""
    head = f"{inbound.pm.subject}\n{inbound.new_text}"[:4000]
    lemmas = morph.LemmaText(head, limit=None)
    for patterns in classifier_rules(app.settings).cur_patterns:
        if patterns.kind not in ("cur_remarks", "cur_approval"):
            continue
        text = head
        for ignored in patterns.ignore:
            text = re.sub(ignored, " ", text, flags=re.IGNORECASE)
        hits = (morph.LemmaText(text, limit=None) if patterns.ignore else lemmas).find(patterns.keywords)
        hits += [p for p in patterns.regexes if re.search(p, head, re.IGNORECASE | re.MULTILINE)]
        if hits:
            return patterns.kind == wanted
    return False


def take_proposal(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """Algorithm п. 3: keep the ЦУР's proposal and forward it to the official."""
    text = read_proposal(inbound.new_text) or inbound.new_text
    data = case_data(case)
    proposals = [*data.get("proposals", []), {"text": text, "from": inbound.sender, "at": _iso(inbound.received_at)}]
    update_data(case, proposals=proposals)
    record_event(session, case, action="proposal_received", at=app.clock(), actor=inbound.sender,
                 message=inbound.row, detail={"number": len(proposals)})
    send(session, app, case, kind="refutation_proposal", to=[case.assignee or ""],
         context=_context(app, case, proposal_text=text, proposal_from=inbound.sender),
         dedupe_key=f"refutation_proposal:{case.id}:{inbound.row.id}")


def draft_hash(text: str, attachment_hashes: list[str]) -> str:
    """sha256 of the draft: its text and the hashes of its files, so any change makes a new hash."""
    digest = hashlib.sha256(text.encode("utf-8"))
    for item in attachment_hashes:
        digest.update(b"\0" + item.encode("ascii"))
    return digest.hexdigest()


def ask_for_text(session: Session, app: App, case: Case, inbound: Inbound, *, what: str) -> None:
    """A staff reply without new text: record it, and ask the sender for the text (unless we must not answer)."""
    record_event(session, case, action="empty_reply", at=app.clock(), actor=inbound.sender, message=inbound.row,
                 detail={"expected": what})
    if not inbound.may_answer:
        return
    send(session, app, case, kind="draft_empty", to=[inbound.sender],
         context={"what": what, "original_subject": inbound.pm.subject},
         in_reply_to=inbound.pm.message_id, dedupe_key=f"draft_empty:{case.id}:{inbound.row.id}")


def take_draft(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """Algorithm п. 4-5: the official's reply becomes draft version N and goes to the ЦУР for approval."""
    if not can_apply(case, Event.DRAFT):
        refuse(session, app, case, action="draft_refused", reason=f"state {case.state}", actor=inbound.sender,
               message=inbound.row)
        return
    text = inbound.new_text
    if not text:
        ask_for_text(session, app, case, inbound, what="текст официального комментария")
        return
    now = app.clock()
    data = case_data(case)
    drafts = list(data.get("drafts", []))
    if any(d.get("message_row_id") == inbound.row.id for d in drafts):  # `curmail replay` of the same mail
        record_event(session, case, action="draft_repeated", at=now, actor=inbound.sender, message=inbound.row)
        return
    files = [{"filename": a.filename, "content_type": a.content_type, "size": a.size, "sha256": a.sha256}
             for a in inbound.pm.attachments if a.content_type != "message/rfc822"]
    version = len(drafts) + 1
    draft: dict[str, Any] = {
        "version": version, "text": text, "sha256": draft_hash(text, [f["sha256"] for f in files]),
        "from": inbound.sender, "at": _iso(now), "message_row_id": inbound.row.id, "attachments": files,
    }
    rows = send(
        session, app, case, kind=DRAFT_TEMPLATE, to=_cur_recipients(app, case),
        context=_context(app, case, draft_text=text, version=version, files=files),
        dedupe_key=f"draft:{case.id}:v{version}",
        in_reply_to=data.get("origin_message_id"), attachments=attachments_of(inbound.pm), bulk=False,
    )
    draft["sent"] = {row.recipients[0]: row.message_id for row in rows}
    drafts.append(draft)
    first = "draft_met_at" not in data
    update_data(case, drafts=drafts)
    apply(session, app, case, Event.DRAFT, actor=inbound.sender, message=inbound.row,
          detail={"version": version, "sha256": draft["sha256"], "sent_to": list(draft["sent"])})
    if first:
        on_time = case.due_at is None or now <= case.due_at
        update_data(case, draft_met_at=_iso(now), draft_on_time=on_time)
        record_event(session, case, action="draft_deadline_met", at=now, actor=inbound.sender, message=inbound.row,
                     detail={"met_at": _iso(now), "due_at": _iso(case.due_at) if case.due_at else None,
                             "on_time": on_time})


def _approved_version(session: Session, app: App, case: Case, inbound: Inbound) -> tuple[int | None, str | None]:
    """(version, None) when the mail answers our draft letter to this very sender, else (None, refusal code)."""
    if not app.settings.is_cur_address(inbound.sender):
        return None, "not_cur"
    tokens = tokens_for(app.settings.state.directory)
    ours = [ref for ref in inbound.refs if tokens.verify_reference(ref, inbound.sender) is not None]
    if not ours:
        return None, "not_reply"
    rows = session.scalars(
        select(OutboxMessage).where(OutboxMessage.message_id.in_(ours), OutboxMessage.case_id == case.id,
                                    OutboxMessage.kind == DRAFT_TEMPLATE)
    ).all()
    carried = {row.message_id for row in rows if row.recipients == [inbound.sender]}
    for draft in reversed((case.data or {}).get("drafts", [])):
        if carried & set(draft.get("sent", {}).values()):
            return draft["version"], None
    return None, "not_draft"


def _authenticated(app: App, inbound: Inbound) -> bool:
    """Issue 5: with `[security] authserv_id`, our MTA must vouch for the ЦУР sender (DKIM/DMARC pass)."""
    verdict = auth.cur_sender_verdict(app.settings, inbound.pm, inbound.row.raw)
    if not verdict.ok:
        log.warning("ЦУР approval not authenticated", extra={"sender": inbound.sender, "reason": verdict.reason})
    return verdict.ok


def take_approval(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """Algorithm п. 5-6: an authorised approval of the current draft sends it to the press service and the website."""
    if case.state == State.SENT_TO_PRESS:
        record_event(session, case, action="approval_repeated", at=app.clock(), actor=inbound.sender,
                     message=inbound.row, detail={"note": "already sent to the press service"})
        return
    drafts = (case.data or {}).get("drafts", [])
    version, refusal = _approved_version(session, app, case, inbound)
    if refusal is None and not _authenticated(app, inbound):
        refusal = "not_authenticated"
    if refusal is None and case.state != State.AWAITING_APPROVAL:
        refusal = "no_draft"
    if refusal is None and version != drafts[-1]["version"]:
        refusal = "changed"
    if refusal is not None:
        refuse_approval(session, app, case, inbound, refusal, version=version)
        return
    draft = drafts[-1]
    now = app.clock()
    approval = {
        "version": version, "sha256": draft["sha256"], "by": inbound.sender, "at": _iso(now),
        "message_id": inbound.pm.message_id, "received_at": _iso(inbound.received_at),
    }
    update_data(case, approved=approval)
    apply(session, app, case, Event.APPROVED, actor=inbound.sender, message=inbound.row,
          detail={"version": version, "sha256": draft["sha256"]})
    send_to_press(session, app, case)


def refuse_approval(
    session: Session, app: App, case: Case, inbound: Inbound, code: str, *, version: int | None = None
) -> None:
    """No approval: record it, tell the contact official (a possible spoofing attempt), answer the sender."""
    reason = REFUSAL_TEXT[code]
    refuse(session, app, case, action="approval_refused", reason=code, actor=inbound.sender or "unknown",
           message=inbound.row, version=version, sender=inbound.sender)
    latest = ((case.data or {}).get("drafts") or [{}])[-1].get("version")
    context = _context(app, case, code=code, reason=reason, sender=inbound.sender or "(не указан)",
                       version=version, latest_version=latest, original_subject=inbound.pm.subject,
                       received_at=inbound.received_at)
    send(session, app, case, kind="approval_refused", to=contact_addresses(app), context=context,
         dedupe_key=f"approval_refused:{case.id}:{inbound.row.id}:contact")
    if inbound.may_answer and inbound.sender and inbound.sender not in contact_addresses(app):
        send(session, app, case, kind="approval_refused", to=[inbound.sender], context=context,
             in_reply_to=inbound.pm.message_id, dedupe_key=f"approval_refused:{case.id}:{inbound.row.id}:sender")


def _draft_files(session: Session, draft: dict[str, Any]) -> list:
    """The draft's attachments, read again from the stored raw mail (bytes are not kept in case.data)."""
    row = session.get(StoredMessage, draft.get("message_row_id")) if draft.get("message_row_id") else None
    return attachments_of(parse_message(row.raw)) if row is not None and draft.get("attachments") else []


def send_to_press(session: Session, app: App, case: Case) -> None:
    """The approved text to the press address and to the web editors, exactly once per approved version."""
    data = case.data or {}
    approval = data["approved"]
    draft = next(d for d in data["drafts"] if d["version"] == approval["version"])
    files = _draft_files(session, draft)
    context = _context(
        app, case, comment=draft["text"], administration=administration_of(app), approval=approval,
        approved_at=datetime.fromisoformat(approval["at"]), version=approval["version"],
        files=draft.get("attachments", []),
    )
    version = approval["version"]
    send(session, app, case, kind="refutation_press", to=[app.settings.press.address], context=context,
         dedupe_key=f"press:{case.id}:v{version}", attachments=files, bulk=False,
         tag_subject=False)  # the subject is prescribed: «Официальный комментарий администрации …: <тема>»
    editors = [m.email for m in app.settings.staff_with_role("web_editor")]
    if not editors:
        record_event(session, case, action="no_web_editor", at=app.clock(),
                     detail={"note": "no staff member has the role web_editor"})
    send(session, app, case, kind="refutation_web", to=editors, context=context,
         dedupe_key=f"web:{case.id}:v{version}", attachments=files, bulk=False)


def take_remarks(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """Algorithm п. 4 again: the ЦУР's remarks go back to the official; a new draft repeats the cycle."""
    try:
        apply(session, app, case, Event.REMARKS, actor=inbound.sender, message=inbound.row)
    except IllegalTransition as exc:
        refuse(session, app, case, action="remarks_refused", reason=str(exc), actor=inbound.sender,
               message=inbound.row)
        return
    remarks = inbound.new_text or inbound.pm.text.strip()
    data = case_data(case)
    version = (data.get("drafts") or [{}])[-1].get("version")
    update_data(case, remarks=[*data.get("remarks", []),
                               {"text": remarks, "from": inbound.sender, "at": _iso(inbound.received_at),
                                "version": version}])
    due = compute_due(app.settings, case.kind, inbound.received_at)
    set_due(session, app, case, due, assumed=False, reason="rework after the ЦУР's remarks",
                 actor="curmail", message=inbound.row)
    draft_text = (data.get("drafts") or [{}])[-1].get("text", "")
    send(session, app, case, kind="refutation_remarks", to=[case.assignee or "", *contact_addresses(app)],
         context=_context(app, case, remarks=remarks, draft_text=draft_text, version=version),
         dedupe_key=f"remarks:{case.id}:{inbound.row.id}")


def take_publication(session: Session, app: App, case: Case, inbound: Inbound) -> None:
    """Algorithm п. 5: the web editor's reply with the page URL marks the comment published and closes the case."""
    settings = app.settings
    member = settings.staff_by_email(inbound.sender)
    allowed = member is not None and {"web_editor", "contact", "supervisor"} & set(member.roles)
    tokens = tokens_for(settings.state.directory)
    replies_to_us = tokens.find_reference(inbound.refs, inbound.sender) is not None
    urls = _URL.findall(inbound.new_text)
    if not (allowed and replies_to_us and urls):
        refuse(session, app, case, action="publication_not_recorded",
               reason="needs a web editor's reply to our letter with the page URL", actor=inbound.sender,
               message=inbound.row, role_ok=bool(allowed), replies_to_us=replies_to_us, url_found=bool(urls))
        return
    mark_published(session, app, case, urls[0].rstrip(".,;)"), actor=inbound.sender, message=inbound.row)


def mark_published(
    session: Session, app: App, case: Case, url: str, *, actor: str, message: StoredMessage | None = None
) -> None:
    """Close the case as published (also the `#опубликовано <URL>` command's action)."""
    update_data(case, published_url=url, published_at=_iso(app.clock()))
    case.outcome = "published"
    apply(session, app, case, Event.PUBLISHED, actor=actor, message=message, detail={"url": url})
