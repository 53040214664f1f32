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
