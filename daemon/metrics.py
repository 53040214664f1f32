"""Optional Prometheus metrics on a loopback port: messages, cases, deadline misses, outbox, IMAP errors.

Counts come from the database at scrape time, so every instance of a cluster reports the same
totals and nothing is lost on restart; only the IMAP error counter and the lease flag are per process.

Configuration (`$CURMAIL_METRICS=host:port` overrides it for drills and tests):

    [metrics]
    enabled = true
    listen = "127.0.0.1"   # loopback unless you put a TLS proxy in front
    port = 9464
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from daemon.app import App
from daemon.config import Settings
from daemon.db.models import Case, Direction, MailboxState, OutboxMessage, OutboxStatus, StoredMessage

if TYPE_CHECKING:
    from daemon.runner import Runner

log = logging.getLogger("curmail.metrics")

METRICS_ENV = "CURMAIL_METRICS"
DEFAULT_PORT = 9464


@dataclass(frozen=True)
class MetricsSettings:
    """Where to listen; `enabled = false` (the default) starts nothing."""

    enabled: bool = False
    listen: str = "127.0.0.1"
    port: int = DEFAULT_PORT


def metrics_settings(settings: Settings) -> MetricsSettings:
    """[metrics] from the configuration; $CURMAIL_METRICS=host:port overrides it (drills and tests)."""
    value = os.environ.get(METRICS_ENV, "")
    if value:
        host, _, port = value.rpartition(":")
        return MetricsSettings(enabled=True, listen=host or "127.0.0.1", port=int(port))
    section = settings.metrics
    return MetricsSettings(enabled=section.enabled, listen=section.listen, port=section.port)


def _latency_seconds_sum(session, dialect: str) -> float:
    """Σ(sent_at − created_at) over sent rows, in the database: no row is pulled into Python."""
    if dialect == "postgresql":
        expression = func.extract("epoch", func.sum(OutboxMessage.sent_at - OutboxMessage.created_at))
    else:
        expression = func.sum(func.julianday(OutboxMessage.sent_at) - func.julianday(OutboxMessage.created_at)) * 86400
    value = session.scalar(select(expression).where(OutboxMessage.status == OutboxStatus.SENT))
    return float(value or 0.0)


class DatabaseCollector(Collector):
    """Reads counts with a few GROUP BY queries per scrape; `app()` is called each time (reload swaps it)."""

    def __init__(self, app: Callable[[], App], lease_held: Callable[[], bool] | None = None) -> None:
        self._app = app
        self._lease_held = lease_held

    def collect(self) -> Iterator[GaugeMetricFamily | SummaryMetricFamily]:
        app = self._app()
        try:
            yield from self._from_database(app)
            up = 1.0
        except SQLAlchemyError as exc:
            log.warning("metrics: database unreachable: %s", getattr(exc, "orig", None) or exc)
            up = 0.0
        yield GaugeMetricFamily("curmail_database_up", "1 when the last scrape could read the database", value=up)
        if self._lease_held is not None:
            yield GaugeMetricFamily("curmail_mailbox_lease_held", "1 when this instance reads the mailbox",
                                    value=1.0 if self._lease_held() else 0.0)

    def _from_database(self, app: App) -> Iterator[GaugeMetricFamily | SummaryMetricFamily]:
        now = datetime.now(UTC)
        with app.sessions() as session:
            messages = GaugeMetricFamily("curmail_messages", "Incoming messages by kind and status",
                                         labels=["kind", "status"])
            for kind, status, count in session.execute(
                select(StoredMessage.kind, StoredMessage.status, func.count())
                .where(StoredMessage.direction == Direction.INBOUND)
                .group_by(StoredMessage.kind, StoredMessage.status)
            ):
                messages.add_metric([kind or "unclassified", status], count)
            cases = GaugeMetricFamily("curmail_cases", "Cases by kind and state", labels=["kind", "state"])
            for kind, state, count in session.execute(
                select(Case.kind, Case.state, func.count()).group_by(Case.kind, Case.state)
            ):
                cases.add_metric([kind, state], count)
            overdue = session.scalar(
                select(func.count()).select_from(Case).where(Case.closed_at.is_(None), Case.due_at < now)
            )
            closed_late = session.scalar(
                select(func.count()).select_from(Case).where(Case.closed_at.is_not(None), Case.closed_at > Case.due_at)
            )
            outbox = GaugeMetricFamily("curmail_outbox", "Outbox rows by status", labels=["status"])
            for status, count in session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            ):
                outbox.add_metric([status], count)
            sent = session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENT)
            )
            latency_sum = _latency_seconds_sum(session, session.get_bind().dialect.name)
            polls = session.execute(select(MailboxState.mailbox, MailboxState.last_poll_at)).all()
        yield messages
        yield cases
        yield GaugeMetricFamily("curmail_cases_overdue", "Open cases past their deadline", value=overdue or 0)
        misses = GaugeMetricFamily("curmail_deadline_misses", "Cases that missed their deadline",
                                   labels=["state"])
        misses.add_metric(["open"], overdue or 0)
        misses.add_metric(["closed"], closed_late or 0)
        yield misses
        yield outbox
        yield SummaryMetricFamily("curmail_outbox_latency_seconds", "From enqueue to the SMTP server's 250",
                                  count_value=sent or 0, sum_value=latency_sum)
        last_poll = GaugeMetricFamily("curmail_last_poll_timestamp_seconds", "Start of the last successful poll",
                                      labels=["mailbox"])
        for mailbox, at in polls:
            if at is not None:
                last_poll.add_metric([mailbox], at.timestamp())
        yield last_poll


@dataclass
class MetricsServer:
    """A running endpoint; `stop()` shuts it down."""

    registry: CollectorRegistry
    imap_errors: Counter
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()  # type: ignore[attr-defined]
        self.server.server_close()  # type: ignore[attr-defined]


def build_registry(app: Callable[[], App], lease_held: Callable[[], bool] | None = None) -> tuple[
    CollectorRegistry, Counter
]:
    """A private registry (not the global one): several runners in one test process must not collide."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(app, lease_held))
    imap_errors = Counter("curmail_imap_errors", "IMAP failures seen by this process", registry=registry)
    return registry, imap_errors


def start_metrics(runner: Runner) -> MetricsServer | None:
    """Start the endpoint when configured; a busy port is logged, and the daemon runs on without it."""
    from prometheus_client import start_http_server

    config = metrics_settings(runner.app.settings)
    if not config.enabled:
        return None
    registry, imap_errors = build_registry(lambda: runner.app, lambda: runner.holds_lease)
    try:
        server, thread = start_http_server(config.port, addr=config.listen, registry=registry)
    except OSError as exc:
        log.error("metrics: cannot listen on %s:%s: %s", config.listen, config.port, exc)
        return None
    runner.on_imap_error = imap_errors.inc
    log.info("metrics on http://%s:%s/metrics", config.listen, config.port)
    return MetricsServer(registry, imap_errors, server, thread)
