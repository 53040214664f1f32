"""Find the case a message belongs to: tag, our Message-IDs, stored Message-IDs, then subject + counterpart.

The order follows DESIGN.md step 5. A case tag in the subject is honoured only when the sender is
related to the case (staff, the ЦУР, the case's counterpart, or someone who already wrote in it):
otherwise anyone could hijack a case by typing its number (Zammad #5064).
"""

from __future__ import annotations

from collections.abc import Sequence
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


class CaseLookup:
    """Answers the threading rules' questions with one query each: for one message at a time."""

    def __init__(self, session: Session, tenant: str) -> None:
        self.session = session
        self.tenant = tenant

    def by_number(self, number: int) -> Case | None:
        return self.session.scalars(select(Case).where(Case.id == number, Case.tenant == self.tenant)).first()

    def ours(self, refs: Sequence[str]) -> Case | None:
        """The case of the nearest of `refs` that is one of our outgoing letters."""
        return self._nearest(refs, OutboxMessage)

    def stored(self, refs: Sequence[str]) -> Case | None:
        """The case of the nearest of `refs` that is a message we received."""
        return self._nearest(refs, StoredMessage)

    def _nearest(self, refs: Sequence[str], model: type[OutboxMessage] | type[StoredMessage]) -> Case | None:
        found = dict(self.session.execute(
            select(model.message_id, model.case_id).where(
                model.message_id.in_(refs), model.case_id.is_not(None), model.tenant == self.tenant)
        ).all())
        for ref in refs:
            if found.get(ref) is not None:
                return self.session.get(Case, found[ref])
        return None

    def open_for_urls(self, urls: Sequence[str]) -> Case | None:
        """The oldest open case about one of these publications."""
        return self.session.scalars(
            select(Case).where(Case.tenant == self.tenant, Case.publication_url.in_(urls),
                               Case.state.not_in(CLOSED_STATES)).order_by(Case.id).limit(1)
        ).first()

    def by_subject(self, normalized: str, counterpart: str, since: datetime) -> Case | None:
        """The newest case since `since` with this normalised subject and counterpart."""
        return self.session.scalars(
            select(Case).where(Case.tenant == self.tenant, Case.normalized_subject == normalized,
                               Case.counterpart == counterpart, Case.opened_at >= since)
            .order_by(Case.id.desc()).limit(1)
        ).first()


class BatchLookup(CaseLookup):
    """The same answers for a whole batch of messages from five queries, kept current as the batch is threaded.

    Intake threads hundreds of messages a second; one query per rule and message cost more than the
    parsing. Cases opened earlier in the batch have no id yet, so the maps hold Case objects.
    """

    def __init__(self, session: Session, tenant: str, settings: Settings,
                 batch: Sequence[tuple[ParsedMessage, Classification]], since: datetime) -> None:
        super().__init__(session, tenant)
        org = settings.organization
        numbers = {n for pm, _ in batch for n in find_case_numbers(pm.subject, org.case_tag, org.old_case_tags)}
        refs = {r for pm, c in batch for r in _refs(pm, c)}
        urls = {u for _, c in batch for u in c.publication_urls}
        subjects = {normalize_subject(pm.subject)[:500] for pm, _ in batch} - {""}
        self.numbered: dict[int, Case] = {}
        self.outgoing: dict[str, Case] = {}
        self.received: dict[str, Case] = {}
        self.by_url: dict[str, Case] = {}
        self.by_subject_of: dict[tuple[str, str | None], Case] = {}
        if numbers:
            self.numbered = {c.id: c for c in session.scalars(
                select(Case).where(Case.id.in_(numbers), Case.tenant == tenant))}
        if refs:
            self.outgoing = self._cases_of(session.execute(
                select(OutboxMessage.message_id, OutboxMessage.case_id).where(
                    OutboxMessage.message_id.in_(refs), OutboxMessage.case_id.is_not(None),
                    OutboxMessage.tenant == tenant)).all())
            self.received = self._cases_of(session.execute(
                select(StoredMessage.message_id, StoredMessage.case_id).where(
                    StoredMessage.message_id.in_(refs), StoredMessage.case_id.is_not(None),
                    StoredMessage.tenant == tenant)).all())
        if urls:
            for case in session.scalars(select(Case).where(
                    Case.tenant == tenant, Case.publication_url.in_(urls), Case.state.not_in(CLOSED_STATES))
                    .order_by(Case.id.desc())):
                self.by_url[case.publication_url or ""] = case  # ends with the oldest, as open_for_urls
        if subjects:
            for case in session.scalars(select(Case).where(
                    Case.tenant == tenant, Case.normalized_subject.in_(subjects), Case.opened_at >= since)
                    .order_by(Case.id)):
                self.by_subject_of[(case.normalized_subject, case.counterpart)] = case  # ends with the newest
        self.since = since

    def _cases_of(self, pairs: Sequence[tuple[str, int | None]]) -> dict[str, Case]:
        ids = {case_id for _, case_id in pairs if case_id is not None}
        cases = {c.id: c for c in self.session.scalars(select(Case).where(Case.id.in_(ids)))} if ids else {}
        return {mid: cases[case_id] for mid, case_id in pairs if case_id in cases}

    def by_number(self, number: int) -> Case | None:
        # A number not known when the batch began may belong to a case opened earlier in this batch:
        # the query flushes the batch first, so it is found exactly as one message at a time would.
        return self.numbered.get(number) or super().by_number(number)

    def ours(self, refs: Sequence[str]) -> Case | None:
        return next((self.outgoing[r] for r in refs if r in self.outgoing), None)

    def stored(self, refs: Sequence[str]) -> Case | None:
        return next((self.received[r] for r in refs if r in self.received), None)

    def open_for_urls(self, urls: Sequence[str]) -> Case | None:
        found = [self.by_url[u] for u in urls if u in self.by_url]
        return min(found, key=lambda c: (c.id is None, c.id or 0)) if found else None

    def by_subject(self, normalized: str, counterpart: str, since: datetime) -> Case | None:
        case = self.by_subject_of.get((normalized, counterpart))
        return case if case is not None and (case.opened_at is None or case.opened_at >= since) else None

    def remember(self, message_id: str, case: Case | None, opened: bool) -> None:
        """What the batch's next messages must see: this message's case, and the case if it is new."""
        if case is None:
            return
        self.received.setdefault(message_id, case)
        if opened:
            if case.publication_url:
                self.by_url.setdefault(case.publication_url, case)
            self.by_subject_of[(case.normalized_subject, case.counterpart)] = case


def _refs(pm: ParsedMessage, classification: Classification) -> list[str]:
    refs = list(message_refs(pm))
    if classification.bounced_message_id:
        refs.append(classification.bounced_message_id)
    return refs


def find_case(
    session: Session,
    settings: Settings,
    pm: ParsedMessage,
    classification: Classification,
    *,
    now: datetime,
    tenant: str = "default",
    lookup: CaseLookup | None = None,
) -> ThreadOutcome:
    """Try each threading rule in order; the first that finds a case wins."""
    lookup = lookup or CaseLookup(session, tenant)
    org = settings.organization
    refused: int | None = None
    for number in find_case_numbers(pm.subject, org.case_tag, org.old_case_tags):
        case = lookup.by_number(number)
        if case is None:
            continue
        if sender_related(session, settings, case, pm.from_addr):
            return ThreadOutcome(ThreadMatch(case, "tag"))
        refused = number

    refs = _refs(pm, classification)
    if refs:
        case = lookup.ours(refs)
        if case is not None:
            return ThreadOutcome(ThreadMatch(case, "our_message_id"), refused)
        case = lookup.stored(refs)
        if case is not None:
            return ThreadOutcome(ThreadMatch(case, "stored_message_id"), refused)

    if classification.publication_urls:
        case = lookup.open_for_urls(classification.publication_urls)
        if case is not None:
            return ThreadOutcome(ThreadMatch(case, "publication_url"), refused)

    normalized = normalize_subject(pm.subject)
    if normalized and pm.from_addr:
        case = lookup.by_subject(normalized[:500], pm.from_addr, now - SUBJECT_FALLBACK_WINDOW)
        # The ЦУР reuses subjects: a signal about another publication is another case, whatever its subject.
        urls = classification.publication_urls
        other_post = bool(urls) and case is not None and case.publication_url is not None \
            and case.publication_url not in urls
        if case is not None and not other_post:
            return ThreadOutcome(ThreadMatch(case, "subject"), refused)
    return ThreadOutcome(None, refused)
