"""The quarterly statistics (п. 10.1): pure functions from statistics rows to figures, and the loader.

Definitions (the same in the XLSX, the CSV and the mail):
- an appeal, refutation or request belongs to the quarter in which it was received (`opened_at`,
  the receipt time, in the organisation's zone);
- its state is taken as of `as_of` (the moment the report is made): answered on time, answered
  late, or open; «extended» counts appeals whose term was extended (they are also in one of the others);
- time to answer: from receipt to closing, for answered appeals; median and 90th percentile
  (`statistics.quantiles(..., method="inclusive")`, i.e. linear interpolation), in hours;
- refutations: time from the signal to the first draft sent to the ЦУР; «within 3 hours» is the
  share of all refutations of the quarter whose first draft went out within 3 hours (no draft = not
  within); first-draft approvals among the approved; time to press from the signal to the letter to
  the press service;
- ЦУР requests: the share answered on time among those whose result is known (answered, or open
  past the deadline).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from daemon.config import Settings
from daemon.reports.facts import CaseFacts, load_facts
from daemon.reports.period import Period
from daemon.reports.repeats import with_repeats
from daemon.reports.settings import repeat_window, topic_names

if TYPE_CHECKING:
    from daemon.reports.problems import ProblemsReport

# п. 8 of the Порядок, in its order; the keys are the classifier's channel values.
CHANNELS: tuple[tuple[str, str], ...] = (
    ("59fz", "Обращения по 59-ФЗ"),
    ("pos", "ПОС «Госуслуги. Решаем вместе»"),
    ("incident", "Соцсети и мессенджеры («Инцидент-менеджмент»)"),
    ("voice", "Региональные системы голосовой обратной связи"),
    ("survey", "Результаты опросов"),
    ("internet", "Информация в интернете"),
    ("other", "Иные источники"),
)
CHANNEL_RU = dict(CHANNELS)
NO_TOPIC = "прочее"
REFUTATION_TARGET = timedelta(hours=3)  # Algorithm п. 4, Порядок п. 10.3


def hours(span: timedelta) -> float:
    return span.total_seconds() / 3600


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def p90(values: Sequence[float]) -> float | None:
    """90th percentile by linear interpolation between closest ranks; the value itself for one value."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class Timeliness:
    """Appeals of the quarter by outcome as of the report's moment."""

    on_time: int = 0
    late: int = 0
    open: int = 0
    open_overdue: int = 0  # of `open`: past the deadline already
    extended: int = 0


@dataclass(frozen=True, slots=True)
class RefutationFigures:
    count: int = 0
    with_draft: int = 0
    median_draft_hours: float | None = None
    within_target: int = 0
    within_target_share: float | None = None
    approved: int = 0
    first_draft_approved: int = 0
    first_draft_share: float | None = None  # of the approved
    to_press: int = 0
    median_press_hours: float | None = None


@dataclass(frozen=True, slots=True)
class RequestFigures:
    count: int = 0
    on_time: int = 0
    late: int = 0
    open: int = 0
    known: int = 0  # answered, or open past the deadline
    on_time_share: float | None = None


@dataclass(frozen=True)
class QuarterlyFigures:
    """Everything the quarterly report states, computed from statistics rows only."""

    period: Period
    as_of: datetime
    appeals: int
    by_channel: list[tuple[str, int]]  # (channel key, count) in п. 8 order, zeros included
    by_topic: list[tuple[str, int]]  # (topic, count), most frequent first, then taxonomy order
    timeliness: Timeliness
    median_answer_hours: float | None
    p90_answer_hours: float | None
    repeats: int
    repeat_rows: list[CaseFacts]
    refutations: RefutationFigures
    requests: RequestFigures
    rows: list[CaseFacts] = field(default_factory=list)
    problems: ProblemsReport | None = None  # п. 10.2 for the quarter: topics and streets, trend, outcomes

    @property
    def empty(self) -> bool:
        return not self.rows


def _timeliness(appeals: Sequence[CaseFacts], as_of: datetime) -> Timeliness:
    on_time = late = open_ = overdue = extended = 0
    for row in appeals:
        if row.is_closed_at(as_of):
            if row.answered_on_time:
                on_time += 1
            else:
                late += 1
        else:
            open_ += 1
            overdue += int(row.due_at is not None and row.due_at < as_of)
        extended += int(row.extended)
    return Timeliness(on_time, late, open_, overdue, extended)


def _refutations(rows: Sequence[CaseFacts]) -> RefutationFigures:
    draft_hours = [hours(r.draft_at - r.opened_at) for r in rows if r.draft_at is not None]
    within = sum(1 for r in rows if r.draft_at is not None and r.draft_at - r.opened_at <= REFUTATION_TARGET)
    approved = [r for r in rows if r.approved_version is not None]
    first = sum(1 for r in approved if r.approved_version == 1)
    press_hours = [hours(r.press_at - r.opened_at) for r in rows if r.press_at is not None]
    return RefutationFigures(
        count=len(rows), with_draft=len(draft_hours), median_draft_hours=median(draft_hours),
        within_target=within, within_target_share=share(within, len(rows)),
        approved=len(approved), first_draft_approved=first, first_draft_share=share(first, len(approved)),
        to_press=len(press_hours), median_press_hours=median(press_hours),
    )


def _requests(rows: Sequence[CaseFacts], as_of: datetime) -> RequestFigures:
    on_time = late = open_ = overdue = 0
    for row in rows:
        if row.is_closed_at(as_of):
            on_time += int(bool(row.answered_on_time))
            late += int(not row.answered_on_time)
        else:
            open_ += 1
            overdue += int(row.due_at is not None and row.due_at < as_of)
    known = on_time + late + overdue
    return RequestFigures(len(rows), on_time, late, open_, known, share(on_time, known))


def compute(
    period: Period, rows: Sequence[CaseFacts], as_of: datetime, topics: Sequence[str] = ()
) -> QuarterlyFigures:
    """The figures of `period` from the rows of cases received in it (other rows are ignored)."""
    rows = [r for r in rows if period.contains(r.opened_at)]
    appeals = [r for r in rows if r.kind == "appeal"]
    channels = Counter(r.channel if r.channel in CHANNEL_RU else "other" for r in appeals)
    by_channel = [(key, channels.get(key, 0)) for key, _ in CHANNELS]
    topic_counts = Counter(r.topic or NO_TOPIC for r in appeals)
    order = {name: index for index, name in enumerate(topics)}
    by_topic = sorted(topic_counts.items(), key=lambda kv: (-kv[1], order.get(kv[0], len(order)), kv[0]))
    answer_hours = [hours(r.closed_at - r.opened_at) for r in appeals if r.is_closed_at(as_of)]
    repeat_rows = [r for r in appeals if r.repeat_of]
    return QuarterlyFigures(
        period=period, as_of=as_of, appeals=len(appeals), by_channel=by_channel, by_topic=by_topic,
        timeliness=_timeliness(appeals, as_of),
        median_answer_hours=median(answer_hours), p90_answer_hours=p90(answer_hours),
        repeats=len(repeat_rows), repeat_rows=repeat_rows,
        refutations=_refutations([r for r in rows if r.kind == "refutation"]),
        requests=_requests([r for r in rows if r.kind == "request"], as_of),
        rows=list(rows),
    )


def build(
    session: Session, settings: Settings, period: Period, as_of: datetime, tenant: str = "default"
) -> QuarterlyFigures:
    """Load the quarter's rows (and a repeat window before it, for repeats) and compute the figures."""
    from daemon.reports.problems import build_problems  # late: problems reads this module's names

    window = repeat_window(settings)
    rows = load_facts(session, period.start, period.end, tenant=tenant)
    earlier = load_facts(session, period.start - window, period.start, kinds=("appeal",), tenant=tenant)
    figures = compute(period, with_repeats(rows, earlier, window), as_of, topic_names(settings))
    # п. 10.2 goes to the ЦУР with the quarterly statistics: the problems of the quarter against the last one.
    return replace(figures, problems=build_problems(session, settings, period, as_of, tenant=tenant))
