"""Peak RSS of the daemon over a soak, and its RSS at the start versus the end (issue 8: no growth beyond 10 %).

The daemon runs as `curmail run` (bench/latency.py's live_daemon: private Dovecot, SMTP sink,
SQLite) while a feeder appends a steady mix of ЦУР signals and ПОС appeals. RSS is read from
/proc/PID/status every second. "Start" is the RSS once the warm-up is over (the first tenth of the
soak, at most a minute: imports, templates and caches fill then); "end" is the last sample.

    python -m bench.memory [--seconds 180] [--rate 2]      # the issue's hour: --seconds 3600
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import Figure, print_table  # noqa: E402
from bench.latency import live_daemon  # noqa: E402
from tests.support.mail import appeal, cur_signal  # noqa: E402

DEFAULT_SECONDS = 180
DEFAULT_RATE = 2.0  # messages per second appended to the mailbox
TARGET_GROWTH = 1.10


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def soak(seconds: float, rate: float) -> dict[str, float]:
    """Feed the daemon for `seconds`; return start/end/peak RSS and how much mail went through."""
    warmup = min(60.0, seconds / 10)
    samples: list[tuple[float, float]] = []
    with live_daemon(poll_interval=5) as daemon:
        started = time.monotonic()
        next_sample = next_message = started
        sent = 0
        while (now := time.monotonic()) - started < seconds:
            if now >= next_message:
                daemon.append(cur_signal(sent) if sent % 4 == 0 else appeal(sent))
                sent += 1
                next_message += 1 / rate
            if now >= next_sample:
                samples.append((now - started, *rss_mb(daemon.process.pid)))
                next_sample += 1.0
            time.sleep(max(0.0, min(next_message, next_sample) - time.monotonic()))
        time.sleep(3)  # the last mail is processed before the last sample
        samples.append((time.monotonic() - started, *rss_mb(daemon.process.pid)))
        accepted = len(daemon.sink.messages)
    after_warmup = [rss for at, rss, _ in samples if at >= warmup]
    start = statistics.median(after_warmup[:5])
    end = statistics.median([rss for _, rss, _ in samples[-5:]])
    return {"start": start, "end": end, "peak": max(hwm for _, _, hwm in samples), "appended": sent,
            "accepted": accepted}


def run(runs: int = 1, seconds: float = DEFAULT_SECONDS, rate: float = DEFAULT_RATE) -> list[Figure]:
    results = [soak(seconds, rate) for _ in range(runs)]
    start = statistics.median(r["start"] for r in results)
    end = statistics.median(r["end"] for r in results)
    peak = statistics.median(r["peak"] for r in results)
    appended = int(statistics.median(r["appended"] for r in results))
    label = f"{seconds:.0f} s soak, {appended} msgs"
    return [
        Figure(f"daemon peak RSS, {label}", peak, unit="MB"),
        Figure(f"daemon RSS end vs start, {label}", end, start, f"<= {TARGET_GROWTH:.2f}x", "MB"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print_table(run(args.runs, args.seconds, args.rate), "bench/memory.py")


if __name__ == "__main__":
    main()
