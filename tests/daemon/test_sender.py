"""The sender against a real aiosmtpd: accept, 421 and back, 550, timeout after DATA, kill -9, dry run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import undefer

from daemon.db.models import OutboxMessage, OutboxStatus
from daemon.outbox import confirm, enqueue, resend
from daemon.sender import CRASH_ENV, send_due_sync
from tests.daemon.outbox_support import CONTACT, NOW, OFFICIAL, make_settings, migrated, new_case
from tests.support.dovecot import free_loopback_port

CHILD = Path(__file__).with_name("outbox_crash_child.py")
PRESS = "prpress@gov.mari.ru"
CONTEXT = {"sender": "cur@example.org", "original_subject": "Сигнал", "received_at": NOW, "stored_id": 3,
           "reason": "ошибка разбора", "attempts": 3}


@pytest.fixture
def state(tmp_path) -> Path:
    return tmp_path / "state"


def setup(db_url, state, sink, **smtp):
    return make_settings(state, smtp_port=sink.port, db_url=db_url, smtp=smtp), migrated(db_url)


def put(factory, settings, to, *, with_case=False) -> list[tuple[int, str]]:
    with factory() as session, session.begin():
        case = new_case(session) if with_case else None
        rows = enqueue(session, settings, kind="parked_alert", to=to, context=CONTEXT, case=case, now=NOW)
    return [(r.id, r.message_id) for r in rows]


def rows_by_id(factory) -> dict[int, OutboxMessage]:
    with factory() as session:
        return {r.id: r for r in session.scalars(select(OutboxMessage).options(undefer(OutboxMessage.raw)))}


def delivered(sink) -> Counter:
    return Counter(m.message_id for m in sink.messages)


def test_accepted_mail_is_sent_once_with_its_message_id(db_url, state, smtp_sink):
    settings, factory = setup(db_url, state, smtp_sink)
    queued = put(factory, settings, [OFFICIAL, PRESS])
    report = send_due_sync(factory, settings, now=NOW, owner="t")
    assert (report.sent, report.claimed) == (2, 2)
    assert delivered(smtp_sink) == Counter({msgid: 1 for _, msgid in queued})
    assert sorted(m.rcpt_tos for m in smtp_sink.messages) == [(OFFICIAL,), (PRESS,)]
    assert all(r.status == OutboxStatus.SENT and r.attempts == 1 for r in rows_by_id(factory).values())
    assert send_due_sync(factory, settings, now=NOW + timedelta(hours=1), owner="t").claimed == 0
    assert len(smtp_sink.attempts) == 2


def test_a_batch_goes_over_one_smtp_connection(db_url, state, smtp_sink):
    settings, factory = setup(db_url, state, smtp_sink)
    queued = put(factory, settings, [OFFICIAL, PRESS, CONTACT, "fourth@kozmo.example", "fifth@kozmo.example"])
    assert send_due_sync(factory, settings, now=NOW, owner="t").sent == len(queued)
    assert len(smtp_sink.messages) == len(queued)
    assert all(m.peer.startswith("127.0.0.1:") for m in smtp_sink.messages)
    assert len({m.peer for m in smtp_sink.messages}) == 1, "one connection, reused for every letter"


def test_421_retries_with_backoff_driven_by_now_then_succeeds(db_url, state, smtp_sink):
    settings, factory = setup(db_url, state, smtp_sink)
    ((row_id, msgid),) = put(factory, settings, [OFFICIAL])
    smtp_sink.fail_temporarily(2)
    assert send_due_sync(factory, settings, now=NOW, owner="t").deferred == 1
    first = rows_by_id(factory)[row_id]
    assert first.status == OutboxStatus.QUEUED and first.last_error.startswith("421")
    assert timedelta(seconds=300) <= first.next_attempt_at - NOW < timedelta(seconds=330)
    assert send_due_sync(factory, settings, now=NOW + timedelta(seconds=200), owner="t").claimed == 0
    assert send_due_sync(factory, settings, now=first.next_attempt_at, owner="t").deferred == 1
    second = rows_by_id(factory)[row_id]
    assert timedelta(seconds=600) <= second.next_attempt_at - first.next_attempt_at < timedelta(seconds=630)
    assert send_due_sync(factory, settings, now=second.next_attempt_at, owner="t").sent == 1
    assert [a.outcome for a in smtp_sink.attempts] == ["temporary", "temporary", "accepted"]
    assert {a.message_id for a in smtp_sink.attempts} == {msgid}
    assert rows_by_id(factory)[row_id].attempts == 3


def test_the_backoff_doubles_from_the_configured_minimum_to_the_maximum_and_stops_at_the_lifetime(
        db_url, state, smtp_sink):
    settings, factory = setup(db_url, state, smtp_sink, retry_min_seconds=10, retry_max_seconds=30,
                              retry_lifetime_hours=0.02)  # 72 seconds
    ((row_id, msgid),) = put(factory, settings, [OFFICIAL], with_case=True)
    smtp_sink.fail_temporarily(100)
    now, delays = NOW, []
    while rows_by_id(factory)[row_id].status == OutboxStatus.QUEUED:
        assert send_due_sync(factory, settings, now=now, owner="t").claimed >= 1
        row = rows_by_id(factory)[row_id]
        if row.status == OutboxStatus.QUEUED:
            delays.append(round((row.next_attempt_at - now).total_seconds()))
            now = row.next_attempt_at
    assert delays == [10, 20, 30]  # 10, 20, then capped at 30; the next (at +90 s) would pass the lifetime
    rows = rows_by_id(factory)
    assert rows[row_id].status == OutboxStatus.FAILED and rows[row_id].attempts == 4
    assert [a.outcome for a in smtp_sink.attempts if a.message_id == msgid] == ["temporary"] * 4
    (alert,) = [r for r in rows.values() if r.kind == "send_failed"]
    assert alert.recipients == [CONTACT]


def test_an_unreachable_server_defers_and_past_the_lifetime_fails_with_an_alert(db_url, state):
    settings = make_settings(state, smtp_port=free_loopback_port(), db_url=db_url)  # nobody listens there
    factory = migrated(db_url)
    ((row_id, _),) = put(factory, settings, [OFFICIAL])
    report = send_due_sync(factory, settings, now=NOW, owner="t")
    assert report.deferred == 1 and "нет соединения" in report.errors[0]
    late = send_due_sync(factory, settings, now=NOW + timedelta(hours=121), owner="t")
    assert late.failed == 1
    rows = rows_by_id(factory)
    assert rows[row_id].status == OutboxStatus.FAILED
    (alert,) = [r for r in rows.values() if r.kind == "send_failed"]
    assert alert.recipients == [CONTACT] and alert.status == OutboxStatus.QUEUED


def test_550_fails_alerts_the_contact_and_the_failed_alert_does_not_recurse(db_url, state, smtp_sink):
    settings, factory = setup(db_url, state, smtp_sink)
    ((row_id, msgid),) = put(factory, settings, [PRESS], with_case=True)
    smtp_sink.reject()
    report = send_due_sync(factory, settings, now=NOW, owner="t")
    # The original fails, its alert is sent in the same run, is rejected too, and nothing more follows.
    assert report.failed == 2
    rows = rows_by_id(factory)
    assert len(rows) == 2
    (alert,) = [r for r in rows.values() if r.id != row_id]
    assert (alert.kind, alert.recipients, alert.status) == ("send_failed", [CONTACT], OutboxStatus.FAILED)
    assert rows[row_id].last_error.startswith("550")
    smtp_sink.accept()
    with factory() as session, session.begin():
        resend(session, row_id, now=NOW + timedelta(minutes=5))
    assert send_due_sync(factory, settings, now=NOW + timedelta(minutes=5), owner="t").sent == 1
    assert delivered(smtp_sink) == Counter({msgid: 1})


def test_a_timeout_after_data_is_uncertain_alerted_and_never_resent(db_url, state, smtp_sink):
    settings, factory = setup(db_url, state, smtp_sink, timeout_seconds=0.5)
    ((row_id, msgid),) = put(factory, settings, [PRESS])
    smtp_sink.hang_after_data()
    assert send_due_sync(factory, settings, now=NOW, owner="t").uncertain == 1
    smtp_sink.accept()
    later = send_due_sync(factory, settings, now=NOW + timedelta(days=1), owner="t")
    assert later.sent == 1  # the alert only
    rows = rows_by_id(factory)
    assert rows[row_id].status == OutboxStatus.UNCERTAIN
    (alert,) = [r for r in rows.values() if r.id != row_id]
    assert alert.kind == "send_uncertain" and alert.status == OutboxStatus.SENT
    assert [a.outcome for a in smtp_sink.attempts if a.message_id == msgid] == ["hung"]
    with factory() as session, session.begin():
        confirm(session, row_id, now=NOW + timedelta(days=1))
    assert rows_by_id(factory)[row_id].status == OutboxStatus.SENT


def test_resend_of_an_uncertain_letter_keeps_its_message_id(db_url, state, smtp_sink):
    settings, factory = setup(db_url, state, smtp_sink, timeout_seconds=0.5)
    ((row_id, msgid),) = put(factory, settings, [PRESS])
    smtp_sink.hang_after_data()
    send_due_sync(factory, settings, now=NOW, owner="t")
    smtp_sink.accept()
    with factory() as session, session.begin():
        resend(session, row_id, now=NOW + timedelta(hours=1))
    send_due_sync(factory, settings, now=NOW + timedelta(hours=1), owner="t")
    assert delivered(smtp_sink)[msgid] == 1
    assert rows_by_id(factory)[row_id].status == OutboxStatus.SENT


def test_dry_run_writes_each_letter_to_a_file_instead_of_smtp(tmp_path, state, smtp_sink):
    db_url = f"sqlite:///{tmp_path / 'dry.db'}"
    settings = make_settings(state, smtp_port=smtp_sink.port, db_url=db_url,
                             mail={"dry_run": True, "dry_run_dir": str(tmp_path / "dry")})
    factory = migrated(db_url)
    queued = put(factory, settings, [OFFICIAL, PRESS])
    assert send_due_sync(factory, settings, now=NOW, owner="t").sent == 2
    files = sorted((tmp_path / "dry").iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]
    rows = rows_by_id(factory)
    for (row_id, msgid), path in zip(queued, files, strict=True):
        assert path.read_bytes() == rows[row_id].raw
        assert msgid.strip("<>") in path.name
    assert smtp_sink.attempts == []


def test_sent_copies_are_appended_and_a_failed_append_is_retried_without_resending(db_url, state, smtp_sink):
    settings, factory = setup(db_url, state, smtp_sink)
    put(factory, settings, [OFFICIAL, PRESS])

    def broken(raw: bytes) -> None:
        raise OSError("IMAP server is down")

    report = send_due_sync(factory, settings, now=NOW, owner="t", append_sent=broken)
    assert (report.sent, report.appended, report.append_failures) == (2, 0, 1)
    copies: list[bytes] = []
    report = send_due_sync(factory, settings, now=NOW + timedelta(minutes=1), owner="t", append_sent=copies.append)
    assert (report.claimed, report.appended) == (0, 2)
    assert sorted(copies) == sorted(r.raw for r in rows_by_id(factory).values())
    assert all(r.appended_to_sent for r in rows_by_id(factory).values())
    assert len(smtp_sink.attempts) == 2


def test_sent_copy_lands_in_the_dovecot_sent_folder(tmp_path, state, smtp_sink, imap_account):
    from daemon.mailbox import Mailbox

    db_url = f"sqlite:///{tmp_path / 'sent.db'}"
    settings, factory = setup(db_url, state, smtp_sink)
    ((_, msgid),) = put(factory, settings, [OFFICIAL])
    with Mailbox(imap_account.endpoint) as mailbox:
        report = send_due_sync(factory, settings, now=NOW, owner="t", append_sent=lambda raw: mailbox.append(None, raw))
    assert report.appended == 1
    (copy,) = imap_account.server.list_messages(imap_account.user, "Sent")
    assert msgid.encode() in copy.raw and "\\Seen" in copy.flags


def test_two_senders_at_once_share_the_rows_without_duplicates(db_url, state, smtp_sink):
    settings, factory = setup(db_url, state, smtp_sink, batch_size=3)  # many small claims, so they interleave
    queued = put(factory, settings, [f"user{i}@kozmo.example" for i in range(24)])
    reports = []

    def run(owner: str) -> None:
        reports.append(send_due_sync(factory, settings, now=NOW, owner=owner))

    threads = [threading.Thread(target=run, args=(f"s{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r.sent for r in reports) == 24
    assert delivered(smtp_sink) == Counter({msgid: 1 for _, msgid in queued})


def run_child(db_url: str, state: Path, port: int, crash_at: str) -> subprocess.CompletedProcess:
    args = json.dumps({"db_url": db_url, "state_dir": str(state), "smtp_port": port, "now": NOW.isoformat()})
    env = {**os.environ, CRASH_ENV: crash_at}
    return subprocess.run([sys.executable, str(CHILD), args], env=env, capture_output=True, timeout=60, check=False)


# crash point -> (index of the letter left uncertain or None, letters the child delivered, rows recovered)
CRASHES = {
    "after_claim": (None, 0, 3),
    "before_data:2": (1, 1, 2),  # marked in flight, DATA not begun: conservatively uncertain
    "after_data:2": (1, 2, 2),  # 250 received, not committed: the genuinely ambiguous window
    "after_commit": (None, 3, 0),
}


@pytest.mark.parametrize("crash_at", sorted(CRASHES))
def test_kill_9_at_any_point_then_restart_sends_each_letter_at_most_once(tmp_path, state, smtp_sink, crash_at):
    check_kill_9(f"sqlite:///{tmp_path / 'crash.db'}", state, smtp_sink, crash_at)


@pytest.mark.parametrize("crash_at", ["after_claim", "after_data:2"])
def test_kill_9_on_postgresql(pg_url, state, smtp_sink, crash_at):
    check_kill_9(pg_url, state, smtp_sink, crash_at)


def check_kill_9(db_url: str, state: Path, smtp_sink, crash_at: str) -> None:
    settings, factory = setup(db_url, state, smtp_sink)
    queued = put(factory, settings, [OFFICIAL, PRESS, "third@kozmo.example"])
    child = run_child(db_url, state, smtp_sink.port, crash_at)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    uncertain_index, delivered_by_child, recovered = CRASHES[crash_at]
    assert len(smtp_sink.messages) == delivered_by_child

    report = send_due_sync(factory, settings, now=NOW + timedelta(seconds=5), owner="restart")
    counts = delivered(smtp_sink)
    rows = rows_by_id(factory)
    for index, (row_id, msgid) in enumerate(queued):
        if index == uncertain_index:
            assert rows[row_id].status == OutboxStatus.UNCERTAIN
            assert counts[msgid] == (1 if crash_at.startswith("after_data") else 0)
        else:
            assert rows[row_id].status == OutboxStatus.SENT
            assert counts[msgid] == 1
    alerts = [r for r in rows.values() if r.kind == "send_uncertain"]
    assert len(alerts) == (0 if uncertain_index is None else 1)
    assert report.recovered == recovered


def test_a_claim_by_another_host_is_respected_until_its_lease_runs_out(db_url, state, smtp_sink):
    settings, factory = setup(db_url, state, smtp_sink)
    ((row_id, msgid),) = put(factory, settings, [OFFICIAL])
    with factory() as session, session.begin():
        row = session.get(OutboxMessage, row_id)
        row.claimed_by, row.claimed_at = "other|elsewhere@0badc0de@1|4242|feed", NOW
    assert send_due_sync(factory, settings, now=NOW + timedelta(minutes=5), owner="t").claimed == 0
    late = send_due_sync(factory, settings, now=NOW + timedelta(minutes=16), owner="t")
    assert (late.recovered, late.sent) == (1, 1)
    assert delivered(smtp_sink) == Counter({msgid: 1})


def test_login_is_used_when_a_username_is_configured(tmp_path, state, smtp_sink_auth, monkeypatch):
    monkeypatch.setenv("CURMAIL_TEST_SMTP_PASSWORD", "s3cret")
    db_url = f"sqlite:///{tmp_path / 'auth.db'}"
    settings, factory = setup(db_url, state, smtp_sink_auth, username="adm", password_env="CURMAIL_TEST_SMTP_PASSWORD")
    put(factory, settings, [OFFICIAL])
    assert send_due_sync(factory, settings, now=NOW, owner="t").sent == 1
    assert [m.auth_login for m in smtp_sink_auth.messages] == ["adm"]
