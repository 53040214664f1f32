"""The files of a quarterly report (XLSX, CSV, text summary), built once and written or attached as they are."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from daemon.reports.csvout import to_csv
from daemon.reports.quarterly import QuarterlyFigures
from daemon.reports.summary import summary_text
from daemon.reports.xlsx import to_bytes

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True, slots=True)
class ReportFile:
    filename: str
    content: bytes
    content_type: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def quarterly_files(f: QuarterlyFigures) -> list[ReportFile]:
    """statistika-2026Q4.xlsx, dela-2026Q4.csv, svodka-2026Q4.txt (ASCII names: every mail client shows them)."""
    key = f.period.key
    return [
        ReportFile(f"statistika-{key}.xlsx", to_bytes(f), XLSX_TYPE),
        ReportFile(f"dela-{key}.csv", to_csv(f.rows, f.period.zone), "text/csv"),
        ReportFile(f"svodka-{key}.txt", summary_text(f).encode("utf-8"), "text/plain"),
    ]


def write_files(files: list[ReportFile], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in files:
        path = directory / item.filename
        path.write_bytes(item.content)
        paths.append(path)
    return paths
