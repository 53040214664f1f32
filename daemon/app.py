"""The running application's shared parts: settings, database engine, session factory and clock."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from daemon.clock import Clock
from daemon.config import Settings
from daemon.db.engine import make_engine, make_sessionmaker
from daemon.db.migrate import upgrade

log = logging.getLogger("curmail")


@dataclass
class App:
    """What every component needs; built once at start-up and again on reload."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = field(default_factory=Clock)
    tenant: str = "default"
    # Per-application caches (the parsed messages intake keeps for the act stage): they go with the App.
    caches: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def open(cls, settings: Settings, clock: Clock | None = None, migrate: bool | None = None) -> App:
        db = settings.database
        engine = make_engine(db.url, db.busy_timeout_seconds, db.db_schema)
        if settings.database.auto_migrate if migrate is None else migrate:
            upgrade(engine)
        return cls(settings=settings, engine=engine, sessions=make_sessionmaker(engine), clock=clock or Clock())

    def close(self) -> None:
        self.engine.dispose()
