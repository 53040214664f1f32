"""The monthly problems report (п. 10.2) mailed on the first working day of each month, once per month.

It goes to the supervisors (руководитель аппарата) and the contact officials: the people who act on
the causes of appeals. The text is the body (daemon.reports.problems.problems_text) and the XLSX
is attached. A month with no appeals, none the month before and no closed cases mails nothing
(as the daily digest skips an empty day); `[reports] problems_monthly = false` turns it off.
Exactly once: the KeyValue key `report:problems:<2026-11>` is written in the same transaction as
the letters, and every letter has a dedupe key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from daemon.app import App
from daemon.calendar import calendar_for
from daemon.config import Settings
from daemon.db.engine import transaction
from daemon.db.models import KeyValue
from daemon.errors import CurmailError
from daemon.notices import contact_addresses
from daemon.outbox import OutgoingAttachment, enqueue
from daemon.reports.files import XLSX_TYPE
from daemon.reports.period import Period, month, previous
from daemon.reports.problems import build_problems, problems_filename, problems_text, problems_xlsx

log = logging.getLogger("curmail.reports.monthly")

TEMPLATE = "problems_monthly"
SEND_WITHIN = timedelta(days=20)  # a daemon first started later than this in the month does not mail an old month


@dataclass(frozen=True, slots=True)
class MonthlyResult:
    """What one run did: the month, the recipients (empty when nothing was sent) and whether it was empty."""

    period: Period
    to: tuple[str, ...]
    empty: bool


def kv_key(period: Period) -> str:
    return f"report:problems:{period.key}"


def send_at(settings: Settings, period: Period) -> datetime:
    """The start of the first working day after `period` (the month's report is due then), as UTC."""
    return period.first_working_morning_after(calendar_for(settings))


def recipients(app: App) -> list[str]:
    """Supervisors first, then the contact officials, each once."""
    people = [m.email for m in app.settings.staff_with_role("supervisor")] + contact_addresses(app)
    return list(dict.fromkeys(people))


def tick(app: App) -> MonthlyResult | None:
    """The scheduler's job: mail last month's problems report when due; idempotent."""
    settings = app.settings
    if not settings.reports.problems_monthly:
        return None
    now = app.clock()
    local = now.astimezone(settings.organization.zone).date()
    period = previous(month(local.year, local.month, settings.organization.timezone))
    due = send_at(settings, period)
    if now < due or now - due > SEND_WITHIN:
        return None
    try:
        with transaction(app.sessions) as session:
            if session.get(KeyValue, (kv_key(period), app.tenant)) is not None:
                return None
            report = build_problems(session, settings, period, now, tenant=app.tenant)
            to = recipients(app)
            session.add(KeyValue(key=kv_key(period), tenant=app.tenant, updated_at=now,
                                 value={"sent_at": now.isoformat(), "to": to, "total": report.total}))
            session.flush()  # a second instance fails here (primary key), before any letter is enqueued
            if report.empty and report.previous_total == 0:
                log.info("problems report %s: no appeals this month or the month before; nothing mailed",
                         period.key)
                return MonthlyResult(period, (), True)
            if to:
                xlsx = OutgoingAttachment(problems_filename(report), problems_xlsx(report), XLSX_TYPE)
                enqueue(session, settings, kind=TEMPLATE, to=to, now=now, bulk=False, attachments=[xlsx],
                        context={"period_title": period.title, "text": problems_text(report),
                                 "empty": report.empty, "file": xlsx.filename},
                        dedupe_key=f"{TEMPLATE}:{period.key}")
            else:
                log.error("problems report %s: no supervisor or contact official configured", period.key)
    except (SQLAlchemyError, CurmailError):
        # Another instance wrote the key first, or the database is busy: the next tick sees the outcome.
        log.exception("problems report tick failed; retried on the next tick")
        return None
    log.info("problems report %s mailed", period.key, extra={"to": to})
    return MonthlyResult(period, tuple(to), report.empty)
