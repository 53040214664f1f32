"""The cases behind a report as CSV: UTF-8 with a BOM and «;» separators, so Russian Excel opens it as is."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from daemon.reports.facts import CaseFacts
from daemon.reports.quarterly import CHANNEL_RU, hours
from daemon.workflow.machine import state_ru

HEADERS = (
    "№ дела", "Вид", "Канал", "Тема", "Поступило (МСК)", "Срок (МСК)", "Закрыто (МСК)", "Состояние",
    "В срок", "Срок продлён", "Повторяет дела №", "Время ответа, ч", "Проект опровержения через, ч",
    "Версия согласованного проекта", "Итог",
)
KIND_RU = {"appeal": "обращение", "refutation": "опровержение", "request": "запрос ЦУР", "generic": "прочее",
           "report": "отчёт"}


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%d.%m.%Y %H:%M") if moment else ""


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}".replace(".", ",")  # the decimal comma of Russian Excel


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("да" if value else "нет")


def to_csv(rows: Sequence[CaseFacts], zone: str = "Europe/Moscow") -> bytes:
    """One line per case; no names, addresses or texts (the ЦУР gets this file too)."""
    tz = ZoneInfo(zone)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADERS)
    for r in rows:
        answer = hours(r.closed_at - r.opened_at) if r.closed_at else None
        draft = hours(r.draft_at - r.opened_at) if r.draft_at else None
        writer.writerow([
            r.case_id, KIND_RU.get(r.kind, r.kind),
            CHANNEL_RU.get(r.channel or "", r.channel or "") if r.kind == "appeal" else "",
            r.topic or "", _when(r.opened_at, tz), _when(r.due_at, tz), _when(r.closed_at, tz), state_ru(r.state),
            _yes_no(r.answered_on_time), _yes_no(r.extended) if r.kind == "appeal" else "",
            ", ".join(str(n) for n in r.repeat_of), _number(answer), _number(draft),
            r.approved_version or "", r.outcome or "",
        ])
    return out.getvalue().encode("utf-8-sig")
