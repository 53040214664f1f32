"""Run Alembic migrations from inside the installed package, with no alembic.ini needed."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from daemon import sdnotify

MIGRATIONS = Path(__file__).with_name("migrations")

log = logging.getLogger("curmail.db")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to call at every start-up.

    A migration that rewrites big tables (0003 moves every message's bytes) can outlast systemd's
    TimeoutStartSec; while one runs, systemd is asked for more time and shown what is going on.
    """
    config = alembic_config(engine)
    current = current_revision(engine)
    target = ScriptDirectory.from_config(config).get_current_head() if revision == "head" else revision
    if current == target:
        return
    log.info("migrating the database schema from %s to %s", current or "nothing", target)
    with sdnotify.extending_timeout(f"migrating the database schema from {current or 'nothing'} to {target}"):
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
