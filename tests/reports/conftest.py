"""Fixtures for the report tests: a curmail App on a fresh database (SQLite and PostgreSQL) with a fixed clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.app import App
from daemon.clock import Clock
from daemon.config import parse_settings
from tests.reports.seed import msk
from tests.support.settings import config_data


@pytest.fixture
def make_app(tmp_path: Path, db_url: str) -> Iterator[Callable[..., App]]:
    """`make_app(staff=[...], cur={...})`: an App on the test's database; several calls share the database."""
    apps: list[App] = []

    def build(**sections: Any) -> App:
        tables = {k: v for k, v in sections.items() if isinstance(v, dict)}
        data = config_data(tmp_path, imap_port=143, imap_user="adm", imap_password="x", smtp_port=25,
                           db_url=db_url, **tables)
        data.update({k: v for k, v in sections.items() if not isinstance(v, dict)})
        settings = parse_settings(data, tmp_path / "curmail.toml")
        app = App.open(settings, Clock(fixed=msk(2027, 1, 11, 9, 0)), migrate=True)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    return make_app()
