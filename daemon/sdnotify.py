"""The sd_notify protocol spoken directly: datagrams to $NOTIFY_SOCKET (a path or an abstract `@name`)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("curmail.sdnotify")


def _address(raw: str) -> str | None:
    """The socket address systemd gave us; `@name` is Linux's abstract namespace (a leading NUL byte)."""
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    return None  # vsock:… and anything else: not spoken here (systemd gives it only to VMs)


def notify(*assignments: str) -> bool:
    """Send `KEY=value` lines in one datagram; False when not under systemd or the send failed.

    Never raises: a lost status line must not take the daemon down, and systemd notices a lost
    READY or WATCHDOG by itself (start timeout, watchdog timeout).
    """
    raw = os.environ.get("NOTIFY_SOCKET")
    if not raw or not assignments:
        return False
    address = _address(raw)
    if address is None:
        log.debug("NOTIFY_SOCKET %s is not a unix socket; ignored", raw)
        return False
    payload = "\n".join(a.replace("\n", " ") for a in assignments).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(payload)
    except OSError as exc:
        log.debug("sd_notify failed: %s", exc)
        return False
    return True


def ready(status: str | None = None) -> bool:
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def status(text: str) -> bool:
    return notify(f"STATUS={text}")


def reloading() -> bool:
    # MONOTONIC_USEC lets systemd ≥ 253 match this to the reload it asked for; older ones ignore it.
    return notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")


def stopping(text: str = "stopping") -> bool:
    return notify("STOPPING=1", f"STATUS={text}")


@contextmanager
def extending_timeout(what: str, step_seconds: float = 30.0) -> Iterator[None]:
    """While a long step runs (a schema migration), keep asking systemd for more time than TimeoutStartSec.

    Each EXTEND_TIMEOUT_USEC grants three steps from now, and a new one follows every step, so a step
    that hangs is still caught within three steps of its last sign of life; WATCHDOG=1 goes along for
    the case where the watchdog is already armed.
    """
    if not os.environ.get("NOTIFY_SOCKET"):
        yield
        return
    done = threading.Event()

    def keep_extending() -> None:
        while True:
            notify(f"EXTEND_TIMEOUT_USEC={int(step_seconds * 3 * 1_000_000)}", "WATCHDOG=1", f"STATUS={what}")
            if done.wait(step_seconds):
                return

    thread = threading.Thread(target=keep_extending, name="sd-extend-timeout", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)


def watchdog_interval() -> float | None:
    """Half of WatchdogSec= (seconds) when systemd watches this very process, else None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 / 2 if value > 0 else None


class Watchdog:
    """Pings WATCHDOG=1 at most every half period; call `pet()` from the main loop only."""

    def __init__(self) -> None:
        self.interval = watchdog_interval()
        self._last = 0.0

    @property
    def enabled(self) -> bool:
        return self.interval is not None

    def pet(self) -> bool:
        if self.interval is None:
            return False
        now = time.monotonic()
        if now - self._last < self.interval / 2:  # a quarter of WatchdogSec: cheap and well in time
            return False
        self._last = now
        return notify("WATCHDOG=1")
