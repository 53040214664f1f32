"""`curmail outbox list|show|confirm|resend`: the outgoing mail as a sysadmin sees and settles it."""

from __future__ import annotations

import argparse
import email
import email.policy
import getpass

from sqlalchemy.orm import undefer

from daemon.app import App
from daemon.calendar import calendar_for
from daemon.db.engine import transaction
from daemon.db.models import OutboxMessage, OutboxStatus
from daemon.errors import WorkflowError
from daemon.outbox import confirm, list_rows, resend

OPEN_STATUSES = (OutboxStatus.QUEUED, OutboxStatus.SENDING, OutboxStatus.FAILED, OutboxStatus.UNCERTAIN)


def _when(app: App, row: OutboxMessage) -> str:
    moment = row.sent_at or row.next_attempt_at or row.created_at
    return calendar_for(app.settings).format_msk(moment) if moment else "—"


def print_rows(app: App, rows: list[OutboxMessage]) -> None:
    if not rows:
        print("Очередь пуста.")
        return
    print(f"{'№':>6} {'состояние':<10} {'попыток':>7} {'когда':<26} {'кому':<30} тема")
    for row in rows:
        to = ", ".join(row.recipients)
        print(f"{row.id:>6} {row.status:<10} {row.attempts:>7} {_when(app, row):<26} {to[:30]:<30} {row.subject[:70]}")


def print_row(app: App, row: OutboxMessage) -> None:
    cal = calendar_for(app.settings)
    print(f"Письмо № {row.id} ({row.kind}), дело {row.case_id or '—'}")
    print(f"  Состояние: {row.status}, попыток: {row.attempts}")
    print(f"  Message-ID: {row.message_id}")
    print(f"  Создано: {cal.format_msk(row.created_at)}; следующая попытка: {cal.format_msk(row.next_attempt_at)}")
    if row.sent_at:
        print(f"  Отправлено: {cal.format_msk(row.sent_at)}; копия в «Отправленных»: "
              f"{'да' if row.appended_to_sent else 'нет'}")
    if row.delivery_failed_at:
        print(f"  Вернулось недоставленным: {cal.format_msk(row.delivery_failed_at)}")
    if row.last_error:
        print(f"  Последняя ошибка: {row.last_error}")
    message = email.message_from_bytes(row.raw, policy=email.policy.default)
    print(f"  От: {message['From']}\n  Кому: {message['To']}\n  Тема: {message['Subject']}\n")
    body = message.get_body(("plain",))
    print(body.get_content() if body is not None else "(нет текстовой части)")


def outbox_command(app: App, args: argparse.Namespace) -> int:
    """Dispatch the `outbox` sub-command; errors of the rules come back as WorkflowError (exit 1)."""
    actor = f"cli:{getpass.getuser()}"
    if args.outbox_command == "list":
        with app.sessions() as session:
            rows = list_rows(session, status=None if args.all else OPEN_STATUSES)
            print_rows(app, rows)
        return 0
    if args.outbox_command == "show":
        with app.sessions() as session:
            row = session.get(OutboxMessage, args.number, options=[undefer(OutboxMessage.raw)])
            if row is None:
                raise WorkflowError(f"В очереди нет письма № {args.number}.")
            print_row(app, row)
        return 0
    settle = confirm if args.outbox_command == "confirm" else resend
    with transaction(app.sessions) as session:
        row = settle(session, args.number, now=app.clock(), actor=actor)
        print(f"Письмо № {row.id}: теперь «{row.status}».")
    return 0
