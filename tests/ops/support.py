"""Helpers for the operations tests: numbered copies of fixture mail, a NOTIFY_SOCKET listener, a daemon."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ops"
REPO = Path(__file__).resolve().parents[2]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def numbered(raw: bytes, n: int, *, own_subject: bool = False) -> bytes:
    """The fixture as its n-th distinct message: its own Message-ID and its own link.

    Signals then never thread together; letters without a link (a citizen's) still thread by subject
    and sender, as a citizen's second letter should, unless `own_subject` adds « (n)» to the subject.
    """
    raw = re.sub(rb"(?m)^Message-ID: <([^@>]+)-\d+@", b"Message-ID: <\\1-%d@" % n, raw, count=1)
    if own_subject:
        raw = re.sub(rb"(?m)^(Subject: [^\r\n]*)", b"\\1 (%d)" % n, raw, count=1)
    return re.sub(rb"wall-123456_\d+", b"wall-123456_%d" % (1000 + n), raw)


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> object:
    """Poll `predicate` until it is truthy; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


class NotifyListener:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET; collects every message it gets."""

    def __init__(self, address: str) -> None:
        self.address = address  # a path, or "@name" for the abstract namespace
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.2)
        self.messages: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._lock:
                self.messages.append(fields)

    def having(self, key: str, value: str | None = None) -> list[dict[str, str]]:
        with self._lock:
            return [m for m in self.messages if key in m and (value is None or m[key] == value)]

    def wait_for(self, key: str, value: str | None = None, timeout: float = 60, count: int = 1) -> list[dict]:
        return wait_until(lambda: len(self.having(key, value)) >= count and self.having(key, value),
                          timeout, f"{key}={value or '…'} x{count} on NOTIFY_SOCKET")

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(timeout=5)


class Daemon:
    """`curmail run` in a subprocess with the test's config; stderr goes to a file the test can read."""

    def __init__(self, config: Path, log_path: Path, **extra_env: str) -> None:
        self.log_path = log_path
        env = {**os.environ, "CURMAIL_CONFIG": str(config), **extra_env}
        for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            if key not in extra_env:
                env.pop(key, None)
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daemon.cli", "run"], env=env, cwd=REPO,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_log(self, needle: str, timeout: float = 60, count: int = 1) -> None:
        def seen() -> bool:
            if self.process.poll() is not None and self.log().count(needle) < count:
                raise AssertionError(f"daemon exited {self.process.returncode} before «{needle}»:\n{self.log()}")
            return self.log().count(needle) >= count

        wait_until(seen, timeout, f"«{needle}» in the daemon log")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def terminate(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        self._log.close()
