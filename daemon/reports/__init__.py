"""Reports and standing obligations: quarterly statistics, problems, repeats, contact notices, retention."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from daemon.app import App
    from daemon.db.models import Case


def run_command(
    session: Session, app: App, *, name: str, args: str, sender: str, case: Case | None, now: datetime
) -> str:
    """What daemon.commands calls for `#отправить` and `#отчёт` (see daemon.reports.mailcommands)."""
    from daemon.reports.mailcommands import run_command as run

    return run(session, app, name=name, args=args, sender=sender, case=case, now=now)
