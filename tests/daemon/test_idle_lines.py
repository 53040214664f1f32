"""IDLE responses are read as whole lines even when they arrive cut in two (imapclient #519)."""

from __future__ import annotations

import imaplib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from daemon.mailbox import _idle_check


class _Client:
    """What _idle_check uses of an IMAPClient: its socket, imaplib underneath, and the read timeout."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._imap = object.__new__(imaplib.IMAP4)  # imaplib's line reader over this socket, no connect
        self._imap.file = sock.makefile("rb")
        self._imap.debug = 0
        self._imap._cmd_log, self._imap._cmd_log_idx, self._imap._cmd_log_len = {}, 0, 10  # imaplib's trace

    def socket(self) -> socket.socket:
        return self.sock

    def _set_read_timeout(self) -> None:
        self.sock.settimeout(None)


@pytest.fixture
def link() -> Iterator[tuple[_Client, socket.socket]]:
    ours, server = socket.socketpair()
    try:
        yield _Client(ours), server
    finally:
        ours.close()
        server.close()


def send_later(server: socket.socket, *pieces: bytes, gap: float = 0.05) -> threading.Thread:
    def run() -> None:
        for piece in pieces:
            time.sleep(gap)
            server.sendall(piece)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_response_cut_in_two_segments_is_read_as_one_line(link) -> None:
    client, server = link
    sender = send_later(server, b"* 3 FETCH (FLAGS (\\Se", b"en \\Recent))\r\n* 4 EXISTS\r\n")
    first = _idle_check(client, 2.0)
    sender.join()
    rest = first if len(first) == 2 else first + _idle_check(client, 2.0)
    assert rest == [(3, b"FETCH", (b"FLAGS", (b"\\Seen", b"\\Recent"))), (4, b"EXISTS")]


def test_nothing_within_the_timeout_is_an_empty_list(link) -> None:
    client, _ = link
    started = time.monotonic()
    assert _idle_check(client, 0.2) == []
    assert time.monotonic() - started >= 0.15


def test_lines_already_buffered_are_returned_without_waiting(link) -> None:
    client, server = link
    server.sendall(b"* 1 EXISTS\r\n* 1 RECENT\r\n")
    time.sleep(0.05)
    assert _idle_check(client, 2.0) == [(1, b"EXISTS"), (1, b"RECENT")]
