"""Fixtures for the e-mail interface: the workflow `Flow` plus the after-dispatch hook (commands, acks, ICS)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from daemon.app import App
from daemon.clock import Clock
from daemon.db.engine import transaction
from daemon.pipeline import process_pending
from daemon.store import IncomingRaw, store_messages
from tests.workflow.conftest import Flow, make_settings, msk, set_headers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


class Mail(Flow):
    """A Flow that also takes raw messages and the client-shaped command fixtures."""

    def deliver_raw(self, raw: bytes, *, at: datetime) -> None:
        self.app.clock = Clock(fixed=at)
        with transaction(self.app.sessions) as session:
            store_messages(session, mailbox=None, uidvalidity=None, messages=[IncomingRaw(raw, at)], now=at)
        report = process_pending(self.app)
        assert report.parked == 0 and report.failed == 0, report


def command_mail(name: str, *, sender: str, case_id: int | None = None, reply_to: str | None = None,
                 **headers: str) -> bytes:
    """A fixture of tests/fixtures/commands/ as sent by `sender`, about case `case_id`, answering `reply_to`."""
    raw = (FIXTURES / "commands" / name).read_bytes()
    if case_id is not None:  # the fixtures name cases 42 and 7
        raw = raw.replace(b"KZM-42", f"KZM-{case_id}".encode()).replace(b"KZM-7", f"KZM-{case_id}".encode())
    changes: dict[str, str] = {"From": sender, "To": "adm@kozmo.example",
                               **{k.replace("_", "-"): v for k, v in headers.items()}}
    if reply_to:
        changes["In-Reply-To"] = reply_to
        changes["References"] = reply_to
    else:
        changes["In-Reply-To"] = None  # type: ignore[assignment]
        changes["References"] = None  # type: ignore[assignment]
    return set_headers(raw, changes)


@pytest.fixture
def make_flow(tmp_path: Path, db_url: str) -> Iterator[Any]:
    """A factory of Flows: `make_flow(security={...})` applies config overrides per section."""
    apps: list[App] = []

    def build(**sections: Any) -> Flow:
        app = App.open(make_settings(tmp_path, db_url, **sections), Clock(fixed=msk(2026, 12, 3, 9, 0)), migrate=True)
        apps.append(app)
        return Mail(app)

    yield build
    for app in apps:
        app.close()


@pytest.fixture
def flow(make_flow: Any) -> Mail:
    return make_flow()
