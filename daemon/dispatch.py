"""Act on a classified message: attach it to its case or open a new one, then hand it to the workflow."""

from __future__ import annotations

from sqlalchemy.orm import Session

from daemon.app import App
from daemon.cases import NEVER_OPENS, OPENING_KIND, CaseKind, attach_message, open_case, record_event
from daemon.db.models import Case, StoredMessage
from daemon.threader import ThreadOutcome
from parsers import Classification, ParsedMessage
from parsers.threadkeys import normalize_subject


def dispatch(
    session: Session,
    app: App,
    row: StoredMessage,
    pm: ParsedMessage,
    classification: Classification,
    outcome: ThreadOutcome,
) -> Case | None:
    """Thread the message into a case (or open one); return the case, or None for unthreaded machine mail."""
    now = app.clock()
    if outcome.match is not None:
        case = outcome.match.case
        attach_message(session, case, row, at=now, how=outcome.match.how)
        return case
    if classification.kind in NEVER_OPENS:
        return None
    kind = OPENING_KIND.get(classification.kind, CaseKind.GENERIC)
    counterpart = pm.forwarded.from_addr if kind is CaseKind.APPEAL and pm.forwarded else pm.from_addr
    case = open_case(
        session,
        kind=kind,
        subject=pm.subject,
        normalized_subject=normalize_subject(pm.subject),
        counterpart=counterpart or pm.from_addr or None,
        opened_at=row.internal_date,
        message=row,
        tenant=row.tenant,
        channel=classification.channel,
        publication_url=classification.publication_urls[0] if classification.publication_urls else None,
    )
    if outcome.refused_tag is not None:
        record_event(
            session, case, action="tag_refused", at=now, actor=pm.from_addr or "unknown", message=row,
            detail={"tag_case": outcome.refused_tag, "reason": "sender is not related to that case"},
        )
    return case
