"""Migrations: the Alembic head matches the models exactly, and upgrade/downgrade work on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from daemon.db.engine import make_engine
from daemon.db.migrate import alembic_config, current_revision, head_revision, upgrade
from daemon.db.models import Base


def test_head_matches_the_models_and_downgrades_cleanly(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision(engine)
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert differences == [], "models changed without a migration: run alembic revision --autogenerate"
        command.downgrade(alembic_config(engine), "base")
        assert current_revision(engine) is None
        upgrade(engine)  # and back up again: upgrades are repeatable
        assert current_revision(engine) == head_revision(engine)
    finally:
        engine.dispose()


def test_sqlite_savepoints_nest_inside_one_transaction(tmp_path) -> None:
    """A savepoint's RELEASE must not commit on its own (pysqlite's default would make it outermost)."""
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.commit()
        with conn.begin():
            nested = conn.begin_nested()
            conn.execute(text("INSERT INTO t VALUES (1)"))
            nested.commit()
            conn.rollback()
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    engine.dispose()


def test_a_pending_migration_asks_systemd_for_more_time_and_says_so(tmp_path, monkeypatch) -> None:
    """EXTEND_TIMEOUT_USEC and a STATUS line while Alembic works; nothing at all when the schema is current."""
    import time

    from daemon import sdnotify
    from tests.ops.support import NotifyListener

    listener = NotifyListener(str(tmp_path / "notify.sock"))
    monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        upgrade(engine)
        extended = listener.wait_for("EXTEND_TIMEOUT_USEC", timeout=10)
        assert int(extended[0]["EXTEND_TIMEOUT_USEC"]) == 90_000_000  # three 30-second steps
        assert extended[0]["STATUS"] == f"migrating the database schema from nothing to {head_revision(engine)}"
        assert current_revision(engine) == head_revision(engine)
        seen = len(listener.messages)
        upgrade(engine)  # at head already: systemd hears nothing
        time.sleep(0.3)
        assert len(listener.messages) == seen
        # A step that takes longer than one period is extended again, and again, until it ends.
        with sdnotify.extending_timeout("a long step", step_seconds=0.05):
            listener.wait_for("STATUS", "a long step", timeout=10, count=3)
        ended = len(listener.having("STATUS", "a long step"))
        time.sleep(0.3)
        assert len(listener.having("STATUS", "a long step")) == ended
    finally:
        engine.dispose()
        listener.close()
