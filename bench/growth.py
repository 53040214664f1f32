"""Per-message intake cost with 1k, 10k and 100k messages already stored, on SQLite and PostgreSQL (issue 8).

Intake here is the database side of it, which is what could grow with the table: store (dedupe by
IMAP key, Message-ID and hash), parse, classify, thread (tag, references, subject + counterpart),
dispatch, enqueue, commit. The pre-existing history is bulk-inserted with SQLAlchemy Core: processed
messages, each linked to one of half as many cases, 10 % of them open. Each size is measured on the
same database as it grows, with fresh generated mail (bench/generate.py) per sample.

    python -m bench.growth [--runs 3] [--batch 200] [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import insert, select, text  # noqa: E402

from bench.common import Figure, bench_database, print_table  # noqa: E402
from bench.generate import generate_messages  # noqa: E402
from daemon.app import App  # noqa: E402
from daemon.clock import Clock  # noqa: E402
from daemon.config import parse_settings  # noqa: E402
from daemon.db.engine import transaction  # noqa: E402
from daemon.db.models import Case, MessageStatus, StoredMessage  # noqa: E402
from daemon.pipeline import process_pending  # noqa: E402
from daemon.store import IncomingRaw, store_messages  # noqa: E402
from tests.support.postgres import PostgresUnavailable  # noqa: E402
from tests.support.settings import STAFF  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MAILBOX = "adm@127.0.0.1:143/INBOX"
CHUNK = 5_000
KINDS = ("refutation", "request", "appeal", "generic")
COUNTERPARTS = ("cur@example.org", "noreply@pos.gosuslugi.ru", "petrov@kozmo.example")


def _settings(db_url: str, state_dir: Path) -> Any:
    return parse_settings({
        "organization": {"name": "Администрация (бенчмарк)", "address": "adm@kozmo.example", "case_tag": "KZM"},
        "mailbox": {"host": "127.0.0.1", "port": 143, "security": "none", "username": "adm", "password": "x"},
        "smtp": {"host": "127.0.0.1", "port": 25, "security": "none"},
        "database": {"url": db_url},
        "cur": {"addresses": ["cur@example.org"], "domains": ["cur12.example.org", "pos.gosuslugi.ru"]},
        "state": {"directory": str(state_dir)},
        "staff": STAFF,
    }, "bench.toml")


def _history_raw(number: int) -> bytes:
    return (f"From: citizen{number % 997}@mail.example\r\nTo: adm@kozmo.example\r\n"
            f"Subject: Old message {number}\r\nMessage-ID: <hist-{number}@mail.example>\r\n\r\n"
            f"{'Old text. ' * 40}\r\n").encode()


def grow(app: App, start: int, stop: int) -> None:
    """Bulk-insert history rows numbered [start, stop): messages and one case per two messages."""
    rng = random.Random(start)
    with app.engine.begin() as conn:
        first_case = conn.execute(select(Case.id).order_by(Case.id.desc()).limit(1)).scalar() or 0
    case_id = first_case
    for chunk_start in range(start, stop, CHUNK):
        numbers = range(chunk_start, min(chunk_start + CHUNK, stop))
        cases, messages = [], []
        for number in numbers:
            when = NOW - timedelta(days=rng.randint(1, 720), minutes=rng.randint(0, 1440))
            if number % 2 == 0:
                case_id += 1
                open_case = rng.random() < 0.1
                cases.append({
                    "id": case_id, "tenant": "default", "kind": KINDS[number % 4],
                    "state": "assigned" if open_case else "closed", "subject": f"Old message {number}",
                    "normalized_subject": f"old message {number}", "counterpart": COUNTERPARTS[number % 3],
                    "opened_at": when, "closed_at": None if open_case else when + timedelta(days=3),
                    "due_at": when + timedelta(days=30), "due_assumed": False,
                    "next_action_at": NOW + timedelta(days=rng.randint(1, 30)) if open_case else None,
                    "assignee": "petrov@kozmo.example",
                })
            raw = _history_raw(number)
            messages.append({
                "tenant": "default", "direction": "in", "mailbox": MAILBOX, "uidvalidity": 1, "uid": number + 1,
                "message_id": f"<hist-{number}@mail.example>", "sha256": hashlib.sha256(raw).hexdigest(),
                "size": len(raw), "internal_date": when, "stored_at": when, "raw": raw,
                "status": MessageStatus.PROCESSED.value, "attempts": 1, "kind": "appeal",
                "subject": f"Old message {number}", "from_addr": f"citizen{number % 997}@mail.example",
                "processed_at": when, "case_id": case_id,
            })
        with app.engine.begin() as conn:
            if cases:
                conn.execute(insert(Case.__table__), cases)
            conn.execute(insert(StoredMessage.__table__), messages)
    with app.engine.begin() as conn:
        if app.engine.dialect.name == "postgresql":
            conn.execute(text(
                "SELECT setval(pg_get_serial_sequence('\"case\"', 'id'), (SELECT max(id) FROM \"case\"))"))
        conn.execute(text("ANALYZE"))  # planner statistics after a bulk load, as autovacuum would do later


def intake_ms_per_message(app: App, raws: list[bytes], first_uid: int) -> float:
    """Store a batch as intake does, then process it; milliseconds per message."""
    incoming = [IncomingRaw(raw=raw, internal_date=NOW, uid=first_uid + i) for i, raw in enumerate(raws)]
    started = time.perf_counter()
    with transaction(app.sessions) as session:
        store_messages(session, mailbox=MAILBOX, uidvalidity=1, messages=incoming, now=NOW)
    report = process_pending(app)
    elapsed = time.perf_counter() - started
    if report.processed != len(raws):
        raise AssertionError(f"benchmark batch not fully processed: {report}")
    return elapsed * 1000 / len(raws)


def measure(backend: str, runs: int, batch: int, sizes: tuple[int, ...], workdir: Path) -> dict[int, float]:
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[int, float] = {}
    mail = generate_messages(batch * (runs + 1) * len(sizes), seed=11)
    uid = 10_000_000
    with bench_database(backend, workdir, "growth") as url:
        app = App.open(_settings(url, workdir / "state"), Clock(fixed=NOW), migrate=True)
        try:
            stored = 0
            for size in sizes:
                grow(app, stored, size)
                stored = size
                intake_ms_per_message(app, [next(mail) for _ in range(batch)], uid)  # warm caches
                uid += batch
                samples = []
                for _ in range(runs):
                    samples.append(intake_ms_per_message(app, [next(mail) for _ in range(batch)], uid))
                    uid += batch
                results[size] = statistics.median(samples)
                print(f"{backend}: {size:,} stored: {results[size]:.2f} ms per message", file=sys.stderr)
        finally:
            app.close()
    return results


def run(runs: int = 3, batch: int = 200, sizes: tuple[int, ...] = SIZES) -> list[Figure]:
    """Intake ms/message at each size; the baseline is the smallest size, the target ≤ 1.2× of it."""
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="curmail-growth-") as tmp:
        for backend in ("sqlite", "postgresql"):
            try:
                results = measure(backend, runs, batch, sizes, Path(tmp) / backend)
            except PostgresUnavailable as exc:
                print(f"postgresql: skipped ({exc})", file=sys.stderr)
                continue
            name = "SQLite" if backend == "sqlite" else "PostgreSQL"
            smallest = results[sizes[0]]
            for size in sizes:
                figures.append(Figure(f"intake per message, {size:,} stored ({name})", results[size],
                                      smallest if size != sizes[0] else None, "<= 1.2x", "ms"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    print_table(run(args.runs, args.batch, sizes), f"bench/growth.py (median of {args.runs} runs)")


if __name__ == "__main__":
    main()
