"""`curmail status`: exit 0 when healthy, 1 with a parked message, 2 when IMAP or the database is unreachable."""

from __future__ import annotations

import json

from daemon.config import load_settings
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
