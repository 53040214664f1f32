"""Letters to staff about the system itself (parked or oversized mail): enqueued to the contact officials."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from daemon.app import App
from daemon.db.models import Case

log = logging.getLogger("curmail.notices")


def contact_addresses(app: App) -> list[str]:
    """The contact officials (п. 9); the supervisor stands in when none is configured."""
    settings = app.settings
    people = settings.staff_with_role("contact") or settings.staff_with_role("supervisor")
    return [p.email for p in people]


def notify_contact(
    session: Session,
    app: App,
    *,
    template: str,
    context: Mapping[str, Any],
    dedupe_key: str,
    case: Case | None = None,
) -> None:
    """Enqueue a notice to the contact officials in the caller's transaction; log when nobody can get it."""
    from daemon.outbox import enqueue  # late import: the outbox imports the rendering stack

    recipients = contact_addresses(app)
    if not recipients:
        log.error("no contact official configured; notice not sent", extra={"template": template})
        return
    enqueue(
        session,
        app.settings,
        kind=template,
        to=recipients,
        context=dict(context),
        case=case,
        dedupe_key=dedupe_key,
        now=app.clock(),
    )
