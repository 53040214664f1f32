"""The reports' e-mail commands, called by daemon.commands: `#отправить` on a report case, `#отчёт [квартал]`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from daemon.app import App
from daemon.db.models import Case
from daemon.errors import NotAuthorised, WorkflowError
from daemon.outbox import enqueue
from daemon.reports import obligations
from daemon.reports.files import quarterly_files
from daemon.reports.period import parse_quarter
from daemon.reports.quarterly import build
from daemon.reports.summary import summary_text

ON_DEMAND_TEMPLATE = "quarterly_on_demand"


def _refused(reason: str) -> Exception:
    """The executor's own refusal class when it is there, so the refusal lands in the case history."""
    try:
        from daemon.commands import Refused
    except ImportError:
        return NotAuthorised(reason)
    return Refused(reason)


def send_command(session: Session, app: App, case: Case | None, sender: str) -> str:
    """`#отправить`: on a quarterly report case, send it to the ЦУР (contact officials only)."""
    if case is None or case.kind != "report":
        raise WorkflowError(
            "#отправить относится к квартальному отчёту: ответьте так на письмо с проектом отчёта. "
            "Согласованный ЦУР комментарий уходит в пресс-службу сам, без команды."
        )
    try:
        return obligations.send_quarterly(session, app, case, sender)
    except NotAuthorised as exc:
        raise _refused(str(exc)) from None


def _is_open_quarterly(case: Case | None) -> bool:
    data = (case.data or {}) if case is not None else {}
    return case is not None and case.kind == "report" and data.get("report") == obligations.REPORT \
        and not data.get("sent_at")


def report_command(
    session: Session, app: App, args: str, sender: str, now: datetime, case: Case | None = None
) -> str:
    """`#отчёт [квартал]`: build the quarter's report now and mail it to the sender (nothing goes to the ЦУР).

    In the thread of a quarterly report that is not sent yet (and for its quarter), the report's own
    draft is recounted instead, so that `#отправить` sends the corrected figures.
    """
    settings = app.settings
    period = parse_quarter(args, now.astimezone(settings.organization.zone).date(), settings.organization.timezone)
    if _is_open_quarterly(case) and (not args.strip() or period == obligations.period_of(settings, case)):
        return obligations.regenerate(session, app, case, now=now, actor=sender)
    figures = build(session, settings, period, now, tenant=app.tenant)
    from daemon.outbox import OutgoingAttachment

    files = [OutgoingAttachment(f.filename, f.content, f.content_type) for f in quarterly_files(figures)]
    enqueue(session, settings, kind=ON_DEMAND_TEMPLATE, to=[sender], now=now, bulk=False, attachments=files,
            context={"period_title": period.title, "summary": summary_text(figures),
                     "files": [f.filename for f in files]},
            dedupe_key=f"{ON_DEMAND_TEMPLATE}:{period.key}:{sender}:{now.isoformat()}")
    return f"отчёт за {period.title} направлен вам отдельным письмом (XLSX, CSV и сводка); в ЦУР он не отправлялся"


def run_command(
    session: Session, app: App, *, name: str, args: str, sender: str, case: Case | None, now: datetime
) -> str:
    """Entry point for daemon.commands (`#отправить` = send, `#отчёт` = report); a Russian result line."""
    if name == "send":
        return send_command(session, app, case, sender)
    if name == "report":
        return report_command(session, app, args, sender, now, case)
    raise WorkflowError(f"команда «{name}» модулю отчётов неизвестна")
