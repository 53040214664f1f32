"""The quarterly report as an XLSX workbook: a summary sheet, one sheet per breakdown, native Excel charts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.chart import BarChart, PieChart, Reference
from openpyxl.chart.label import DataLabelList
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from daemon.reports.problems import ProblemsReport
from daemon.reports.quarterly import CHANNEL_RU, CHANNELS, QuarterlyFigures

COUNT = "0"
SHARE = "0.0%"
HOURS = "0.0"
WHEN = "DD.MM.YYYY HH:MM"
NO_DATA = "За период обращений, сигналов ЦУР и запросов ЦУР не поступало."

SHEET_SUMMARY = "Сводка"
SHEET_CHANNELS = "По каналам"
SHEET_TOPICS = "По темам"
SHEET_TIMELINESS = "Сроки"
SHEET_REFUTATIONS = "Опровержения"
SHEET_REQUESTS = "Запросы ЦУР"
SHEET_REPEATS = "Повторные"
SHEET_PROBLEMS = "Проблемы"

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")

Row = tuple[str, Any, str | None]  # label, value, number format


def _local(moment: datetime | None, zone: str) -> datetime | None:
    """Excel has no time zones: write the organisation's wall-clock time, naive."""
    return None if moment is None else moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def _sheet(wb: Workbook, title: str, headers: Sequence[str], widths: Sequence[int]) -> Worksheet:
    ws = wb.create_sheet(title)
    ws.append(list(headers))
    for cell in ws[1]:
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for index, width in enumerate(widths):
        ws.column_dimensions[chr(ord("A") + index)].width = width
    ws.freeze_panes = "A2"  # the header row stays in view
    return ws


def _rows(ws: Worksheet, rows: Sequence[Row]) -> None:
    for label, value, fmt in rows:
        ws.append([label, value])
        if fmt and value is not None:
            ws.cell(row=ws.max_row, column=2).number_format = fmt
        if value is None:
            ws.cell(row=ws.max_row, column=2).value = "нет данных"


def summary_rows(f: QuarterlyFigures) -> list[Row]:
    """The summary sheet, row by row; the mail text and the tests read the same labels."""
    t, r, q = f.timeliness, f.refutations, f.requests
    rows: list[Row] = [
        ("Период", f.period.title, None),
        ("Данные на", _local(f.as_of, f.period.zone), WHEN),
    ]
    if f.empty:
        rows.append(("Примечание", NO_DATA, None))
    rows += [
        ("Обращений поступило", f.appeals, COUNT),
        ("Ответ дан в срок", t.on_time, COUNT),
        ("Ответ дан с нарушением срока", t.late, COUNT),
        ("Не закрыто на дату отчёта", t.open, COUNT),
        ("в т. ч. с истёкшим сроком", t.open_overdue, COUNT),
        ("Срок рассмотрения продлён", t.extended, COUNT),
        ("Медиана времени ответа, ч", f.median_answer_hours, HOURS),
        ("90-й процентиль времени ответа, ч", f.p90_answer_hours, HOURS),
        ("Повторных обращений", f.repeats, COUNT),
        ("Сигналов о недостоверной информации", r.count, COUNT),
        ("Медиана времени от сигнала до проекта, ч", r.median_draft_hours, HOURS),
        ("Доля проектов в пределах 3 часов", r.within_target_share, SHARE),
        ("Согласовано с первого проекта", r.first_draft_approved, COUNT),
        ("Медиана времени до направления в пресс-службу, ч", r.median_press_hours, HOURS),
        ("Официальных запросов ЦУР", q.count, COUNT),
        ("Доля запросов, исполненных в срок", q.on_time_share, SHARE),
    ]
    return rows


def _bar(title: str, ws: Worksheet, first_row: int, last_row: int, anchor: str, y_title: str) -> None:
    chart = BarChart()
    chart.type = "bar"  # horizontal bars: long Russian category names stay readable
    chart.title = title
    chart.y_axis.title = y_title
    chart.legend = None
    # openpyxl 3.1 writes no <c:delete val="0"/>, and Excel then hides both axes: ask for them explicitly.
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.add_data(Reference(ws, min_col=2, min_row=first_row - 1, max_row=last_row), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=first_row, max_row=last_row))
    chart.dataLabels = DataLabelList()
    chart.dataLabels.showVal = True
    chart.height, chart.width = 9, 18
    ws.add_chart(chart, anchor)


def _pie(title: str, ws: Worksheet, first_row: int, last_row: int, anchor: str) -> None:
    chart = PieChart()
    chart.title = title
    chart.add_data(Reference(ws, min_col=2, min_row=first_row - 1, max_row=last_row), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=first_row, max_row=last_row))
    chart.dataLabels = DataLabelList()
    chart.dataLabels.showPercent = True
    chart.height, chart.width = 9, 14
    ws.add_chart(chart, anchor)


def workbook(f: QuarterlyFigures) -> Workbook:
    """Build the workbook; charts are added where there is something to draw."""
    wb = Workbook()
    wb.remove(wb.active)
    zone = f.period.zone

    _rows(_sheet(wb, SHEET_SUMMARY, ("Показатель", "Значение"), (52, 30)), summary_rows(f))

    ws = _sheet(wb, SHEET_CHANNELS, ("Канал поступления (п. 8)", "Обращений"), (52, 12))
    _rows(ws, [(CHANNEL_RU[key], count, COUNT) for key, count in f.by_channel])
    last = ws.max_row
    _rows(ws, [("Итого", f.appeals, COUNT)])
    ws.cell(row=ws.max_row, column=1).font = _HEADER_FONT
    if f.appeals:
        _bar("Обращения по каналам", ws, 2, last, "D2", "Обращений")

    ws = _sheet(wb, SHEET_TOPICS, ("Тема", "Обращений"), (36, 12))
    _rows(ws, [(topic, count, COUNT) for topic, count in f.by_topic])
    if f.by_topic:
        _pie("Обращения по темам", ws, 2, ws.max_row, "D2")

    t = f.timeliness
    ws = _sheet(wb, SHEET_TIMELINESS, ("Результат рассмотрения", "Обращений"), (40, 12))
    _rows(ws, [("Ответ дан в срок", t.on_time, COUNT), ("Ответ дан с нарушением срока", t.late, COUNT),
               ("Не закрыто на дату отчёта", t.open, COUNT)])
    last = ws.max_row
    _rows(ws, [("в т. ч. с истёкшим сроком", t.open_overdue, COUNT), ("Срок рассмотрения продлён", t.extended, COUNT)])
    if f.appeals:
        _bar("Соблюдение сроков", ws, 2, last, "D2", "Обращений")

    r = f.refutations
    ws = _sheet(wb, SHEET_REFUTATIONS, ("Показатель", "Значение"), (52, 14))
    _rows(ws, [
        ("Сигналов о недостоверной информации", r.count, COUNT),
        ("Проект направлен в ЦУР", r.with_draft, COUNT),
        ("в т. ч. в пределах 3 часов", r.within_target, COUNT),
        ("Доля проектов в пределах 3 часов", r.within_target_share, SHARE),
        ("Медиана времени от сигнала до проекта, ч", r.median_draft_hours, HOURS),
        ("Согласовано ЦУР", r.approved, COUNT),
        ("в т. ч. с первого проекта", r.first_draft_approved, COUNT),
        ("Доля согласованных с первого проекта", r.first_draft_share, SHARE),
        ("Направлено в пресс-службу", r.to_press, COUNT),
        ("Медиана времени до направления в пресс-службу, ч", r.median_press_hours, HOURS),
    ])
    if r.count:
        _bar("Опровержения", ws, 2, 4, "D2", "Количество")

    q = f.requests
    ws = _sheet(wb, SHEET_REQUESTS, ("Показатель", "Значение"), (44, 14))
    _rows(ws, [
        ("Официальных запросов ЦУР", q.count, COUNT),
        ("Исполнено в срок", q.on_time, COUNT),
        ("Исполнено с нарушением срока", q.late, COUNT),
        ("Не исполнено на дату отчёта", q.open, COUNT),
        ("Доля запросов, исполненных в срок", q.on_time_share, SHARE),
    ])
    if q.count:
        _bar("Запросы ЦУР", ws, 2, 5, "D2", "Запросов")

    ws = _sheet(wb, SHEET_REPEATS, ("№ дела", "Поступило (МСК)", "Канал", "Тема", "Повторяет дела №"),
                (10, 18, 40, 24, 24))
    for row in f.repeat_rows:
        ws.append([row.case_id, _local(row.opened_at, zone), CHANNEL_RU.get(row.channel or "other", row.channel),
                   row.topic or "прочее", ", ".join(str(n) for n in row.repeat_of)])
        ws.cell(row=ws.max_row, column=2).number_format = WHEN
    if not f.repeat_rows:
        ws.append(["Повторных обращений за период нет."])
    if f.problems is not None:
        _problems(wb, f.problems)
    return wb


def _problems(wb: Workbook, report: ProblemsReport) -> None:
    """п. 10.2: the problems of the quarter by topic, then by street, against the quarter before, with outcomes."""
    ws = _sheet(wb, SHEET_PROBLEMS, ("Тема / улица", "Обращений", "Кварталом ранее", "Изменение", "Динамика",
                                     "Повторных", "Закрыто", "Итоги закрытых"), (36, 12, 14, 12, 18, 12, 10, 50))
    for title, rows in (("Темы", report.by_topic), ("Улицы", report.by_street)):
        ws.append([title])
        ws.cell(row=ws.max_row, column=1).font = _HEADER_FONT
        for row in rows:
            ws.append([row.name, row.count, row.previous, row.change, row.trend, row.repeats, row.closed,
                       "; ".join(f"{name} — {n}" for name, n in row.top_outcomes)])
            for column in (2, 3, 4, 6, 7):
                ws.cell(row=ws.max_row, column=column).number_format = COUNT
        if not rows:
            ws.append(["нет данных" if title == "Темы" else "адреса в обращениях не указаны"])


def to_bytes(f: QuarterlyFigures) -> bytes:
    buffer = BytesIO()
    workbook(f).save(buffer)
    return buffer.getvalue()


__all__ = ["CHANNELS", "NO_DATA", "SHEET_PROBLEMS", "summary_rows", "to_bytes", "workbook"]
