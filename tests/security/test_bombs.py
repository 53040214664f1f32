"""Decompression bombs and deeply nested MIME: parse_message ends in bounded time and memory, and says what it cut.

Each parse runs in a forked child, so its peak RSS (ru_maxrss of the child) is its own and a hang
can be killed. The time limit is a hang guard only (generous, for a loaded CI machine); the measured
figures are printed for docs/RELIABILITY.md.
"""

from __future__ import annotations

import base64
import io
import os
import pickle
import signal
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from parsers import parse_message

HANG_GUARD_SECONDS = 30.0
RSS_GROWTH_LIMIT_MB = 300  # far above what a bounded parser needs; a runaway one blows through it


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float
    result: dict


def in_child(work: Callable[[], dict]) -> Measured:
    """Run `work` in a forked child; return its wall time, its peak RSS and what it returned."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        try:
            start = time.monotonic()
            result = work()
            payload = pickle.dumps((time.monotonic() - start, result))
        except BaseException as exc:  # report, never hang the parent
            payload = pickle.dumps((-1.0, {"error": repr(exc)}))
        with os.fdopen(writer, "wb") as out:
            out.write(payload)
        os._exit(0)
    os.close(writer)
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while True:
        done, _status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.wait4(pid, 0)
            os.close(reader)
            raise AssertionError(f"parse did not finish within {HANG_GUARD_SECONDS} s (hang guard)")
        time.sleep(0.01)
    with os.fdopen(reader, "rb") as source:
        seconds, result = pickle.loads(source.read())
    return Measured(seconds, usage.ru_maxrss / 1024, result)


def parse_summary(raw: bytes) -> Callable[[], dict]:
    def work() -> dict:
        pm = parse_message(raw)
        return {"defects": list(pm.defects), "attachments": [(a.filename, a.size) for a in pm.attachments],
                "text": pm.text[:200], "subject": pm.subject}
    return work


def head(content_type: str) -> bytes:
    return (b"From: citizen@mail.example\r\nTo: adm@kozmo.example\r\nSubject: bomb\r\n"
            b"Message-ID: <bomb@mail.example>\r\nMIME-Version: 1.0\r\nContent-Type: " + content_type.encode() + b"\r\n")


def nested_multipart(levels: int) -> bytes:
    """`levels` multipart/mixed parts each inside the previous one, with a text part at the bottom."""
    opening = b"".join(f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n".encode()
                       for i in range(levels))
    closing = b"".join(f"\r\n--b{i}--\r\n".encode() for i in reversed(range(levels + 1)))
    bottom = f"--b{levels}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nсамое дно\r\n".encode()
    return head("multipart/mixed; boundary=b0") + b"\r\n" + opening + bottom + closing


def nested_rfc822(levels: int) -> bytes:
    """`levels` message/rfc822 parts, each forwarding the previous one."""
    inner = b"From: a@b.example\r\nSubject: level 0\r\nContent-Type: text/plain\r\n\r\nbottom\r\n"
    for level in range(1, levels + 1):
        inner = (f"From: a@b.example\r\nSubject: level {level}\r\nContent-Type: message/rfc822\r\n\r\n".encode()
                 + inner)
    return head("message/rfc822") + b"\r\n" + inner


def zip_bomb_attachment(megabytes: int) -> bytes:
    """A zip of `megabytes` MB of zeros (about 1000:1) attached as application/zip, base64 encoded."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive, \
            archive.open("zeros.bin", "w", force_zip64=True) as member:
        chunk = bytes(1 << 20)
        for _ in range(megabytes):
            member.write(chunk)
    encoded = base64.encodebytes(buffer.getvalue())
    return (head("multipart/mixed; boundary=z") + b"\r\n--z\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            b"--z\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=\"bomb.zip\"\r\n\r\n" + encoded + b"\r\n--z--\r\n")


def many_parts(count: int) -> bytes:
    parts = b"".join(f"--m\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n".encode() for i in range(count))
    return head("multipart/mixed; boundary=m") + b"\r\n" + parts + b"--m--\r\n"


@pytest.fixture(scope="module")
def baseline() -> Measured:
    return in_child(parse_summary(head("text/plain") + "\r\nобычное письмо\r\n".encode()))


BOMBS = {
    "1000 nested multiparts": lambda: nested_multipart(1000),
    "1000 nested message/rfc822": lambda: nested_rfc822(1000),
    "100,000 sibling parts": lambda: many_parts(100_000),
    "700,000 sibling parts (32 MB, under the size limit)": lambda: many_parts(700_000),
    "zip of 200 MB of zeros": lambda: zip_bomb_attachment(200),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_bombs_parse_in_bounded_time_and_memory(name: str, baseline: Measured) -> None:
    raw = BOMBS[name]()
    measured = in_child(parse_summary(raw))
    assert "error" not in measured.result, measured.result  # parse_message never raises
    growth = measured.peak_rss_mb - baseline.peak_rss_mb
    print(f"{name}: {len(raw) / 1e6:.1f} MB raw, {measured.seconds:.2f} s, peak RSS +{growth:.0f} MB")
    assert growth < RSS_GROWTH_LIMIT_MB, f"{name}: peak RSS grew by {growth:.0f} MB"
    if "nested" in name:
        assert measured.result["defects"], "a cut-off tree must be reported as a defect"
    if "zip" in name:
        # The archive is kept as the attachment it is, never unpacked.
        assert measured.result["attachments"] == [("bomb.zip", measured.result["attachments"][0][1])]
        assert measured.result["attachments"][0][1] < 1_000_000
    if "sibling" in name:
        assert any("MIME parts" in d for d in measured.result["defects"])
