"""`curmail report quarterly|problems`, `curmail retention --dry-run` and `curmail contacts` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from daemon.app import App
from daemon.cli import main
from tests.reports.dataset import dataset
from tests.reports.seed import add_all
from tests.support.settings import config_data, to_toml


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: argument handling and files do not depend on the database (the other tests run on both)."""
    return f"sqlite:///{tmp_path / 'curmail.db'}"


@pytest.fixture
def config(tmp_path: Path, app: App, db_url: str) -> Path:
    """A config file on the same database as `app`, which the test seeds."""
    path = tmp_path / "cli.toml"
    path.write_text(to_toml(config_data(tmp_path, imap_port=143, imap_user="adm", imap_password="x", smtp_port=25,
                                        db_url=db_url)), encoding="utf-8")
    with app.sessions() as session:
        add_all(session, dataset().all())
    return path


def test_report_quarterly_writes_the_three_files(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert main(["--config", str(config), "report", "quarterly", "2026Q4", "--output", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["dela-2026Q4.csv", "statistika-2026Q4.xlsx", "svodka-2026Q4.txt"]
    summary = load_workbook(out / "statistika-2026Q4.xlsx")["Сводка"]
    assert summary["A1"].value == "Показатель" and summary["B2"].value == "IV квартал 2026 г."
    printed = capsys.readouterr().out
    assert "Обращений поступило: 12" in printed
    assert (out / "svodka-2026Q4.txt").read_text(encoding="utf-8") in printed


def test_report_problems_and_a_bad_month(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--config", str(config), "report", "problems", "2026-12", "--output", str(tmp_path)]) == 0
    assert "Проблемы, поднятые в обращениях: декабрь 2026 г." in capsys.readouterr().out
    assert (tmp_path / "problemy-2026-12.xlsx").exists()
    assert main(["--config", str(config), "report", "problems", "2026-13"]) == 1
    assert "2026-13" in capsys.readouterr().err


def test_retention_dry_run_and_contacts(config: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--config", str(config), "retention", "--dry-run"]) == 0
    assert "would delete" in capsys.readouterr().out
    assert main(["--config", str(config), "contacts", "check"]) == 0
    assert "first run" in capsys.readouterr().out
    assert main(["--config", str(config), "contacts", "notify"]) == 0
    assert "cur@example.org" in capsys.readouterr().out


def test_a_bad_quarter_is_refused_with_the_accepted_forms(config: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--config", str(config), "report", "quarterly", "2026Q5"]) == 1
    assert "2026Q4" in capsys.readouterr().err  # the message shows how to write it
