"""`curmail status`: every check, and the exit code for monitoring: 0 OK, 1 warning, 2 critical."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from daemon.config import load_settings
from daemon.db.engine import make_engine
from daemon.db.migrate import upgrade
from daemon.status import collect
from tests.ops.support import fixture, numbered
from tests.support.dovecot import free_loopback_port
from tests.support.env import CurmailEnv


def _status(env: CurmailEnv) -> tuple[int, dict]:
    """The report in-process (fast); the exit code through the real CLI is checked where it matters."""
    report = json.loads(json.dumps(collect(load_settings(env.config_path)).as_json()))
    return report["exit_code"], {c["name"]: c for c in report["checks"]}


def test_healthy_after_a_poll(env: CurmailEnv) -> None:
    env.deliver(numbered(fixture("citizen_letter.eml"), 1))
    env.run_once()
    code, checks = _status(env)
    assert code == 0, checks
    assert {name: c["status"] for name, c in checks.items()} == {
        "database": "ok", "schema": "ok", "poll": "ok", "outbox": "ok", "parked": "ok", "overdue": "ok",
        "imap": "ok", "smtp": "ok"}
    human = env.cli("status")
    assert human.stdout.startswith("curmail: OK")


def test_never_polled_is_a_warning(sqlite_env: CurmailEnv) -> None:
    env = sqlite_env
    env.app()  # creates the schema
    code, checks = _status(env)
    assert code == 1
    assert checks["poll"]["status"] == "warning"


def test_parked_message_is_a_warning(env: CurmailEnv) -> None:
    env.configure(mailbox={"max_message_bytes": 1024})
    letter = numbered(fixture("citizen_letter.eml"), 2)
    env.deliver(letter.replace(b"\r\n\r\n", b"\r\n\r\n" + b"x" * 2048 + b"\r\n", 1))  # over the 1 KB limit
    env.run_once()
    code, checks = _status(env)
    assert code == 1, checks
    assert checks["parked"]["status"] == "warning"
    assert checks["parked"]["details"] == {"parked": 1}
    assert env.cli("status", check=False).returncode == 1


def test_unreachable_imap_is_critical(sqlite_env: CurmailEnv) -> None:
    env = sqlite_env
    env.run_once()
    env.configure(mailbox={"port": free_loopback_port(), "timeout_seconds": 3})
    code, checks = _status(env)
    assert code == 2
    assert checks["imap"]["status"] == "critical"
    assert checks["smtp"]["status"] == "ok"
    assert env.cli("status", check=False).returncode == 2


def test_unreachable_database_is_critical(sqlite_env: CurmailEnv) -> None:
    env = sqlite_env
    env.configure(database={"url": f"postgresql+psycopg://nobody@127.0.0.1:{free_loopback_port()}/none"})
    code, checks = _status(env)
    assert code == 2
    assert checks["database"]["status"] == "critical"
    assert "schema" not in checks


def test_failed_outbox_row_is_a_warning(sqlite_env: CurmailEnv) -> None:
    env = sqlite_env
    env.deliver(numbered(fixture("citizen_letter.eml"), 3))
    env.smtp.reject("550 5.1.1 Mailbox unavailable")
    env.run_once()
    code, checks = _status(env)
    assert code == 1, checks
    outbox = checks["outbox"]
    assert outbox["status"] == "warning"
    assert outbox["details"]["failed"] >= 1 and outbox["details"]["uncertain"] == 0
    assert "curmail outbox list" in outbox["summary"]


def test_uncertain_outbox_row_is_a_warning(sqlite_env: CurmailEnv) -> None:
    env = sqlite_env
    env.configure(smtp={"timeout_seconds": 1})
    env.deliver(numbered(fixture("citizen_letter.eml"), 4))
    env.smtp.hang_after_data()  # the reply to DATA never comes: did the server take the letter?
    env.run_once()
    code, checks = _status(env)
    assert code == 1, checks
    assert checks["outbox"]["details"]["uncertain"] == 1


def test_overdue_case_and_stale_poll(sqlite_env: CurmailEnv) -> None:
    """A case past its deadline is a warning; a poll older than half an hour is critical."""
    env = sqlite_env
    long_ago = datetime.now(UTC) - timedelta(days=90)
    env.deliver(numbered(fixture("citizen_letter.eml"), 5), internal_date=long_ago)
    env.run_once(now=long_ago)  # the daemon last ran three months ago, and the case's term is over
    code, checks = _status(env)
    assert code == 2, checks
    assert checks["overdue"]["status"] == "warning"
    assert checks["overdue"]["details"] == {"overdue": 1}
    assert checks["poll"]["status"] == "critical"
    assert "not reading mail" in checks["poll"]["summary"]
    assert env.cli("status", check=False).returncode == 2


def test_old_schema_is_a_warning(sqlite_env: CurmailEnv) -> None:
    env = sqlite_env
    engine = make_engine(env.settings.database.url)
    try:
        upgrade(engine, "0001")  # an upgrade of the code whose migration has not run yet
    finally:
        engine.dispose()
    env.configure(database={"auto_migrate": False})
    code, checks = _status(env)
    assert checks["schema"]["status"] == "warning", checks
    assert checks["schema"]["details"]["current"] == "0001"
    assert "curmail db upgrade" in checks["schema"]["summary"]
    assert code == 1


def test_unreachable_smtp_is_critical(sqlite_env: CurmailEnv) -> None:
    env = sqlite_env
    env.run_once()
    env.configure(smtp={"port": free_loopback_port()})
    code, checks = _status(env)
    assert code == 2
    assert checks["smtp"]["status"] == "critical"
    assert checks["imap"]["status"] == "ok"
    human = env.cli("status", check=False)
    assert human.returncode == 2
    assert human.stdout.startswith("curmail: CRITICAL")
    assert "CRIT smtp" in human.stdout
