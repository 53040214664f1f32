"""Latency from APPEND of a ЦУР signal to the notification accepted by the SMTP server, with IDLE (issue 8).

A private Dovecot and an in-process aiosmtpd sink on loopback; the daemon is the real thing, a
`python -m daemon.cli run` subprocess with a config like tests/support/settings.py builds, polling
only every 10 minutes so that IDLE alone wakes it. Signals are appended one at a time; for each, the
time until the sink accepts the first letter of its case is taken. p50, p95 and max over N signals.

    python -m bench.latency [--signals 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import Figure, print_table  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.mail import appeal, cur_signal  # noqa: E402
from tests.support.settings import config_data, to_toml  # noqa: E402
from tests.support.smtp import SmtpSink  # noqa: E402

TARGET_P95_SECONDS = 2.0
WAIT_SECONDS = 30.0  # per signal; a lost one counts as this long


@dataclass
class LiveDaemon:
    """A running `curmail run` over a private Dovecot user and an SMTP sink, and where its files are."""

    process: subprocess.Popen[bytes]
    dovecot: Dovecot
    user: str
    sink: SmtpSink
    workdir: Path
    db_url: str

    def append(self, raw: bytes) -> None:
        self.dovecot.append(self.user, raw)


@contextmanager
def live_daemon(poll_interval: int = 600, **sections: dict) -> Iterator[LiveDaemon]:
    """Dovecot + sink + SQLite in a temp dir, and the daemon as a subprocess; stopped with SIGTERM."""
    with tempfile.TemporaryDirectory(prefix="curmail-live-") as tmp, \
            Dovecot(root=Path(tmp) / "dovecot") as dovecot, SmtpSink() as sink:
        workdir = Path(tmp)
        user, password = "bench", "bench-password"
        dovecot.add_user(user, password)
        db_url = f"sqlite:///{workdir / 'curmail.db'}"
        data = config_data(workdir, imap_port=dovecot.port, imap_user=user, imap_password=password,
                           smtp_port=sink.port, db_url=db_url, **sections)
        data["mailbox"]["poll_interval_seconds"] = poll_interval
        config = workdir / "curmail.toml"
        config.write_text(to_toml(data), encoding="utf-8")
        env = {**os.environ, "CURMAIL_CONFIG": str(config)}
        subprocess.run([sys.executable, "-m", "daemon.cli", "db", "upgrade"], env=env, cwd=REPO, check=True,
                       capture_output=True)
        with (workdir / "daemon.log").open("wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "daemon.cli", "run"], env=env, cwd=REPO,
                                       stdout=log, stderr=subprocess.STDOUT)
            try:
                yield LiveDaemon(process, dovecot, user, sink, workdir, db_url)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_for_sink(sink: SmtpSink, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(sink.messages) > count:
            return True
        time.sleep(0.002)
    return False


def measure(signals: int) -> list[float]:
    """Seconds from APPEND to the first accepted notification, per signal."""
    latencies: list[float] = []
    with live_daemon() as daemon:
        daemon.append(appeal(0))  # warm-up: imports, templates, the first SMTP connection
        if not wait_for_sink(daemon.sink, 0, 60):
            raise RuntimeError(f"the daemon sent nothing; see {daemon.workdir / 'daemon.log'}")
        time.sleep(1.0)
        for n in range(1, signals + 1):
            before = len(daemon.sink.messages)
            started = time.monotonic()
            daemon.append(cur_signal(n))
            arrived = wait_for_sink(daemon.sink, before, WAIT_SECONDS)
            latencies.append(time.monotonic() - started if arrived else WAIT_SECONDS)
            time.sleep(0.2)  # let the case's other letters go out, so the next count starts clean
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(runs: int = 1, signals: int = 200) -> list[Figure]:
    """p50, p95 and max of APPEND → accepted notification; with runs > 1, the median of each over runs."""
    samples = [measure(signals) for _ in range(runs)]
    p50 = statistics.median(statistics.median(s) for s in samples)
    p95 = statistics.median(percentile(s, 0.95) for s in samples)
    worst = statistics.median(max(s) for s in samples)
    return [
        Figure(f"latency APPEND -> notification accepted, p50 ({signals} signals)", p50, unit="s"),
        Figure(f"latency APPEND -> notification accepted, p95 ({signals} signals)", p95,
               target=f"<= {TARGET_P95_SECONDS:.0f}", unit="s"),
        Figure(f"latency APPEND -> notification accepted, max ({signals} signals)", worst, unit="s"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=200)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print_table(run(args.runs, args.signals), "bench/latency.py")


if __name__ == "__main__":
    main()
