"""The `env` fixture: one curmail installation wired to a fresh Dovecot user, an SMTP sink and a database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from daemon.app import App
from daemon.clock import Clock
from daemon.config import Settings, load_settings
from tests.support.dovecot import Dovecot
from tests.support.fixtures import ImapAccount
from tests.support.settings import config_data, to_toml
from tests.support.smtp import SmtpSink


@dataclass
class CurmailEnv:
    """Everything a test needs to drive curmail against real servers, and to look at the outcome."""

    tmp_path: Path
    account: ImapAccount
    smtp: SmtpSink
    db_url: str
    config_path: Path = field(init=False)
    settings: Settings = field(init=False)
    apps: list[App] = field(default_factory=list)
    _reader: App | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.configure()

    def configure(self, **sections: dict) -> Settings:
        """(Re)write the config file, with optional overrides per section, and reload it."""
        data = config_data(
            self.tmp_path, imap_port=self.account.server.port, imap_user=self.account.user,
            imap_password=self.account.password, smtp_port=self.smtp.port, db_url=self.db_url, **sections,
        )
        self.config_path = self.tmp_path / "curmail.toml"
        self.config_path.write_text(to_toml(data), encoding="utf-8")
        self.settings = load_settings(self.config_path)
        return self.settings

    @property
    def dovecot(self) -> Dovecot:
        return self.account.server

    def app(self, now: datetime | None = None) -> App:
        app = App.open(self.settings, Clock(fixed=now))
        self.apps.append(app)
        return app

    def reader(self) -> App:
        """One App for looking at the database, shared by polling helpers.

        An App per call holds a pooled connection until teardown; a helper polled five times a second
        ran PostgreSQL out of connections (max_connections 100) on a loaded machine.
        """
        if self._reader is None or self._reader.settings is not self.settings:
            self._reader = self.app()
        return self._reader

    def deliver(self, raw: bytes, internal_date: datetime | None = None, folder: str = "INBOX") -> None:
        self.dovecot.append(self.account.user, raw, folder=folder, internal_date=internal_date)

    def run_once(self, now: datetime | None = None) -> None:
        """`curmail run --once` in-process (fast); tests of the CLI itself use `cli()`."""
        from daemon.runner import Runner

        app = self.app(now)
        Runner(app).run_once()

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the real `curmail` entry point in a subprocess with this config."""
        env = {**os.environ, "CURMAIL_CONFIG": str(self.config_path)}
        result = subprocess.run(
            [sys.executable, "-m", "daemon.cli", *args], env=env, capture_output=True, text=True, timeout=timeout,
            cwd=Path(__file__).resolve().parents[2],
        )
        if check and result.returncode != 0:
            raise AssertionError(f"curmail {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
        return result

    def close(self) -> None:
        for app in self.apps:
            app.close()


@pytest.fixture
def env(tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, db_url: str) -> Iterator[CurmailEnv]:
    """curmail on the session's Dovecot (fresh user), an aiosmtpd sink, and SQLite or PostgreSQL."""
    environment = CurmailEnv(tmp_path=tmp_path, account=imap_account, smtp=smtp_sink, db_url=db_url)
    yield environment
    environment.close()
