"""Shared set-up for the outgoing-mail tests: settings pointing at a sink, a migrated database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from daemon.config import Settings, parse_settings
from daemon.db.engine import make_engine, make_sessionmaker
from daemon.db.migrate import upgrade
from daemon.db.models import Case

ORG = "adm@kozmo.example"
CONTACT = "ivanova@kozmo.example"
OFFICIAL = "petrov@kozmo.example"
NOW = datetime(2026, 12, 3, 12, 42, tzinfo=UTC)  # 15:42 MSK


def make_settings(
    state_dir: Path, *, smtp_port: int = 25, db_url: str = "sqlite://", smtp: dict[str, Any] | None = None,
    mail: dict[str, Any] | None = None,
) -> Settings:
    data: dict[str, Any] = {
        "organization": {"name": "Администрация городского округа «Город Козьмодемьянск»", "address": ORG,
                         "case_tag": "KZM"},
        "mailbox": {"host": "127.0.0.1", "port": 143, "security": "none", "username": "adm", "password": "x"},
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none", "timeout_seconds": 2, **(smtp or {})},
        "database": {"url": db_url},
        "staff": [
            {"name": "Иванова Мария Петровна", "email": CONTACT, "roles": ["contact"]},
            {"name": "Петров Пётр", "email": OFFICIAL, "roles": ["responsible"]},
        ],
        "state": {"directory": str(state_dir)},
        "mail": mail or {},
    }
    return parse_settings(data, "test.toml")


def migrated(db_url: str) -> sessionmaker[Session]:
    engine = make_engine(db_url)
    upgrade(engine)
    return make_sessionmaker(engine)


def new_case(session: Session, subject: str = "Жалоба на яму во дворе") -> Case:
    case = Case(kind="cur_signal", state="new", subject=subject, opened_at=NOW)
    session.add(case)
    session.flush()
    return case
