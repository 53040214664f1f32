"""Pytest fixtures for real servers: Dovecot, an aiosmtpd sink, PostgreSQL databases (pytest_plugins)."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from daemon.mailbox import ImapEndpoint
from tests.support.dovecot import DOVECOT_BINARY, OPENSSL_BINARY, Dovecot
from tests.support.need import missing
from tests.support.postgres import PostgresUnavailable, fresh_database
from tests.support.smtp import SmtpSink

_user_numbers = itertools.count(1)


@dataclass(frozen=True)
class ImapAccount:
    """A fresh Dovecot user for one test, with the endpoint that logs in as it."""

    server: Dovecot
    user: str
    password: str
    endpoint: ImapEndpoint


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One private Dovecot for the whole session; tests isolate themselves by user (imap_account)."""
    if not os.path.exists(DOVECOT_BINARY):
        missing(f"Dovecot is not installed ({DOVECOT_BINARY}; apt-get install dovecot-imapd)")
    if os.geteuid() != 0:
        missing("the private Dovecot instance needs root (it switches to dovenull/dovecot/nobody)")
    # TLS (imaps + STARTTLS with a self-signed certificate) when openssl can make the certificate.
    # Its own mkdtemp root, not pytest's basetemp: concurrent pytest runs prune each other's
    # old basetemp directories, which would pull the users and maildirs from under the server.
    server = Dovecot(tls=os.path.exists(OPENSSL_BINARY))
    server.start()
    yield server
    server.remove()


def new_account(server: Dovecot, folder: str = "INBOX", timeout: float = 10.0) -> ImapAccount:
    user = f"u{next(_user_numbers)}x{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    server.add_user(user, password)
    endpoint = ImapEndpoint(
        host=server.host, port=server.port, security="none",
        username=user, password=password, folder=folder, timeout=timeout,
    )
    return ImapAccount(server=server, user=user, password=password, endpoint=endpoint)


@pytest.fixture
def imap_account(dovecot: Dovecot) -> ImapAccount:
    """A unique, empty mailbox on the session's Dovecot (server restarts restart it for everyone)."""
    return new_account(dovecot)


@pytest.fixture
def private_dovecot() -> Iterator[Dovecot]:
    """A Dovecot of this test's own, for tests that stop, restart or break the server."""
    if not os.path.exists(DOVECOT_BINARY):
        missing(f"Dovecot is not installed ({DOVECOT_BINARY}; apt-get install dovecot-imapd)")
    if os.geteuid() != 0:
        missing("the private Dovecot instance needs root (it switches to dovenull/dovecot/nobody)")
    server = Dovecot()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An aiosmtpd sink on loopback that accepts everything until the test programs it otherwise."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def smtp_sink_auth() -> Iterator[SmtpSink]:
    """Like smtp_sink but requires AUTH (any LOGIN/PLAIN credentials pass, no TLS needed)."""
    with SmtpSink(auth=True) as sink:
        yield sink


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database as a SQLAlchemy URL, dropped after the test."""
    try:
        with fresh_database() as url:
            yield url
    except PostgresUnavailable as exc:
        missing(str(exc))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on SQLite (a file in tmp_path) and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'curmail.db'}"
        return
    try:
        with fresh_database() as url:
            yield url
    except PostgresUnavailable as exc:
        missing(str(exc))
