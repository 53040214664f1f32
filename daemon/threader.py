"""Find the case a message belongs to: tag, our Message-IDs, stored Message-IDs, then subject + counterpart.

The order follows DESIGN.md step 5. A case tag in the subject is honoured only when the sender is
related to the case (staff, the ЦУР, the case's counterpart, or someone who already wrote in it):
otherwise anyone could hijack a case by typing its number (Zammad #5064).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon.config import Settings
from daemon.db.models import Case, OutboxMessage, StoredMessage
from daemon.workflow.states import CLOSED_STATES
from parsers import Classification, ParsedMessage
from parsers.threadkeys import find_case_numbers, message_refs, normalize_subject

SUBJECT_FALLBACK_WINDOW = timedelta(days=60)


@dataclass(frozen=True, slots=True)
class ThreadMatch:
    """The case found and the rule that found it (recorded in the audit trail)."""

    case: Case
    how: str  # tag | our_message_id | stored_message_id | publication_url | subject


@dataclass(frozen=True, slots=True)
class ThreadOutcome:
    """A match, or none; `refused_tag` is a tag we ignored because the sender is unrelated to that case."""

    match: ThreadMatch | None
    refused_tag: int | None = None


def sender_related(session: Session, settings: Settings, case: Case, sender: str) -> bool:
    """Whether this sender may add to the case by its tag alone."""
    sender = sender.lower()
    if not sender:
        return False
    if settings.staff_by_email(sender) or settings.is_cur_address(sender):
        return True
    if sender in {(case.counterpart or "").lower(), (case.assignee or "").lower()}:
        return True
    wrote_before = session.scalars(
        select(StoredMessage.id).where(StoredMessage.case_id == case.id, StoredMessage.from_addr == sender).limit(1)
    ).first()
    return wrote_before is not None


def find_case(
    session: Session,
    settings: Settings,
    pm: ParsedMessage,
    classification: Classification,
    *,
    now: datetime,
    tenant: str = "default",
) -> ThreadOutcome:
    """Try each threading rule in order; the first that finds a case wins."""
    org = settings.organization
    refused: int | None = None
    for number in find_case_numbers(pm.subject, org.case_tag, org.old_case_tags):
        case = session.scalars(select(Case).where(Case.id == number, Case.tenant == tenant)).first()
        if case is None:
            continue
        if sender_related(session, settings, case, pm.from_addr):
            return ThreadOutcome(ThreadMatch(case, "tag"))
        refused = number

    refs = list(message_refs(pm))
    if classification.bounced_message_id:
        refs.append(classification.bounced_message_id)
    if refs:
        case_id = session.scalars(
            select(OutboxMessage.case_id).where(
                OutboxMessage.message_id.in_(refs), OutboxMessage.case_id.is_not(None), OutboxMessage.tenant == tenant
            )
        ).first()
        if case_id is not None:
            return ThreadOutcome(ThreadMatch(session.get(Case, case_id), "our_message_id"), refused)
        case_id = session.scalars(
            select(StoredMessage.case_id).where(
                StoredMessage.message_id.in_(refs), StoredMessage.case_id.is_not(None), StoredMessage.tenant == tenant
            )
        ).first()
        if case_id is not None:
            return ThreadOutcome(ThreadMatch(session.get(Case, case_id), "stored_message_id"), refused)

    if classification.publication_urls:
        for case in session.scalars(
            select(Case).where(
                Case.tenant == tenant,
                Case.publication_url.in_(classification.publication_urls),
                Case.state.not_in(CLOSED_STATES),
            )
        ):
            return ThreadOutcome(ThreadMatch(case, "publication_url"), refused)

    normalized = normalize_subject(pm.subject)
    if normalized and pm.from_addr:
        case = session.scalars(
            select(Case)
            .where(
                Case.tenant == tenant,
                Case.normalized_subject == normalized[:500],
                Case.counterpart == pm.from_addr,
                Case.opened_at >= now - SUBJECT_FALLBACK_WINDOW,
            )
            .order_by(Case.id.desc())
            .limit(1)
        ).first()
        # The ЦУР reuses subjects: a signal about another publication is another case, whatever its subject.
        urls = classification.publication_urls
        other_post = bool(urls) and case is not None and case.publication_url is not None \
            and case.publication_url not in urls
        if case is not None and not other_post:
            return ThreadOutcome(ThreadMatch(case, "subject"), refused)
    return ThreadOutcome(None, refused)
