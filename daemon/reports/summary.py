"""A short Russian text of the quarterly figures for the body of the mail."""

from __future__ import annotations

from daemon.reports.quarterly import QuarterlyFigures
from daemon.reports.xlsx import NO_DATA

# Short channel names for one line of text; the XLSX has the full names of п. 8.
CHANNEL_SHORT = {
    "59fz": "по 59-ФЗ", "pos": "ПОС", "incident": "«Инцидент-менеджмент»", "voice": "голосовые системы",
    "survey": "опросы", "internet": "интернет", "other": "иные источники",
}


def _pct(value: float | None) -> str:
    return "нет данных" if value is None else f"{value * 100:.1f}".replace(".", ",") + " %"


def _h(value: float | None) -> str:
    if value is None:
        return "нет данных"
    if value >= 48:
        return f"{value / 24:.1f}".replace(".", ",") + " сут."
    return f"{value:.1f}".replace(".", ",") + " ч"


def summary_text(f: QuarterlyFigures) -> str:
    """Ten lines or so: what the numbers are, with the XLSX and CSV attached for the detail."""
    lines = [f"Статистика работы с обращениями за {f.period.title}"]
    if f.empty:
        lines += ["", NO_DATA]
        return "\n".join(lines) + "\n"
    t, r, q = f.timeliness, f.refutations, f.requests
    channels = ", ".join(f"{CHANNEL_SHORT.get(key, key)} — {n}" for key, n in f.by_channel if n)
    top = ", ".join(f"{topic} — {n}" for topic, n in f.by_topic[:3])
    lines += [
        "",
        f"Обращений поступило: {f.appeals}" + (f" ({channels})." if channels else "."),
        f"Основные темы: {top}." if top else "Темы: нет данных.",
        f"Ответ дан в срок: {t.on_time}, с нарушением срока: {t.late}, не закрыто: {t.open}"
        f" (в т. ч. с истёкшим сроком: {t.open_overdue}), срок продлён: {t.extended}.",
        f"Время ответа (медиана / 90-й процентиль): {_h(f.median_answer_hours)} / {_h(f.p90_answer_hours)}",
        f"Повторных обращений: {f.repeats}.",
        f"Сигналов о недостоверной информации: {r.count}; проект в пределах 3 часов: {_pct(r.within_target_share)}"
        f" (медиана {_h(r.median_draft_hours)}); согласовано с первого проекта: {r.first_draft_approved}"
        f" из {r.approved}; медиана до пресс-службы: {_h(r.median_press_hours)}.",
        f"Официальных запросов ЦУР: {q.count}; исполнено в срок: {_pct(q.on_time_share)}.",
    ]
    return "\n".join(lines) + "\n"
