"""`curmail db copy`: SQLite to PostgreSQL, every table and byte, sequences moved past the copied ids."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from daemon.app import App
from daemon.db.models import Base, Case, StoredMessage
from tests.ops.support import fixture, numbered
from tests.support.env import CurmailEnv


def _snapshot(app: App) -> dict[str, list[tuple]]:
    """Every row of every table, ordered by primary key."""
    with app.engine.connect() as connection:
        return {
            table.name: [tuple(row) for row in connection.execute(
                select(table).order_by(*table.primary_key.columns))]
            for table in Base.metadata.sorted_tables
        }


def test_copy_sqlite_to_postgresql(sqlite_env: CurmailEnv, pg_url: str) -> None:
    env = sqlite_env
    env.dovecot.append_many(env.account.user, [numbered(fixture("citizen_letter.eml"), n) for n in (1, 2)]
                            + [numbered(fixture("cur_signal.eml"), n) for n in (1, 2, 3)])
    env.run_once()
    source = env.app()
    before = _snapshot(source)
    assert before["message"] and before["case"] and before["outbox"] and before["case_event"]

    result = env.cli("db", "copy", env.db_url, pg_url)
    assert "copied" in result.stdout

    env.configure(database={"url": pg_url})
    target = env.app()
    assert _snapshot(target) == before  # every column, raw message bytes included
    with target.sessions() as session, session.begin():
        case = Case(kind="generic", state="new", opened_at=datetime.now(UTC))
        session.add(case)
        session.flush()  # would collide with case 1 if the sequence had not been moved
        assert case.id == max(row[0] for row in before["case"]) + 1
    with target.sessions() as session:
        assert session.scalar(select(func.count()).select_from(StoredMessage)) == 5

    again = env.cli("db", "copy", "sqlite:///" + str(Path(env.tmp_path) / "curmail.db"), pg_url, check=False)
    assert again.returncode == 1
    assert "not empty" in again.stderr
