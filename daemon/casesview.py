"""Cases as the CLI shows them: JSON-ready dicts and readable text, times in the organisation's zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from daemon.app import App
from daemon.calendar import calendar_for
from daemon.cases import format_tag
from daemon.db.models import Case, CaseEvent, StoredMessage
from daemon.workflow.states import CLOSED_STATES


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _case_dict(app: App, case: Case) -> dict[str, Any]:
    cal = calendar_for(app.settings)
    return {
        "number": case.id,
        "tag": format_tag(app.settings.organization.case_tag, case.id),
        "kind": case.kind,
        "state": case.state,
        "subject": case.subject,
        "assignee": case.assignee,
        "topic": case.topic,
        "channel": case.channel,
        "counterpart": case.counterpart,
        "publication_url": case.publication_url,
        "opened_at": _iso(case.opened_at),
        "closed_at": _iso(case.closed_at),
        "deadlines": {"due_at": _iso(case.due_at), "due_assumed": case.due_assumed,
                      "next_action_at": _iso(case.next_action_at)},
        "due_msk": cal.format_msk(case.due_at) if case.due_at else None,
    }


def case_list(app: App, *, open_only: bool = False) -> list[dict[str, Any]]:
    with app.sessions() as session:
        query = select(Case).where(Case.tenant == app.tenant).order_by(Case.id)
        if open_only:
            query = query.where(Case.state.not_in(CLOSED_STATES))
        return [_case_dict(app, case) for case in session.scalars(query)]


def case_detail(app: App, number: int) -> dict[str, Any] | None:
    with app.sessions() as session:
        case = session.scalars(select(Case).where(Case.id == number, Case.tenant == app.tenant)).first()
        if case is None:
            return None
        detail = _case_dict(app, case)
        detail["events"] = [
            {"at": _iso(e.at), "actor": e.actor, "action": e.action, "from_state": e.from_state,
             "to_state": e.to_state, "message": e.message_row_id, "detail": e.detail}
            for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id))
        ]
        detail["messages"] = [
            {"id": m.id, "message_id": m.message_id, "kind": m.kind, "from": m.from_addr, "subject": m.subject,
             "received_at": _iso(m.internal_date), "status": m.status}
            for m in session.scalars(
                select(StoredMessage).where(StoredMessage.case_id == case.id).order_by(StoredMessage.id)
            )
        ]
        return detail


def _msk(app: App, iso: str | None) -> str:
    return calendar_for(app.settings).format_msk(datetime.fromisoformat(iso)) if iso else "—"


def print_cases(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("Дел нет.")
        return
    print(f"{'дело':<12} {'вид':<11} {'состояние':<18} {'срок':<26} {'исполнитель':<28} тема письма")
    for r in rows:
        due = r["due_msk"] or "—"
        print(f"{r['tag']:<12} {r['kind']:<11} {r['state']:<18} {due:<26} {r['assignee'] or '—':<28} "
              f"{(r['subject'] or '')[:60]}")


def print_case(d: dict[str, Any]) -> None:
    print(f"{d['tag']} {d['subject']}")
    for label, key in (("Вид", "kind"), ("Состояние", "state"), ("Исполнитель", "assignee"), ("Тема", "topic"),
                       ("Канал", "channel"), ("Заявитель/отправитель", "counterpart"),
                       ("Публикация", "publication_url")):
        print(f"  {label}: {d[key] or '—'}")
    print(f"  Открыто: {d['opened_at']}   Срок: {d['due_msk'] or '—'}   Закрыто: {d['closed_at'] or '—'}")
    print("  Письма:")
    for m in d["messages"]:
        print(f"    #{m['id']} {m['received_at']} {m['kind'] or '?':<13} {m['from'] or '—'}: {m['subject'] or ''}")
    print("  История:")
    for e in d["events"]:
        change = f" {e['from_state'] or ''}→{e['to_state']}" if e["to_state"] else ""
        print(f"    {e['at']} {e['actor']}: {e['action']}{change}")
