"""Benchmark: enqueue + exactly-once send of 1,000 notifications vs bare aiosmtplib, to aiosmtpd on loopback.

Run: `.venv/bin/python -m bench.outbox [runs] [n]`. Both sides send the very same message bytes to the same
in-process aiosmtpd server over one connection; figures are medians of `runs` runs. Set
CURMAIL_BENCH_PG_URL (an empty database) to measure PostgreSQL too.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from bench.common import Figure, print_table
from daemon.config import Settings, parse_settings
from daemon.db.engine import make_engine, make_sessionmaker
from daemon.db.migrate import upgrade
from daemon.db.models import OutboxMessage
from daemon.outbox import enqueue
from daemon.sender import send_due

NOW = datetime(2026, 12, 3, 12, 42, tzinfo=UTC)
CONTEXT = {"sender": "cur@example.org", "original_subject": "Сигнал о публикации", "received_at": NOW,
           "stored_id": 3, "reason": "пример уведомления для замера", "attempts": 3}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _settings(state: Path, port: int, db_url: str) -> Settings:
    return parse_settings({
        "organization": {"name": "Администрация городского округа «Город Козьмодемьянск»",
                         "address": "adm@kozmo.example", "case_tag": "KZM"},
        "mailbox": {"host": "127.0.0.1", "security": "none", "username": "adm", "password": "x"},
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout_seconds": 30},
        "database": {"url": db_url},
        "staff": [{"name": "Иванова", "email": "ivanova@kozmo.example", "roles": ["contact"]}],
        "state": {"directory": str(state)},
    }, "bench.toml")


def _enqueue(factory: sessionmaker[Session], settings: Settings, n: int, per_transaction: int) -> float:
    """Seconds to enqueue n notifications, one recipient each, committing every `per_transaction`."""
    start = time.perf_counter()
    for first in range(0, n, per_transaction):
        with factory() as session, session.begin():
            for i in range(first, min(n, first + per_transaction)):
                enqueue(session, settings, kind="parked_alert", to=[f"user{i}@kozmo.example"], context=CONTEXT,
                        now=NOW)
    return time.perf_counter() - start


def _enqueue_and_send(factory: sessionmaker[Session], settings: Settings, n: int) -> tuple[float, float]:
    """Seconds for enqueue (one transaction, as one scheduler tick) and for send_due."""
    start = time.perf_counter()
    _enqueue(factory, settings, n, per_transaction=n)
    enqueued = time.perf_counter()
    report = asyncio.run(send_due(factory, settings, now=NOW, owner="bench"))
    if report.sent != n:
        raise RuntimeError(f"bench: sent {report.sent} of {n}: {report.errors}")
    return enqueued - start, time.perf_counter() - enqueued


def _bare(port: int, messages: list[tuple[str, str, bytes]]) -> float:
    async def send_all() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        await smtp.connect()
        for mail_from, rcpt, raw in messages:
            await smtp.sendmail(mail_from, [rcpt], raw)
        await smtp.quit()

    start = time.perf_counter()
    asyncio.run(send_all())
    return time.perf_counter() - start


def _fresh(make_db: Callable[[Path], str], tmp: Path, port: int) -> tuple[Engine, sessionmaker[Session], Settings]:
    db_url = make_db(tmp)
    engine = make_engine(db_url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    with factory() as session, session.begin():
        session.execute(delete(OutboxMessage))
    return engine, factory, _settings(tmp / "state", port, db_url)


def _measure(name: str, make_db: Callable[[Path], str], port: int, runs: int, n: int) -> list[Figure]:
    ours, bare, enqueue_s, send_s, each_s = [], [], [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="curmail-bench-") as tmp:
            engine, factory, settings = _fresh(make_db, Path(tmp), port)
            enq, snd = _enqueue_and_send(factory, settings, n)
            with factory() as session:
                messages = [(r.mail_from, r.recipients[0], r.raw) for r in session.scalars(select(OutboxMessage))]
            engine.dispose()
            ours.append(n / (enq + snd))
            enqueue_s.append(n / enq)
            send_s.append(n / snd)
            bare.append(n / _bare(port, messages))
        with tempfile.TemporaryDirectory(prefix="curmail-bench-") as tmp:
            engine, factory, settings = _fresh(make_db, Path(tmp), port)
            each_s.append(n / _enqueue(factory, settings, n, per_transaction=1))
            engine.dispose()
    baseline = statistics.median(bare)
    return [
        Figure(f"{name}: enqueue (1 txn) + send {n} notifications", statistics.median(ours), baseline, ">= 0.5x",
               "msg/s"),
        Figure(f"{name}: send_due only (claim, mark, DATA, commit)", statistics.median(send_s), baseline, "", "msg/s"),
        Figure(f"{name}: enqueue only, one transaction", statistics.median(enqueue_s), None, "", "msg/s"),
        Figure(f"{name}: enqueue only, one transaction each (fsync)", statistics.median(each_s), None, "", "msg/s"),
    ]


def _start_server(port: int) -> subprocess.Popen[bytes]:
    """aiosmtpd in its own process: in a thread it would share our GIL and skew both sides unevenly."""
    server = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(3) == b"220":
                    return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("bench: aiosmtpd did not start")


def run(runs: int = 5, n: int = 1000) -> list[Figure]:
    """Median throughput of curmail's outbox vs bare aiosmtplib, SQLite (and PostgreSQL if configured)."""
    port = _free_port()
    server = _start_server(port)
    try:
        figures = _measure("SQLite", lambda tmp: f"sqlite:///{tmp / 'bench.db'}", port, runs, n)
        pg_url = os.environ.get("CURMAIL_BENCH_PG_URL")
        if pg_url:
            figures += _measure("PostgreSQL", lambda tmp: pg_url, port, runs, n)
    finally:
        server.terminate()
        server.wait(10)
    return figures


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    print_table(run(*arguments), "outbox: enqueue + send vs bare aiosmtplib (aiosmtpd on loopback)")
