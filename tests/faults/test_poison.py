"""A poison message never takes its batch down and is parked, with its raw bytes, after `intake.max_attempts`.

Two kinds of poison: one that makes processing raise (a parser or workflow bug), and one that kills
the process while it is being processed (a segfault in a C extension, the OOM killer), each in either
stage (intake's `classify_row`, the workflow's `act_row`). The pipeline counts each attempt durably
before it starts (daemon/pipeline.py), so the second kind should be parked too instead of crashing
the daemon on every start.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

import daemon.pipeline
from daemon.db.models import MessageStatus, OutboxMessage, StoredMessage
from tests.faults.support import kill_after, run_in_child
from tests.support.env import CurmailEnv
from tests.support.mail import appeal, make_message

RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
NOW = RECEIVED + timedelta(minutes=1)
POISON = "<poison@mail.example>"


def deliver_batch(env: CurmailEnv) -> bytes:
    poison = make_message(subject="Отравленное письмо", body="Текст.", message_id=POISON)
    for n in range(3):
        env.deliver(appeal(n), internal_date=RECEIVED)
    env.deliver(poison, internal_date=RECEIVED)
    for n in range(3, 6):
        env.deliver(appeal(n), internal_date=RECEIVED)
    return poison


def statuses(env: CurmailEnv) -> dict[str, str]:
    with env.reader().sessions() as session:
        return {m.message_id: m.status for m in session.scalars(select(StoredMessage))}


STAGES = ["classify_row", "act_row"]


def poisoned(step: str, kill: bool):
    original = getattr(daemon.pipeline, step)

    def poisoned_step(session, app, row, **batch):
        if row.message_id == POISON:
            if kill:
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("poison: the workflow trips over this message")
        return original(session, app, row, **batch)

    return poisoned_step


@pytest.mark.parametrize("step", STAGES)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_message_that_makes_processing_raise_is_parked_and_its_batch_mates_are_processed(
    env: CurmailEnv, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    raw = deliver_batch(env)
    monkeypatch.setattr(daemon.pipeline, step, poisoned(step, kill=False))
    for minute in range(env.settings.intake.max_attempts + 1):
        env.run_once(NOW + timedelta(minutes=minute))
    found = statuses(env)
    assert found.pop(POISON) == MessageStatus.PARKED
    assert set(found.values()) == {MessageStatus.PROCESSED} and len(found) == 6
    with env.app().sessions() as session:
        parked = session.scalars(select(StoredMessage).options(selectinload(StoredMessage.raw_row))
                                 .where(StoredMessage.message_id == POISON)).one()
        alerts = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "parked_alert")).all()
    assert parked.raw.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n") and "poison" in parked.error
    assert len(alerts) == 1


@pytest.mark.parametrize("step", STAGES)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_message_that_kills_the_daemon_is_parked_after_max_attempts(
    env: CurmailEnv, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    deliver_batch(env)
    monkeypatch.setenv("CURMAIL_LEASE_SECONDS", "0.1")
    monkeypatch.setattr(daemon.pipeline, step, poisoned(step, kill=True))  # inherited by the forked daemons
    for minute in range(env.settings.intake.max_attempts + 1):
        kill_after(run_in_child(env, NOW + timedelta(minutes=minute)), 20.0)  # each run ends by itself
        time.sleep(0.15)
    found = statuses(env)
    assert found.pop(POISON) == MessageStatus.PARKED
    assert set(found.values()) == {MessageStatus.PROCESSED}
