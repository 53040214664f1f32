"""Two organisations on one PostgreSQL (a schema each): reports, metrics, status, outbox and mail stay apart."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from daemon.app import App
from daemon.config import load_settings
from daemon.db.models import OutboxMessage, StoredMessage
from daemon.intake import mailbox_key
from daemon.metrics import build_registry
from daemon.reports.period import parse_quarter
from daemon.reports.quarterly import build
from daemon.status import collect
from tests.support.dovecot import Dovecot
from tests.support.env import CurmailEnv
from tests.support.fixtures import new_account
from tests.support.mail import appeal, cur_signal
from tests.support.smtp import SmtpSink

RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 7, 5, tzinfo=UTC)


def _organisation(tmp_path: Path, dovecot: Dovecot, smtp: SmtpSink, pg_url: str, schema: str,
                  tag: str) -> CurmailEnv:
    folder = tmp_path / schema
    folder.mkdir()
    env = CurmailEnv(tmp_path=folder, account=new_account(dovecot), smtp=smtp, db_url=pg_url)
    env.configure(database={"schema": schema}, organization={"case_tag": tag})
    return env


def _case_totals(app: App) -> dict[str, float]:
    text = generate_latest(build_registry(lambda: app)[0]).decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("curmail_cases", "curmail_messages"):
                totals[sample.name] = totals.get(sample.name, 0) + sample.value
    return totals


def test_reports_metrics_status_and_mail_stay_within_the_organisation(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink, pg_url: str
) -> None:
    kozmo = _organisation(tmp_path, dovecot, smtp_sink, pg_url, "kozmo", "KZM")
    yoshkar = _organisation(tmp_path, dovecot, smtp_sink, pg_url, "yoshkar", "YOL")
    try:
        kozmo.deliver(cur_signal(1), internal_date=RECEIVED)
        for n in (7, 8):
            yoshkar.deliver(appeal(n), internal_date=RECEIVED)
        kozmo.run_once(now=NOW)
        yoshkar.run_once(now=NOW)
        apps = {"KZM": kozmo.app(), "YOL": yoshkar.app()}

        quarter = parse_quarter("2026Q4", date(2026, 12, 1))
        figures = {}
        for tag, app in apps.items():
            with app.sessions() as session:
                figures[tag] = build(session, app.settings, quarter, NOW)
        assert (figures["KZM"].appeals, figures["KZM"].refutations.count) == (0, 1)
        assert (figures["YOL"].appeals, figures["YOL"].refutations.count) == (2, 0)

        assert _case_totals(apps["KZM"]) == {"curmail_cases": 1, "curmail_messages": 1}
        assert _case_totals(apps["YOL"]) == {"curmail_cases": 2, "curmail_messages": 2}

        for tag, env in (("KZM", kozmo), ("YOL", yoshkar)):
            app = apps[tag]
            with app.sessions() as session:
                subjects = session.scalars(select(OutboxMessage.subject)).all()
                stored = session.scalars(select(StoredMessage.mailbox)).all()
            other = "YOL" if tag == "KZM" else "KZM"
            assert any(f"[{tag}-" in s for s in subjects), subjects
            assert not any(f"[{other}-" in s for s in subjects), subjects
            assert set(stored) == {mailbox_key(env.settings)}  # only its own mailbox's mail
            report = collect(load_settings(env.config_path), now=NOW).as_json()
            poll = next(c for c in report["checks"] if c["name"] == "poll")
            assert poll["details"]["mailbox"] == mailbox_key(env.settings)
    finally:
        kozmo.close()
        yoshkar.close()
