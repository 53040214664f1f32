"""Two tenants on one database never see each other's cases: listing, threading, processing and reminders.

There is no configuration key for the tenant yet (App.tenant is "default" unless code sets it), so
the tenants here are two Apps over one SQLite file with `App.tenant` set, which is what a per-tenant
config key would do. Every query that is tenant-aware must hold against the other tenant's rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.app import App
from daemon.casesview import case_detail, case_list
from daemon.clock import Clock
from daemon.db.engine import transaction
from daemon.db.models import Case, OutboxMessage, StoredMessage
from daemon.pipeline import process_pending
from daemon.store import IncomingRaw, store_messages
from daemon.workflow.reminders import tick
from tests.support.mail import cur_signal, make_message
from tests.support.settings import write_config

RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


@pytest.fixture
def tenants(tmp_path: Path):
    """Two Apps on one database: tenant "kzm" and tenant "other"."""
    apps = {}
    for name in ("kzm", "other"):
        folder = tmp_path / name
        folder.mkdir()
        _, settings = write_config(folder, imap_port=1, imap_user=name, imap_password="x", smtp_port=2,
                                   db_url=f"sqlite:///{tmp_path / 'shared.db'}")
        app = App.open(settings, Clock(fixed=RECEIVED + timedelta(minutes=1)))
        app.tenant = name
        apps[name] = app
    yield apps
    for app in apps.values():
        app.close()


def receive(app: App, raw: bytes) -> None:
    with transaction(app.sessions) as session:
        store_messages(session, mailbox=None, uidvalidity=None, messages=[IncomingRaw(raw, RECEIVED)],
                       now=RECEIVED, tenant=app.tenant)
    report = process_pending(app)
    assert report.parked == 0 and report.failed == 0


def test_cases_list_and_show_stay_within_the_tenant(tenants: dict[str, App]) -> None:
    receive(tenants["kzm"], cur_signal(1))
    receive(tenants["other"], cur_signal(2))
    mine, theirs = case_list(tenants["kzm"]), case_list(tenants["other"])
    assert len(mine) == 1 and len(theirs) == 1
    assert mine[0]["number"] != theirs[0]["number"]
    assert case_detail(tenants["kzm"], theirs[0]["number"]) is None
    assert case_detail(tenants["other"], mine[0]["number"]) is None


def test_a_case_tag_of_another_tenant_does_not_thread_into_its_case(tenants: dict[str, App]) -> None:
    receive(tenants["kzm"], cur_signal(1))
    (theirs,) = case_list(tenants["kzm"])
    follow_up = make_message(sender="ЦУР Республики Марий Эл <cur@example.org>",
                             subject=f"Re: [KZM-{theirs['number']}] уточнение", body="Дополнительные сведения.")
    receive(tenants["other"], follow_up)
    with tenants["kzm"].sessions() as session:
        stored = session.scalars(select(StoredMessage).where(StoredMessage.tenant == "other")).one()
        foreign = session.get(Case, stored.case_id) if stored.case_id else None
    assert foreign is None or foreign.tenant == "other"
    assert len(case_list(tenants["kzm"])) == 1


def test_processing_takes_only_the_tenants_own_messages(tenants: dict[str, App]) -> None:
    with transaction(tenants["other"].sessions) as session:
        store_messages(session, mailbox=None, uidvalidity=None, messages=[IncomingRaw(cur_signal(3), RECEIVED)],
                       now=RECEIVED, tenant="other")
    report = process_pending(tenants["kzm"])
    assert report.processed == 0
    assert case_list(tenants["kzm"]) == []


def test_a_tenants_reminder_tick_leaves_the_other_tenants_cases_alone(tenants: dict[str, App]) -> None:
    receive(tenants["kzm"], cur_signal(1))
    receive(tenants["other"], cur_signal(2))
    app = tenants["kzm"]
    app.clock = Clock(fixed=RECEIVED + timedelta(hours=3, minutes=1))  # both escalations are due
    tick(app)
    with app.sessions() as session:
        touched = session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind.in_(["reminder", "escalation"]), OutboxMessage.tenant == "other")).all()
    assert touched == []
