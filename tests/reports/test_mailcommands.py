"""The reports' side of the e-mail commands: `#отчёт [квартал]` on demand and `#отправить` outside a report case."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from daemon.app import App
from daemon.db.models import Case, OutboxMessage
from daemon.errors import WorkflowError
from daemon.reports import run_command
from tests.reports.dataset import dataset
from tests.reports.seed import Spec, add, add_all, msk

CONTACT = "ivanova@kozmo.example"


def test_report_on_demand_goes_to_the_sender_only(app: App) -> None:
    with app.sessions() as session:
        add_all(session, dataset().all())
    with app.sessions() as session, session.begin():
        result = run_command(session, app, name="report", args="4 2026", sender=CONTACT, case=None,
                             now=msk(2026, 12, 20, 12))
    assert result.startswith("отчёт за IV квартал 2026 г. направлен вам")
    with app.sessions() as session:
        (row,) = session.scalars(select(OutboxMessage).where(OutboxMessage.kind != "refutation_press")).all()
    assert (row.kind, row.recipients) == ("quarterly_on_demand", [CONTACT])


def test_send_outside_a_report_case_is_explained(app: App) -> None:
    with app.sessions() as session, session.begin():
        refutation = add(session, Spec("refutation", msk(2026, 12, 1, 10), due=msk(2026, 12, 1, 13)))
        for case in (None, refutation):
            with pytest.raises(WorkflowError, match="относится к квартальному отчёту"):
                run_command(session, app, name="send", args="", sender=CONTACT, case=case, now=msk(2026, 12, 1, 11))
        with pytest.raises(WorkflowError, match="не распознан"):
            run_command(session, app, name="report", args="пятый 2026", sender=CONTACT, case=None,
                        now=msk(2026, 12, 1, 11))
        assert session.scalars(select(Case)).all() == [refutation]
