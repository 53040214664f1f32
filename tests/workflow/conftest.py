"""The `flow` fixture: curmail in-process on a real database; deliver .eml fixtures, run the pipeline, inspect."""

from __future__ import annotations

import email
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload, undefer

from daemon.app import App
from daemon.clock import Clock
from daemon.config import Settings, parse_settings
from daemon.db.engine import transaction
from daemon.db.models import Case, CaseEvent, OutboxMessage, StoredMessage
from daemon.pipeline import process_pending
from daemon.store import IncomingRaw, store_messages
from tests.support.settings import config_data

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "workflow"
MSK = ZoneInfo("Europe/Moscow")

CONTACT = "ivanova@kozmo.example"
OFFICIAL = "petrov@kozmo.example"
SUPERVISOR = "sidorova@kozmo.example"
WEB_EDITOR = "kuznetsov@kozmo.example"
CUR = "cur@example.org"
PRESS = "prpress@gov.mari.ru"


def msk(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=MSK)


def set_headers(raw: bytes, headers: dict[str, str]) -> bytes:
    """Replace (or add) top-level header fields of a raw message, folded continuations included."""
    head, sep, body = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    kept: list[bytes] = []
    skipping = False
    names = {name.lower().encode() for name in headers}
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = line.split(b":", 1)[0].strip().lower() in names
        if not skipping:
            kept.append(line)
    added = [f"{name}: {value}".encode() for name, value in headers.items() if value is not None]
    return b"\n".join(added + kept) + sep + body


@dataclass
class Flow:
    """One curmail installation driven message by message, with a fixed clock per delivery."""

    app: App

    @property
    def settings(self) -> Settings:
        return self.app.settings

    def deliver(
        self,
        name: str,
        *,
        at: datetime,
        reply_to: str | Sequence[str] | None = None,
        **headers: str,
    ) -> None:
        """Store fixture `name` as received at `at` (INTERNALDATE), answering `reply_to`, and process it."""
        raw = (FIXTURES / name).read_bytes()
        changes = {k.replace("_", "-"): v for k, v in headers.items()}
        if reply_to:
            ids = [reply_to] if isinstance(reply_to, str) else list(reply_to)
            changes["In-Reply-To"] = ids[-1]
            changes["References"] = " ".join(ids)
        if changes:
            raw = set_headers(raw, changes)
        self.app.clock = Clock(fixed=at)
        with transaction(self.app.sessions) as session:
            store_messages(session, mailbox=None, uidvalidity=None, messages=[IncomingRaw(raw, at)], now=at)
        report = process_pending(self.app)
        assert report.parked == 0 and report.failed == 0, report

    def cases(self) -> list[Case]:
        with self.app.sessions() as session:
            return list(session.scalars(select(Case).options(selectinload(Case.events)).order_by(Case.id)))

    def case(self) -> Case:
        (only,) = self.cases()
        return only

    def actions(self, case: Case) -> list[str]:
        return [e.action for e in case.events]

    def events(self, case: Case, action: str) -> list[CaseEvent]:
        return [e for e in case.events if e.action == action]

    def outbox(self, kind: str | None = None, to: str | None = None) -> list[OutboxMessage]:
        with self.app.sessions() as session:
            query = select(OutboxMessage).options(undefer(OutboxMessage.raw)).order_by(OutboxMessage.id)
            if kind is not None:
                query = query.where(OutboxMessage.kind == kind)
            rows = list(session.scalars(query))
        return [r for r in rows if to is None or r.recipients == [to]]

    def one(self, kind: str, to: str) -> OutboxMessage:
        (row,) = self.outbox(kind, to)
        return row

    def messages(self) -> list[StoredMessage]:
        with self.app.sessions() as session:
            return list(session.scalars(select(StoredMessage).order_by(StoredMessage.id)))


def body_of(row: OutboxMessage) -> str:
    """The text/plain body of an outgoing letter, decoded."""
    msg = email.message_from_bytes(row.raw, policy=policy.default)
    part = msg.get_body(("plain",))
    assert part is not None
    return part.get_content()


def attachment_names(row: OutboxMessage) -> list[str]:
    msg = email.message_from_bytes(row.raw, policy=policy.default)
    return [part.get_filename() for part in msg.iter_attachments()]


def header_of(row: OutboxMessage, name: str) -> str:
    msg = email.message_from_bytes(row.raw, policy=policy.default)
    return str(msg[name] or "")


def make_settings(tmp_path: Path, db_url: str, **sections: Any) -> Settings:
    tables = {k: v for k, v in sections.items() if isinstance(v, dict)}
    data = config_data(tmp_path, imap_port=143, imap_user="adm", imap_password="x", smtp_port=25, db_url=db_url,
                       **tables)
    data.update({k: v for k, v in sections.items() if not isinstance(v, dict)})  # e.g. staff=[...] replaces
    return parse_settings(data, tmp_path / "curmail.toml")


@pytest.fixture
def make_flow(tmp_path: Path, db_url: str) -> Iterator[Any]:
    """A factory of Flows: `make_flow(deadlines={...})` applies config overrides per section."""
    apps: list[App] = []

    def build(**sections: dict[str, Any]) -> Flow:
        app = App.open(make_settings(tmp_path, db_url, **sections), Clock(fixed=msk(2026, 12, 3, 9, 0)), migrate=True)
        apps.append(app)
        return Flow(app)

    yield build
    for app in apps:
        app.close()


@pytest.fixture
def flow(make_flow: Any) -> Flow:
    return make_flow()


def ids(rows: Sequence[OutboxMessage]) -> list[str]:
    return [r.message_id for r in rows]


def plain(text: str) -> str:
    """Whitespace collapsed, for asserting on wrapped template text."""
    return re.sub(r"\s+", " ", text)
