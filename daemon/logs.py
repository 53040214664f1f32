"""Logging to stdout for journald: levels plus key=value fields (case, message-id, uid, kind), or JSON."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else was passed through `extra=` and is a field to show.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_SECRET_KEYS = frozenset({"password", "raw", "body", "text"})


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and k not in _SECRET_KEYS and v is not None}


def _quote(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in ' ="\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


class KeyValueFormatter(logging.Formatter):
    """`LEVEL logger: message key=value …`; journald adds its own timestamp, so we add none."""

    def __init__(self, with_time: bool = False) -> None:
        super().__init__()
        self.with_time = with_time

    def format(self, record: logging.LogRecord) -> str:
        parts = [record.levelname, f"{record.name}:", record.getMessage()]
        parts += [f"{k}={_quote(v)}" for k, v in _fields(record).items()]
        line = " ".join(parts)
        if self.with_time:
            line = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ ") + line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v if isinstance(v, int | float | bool) else str(v) for k, v in _fields(record).items()})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


# syslog(3) priorities: journald reads a leading `<N>` on each line of a stream (SyslogLevelPrefix=, on
# by default) and files the line at that priority. Without it every line is "info", and
# `journalctl -p warning` would show nothing at all.
_PRIORITIES = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


def stderr_is_journal() -> bool:
    """True when stderr is systemd's journal stream ($JOURNAL_STREAM names its device and inode)."""
    device, _, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    if not device.isdigit() or not inode.isdigit():
        return False
    try:
        stat = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return stat.st_dev == int(device) and stat.st_ino == int(inode)


class JournalPriorityFormatter(logging.Formatter):
    """Wraps another formatter and puts `<N>` before every line, so a traceback keeps its record's priority."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        level = max((lvl for lvl in _PRIORITIES if lvl <= record.levelno), default=logging.DEBUG)
        prefix = f"<{_PRIORITIES[level]}>"
        return "\n".join(prefix + line for line in self.inner.format(record).split("\n"))


def setup_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else \
        KeyValueFormatter(with_time=sys.stderr.isatty())
    handler.setFormatter(JournalPriorityFormatter(formatter) if stderr_is_journal() else formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries are chatty at INFO (every SMTP/IMAP command); their warnings still come through.
    for name in ("imapclient", "aiosmtpd", "mail.log", "mailparser", "alembic", "pymorphy3"):
        logging.getLogger(name).setLevel(logging.WARNING)
