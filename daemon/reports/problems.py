"""The monthly problems report (п. 10.2): top problems by topic and by street, the trend, and what was done.

Rows are the appeals received in the month (`opened_at`), compared with the month before; «what was
done» are the appeals closed in the month (whenever received) with their outcomes (`Case.outcome`,
the «Итог: …» line of the staff answer). Streets come from the address the classifier found in the
appeal; appeals without one are left out of the street table only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font
from sqlalchemy.orm import Session

from daemon.config import Settings
from daemon.reports.facts import CaseFacts, load_facts
from daemon.reports.period import Period, previous
from daemon.reports.quarterly import NO_TOPIC
from daemon.reports.repeats import with_repeats
from daemon.reports.settings import problems_top, repeat_window, topic_names

OUTCOME_RU = {"answered": "дан ответ", "published": "опубликован комментарий", "sent": "направлено"}
NO_DATA = "За месяц обращений не поступало."


@dataclass(frozen=True, slots=True)
class ProblemRow:
    """One topic or street: appeals this month and last month, the trend, and outcomes of those closed."""

    name: str
    count: int
    previous: int
    closed: int  # of this month's appeals on it, closed by now
    top_outcomes: tuple[tuple[str, int], ...]
    repeats: int = 0  # of this month's appeals on it, repeats (п. 6.3.2: their causes are to be removed)

    @property
    def change(self) -> int:
        return self.count - self.previous

    @property
    def trend(self) -> str:
        if self.previous == 0:
            return "новая" if self.count else "—"
        if self.count == self.previous:
            return "без изменений"
        sign = "рост" if self.count > self.previous else "снижение"
        return f"{sign} на {abs(self.change) * 100 // self.previous} %"


@dataclass(frozen=True, slots=True)
class ClosedRow:
    case_id: int
    topic: str
    street: str | None
    closed_at: datetime
    on_time: bool | None
    outcome: str


@dataclass(frozen=True)
class ProblemsReport:
    period: Period
    previous_period: Period
    total: int
    previous_total: int
    by_topic: list[ProblemRow]
    by_street: list[ProblemRow]
    closed: list[ClosedRow]
    repeats: int = 0  # repeat appeals among this month's

    @property
    def empty(self) -> bool:
        return self.total == 0 and not self.closed


def outcome_ru(outcome: str | None) -> str:
    return OUTCOME_RU.get(outcome or "", outcome or "без итога")


def _rows(key_now: Counter, key_prev: Counter, closed: dict[str, list[CaseFacts]], order: dict[str, int],
          top: int, repeats: Counter) -> list[ProblemRow]:
    names = sorted(key_now, key=lambda k: (-key_now[k], order.get(k, len(order)), k))[:top]
    out = []
    for name in names:
        outcomes = Counter(outcome_ru(r.outcome) for r in closed.get(name, []))
        out.append(ProblemRow(name, key_now[name], key_prev.get(name, 0), len(closed.get(name, [])),
                              tuple(outcomes.most_common(3)), repeats.get(name, 0)))
    return out


def compute_problems(
    period: Period,
    rows: Sequence[CaseFacts],
    previous_rows: Sequence[CaseFacts],
    closed_rows: Sequence[CaseFacts],
    *,
    as_of: datetime,
    top: int = 10,
    topics: Sequence[str] = (),
) -> ProblemsReport:
    """Pure: the report from this month's appeals, last month's, and the appeals closed this month."""
    appeals = [r for r in rows if r.kind == "appeal"]
    before = [r for r in previous_rows if r.kind == "appeal"]
    order = {name: i for i, name in enumerate(topics)}
    done_now: dict[str, list[CaseFacts]] = {}
    done_street: dict[str, list[CaseFacts]] = {}
    for r in appeals:
        if r.is_closed_at(as_of):
            done_now.setdefault(r.topic or NO_TOPIC, []).append(r)
            if r.street:
                done_street.setdefault(r.street, []).append(r)
    repeats = [r for r in appeals if r.repeat_of]
    by_topic = _rows(Counter(r.topic or NO_TOPIC for r in appeals), Counter(r.topic or NO_TOPIC for r in before),
                     done_now, order, top, Counter(r.topic or NO_TOPIC for r in repeats))
    by_street = _rows(Counter(r.street for r in appeals if r.street), Counter(r.street for r in before if r.street),
                      done_street, {}, top, Counter(r.street for r in repeats if r.street))
    closed = [ClosedRow(r.case_id, r.topic or NO_TOPIC, r.street, r.closed_at, r.answered_on_time,
                        outcome_ru(r.outcome))
              for r in sorted(closed_rows, key=lambda r: (r.closed_at, r.case_id))
              if r.kind == "appeal" and r.closed_at is not None and period.contains(r.closed_at)]
    return ProblemsReport(period, previous(period), len(appeals), len(before), by_topic, by_street, closed,
                          len(repeats))


def build_problems(
    session: Session, settings: Settings, period: Period, as_of: datetime, tenant: str = "default"
) -> ProblemsReport:
    before = previous(period)
    kinds = ("appeal",)
    window = repeat_window(settings)
    rows = load_facts(session, period.start, period.end, kinds=kinds, tenant=tenant)
    earlier = load_facts(session, period.start - window, period.start, kinds=kinds, tenant=tenant)
    return compute_problems(
        period,
        with_repeats(rows, earlier, window),
        load_facts(session, before.start, before.end, kinds=kinds, tenant=tenant),
        load_facts(session, period.start, period.end, kinds=kinds, tenant=tenant, closed=True),
        as_of=as_of, top=problems_top(settings), topics=topic_names(settings),
    )


def _table_text(title: str, rows: list[ProblemRow]) -> list[str]:
    lines = ["", title]
    if not rows:
        return [*lines, "  нет данных"]
    for i, row in enumerate(rows, 1):
        done = "; ".join(f"{name} — {n}" for name, n in row.top_outcomes)
        repeats = f"; повторных {row.repeats}" if row.repeats else ""
        lines.append(f"  {i}. {row.name}: {row.count} (месяцем ранее {row.previous}, {row.trend}){repeats};"
                     f" закрыто {row.closed}" + (f" ({done})" if done else ""))
    return lines


def problems_text(report: ProblemsReport) -> str:
    """The report as plain Russian text (CLI output and mail body)."""
    lines = [f"Проблемы, поднятые в обращениях: {report.period.title}"]
    if report.empty:
        return "\n".join([*lines, "", NO_DATA]) + "\n"
    lines.append(f"Обращений: {report.total} (за {report.previous_period.title}: {report.previous_total}),"
                 f" из них повторных: {report.repeats}.")
    lines += _table_text("Основные темы:", report.by_topic)
    lines += _table_text("Улицы и адреса:", report.by_street)
    closed = f"Закрыто обращений за месяц: {len(report.closed)}"
    if report.closed:
        on_time = sum(1 for r in report.closed if r.on_time)
        outcomes = Counter(r.outcome for r in report.closed).most_common(5)
        closed += f" (в срок: {on_time}; итоги: " + "; ".join(f"{name} — {n}" for name, n in outcomes) + ")"
    lines += ["", closed + "."]
    return "\n".join(lines) + "\n"


def problems_filename(report: ProblemsReport) -> str:
    """problemy-2026-11.xlsx: transliterated like the quarterly files, so every mail client shows it."""
    return f"problemy-{report.period.key}.xlsx"


def problems_xlsx(report: ProblemsReport) -> bytes:
    """Three sheets (topics, streets, what was done), frozen headers, a bar chart of topics against last month."""
    wb = Workbook()
    wb.remove(wb.active)
    headers = ("Наименование", "Обращений", "Месяцем ранее", "Изменение", "Динамика", "Закрыто", "Итоги",
               "Повторных")
    for title, rows in (("Темы", report.by_topic), ("Улицы", report.by_street)):
        ws = wb.create_sheet(title)
        ws.append(list(headers))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
        ws.column_dimensions["A"].width = 30
        ws.column_dimensions["G"].width = 50
        for row in rows:
            ws.append([row.name, row.count, row.previous, row.change, row.trend, row.closed,
                       "; ".join(f"{n} — {c}" for n, c in row.top_outcomes), row.repeats])
            for column in (2, 3, 4, 6, 8):
                ws.cell(row=ws.max_row, column=column).number_format = "0"
        if not rows:
            ws.append([NO_DATA if title == "Темы" else "Адреса в обращениях не указаны."])
        elif title == "Темы":
            chart = BarChart()
            chart.title = f"Темы обращений: {report.period.title} и месяцем ранее"
            chart.x_axis.delete = False  # see daemon.reports.xlsx: Excel hides axes openpyxl leaves implicit
            chart.y_axis.delete = False
            chart.add_data(Reference(ws, min_col=2, max_col=3, min_row=1, max_row=ws.max_row), titles_from_data=True)
            chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=ws.max_row))
            ws.add_chart(chart, "I2")
    ws = wb.create_sheet("Итоги")
    ws.append(["№ дела", "Тема", "Улица", "Закрыто (МСК)", "В срок", "Итог"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    zone = ZoneInfo(report.period.zone)
    for row in report.closed:
        ws.append([row.case_id, row.topic, row.street or "", row.closed_at.astimezone(zone).replace(tzinfo=None),
                   "" if row.on_time is None else ("да" if row.on_time else "нет"), row.outcome])
        ws.cell(row=ws.max_row, column=4).number_format = "DD.MM.YYYY HH:MM"
    buffer = BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
