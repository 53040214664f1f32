"""Cost of one reminder tick that finds nothing due among 100,000 open cases, on SQLite and PostgreSQL (issue 4)."""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from bench.common import Figure, bench_database, median_of, print_table
from daemon.app import App
from daemon.clock import Clock
from daemon.config import parse_settings
from daemon.db.models import Case
from daemon.workflow.reminders import tick
from tests.support.postgres import PostgresUnavailable  # the same throw-away databases as tests

OPEN_CASES = 100_000
CHUNK = 10_000
TARGET_MS = 50.0
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
# The shape of tick's own query (see daemon.workflow.reminders.tick), for EXPLAIN.
DUE_SQL = 'SELECT id FROM "case" WHERE next_action_at <= :now ORDER BY next_action_at LIMIT 500'
BASELINE_SQL = text('SELECT id FROM "case" WHERE next_action_at <= :now LIMIT 1')


def _settings(db_url: str, state_dir: Path) -> Any:
    return parse_settings({
        "organization": {"name": "Администрация (бенчмарк)", "address": "adm@bench.example", "case_tag": "KZM"},
        "mailbox": {"host": "127.0.0.1", "port": 143, "security": "none", "username": "adm", "password": "x"},
        "smtp": {"host": "127.0.0.1", "port": 25, "security": "none"},
        "database": {"url": db_url},
        "state": {"directory": str(state_dir)},
    }, "bench.toml")


def _fill(app: App, count: int) -> None:
    """Bulk-insert `count` open cases, every one with its next action in the future (Core executemany)."""
    rng = random.Random(4)
    kinds = ("refutation", "request", "appeal", "generic")
    with app.engine.begin() as conn:
        for start in range(0, count, CHUNK):
            rows = []
            for number in range(start, min(start + CHUNK, count)):
                next_at = NOW + timedelta(minutes=rng.randint(1, 60 * 24 * 30))
                rows.append({
                    "tenant": "default", "kind": kinds[number % 4], "state": "assigned",
                    "subject": f"Дело {number}", "normalized_subject": f"дело {number}",
                    "opened_at": NOW - timedelta(days=1), "due_at": next_at + timedelta(hours=1),
                    "due_assumed": False, "next_action_at": next_at, "assignee": "petrov@bench.example",
                })
            conn.execute(insert(Case.__table__), rows)
    with app.engine.begin() as conn:
        conn.execute(text("ANALYZE"))  # planner statistics after a bulk load, as autovacuum would do later


def _ms(action) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def _baseline(app: App) -> None:
    with app.engine.connect() as conn:
        conn.execute(BASELINE_SQL, {"now": NOW}).first()


def _idle_tick(app: App) -> None:
    report = tick(app)
    if report.cases:
        raise AssertionError(f"the benchmark tick found due cases: {report}")


def _plan(app: App) -> str:
    """The database's plan for the due-case query, to show the index is used (not a scan)."""
    if app.engine.dialect.name == "sqlite":
        sql, column = f"EXPLAIN QUERY PLAN {DUE_SQL}", -1
    else:
        sql, column = f"EXPLAIN {DUE_SQL}", 0
    with app.engine.connect() as conn:
        return " / ".join(str(row[column]).strip() for row in conn.execute(text(sql), {"now": NOW}))


def measure(backend: str, runs: int, workdir: Path) -> list[Figure]:
    with bench_database(backend, workdir, "bench") as url:
        app = App.open(_settings(url, workdir / "state"), Clock(fixed=NOW), migrate=True)
        try:
            _fill(app, OPEN_CASES)
            print(f"{backend}: plan of the due-case query: {_plan(app)}")
            _idle_tick(app)  # warm the pool, the statement cache and the calendar
            _baseline(app)
            samples = max(runs, 3) * 5
            value = median_of(samples, lambda: _ms(lambda: _idle_tick(app)))
            baseline = median_of(samples, lambda: _ms(lambda: _baseline(app)))
        finally:
            app.close()
    name = "SQLite" if backend == "sqlite" else "PostgreSQL"
    return [Figure(f"reminder tick, nothing due, {OPEN_CASES:,} open cases ({name})", value, baseline,
                   target=f"<= {TARGET_MS:.0f}", unit="ms")]


def run(runs: int = 5) -> list[Figure]:
    """Median cost of an idle tick (ms) against a bare indexed SELECT … LIMIT 1 on the same database."""
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="curmail-bench-") as tmp:
        for backend in ("sqlite", "postgresql"):
            try:
                figures += measure(backend, runs, Path(tmp) / backend)
            except PostgresUnavailable as exc:  # no server here: report the SQLite figure alone, say why
                print(f"postgresql: skipped ({exc})")
    return figures


if __name__ == "__main__":
    print_table(run(), "bench/scheduler.py: reminder tick with nothing due")
