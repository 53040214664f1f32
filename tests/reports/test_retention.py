"""152-ФЗ retention: mail and personal data of cases closed over 5 years ago go; statistics and the rest stay."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload, undefer

from daemon.app import App
from daemon.clock import Clock
from daemon.db.models import Case, CaseEvent, KeyValue, OutboxMessage, StoredMessage
from daemon.reports import retention
from daemon.reports.period import quarter
from daemon.reports.quarterly import build
from daemon.reports.xlsx import summary_rows
from tests.reports.dataset import ANNA, BORIS
from tests.reports.seed import Spec, add, msk

NOW = msk(2026, 12, 3, 3, 30)  # cutoff: 03.12.2021 03:30 МСК


def seed(app: App) -> dict[str, Spec]:
    specs = {
        "old_appeal": Spec("appeal", msk(2021, 5, 10, 9), "59fz", "ЖКХ", due=msk(2021, 6, 9, 18),
                           closed=msk(2021, 6, 1, 12), applicant=ANNA, address="ул. Советская, 12", messages=2,
                           outcome="Кровля над кв. 5 отремонтирована, Смирнова А. уведомлена"),
        "old_refutation": Spec("refutation", msk(2021, 5, 20, 10), due=msk(2021, 5, 20, 13), draft_after_h=2,
                               approved_version=1, press_after_h=3, closed=msk(2021, 5, 21, 10), outcome="published"),
        "recent_appeal": Spec("appeal", msk(2021, 12, 1, 9), "pos", "ЖКХ", due=msk(2021, 12, 31, 18),
                              closed=msk(2022, 1, 10, 12), applicant=BORIS),
        "old_but_open": Spec("appeal", msk(2020, 3, 1, 9), "59fz", "экология", due=msk(2020, 3, 31, 18),
                             applicant=BORIS),
    }
    with app.sessions() as session:
        for spec in specs.values():
            add(session, spec)
        old = specs["old_appeal"].case_id
        for recipient in ("petrov@kozmo.example", ANNA["email"]):
            session.add(OutboxMessage(
                case_id=old, kind="appeal_new", message_id=f"<n-{recipient}@curmail.example>",
                dedupe_key=f"ack:{old}:{recipient}",
                mail_from="adm@kozmo.example", recipients=[recipient], subject="Обращение Смирновой А.",
                raw=b"Subject: x\r\n\r\nAnna's appeal\r\n", status="sent", created_at=msk(2021, 5, 10, 9),
                next_attempt_at=msk(2021, 5, 10, 9), sent_at=msk(2021, 5, 10, 9)))
        for stored, mid in ((msk(2020, 1, 1), "<loose-old@x>"), (msk(2025, 1, 1), "<loose-new@x>")):
            session.add(StoredMessage(direction="in", message_id=mid, sha256="1" * 64, size=10, internal_date=stored,
                                      stored_at=stored, raw=b"bounce ...", status="processed", kind="bounce",
                                      from_addr="mailer-daemon@example.org"))
        for created, mid in ((msk(2020, 1, 2), "<ack-old@curmail.example>"),
                             (msk(2025, 1, 2), "<ack-new@curmail.example>")):
            session.add(OutboxMessage(
                kind="command_result", message_id=mid, mail_from="adm@kozmo.example", recipients=[BORIS["email"]],
                subject="Обработано", raw=b"Subject: x\r\n\r\nBoris\r\n", status="sent", created_at=created,
                next_attempt_at=created, sent_at=created))
        for row in session.scalars(select(StoredMessage).where(StoredMessage.case_id == old)):
            row.reasons = [f"sender {ANNA['email']} is no staff", "keyword «обращение»"]
        for day, updated in (("2021-05-10", msk(2021, 5, 10, 9)), ("2025-01-02", msk(2025, 1, 2, 9))):
            session.add(KeyValue(key=f"automail:{day}:{ANNA['email']}", tenant="default", value={"count": 1},
                                 updated_at=updated))
        session.add(Case(kind="report", state="closed", subject="Статистика за II квартал 2021 г.",
                         opened_at=msk(2021, 7, 1, 9), closed_at=msk(2021, 7, 2, 9), data={"report": "quarterly"}))
        session.commit()
    return specs


def raw_of(app: App, case_id: int | None) -> list[tuple[bytes, str | None]]:
    with app.sessions() as session:
        rows = session.scalars(select(StoredMessage).options(selectinload(StoredMessage.raw_row))
                               .where(StoredMessage.case_id == case_id).order_by(StoredMessage.id))
        return [(r.raw, r.from_addr) for r in rows]


def figures_of_q2_2021(app: App) -> list[tuple[str, object]]:
    with app.sessions() as session:
        figures = build(session, app.settings, quarter(2021, 2), NOW)
    return [(label, value) for label, value, _ in summary_rows(figures) if label != "Данные на"]


def test_dry_run_lists_what_would_go_and_changes_nothing(app: App) -> None:
    specs = seed(app)
    app.clock = Clock(fixed=NOW)
    report = retention.run_retention(app, dry_run=True)
    assert [c.case_id for c in report.cases] == [specs["old_refutation"].case_id, specs["old_appeal"].case_id]
    old = next(c for c in report.cases if c.case_id == specs["old_appeal"].case_id)
    assert (old.messages, old.letters) == (2, 2)
    assert (report.loose_messages, report.loose_letters, report.counters) == (1, 1, 1)
    assert all(raw for raw, _ in raw_of(app, specs["old_appeal"].case_id))


def test_erases_only_old_closed_cases_and_keeps_their_statistics(app: App) -> None:
    specs = seed(app)
    app.clock = Clock(fixed=NOW)
    before = figures_of_q2_2021(app)
    retention.run_retention(app, dry_run=False)

    old = specs["old_appeal"].case_id
    assert raw_of(app, old) == [(b"", None), (b"", None)]
    for kept in ("recent_appeal", "old_but_open"):
        assert all(raw and sender for raw, sender in raw_of(app, specs[kept].case_id)), kept
    with app.sessions() as session:
        case = session.get(Case, old)
        assert case.subject == "" and case.counterpart is None
        assert set(case.data) == {"stats", "erased_at"}
        stats = case.data["stats"]
        assert "Смирнова" not in str(case.data) and "anna@" not in str(case.data)
        assert stats["street"] == "Советская" and stats["address_key"] is None  # the street without the house
        assert stats["applicant_keys"] == [] and stats["anonymised"] is True
        assert case.outcome == "answered"  # the staff's outcome text named the applicant
        assert case.channel == "59fz" and case.topic == "ЖКХ"  # what statistics need stays on the row
        actors = {e.actor for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == old))}
        assert actors == {retention.ERASED, "petrov@kozmo.example"}  # the citizen's address went, staff stays
        letters = session.scalars(select(OutboxMessage).options(undefer(OutboxMessage.raw))
                                  .where(OutboxMessage.case_id == old).order_by(OutboxMessage.id)).all()
        assert [(x.raw, x.recipients) for x in letters] == [(b"", ["petrov@kozmo.example"]),
                                                            (b"", [retention.ERASED])]
        keys = [x.dedupe_key for x in letters]
        assert all(k.startswith("erased:") for k in keys) and len(set(keys)) == 2  # unique, no address
        reasons = session.scalars(select(StoredMessage.reasons).where(StoredMessage.case_id == old)).all()
        assert reasons == [None, None]
        counters = session.scalars(select(KeyValue.key).where(KeyValue.key.like("automail:%"))).all()
        assert counters == [f"automail:2025-01-02:{ANNA['email']}"]  # the recent counter stays
        recent = session.get(Case, specs["recent_appeal"].case_id)
        assert recent.data["applicant"] == BORIS
        report_case = session.scalars(select(Case).where(Case.kind == "report")).one()
        assert report_case.subject.startswith("Статистика")
        loose = {m.message_id: m.from_addr for m in session.scalars(
            select(StoredMessage).where(StoredMessage.case_id.is_(None)))}
        assert loose == {"<loose-old@x>": None, "<loose-new@x>": "mailer-daemon@example.org"}
        caseless = {x.message_id: (x.raw, x.recipients) for x in session.scalars(
            select(OutboxMessage).options(undefer(OutboxMessage.raw)).where(OutboxMessage.case_id.is_(None)))}
        assert caseless == {"<ack-old@curmail.example>": (b"", [retention.ERASED]),
                            "<ack-new@curmail.example>": (b"Subject: x\r\n\r\nBoris\r\n", [BORIS["email"]])}

    assert figures_of_q2_2021(app) == before  # the old quarter still reports the same figures
    assert dict(before)["Обращений поступило"] == 1
    assert dict(before)["Согласовано с первого проекта"] == 1
    assert retention.run_retention(app, dry_run=True).cases == []  # nothing left to erase


def test_nightly_job_runs_once_a_night(app: App) -> None:
    seed(app)
    app.clock = Clock(fixed=msk(2026, 12, 3, 2, 0))
    assert retention.tick(app) is None  # before the night run hour
    app.clock = Clock(fixed=NOW)
    assert len(retention.tick(app).cases) == 2
    app.clock = Clock(fixed=msk(2026, 12, 3, 23, 0))
    assert retention.tick(app) is None
    app.clock = Clock(fixed=msk(2026, 12, 4, 3, 0))
    assert retention.tick(app).cases == []


def test_a_repeat_the_reports_found_stays_a_repeat_after_the_earlier_appeal_is_erased(app: App) -> None:
    specs = seed(app)
    # Anna again about the same roof a fortnight later, answered only in 2022 (not due yet). Its case
    # has no stored links (say «#тема» set its topic after it opened), so the reports match on the keys.
    later = Spec("appeal", msk(2021, 5, 25, 9), "59fz", "ЖКХ", due=msk(2021, 6, 24, 18),
                 closed=msk(2022, 2, 1, 12), applicant={"name": "Смирнова А.", "email": "", "phone": ""},
                 address="Советская ул., д. 12")
    with app.sessions() as session:
        add(session, later)
        session.commit()
    app.clock = Clock(fixed=NOW)
    before = figures_of_q2_2021(app)
    assert dict(before)["Повторных обращений"] == 1  # same address and topic as the old appeal

    retention.run_retention(app, dry_run=False)
    assert figures_of_q2_2021(app) == before
    with app.sessions() as session:
        case = session.get(Case, later.case_id)
        assert case.data["repeat_of"] == [specs["old_appeal"].case_id]
        (event,) = session.scalars(select(CaseEvent).where(CaseEvent.case_id == later.case_id,
                                                           CaseEvent.action == "repeat_detected")).all()
        assert event.detail == {"repeat_of": [specs["old_appeal"].case_id], "by": "retention"}
