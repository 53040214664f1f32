"""Fixtures for the operations tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.env import CurmailEnv


@pytest.fixture
def sqlite_env(tmp_path: Path, imap_account, smtp_sink) -> Iterator[CurmailEnv]:
    """The env fixture on SQLite only, for tests about the process rather than the database."""
    environment = CurmailEnv(tmp_path=tmp_path, account=imap_account, smtp=smtp_sink,
                             db_url=f"sqlite:///{tmp_path / 'curmail.db'}")
    yield environment
    environment.close()
