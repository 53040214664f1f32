"""Quarterly statistics from a seeded database: the XLSX checked cell by cell against counts made here."""

from __future__ import annotations

import csv
import io
import math
import statistics
from datetime import datetime
from io import BytesIO

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from daemon.app import App
from daemon.reports import xlsx
from daemon.reports.facts import street_of
from daemon.reports.files import quarterly_files
from daemon.reports.period import parse_quarter, quarter
from daemon.reports.quarterly import build
from daemon.reports.summary import summary_text
from tests.reports.dataset import AS_OF, Q4_END, Q4_START, Dataset, dataset
from tests.reports.seed import Spec, add_all, msk

CHANNEL_NAMES = {
    "59fz": "Обращения по 59-ФЗ", "pos": "ПОС «Госуслуги. Решаем вместе»",
    "incident": "Соцсети и мессенджеры («Инцидент-менеджмент»)",
    "voice": "Региональные системы голосовой обратной связи", "survey": "Результаты опросов",
    "internet": "Информация в интернете", "other": "Иные источники",
}


def in_q4(spec: Spec) -> bool:
    return Q4_START <= spec.opened < Q4_END


def hours_between(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600


def percentile_90(values: list[float]) -> float:
    """Linear interpolation between closest ranks (Excel's PERCENTILE.INC), written out."""
    ordered = sorted(values)
    position = 0.9 * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def column_map(ws: Worksheet) -> dict[str, object]:
    """Column A label -> column B value, for sheets laid out as «Показатель | Значение»."""
    return {row[0].value: row[1].value for row in ws.iter_rows(min_row=2) if row[0].value is not None}


def seeded(app: App) -> Dataset:
    data = dataset()
    with app.sessions() as session:
        add_all(session, data.all())
    return data


def report(app: App) -> tuple[Dataset, dict[str, bytes], object]:
    data = seeded(app)
    with app.sessions() as session:
        figures = build(session, app.settings, quarter(2026, 4), AS_OF)
    files = {f.filename: f.content for f in quarterly_files(figures)}
    return data, files, figures


def test_summary_sheet_figures_match_the_seeded_cases(app: App) -> None:
    data, files, _ = report(app)
    appeals = [s for s in data.appeals.values() if in_q4(s)]
    assert len(appeals) == 12  # a8 on the holiday 31.12 is in; 30.09 23:59 and 01.01 00:30 are out
    closed = [s for s in appeals if s.closed and s.closed <= AS_OF]
    on_time = [s for s in closed if s.closed <= s.due]
    late = [s for s in closed if s.closed > s.due]
    still_open = [s for s in appeals if not (s.closed and s.closed <= AS_OF)]
    overdue = [s for s in still_open if s.due < AS_OF]
    answer_hours = [hours_between(s.opened, s.closed) for s in closed]

    refutations = [s for s in data.refutations.values() if in_q4(s)]
    draft_hours = [s.draft_after_h for s in refutations if s.draft_after_h is not None]
    approved = [s for s in refutations if s.approved_version is not None]
    press_hours = [s.press_after_h for s in refutations if s.press_after_h is not None]
    requests = [s for s in data.requests.values() if in_q4(s)]
    requests_on_time = [s for s in requests if s.closed and s.closed <= s.due]
    requests_known = [s for s in requests if s.closed or s.due < AS_OF]

    ws = load_workbook(BytesIO(files["statistika-2026Q4.xlsx"]))[xlsx.SHEET_SUMMARY]
    cells = column_map(ws)
    assert cells["Период"] == "IV квартал 2026 г."
    assert cells["Обращений поступило"] == len(appeals)
    assert cells["Ответ дан в срок"] == len(on_time) == 6
    assert cells["Ответ дан с нарушением срока"] == len(late) == 2
    assert cells["Не закрыто на дату отчёта"] == len(still_open) == 4
    assert cells["в т. ч. с истёкшим сроком"] == len(overdue) == 1
    assert cells["Срок рассмотрения продлён"] == sum(s.extended for s in appeals) == 1
    assert math.isclose(cells["Медиана времени ответа, ч"], statistics.median(answer_hours))
    assert math.isclose(cells["90-й процентиль времени ответа, ч"], percentile_90(answer_hours))
    assert cells["Повторных обращений"] == len(data.expected_repeats)
    assert cells["Сигналов о недостоверной информации"] == len(refutations) == 4
    assert math.isclose(cells["Медиана времени от сигнала до проекта, ч"], statistics.median(draft_hours))
    assert math.isclose(cells["Доля проектов в пределах 3 часов"],
                        sum(h <= 3 for h in draft_hours) / len(refutations))
    assert cells["Согласовано с первого проекта"] == sum(s.approved_version == 1 for s in approved) == 1
    assert math.isclose(cells["Медиана времени до направления в пресс-службу, ч"], statistics.median(press_hours))
    assert cells["Официальных запросов ЦУР"] == len(requests) == 4
    assert math.isclose(cells["Доля запросов, исполненных в срок"], len(requests_on_time) / len(requests_known))
    assert "Примечание" not in cells

    # Number formats and the frozen header row.
    assert ws.freeze_panes == "A2"
    formats = {row[0].value: row[1].number_format for row in ws.iter_rows(min_row=2)}
    assert formats["Доля проектов в пределах 3 часов"] == "0.0%"
    assert formats["Медиана времени ответа, ч"] == "0.0"
    assert formats["Обращений поступило"] == "0"


def test_breakdown_sheets_and_their_charts(app: App) -> None:
    data, files, _ = report(app)
    wb = load_workbook(BytesIO(files["statistika-2026Q4.xlsx"]))
    appeals = [s for s in data.appeals.values() if in_q4(s)]

    ws = wb[xlsx.SHEET_CHANNELS]
    assert [c.value for c in ws[1]] == ["Канал поступления (п. 8)", "Обращений"]
    by_channel = column_map(ws)
    for key, name in CHANNEL_NAMES.items():
        assert by_channel[name] == sum(s.channel == key for s in appeals), name
    assert by_channel["Результаты опросов"] == 0
    assert by_channel["Итого"] == len(appeals)

    ws = wb[xlsx.SHEET_TOPICS]
    by_topic = column_map(ws)
    expected_topics: dict[str, int] = {}
    for s in appeals:
        expected_topics[s.topic or "прочее"] = expected_topics.get(s.topic or "прочее", 0) + 1
    assert by_topic == expected_topics
    counts = [row[1].value for row in ws.iter_rows(min_row=2)]
    assert counts == sorted(counts, reverse=True)  # most frequent first

    ws = wb[xlsx.SHEET_REPEATS]
    repeats = {row[0].value: row[4].value for row in ws.iter_rows(min_row=2)}
    everyone = {**data.appeals, **data.earlier}
    assert repeats == {
        everyone[label].case_id: ", ".join(str(everyone[e].case_id) for e in earlier)
        for label, earlier in data.expected_repeats.items()
    }

    for name in (xlsx.SHEET_SUMMARY, xlsx.SHEET_CHANNELS, xlsx.SHEET_TOPICS, xlsx.SHEET_TIMELINESS,
                 xlsx.SHEET_REFUTATIONS, xlsx.SHEET_REQUESTS, xlsx.SHEET_REPEATS):
        assert wb[name].freeze_panes == "A2", name
    # Native charts: openpyxl keeps them on the worksheets it reads back.
    assert len(wb[xlsx.SHEET_CHANNELS]._charts) == 1
    assert len(wb[xlsx.SHEET_TOPICS]._charts) == 1
    assert len(wb[xlsx.SHEET_TIMELINESS]._charts) == 1
    assert len(wb[xlsx.SHEET_REFUTATIONS]._charts) == 1
    assert len(wb[xlsx.SHEET_REQUESTS]._charts) == 1


def test_csv_lists_the_quarters_cases_for_excel(app: App) -> None:
    data, files, _ = report(app)
    raw = files["dela-2026Q4.csv"]
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM makes Excel read UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    header, body = rows[0], rows[1:]
    in_quarter = [s for s in [*data.appeals.values(), *data.refutations.values(), *data.requests.values()]
                  if in_q4(s)]
    assert sorted(int(r[0]) for r in body) == sorted(s.case_id for s in in_quarter)
    by_number = {int(r[0]): dict(zip(header, r, strict=True)) for r in body}
    a8 = by_number[data.appeals["a8"].case_id]
    assert a8["Поступило (МСК)"] == "31.12.2026 22:30"
    assert a8["Канал"] == "Региональные системы голосовой обратной связи"
    a2 = by_number[data.appeals["a2"].case_id]
    assert a2["В срок"] == "нет"
    assert "anna@mail.example" not in raw.decode("utf-8-sig")  # no personal data in the file the ЦУР gets


def test_summary_text_states_the_main_figures(app: App) -> None:
    data, _, figures = report(app)
    text = summary_text(figures)
    appeals = [s for s in data.appeals.values() if in_q4(s)]
    assert "IV квартал 2026 г." in text
    assert f"Обращений поступило: {len(appeals)}" in text
    assert f"Повторных обращений: {len(data.expected_repeats)}." in text
    assert "Официальных запросов ЦУР: 4" in text


def test_a_quarter_without_data_says_so(app: App) -> None:
    seeded(app)
    with app.sessions() as session:
        figures = build(session, app.settings, quarter(2025, 1), AS_OF)
    files = {f.filename: f.content for f in quarterly_files(figures)}
    wb = load_workbook(BytesIO(files["statistika-2025Q1.xlsx"]))
    cells = column_map(wb[xlsx.SHEET_SUMMARY])
    assert cells["Примечание"] == xlsx.NO_DATA
    assert cells["Обращений поступило"] == 0
    assert cells["Медиана времени ответа, ч"] == "нет данных"
    assert wb[xlsx.SHEET_CHANNELS]._charts == []
    assert xlsx.NO_DATA in summary_text(figures)
    assert files["dela-2025Q1.csv"].decode("utf-8-sig").count("\r\n") == 1  # the header only


def test_quarter_names() -> None:
    from datetime import date

    assert parse_quarter("2026Q4", date(2027, 1, 11)).key == "2026Q4"
    assert parse_quarter(None, date(2027, 1, 11)).key == "2026Q4"
    assert parse_quarter("2026-К1", date(2027, 1, 11)).title == "I квартал 2026 г."


def test_timeliness_refutation_and_request_sheets_cell_by_cell(app: App) -> None:
    data, files, _ = report(app)
    wb = load_workbook(BytesIO(files["statistika-2026Q4.xlsx"]))
    appeals = [s for s in data.appeals.values() if in_q4(s)]
    closed = [s for s in appeals if s.closed and s.closed <= AS_OF]
    still_open = [s for s in appeals if s not in closed]

    ws = wb[xlsx.SHEET_TIMELINESS]
    assert [c.value for c in ws[1]] == ["Результат рассмотрения", "Обращений"]
    assert column_map(ws) == {
        "Ответ дан в срок": sum(s.closed <= s.due for s in closed),
        "Ответ дан с нарушением срока": sum(s.closed > s.due for s in closed),
        "Не закрыто на дату отчёта": len(still_open),
        "в т. ч. с истёкшим сроком": sum(s.due < AS_OF for s in still_open),
        "Срок рассмотрения продлён": sum(s.extended for s in appeals),
    }

    refutations = [s for s in data.refutations.values() if in_q4(s)]
    drafts = [s.draft_after_h for s in refutations if s.draft_after_h is not None]
    approved = [s for s in refutations if s.approved_version is not None]
    press = [s.press_after_h for s in refutations if s.press_after_h is not None]
    cells = column_map(wb[xlsx.SHEET_REFUTATIONS])
    assert cells == {
        "Сигналов о недостоверной информации": len(refutations),
        "Проект направлен в ЦУР": len(drafts),
        "в т. ч. в пределах 3 часов": sum(h <= 3 for h in drafts),
        "Доля проектов в пределах 3 часов": pytest.approx(sum(h <= 3 for h in drafts) / len(refutations)),
        "Медиана времени от сигнала до проекта, ч": pytest.approx(statistics.median(drafts)),
        "Согласовано ЦУР": len(approved),
        "в т. ч. с первого проекта": sum(s.approved_version == 1 for s in approved),
        "Доля согласованных с первого проекта":
            pytest.approx(sum(s.approved_version == 1 for s in approved) / len(approved)),
        "Направлено в пресс-службу": len(press),
        "Медиана времени до направления в пресс-службу, ч": pytest.approx(statistics.median(press)),
    }

    requests = [s for s in data.requests.values() if in_q4(s)]
    answered = [s for s in requests if s.closed and s.closed <= AS_OF]
    on_time = sum(s.closed <= s.due for s in answered)
    overdue = sum(1 for s in requests if s not in answered and s.due < AS_OF)
    assert column_map(wb[xlsx.SHEET_REQUESTS]) == {
        "Официальных запросов ЦУР": len(requests),
        "Исполнено в срок": on_time,
        "Исполнено с нарушением срока": len(answered) - on_time,
        "Не исполнено на дату отчёта": len(requests) - len(answered),
        "Доля запросов, исполненных в срок": pytest.approx(on_time / (len(answered) + overdue)),
    }

    # Number formats: counts as integers, shares as percentages, hours with one decimal.
    formats = {row[0].value: row[1].number_format for row in wb[xlsx.SHEET_REFUTATIONS].iter_rows(min_row=2)}
    assert formats["Проект направлен в ЦУР"] == "0"
    assert formats["Доля согласованных с первого проекта"] == "0.0%"
    assert formats["Медиана времени от сигнала до проекта, ч"] == "0.0"
    assert all(row[1].number_format == "0" for row in wb[xlsx.SHEET_TIMELINESS].iter_rows(min_row=2))
    assert all(row[1].number_format == "0" for row in wb[xlsx.SHEET_CHANNELS].iter_rows(min_row=2))
    repeats = wb[xlsx.SHEET_REPEATS]
    assert all(row[1].number_format == "DD.MM.YYYY HH:MM" for row in repeats.iter_rows(min_row=2))
    summary = column_map(wb[xlsx.SHEET_SUMMARY])
    assert summary["Данные на"] == AS_OF.replace(tzinfo=None)  # МСК wall-clock time, Excel has no zones


def test_the_charts_draw_the_breakdown_rows(app: App) -> None:
    _, files, _ = report(app)
    wb = load_workbook(BytesIO(files["statistika-2026Q4.xlsx"]))
    kinds = {name: [type(c).__name__ for c in wb[name]._charts] for name in wb.sheetnames}
    assert kinds == {
        xlsx.SHEET_SUMMARY: [], xlsx.SHEET_CHANNELS: ["BarChart"], xlsx.SHEET_TOPICS: ["PieChart"],
        xlsx.SHEET_TIMELINESS: ["BarChart"], xlsx.SHEET_REFUTATIONS: ["BarChart"],
        xlsx.SHEET_REQUESTS: ["BarChart"], xlsx.SHEET_REPEATS: [], xlsx.SHEET_PROBLEMS: [],
    }
    channels = wb[xlsx.SHEET_CHANNELS]
    (series,) = channels._charts[0].series
    # Seven channels of п. 8 in rows 2-8; the «Итого» row below them is not drawn.
    assert series.val.numRef.f == f"'{xlsx.SHEET_CHANNELS}'!$B$2:$B$8"
    categories = series.cat.numRef or series.cat.strRef  # openpyxl writes category labels as a numRef
    assert categories.f == f"'{xlsx.SHEET_CHANNELS}'!$A$2:$A$8"
    topics = wb[xlsx.SHEET_TOPICS]
    (series,) = topics._charts[0].series
    assert series.val.numRef.f == f"'{xlsx.SHEET_TOPICS}'!$B$2:$B${topics.max_row}"


def test_problems_sheet_sets_the_quarter_against_the_one_before(app: App) -> None:
    data, files, _ = report(app)
    ws = load_workbook(BytesIO(files["statistika-2026Q4.xlsx"]))[xlsx.SHEET_PROBLEMS]
    assert ws.freeze_panes == "A2"
    assert [c.value for c in ws[1]][:3] == ["Тема / улица", "Обращений", "Кварталом ранее"]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    streets_at = rows.index(["Улицы", *[None] * 7])
    topics = {r[0]: (r[1], r[2], r[5]) for r in rows[1:streets_at]}
    q3 = [s for s in data.all() if s.kind == "appeal" and msk(2026, 7, 1) <= s.opened < Q4_START]
    q4 = [s for s in data.appeals.values() if in_q4(s)]
    repeats = [data.appeals[label] for label in data.expected_repeats]
    expected: dict[str, tuple[int, int, int]] = {}
    for topic in {s.topic or "прочее" for s in q4}:
        expected[topic] = (sum((s.topic or "прочее") == topic for s in q4),
                           sum((s.topic or "прочее") == topic for s in q3),
                           sum((s.topic or "прочее") == topic for s in repeats))
    assert topics == expected
    assert topics["ЖКХ"] == (4, 1, 2)  # a1, a2, a6, a8; Q3's 30.09 23:59; a6 and a8 repeat a1
    streets = {r[0]: (r[1], r[5]) for r in rows[streets_at + 1:]}
    expected_streets = {
        street: (sum(street_of(s.address) == street for s in q4 if s.address),
                 sum(street_of(s.address) == street for s in repeats if s.address))
        for street in {street_of(s.address) for s in q4 if s.address}
    }
    assert streets == expected_streets == {"Советская": (3, 1), "Ленина": (2, 0)}  # a1, a7, a8 (repeat); a2, a3


def test_every_csv_line_matches_its_case(app: App) -> None:
    data, files, _ = report(app)
    rows = list(csv.reader(io.StringIO(files["dela-2026Q4.csv"].decode("utf-8-sig")), delimiter=";"))
    by_number = {int(r[0]): dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    everyone = {**data.appeals, **data.earlier}
    kinds = {"appeal": "обращение", "refutation": "опровержение", "request": "запрос ЦУР"}

    def when(moment: datetime | None) -> str:
        return moment.strftime("%d.%m.%Y %H:%M") if moment else ""

    for label, spec in [*data.appeals.items(), *data.refutations.items(), *data.requests.items()]:
        line = by_number[spec.case_id]
        assert line["Вид"] == kinds[spec.kind], label
        assert line["Канал"] == (CHANNEL_NAMES[spec.channel] if spec.kind == "appeal" else ""), label
        assert line["Тема"] == (spec.topic or ""), label
        assert (line["Поступило (МСК)"], line["Срок (МСК)"], line["Закрыто (МСК)"]) == (
            when(spec.opened), when(spec.due), when(spec.closed)), label
        assert line["В срок"] == ("" if spec.closed is None else "да" if spec.closed <= spec.due else "нет"), label
        if spec.kind == "appeal":
            assert line["Срок продлён"] == ("да" if spec.extended else "нет"), label
            assert line["Повторяет дела №"] == ", ".join(
                str(everyone[e].case_id) for e in data.expected_repeats.get(label, [])), label
        answer = "" if spec.closed is None else f"{hours_between(spec.opened, spec.closed):.1f}".replace(".", ",")
        assert line["Время ответа, ч"] == answer, label
