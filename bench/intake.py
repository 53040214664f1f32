"""Intake benchmark: full intake vs bare imapclient FETCH + mail-parser parse, peak RSS, and IDLE latency.

The mailbox is a private Dovecot on loopback holding a backlog of generated Russian office mail
(bench/generate.py: ~30 KB each, 5 % with a 150 KB attachment, 25 % windows-1251). Every
measurement runs in a child process of its own, so peak RSS is the child's and runs do not share
caches. Figures are medians of several runs, each compared with the baseline measured in the same run.

    python -m bench.intake [--n 10000] [--runs 3] [--latency 200]
    python -m bench.intake --stages 1000      # where the processing time goes, per stage
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import Figure, print_table  # noqa: E402

RECEIVED = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM, which starts afresh at exec.

    getrusage's ru_maxrss does not: Linux keeps it across execve, so a child forked from a parent
    that holds the generated backlog (300 MB at 10,000 messages) reported the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _smaps_kb(pid: int | str, *fields: str) -> int:
    """The sum of these fields of /proc/PID/smaps_rollup, in kB (0 if the process is gone)."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return 0
    return sum(int(line.split()[1]) for line in lines if line.split(":")[0] in fields)


def _children(pid: int | str) -> list[str]:
    """Child processes, whichever thread forked them."""
    found: list[str] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # the thread ended meanwhile
            found += (task / "children").read_text().split()
    return found


class MemoryPeak:
    """Samples this process's RSS plus its children's private memory (the parse worker) and keeps the peak.

    A forked worker shares the daemon's pages until it writes to them. Its VmHWM counts them again;
    its private pages (USS) are what it adds to the machine. The daemon's own RSS is counted whole.
    """

    def __init__(self, interval: float = 0.05) -> None:
        import threading

        self.peak_kb = 0
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pid = os.getpid()
        while not self._stop.is_set():
            total = _smaps_kb(pid, "Rss") + sum(
                _smaps_kb(child, "Private_Clean", "Private_Dirty") for child in _children(pid))
            self.peak_kb = max(self.peak_kb, total)
            self._stop.wait(self._interval)

    def __enter__(self) -> MemoryPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def child_baseline(port: int, user: str, password: str) -> dict[str, float]:
    """Bare imapclient FETCH in batches of 200 plus mailparser.parse_from_bytes: the yardstick."""
    import imapclient
    import mailparser

    start = time.perf_counter()
    client = imapclient.IMAPClient("127.0.0.1", port=port, ssl=False, timeout=60)
    client.login(user, password)
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    count = 0
    for i in range(0, len(uids), 200):
        data = client.fetch(uids[i : i + 200], ["BODY.PEEK[]", "RFC822.SIZE", "INTERNALDATE"])
        for item in data.values():
            mailparser.parse_from_bytes(item[b"BODY[]"])
            count += 1
    client.logout()
    elapsed = time.perf_counter() - start
    return {"count": count, "seconds": elapsed, "rate": count / elapsed, "rss_mb": _peak_rss_mb()}


def child_intake(port: int, user: str, password: str, workdir: str, act: bool = True) -> dict[str, float]:
    """curmail's whole intake (fetch, store, parse, classify, thread, commit, flag), then the act stage."""
    from sqlalchemy import func, select

    from daemon.app import App
    from daemon.config import parse_settings
    from daemon.db.models import MessageStatus, StoredMessage
    from daemon.runner import Runner

    settings = parse_settings({
        "organization": {"name": "Администрация", "address": "adm@kozmo.example", "case_tag": "KZM"},
        "mailbox": {"host": "127.0.0.1", "port": port, "security": "none", "username": user,
                    "password": password, "timeout_seconds": 60},
        "smtp": {"host": "127.0.0.1", "port": 9, "security": "none"},
        "database": {"url": f"sqlite:///{workdir}/curmail.db"},
        "cur": {"addresses": ["cur@example.org"], "domains": ["cur12.example.org", "pos.gosuslugi.ru"]},
        "state": {"directory": f"{workdir}/state"},
        "staff": [{"name": "Контакт", "email": "ivanova@kozmo.example", "roles": ["contact"]}],
    }, "<bench>")
    app = App.open(settings)  # migrations before the clock starts: they are not intake
    runner = Runner(app)
    start = time.perf_counter()
    with MemoryPeak() as memory:
        runner.intake()
    elapsed = time.perf_counter() - start
    intake_rss = _peak_rss_mb()
    worker = app.caches.get("parse_worker_stats")
    worker_rss = worker.worker_peak_rss_kb / 1024 if worker is not None else 0.0
    with app.sessions() as session:
        count = session.scalar(select(func.count(StoredMessage.id)))
        classified = session.scalar(select(func.count(StoredMessage.id))
                                    .where(StoredMessage.status == MessageStatus.CLASSIFIED))
    result = {"count": count, "seconds": elapsed, "rate": count / elapsed, "rss_mb": intake_rss,
              "worker_rss_mb": worker_rss, "total_mb": max(memory.peak_kb / 1024, intake_rss),
              "parsed_by_worker": worker.delivered if worker is not None else 0,
              "parsed_here": worker.shared if worker is not None else 0}
    if classified != count:
        raise RuntimeError(f"{count} stored, {classified} classified by intake")
    if not act:
        runner._close()
        return result
    # The act stage (workflows, acknowledgements, invitations: ~3 letters per new case) comes after
    # the backlog is threaded; timed apart, and together for the end-to-end figure.
    start = time.perf_counter()
    runner.act()
    acting = time.perf_counter() - start
    with app.sessions() as session:
        processed = session.scalar(select(func.count(StoredMessage.id))
                                   .where(StoredMessage.status == MessageStatus.PROCESSED))
    runner._close()
    if processed != count:
        raise RuntimeError(f"{count} stored, {processed} processed after acting")
    return {**result, "act_seconds": acting, "end_to_end_rate": count / (elapsed + acting),
            "end_rss_mb": _peak_rss_mb()}


def _child(kind: str, *args: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.intake", "--child", kind, *args],
        capture_output=True, text=True, cwd=REPO, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"child {kind} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _fresh_backlog(server, raws: list[bytes]) -> tuple[str, str]:
    user = f"bench{time.monotonic_ns()}"
    password = "bench-password"
    server.add_user(user, password)
    server.deliver_files(user, raws, mtime=RECEIVED)
    return user, password


def measure_throughput(server, raws: list[bytes], runs: int) -> tuple[list[dict], list[dict]]:
    baselines, intakes = [], []
    for run in range(runs):
        user, password = _fresh_backlog(server, raws)
        baselines.append(_child("baseline", str(server.port), user, password))
        user, password = _fresh_backlog(server, raws)
        with tempfile.TemporaryDirectory() as workdir:
            # The act stage takes minutes at 10,000 messages: its end-to-end figure is from the first run.
            intakes.append(_child("intake", str(server.port), user, password, workdir, "act" if run == 0 else "-"))
    return baselines, intakes


def measure_latency(server, signals: int) -> list[float]:
    """APPEND → committed case with the daemon running on IDLE; seconds per message."""
    from sqlalchemy import create_engine, select

    from bench.generate import generate_messages
    from daemon.db.models import StoredMessage
    from tests.support.settings import config_data, to_toml

    user, password = _fresh_backlog(server, [])
    with tempfile.TemporaryDirectory() as workdir:
        db = f"sqlite:///{workdir}/curmail.db"
        data = config_data(Path(workdir), imap_port=server.port, imap_user=user, imap_password=password,
                           smtp_port=9, db_url=db)
        data["mailbox"]["poll_interval_seconds"] = 600  # only IDLE may wake it: that is what we measure
        config = Path(workdir) / "curmail.toml"
        config.write_text(to_toml(data), encoding="utf-8")
        env = {**os.environ, "CURMAIL_CONFIG": str(config)}
        subprocess.run([sys.executable, "-m", "daemon.cli", "db", "upgrade"], env=env, cwd=REPO, check=True,
                       capture_output=True)
        log = (Path(workdir) / "daemon.log").open("wb")
        daemon = subprocess.Popen([sys.executable, "-m", "daemon.cli", "run"], env=env, cwd=REPO,
                                  stdout=log, stderr=subprocess.STDOUT)
        engine = create_engine(db)
        latencies: list[float] = []
        try:
            time.sleep(3)  # logged in and idling
            for raw in generate_messages(signals, seed=7):
                sent_at = time.time()
                server.append(user, raw)
                mid = raw.split(b"Message-ID:", 1)[1].split(b"\n", 1)[0].strip().decode()
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    with engine.connect() as conn:
                        row = conn.execute(select(StoredMessage.status, StoredMessage.case_id).where(
                            StoredMessage.message_id == mid)).first()
                    if row is not None and row.status != "stored":
                        latencies.append(time.time() - sent_at)
                        break
                    time.sleep(0.005)
                else:
                    latencies.append(float("inf"))
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
            engine.dispose()
    return latencies


# Where the processing time goes: (module, attribute, label). The timers wrap the names as the
# callers see them (`from x import f` copies the name, so it is wrapped in the caller's module).
STAGES = (
    ("daemon.pipeline", "classify_pending", "INTAKE STAGE: pipeline.classify_pending (all of it)"),
    ("daemon.pipeline", "act_pending", "ACT STAGE: pipeline.act_pending (all of it)"),
    ("daemon.pipeline", "parse_message", "parse_message (intake; again when acting after a restart)"),
    ("daemon.pipeline", "classify", "classify"),
    ("daemon.pipeline", "find_case", "threader.find_case"),
    ("daemon.pipeline", "thread_into_case", "dispatch.thread_into_case (attach, or open the case row)"),
    ("daemon.dispatch", "run_workflow", "dispatch.run_workflow (all of it)"),
    ("daemon.dispatch", "_run", "  of which the workflow's on_open/on_message"),
    ("daemon.workflow.appeal", "mark_repeats", "    of which appeal: reports.repeats.mark_repeats"),
    ("daemon.workflow.appeal", "repeat_history", "    of which appeal: reports.repeats.repeat_history"),
    ("daemon.acks", "after_dispatch", "acks.after_dispatch (all of it)"),
    ("daemon.ics", "sync", "  of which ics.sync"),
    ("daemon.ics", "build", "    of which ics.build (icalendar VTIMEZONE)"),
    ("daemon.outbox", "renderer_for", "outbox: renderer_for"),
    ("daemon.outbox", "compose", "outbox: compose"),
)


def stage_breakdown(n: int) -> list[Figure]:
    """Per-stage wall ms per message of process_pending over n stored messages, in process, no IMAP.

    Timers wrap the stage functions for this run only. Stages nest (see the labels), so the rows do
    not add up; enqueue and the SQLAlchemy flush are timed wherever they are called.
    """
    import importlib
    import logging
    from collections import defaultdict
    from functools import wraps

    from sqlalchemy.orm import Session

    from bench.generate import generate_messages
    from daemon.app import App
    from daemon.config import parse_settings
    from daemon.db.engine import transaction
    from daemon.pipeline import process_pending
    from daemon.render import Renderer
    from daemon.store import IncomingRaw, store_messages

    logging.disable(logging.CRITICAL)
    spent: dict[str, float] = defaultdict(float)

    def timed(owner: object, name: str, label: str) -> None:
        original = getattr(owner, name)

        @wraps(original)
        def wrapper(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - started

        setattr(owner, name, wrapper)

    for module, name, label in STAGES:
        timed(importlib.import_module(module), name, label)
    for module in ("daemon.outbox", "daemon.acks", "daemon.ics", "daemon.workflow.machine", "daemon.notices"):
        owner = importlib.import_module(module)
        if hasattr(owner, "enqueue"):
            timed(owner, "enqueue", "outbox.enqueue (render, compose, dedupe, flush)")
    timed(Renderer, "render", "outbox: Renderer.render")
    timed(Session, "flush", "SQLAlchemy Session.flush (wherever called)")
    timed(Session, "commit", "SQLAlchemy Session.commit")

    raws = list(generate_messages(n, seed=1))
    with tempfile.TemporaryDirectory() as workdir:
        settings = parse_settings({
            "organization": {"name": "Администрация", "address": "adm@kozmo.example", "case_tag": "KZM"},
            "mailbox": {"host": "127.0.0.1", "port": 1, "security": "none", "username": "u", "password": "p"},
            "smtp": {"host": "127.0.0.1", "port": 9, "security": "none"},
            "database": {"url": f"sqlite:///{workdir}/curmail.db"},
            "cur": {"addresses": ["cur@example.org"], "domains": ["cur12.example.org", "pos.gosuslugi.ru"]},
            "state": {"directory": f"{workdir}/state"},
            "staff": [{"name": "Контакт", "email": "ivanova@kozmo.example", "roles": ["contact"]}],
        }, "<bench>")
        app = App.open(settings)
        for i in range(0, n, 200):
            with transaction(app.sessions) as session:
                batch = [IncomingRaw(raw=raw, internal_date=RECEIVED, uid=i + j + 1)
                         for j, raw in enumerate(raws[i : i + 200])]
                store_messages(session, mailbox="bench", uidvalidity=1, messages=batch, now=RECEIVED)
        spent.clear()
        started = time.perf_counter()
        process_pending(app)
        total = time.perf_counter() - started
    rows = [Figure(f"process_pending, {n} stored msgs (all of it)", total * 1000 / n, None, "", "ms/msg")]
    rows += [Figure(label, seconds * 1000 / n, None, "", "ms/msg")
             for label, seconds in sorted(spent.items(), key=lambda item: -item[1])]
    return rows


def run(runs: int = 3, n: int = 10_000, latency_signals: int = 200) -> list[Figure]:
    from bench.generate import generate_messages
    from tests.support.dovecot import Dovecot

    raws = list(generate_messages(n, seed=1))
    small = raws[: max(1, n // 5)]
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as root, Dovecot(root=Path(root) / "dovecot") as server:
        baselines, intakes = measure_throughput(server, raws, runs)
        base_rate = statistics.median(b["rate"] for b in baselines)
        intake_rate = statistics.median(i["rate"] for i in intakes)
        figures.append(Figure(f"intake throughput, {n} msgs (msg/s)", intake_rate, base_rate, ">= 0.8x"))
        figures.append(Figure("  then the act stage: intake + act, end to end (msg/s)",
                              intakes[0]["end_to_end_rate"], baselines[0]["rate"], "(no target; first run)"))
        figures.append(Figure("  messages parsed by the parse worker (median)",
                              statistics.median(i["parsed_by_worker"] for i in intakes), None, "(of the backlog)"))
        figures.append(Figure("  messages handed back and parsed in the daemon (median)",
                              statistics.median(i["parsed_here"] for i in intakes), None, "(work sharing)"))
        figures.append(Figure("intake peak memory: daemon RSS + parse worker private (MB)",
                              statistics.median(i["total_mb"] for i in intakes), None, "<= 200 MB"))
        figures.append(Figure("  daemon process alone, peak RSS (VmHWM, MB)",
                              statistics.median(i["rss_mb"] for i in intakes), None, ""))
        figures.append(Figure("  parse worker alone, peak RSS incl. pages shared with the daemon (MB)",
                              statistics.median(i["worker_rss_mb"] for i in intakes), None, ""))
        figures.append(Figure("  peak RSS after the act stage too (MB)",
                              intakes[0]["end_rss_mb"], None, "<= 200 MB"))
        _, small_intakes = measure_throughput(server, small, 1)
        figures.append(Figure(f"intake peak memory, {len(small)} msgs vs {n} (MB)",
                              statistics.median(i["total_mb"] for i in intakes), small_intakes[0]["total_mb"],
                              "~1.0x: no growth with the backlog"))
        if latency_signals:
            lat = sorted(measure_latency(server, latency_signals))
            p95 = lat[int(0.95 * (len(lat) - 1))]
            figures.append(Figure("IDLE latency APPEND -> committed case, p50 (s)", statistics.median(lat)))
            figures.append(Figure("IDLE latency APPEND -> committed case, p95 (s)", p95, None, "<= 1 s"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=int, default=200, help="signals for the IDLE latency figure (0: skip)")
    parser.add_argument("--stages", type=int, default=0,
                        help="only print where processing time goes, over this many stored messages (no IMAP)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.stages:
        print_table(stage_breakdown(args.stages), f"processing stages over {args.stages} msgs (wall ms/msg)")
        return
    if args.child == "baseline":
        print(json.dumps(child_baseline(int(rest[0]), rest[1], rest[2])))
        return
    if args.child == "intake":
        print(json.dumps(child_intake(int(rest[0]), rest[1], rest[2], rest[3], act=rest[4:5] == ["act"])))
        return
    print_table(run(args.runs, args.n, args.latency), f"intake (median of {args.runs} runs)")


if __name__ == "__main__":
    main()
