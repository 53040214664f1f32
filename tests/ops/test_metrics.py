"""Prometheus metrics: counts read from the database at scrape time, served on a loopback port."""

from __future__ import annotations

import urllib.request

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from daemon.db.models import Case, OutboxMessage, OutboxStatus, StoredMessage
from daemon.metrics import build_registry, metrics_settings, start_metrics
from daemon.runner import Runner
from tests.ops.support import fixture, numbered
from tests.support.dovecot import free_loopback_port
from tests.support.env import CurmailEnv


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_match_the_database(env: CurmailEnv) -> None:
    env.dovecot.append_many(env.account.user, [numbered(fixture("citizen_letter.eml"), 1),
                                               numbered(fixture("cur_signal.eml"), 1)])
    env.run_once()
    app = env.app()
    registry, imap_errors = build_registry(lambda: app)
    imap_errors.inc()
    samples = _samples(generate_latest(registry).decode())
    with app.sessions() as session:
        by_kind = session.execute(select(StoredMessage.kind, StoredMessage.status, func.count())
                                  .group_by(StoredMessage.kind, StoredMessage.status)).all()
        by_state = session.execute(select(Case.kind, Case.state, func.count()).group_by(Case.kind, Case.state)).all()
        sent = session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.status == OutboxStatus.SENT))
    assert by_kind and by_state and sent
    for kind, status, count in by_kind:
        assert samples[("curmail_messages", (("kind", kind), ("status", status)))] == count
    for kind, state, count in by_state:
        assert samples[("curmail_cases", (("kind", kind), ("state", state)))] == count
    assert samples[("curmail_outbox", (("status", "sent"),))] == sent
    assert samples[("curmail_outbox_latency_seconds_count", ())] == sent
    assert samples[("curmail_outbox_latency_seconds_sum", ())] >= 0
    assert samples[("curmail_deadline_misses", (("state", "open"),))] == 0
    assert samples[("curmail_imap_errors_total", ())] == 1
    assert samples[("curmail_database_up", ())] == 1


def test_endpoint_on_loopback(env: CurmailEnv, monkeypatch) -> None:
    port = free_loopback_port()
    monkeypatch.setenv("CURMAIL_METRICS", f"127.0.0.1:{port}")
    assert metrics_settings(env.settings).enabled
    runner = Runner(env.app())
    server = start_metrics(runner)
    assert server is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            body = response.read().decode()
    finally:
        server.stop()
    assert "curmail_mailbox_lease_held 0.0" in body
    assert "curmail_database_up 1.0" in body


def test_imap_failures_are_counted_by_the_runner(sqlite_env: CurmailEnv, monkeypatch) -> None:
    env = sqlite_env
    env.configure(mailbox={"port": free_loopback_port(), "timeout_seconds": 3})  # nobody listens there
    port = free_loopback_port()
    monkeypatch.setenv("CURMAIL_METRICS", f"127.0.0.1:{port}")
    runner = Runner(env.app())
    server = start_metrics(runner)
    assert server is not None
    try:
        runner.run_once()
        runner.run_once()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            samples = _samples(response.read().decode())
    finally:
        server.stop()
    assert samples[("curmail_imap_errors_total", ())] == 2
