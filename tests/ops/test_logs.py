"""Logging for journald and log shippers: key=value or JSON lines with case/message-id/uid/kind, no secrets."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from daemon.config import load_settings
from daemon.logs import JsonFormatter, KeyValueFormatter
from tests.ops.support import REPO, fixture, numbered
from tests.support.env import CurmailEnv
from tests.support.fixtures import ImapAccount
from tests.support.settings import config_data, to_toml
from tests.support.smtp import SmtpSink


def _record(message: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    return logging.getLogger("curmail.test").makeRecord(
        "curmail.test", level, __file__, 1, message, None, None, extra=extra)


def test_key_value_line_carries_the_fields() -> None:
    line = KeyValueFormatter().format(_record(
        "classified message", case=17, message_id="<a1@mail.example>", uid=42, kind="citizen",
        reason="два слова", password="hunter2", body="тело письма"))
    assert line.startswith("INFO curmail.test: classified message ")
    fields = line.split(": ", 1)[1]
    assert "case=17" in fields and "uid=42" in fields and "kind=citizen" in fields
    assert "message_id=<a1@mail.example>" in fields
    assert 'reason="два слова"' in fields  # a value with a space is quoted, so the pairs stay parseable
    assert "hunter2" not in line and "тело письма" not in line


def test_json_line_is_one_object_with_typed_fields() -> None:
    line = JsonFormatter().format(_record("parked message", logging.ERROR, uid=7, case=None,
                                          message_id="<b@x>", raw=b"secret bytes", text="тело"))
    assert "\n" not in line
    payload = json.loads(line)
    assert payload["level"] == "ERROR"
    assert payload["logger"] == "curmail.test"
    assert payload["message"] == "parked message"
    assert payload["uid"] == 7 and payload["message_id"] == "<b@x>"
    assert "case" not in payload  # None fields are left out rather than logged as "None"
    assert "raw" not in payload and "text" not in payload


def _secret_setup(tmp_path: Path, imap_account: ImapAccount, smtp: SmtpSink) -> tuple[CurmailEnv, str, str]:
    """An env whose IMAP and SMTP passwords come from files (as with LoadCredential=)."""
    env = CurmailEnv(tmp_path=tmp_path, account=imap_account, smtp=smtp,
                     db_url=f"sqlite:///{tmp_path / 'curmail.db'}")
    smtp_password = "smtp-" + secrets.token_hex(8)
    (tmp_path / "imap.password").write_text(imap_account.password + "\n", encoding="utf-8")
    (tmp_path / "smtp.password").write_text(smtp_password + "\n", encoding="utf-8")
    data = config_data(tmp_path, imap_port=imap_account.server.port, imap_user=imap_account.user,
                       imap_password=imap_account.password, smtp_port=smtp.port, db_url=env.db_url,
                       smtp={"username": "curmail", "password_file": str(tmp_path / "smtp.password")})
    del data["mailbox"]["password"]
    data["mailbox"]["password_file"] = str(tmp_path / "imap.password")
    env.config_path.write_text(to_toml(data), encoding="utf-8")
    env.settings = load_settings(env.config_path)
    return env, imap_account.password, smtp_password


def _letter_with_marker(n: int, marker: str) -> bytes:
    raw = numbered(fixture("citizen_letter.eml"), n)
    return raw.replace("Прошу принять меры.".encode(), f"Прошу принять меры. {marker}".encode())


def test_daemon_logs_fields_in_json_and_never_secrets(tmp_path: Path, imap_account: ImapAccount,
                                                       smtp_sink_auth: SmtpSink) -> None:
    env, imap_password, smtp_password = _secret_setup(tmp_path, imap_account, smtp_sink_auth)
    marker = "МаркерТела" + secrets.token_hex(6)
    env.deliver(_letter_with_marker(1, marker))
    try:
        # Debug level, so even the chattiest lines are checked for secrets.
        result = env.cli("-v", "--log-format", "json", "run", "--once")
    finally:
        env.close()
    assert smtp_sink_auth.messages, "the acknowledgement went out over authenticated SMTP"
    output = result.stdout + result.stderr
    for secret in (imap_password, smtp_password, marker):
        assert secret not in output
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    classified = [r for r in records if r["message"] == "classified message"]
    assert classified and {"uid", "message_id", "kind"} <= classified[0].keys()
    assert classified[0]["message_id"] == "<CAF=x7q2-1@mail.example>"
    assert any("case" in r for r in records), "a line names the case it is about"


def test_text_log_is_key_value_and_failures_leak_nothing(tmp_path: Path, imap_account: ImapAccount,
                                                          smtp_sink_auth: SmtpSink) -> None:
    env, imap_password, smtp_password = _secret_setup(tmp_path, imap_account, smtp_sink_auth)
    marker = "МаркерТела" + secrets.token_hex(6)
    env.deliver(_letter_with_marker(2, marker))
    try:
        good = env.cli("-v", "run", "--once")
        # A refused login: its error line must not carry the password either.
        wrong = "wrong-" + secrets.token_hex(8)
        (tmp_path / "imap.password").write_text(wrong + "\n", encoding="utf-8")
        env.deliver(_letter_with_marker(3, marker))
        bad = env.cli("-v", "run", "--once", check=False)
    finally:
        env.close()
    lines = good.stderr.splitlines()
    classified = [line for line in lines if "classified message" in line]
    assert classified and all(f" {key}=" in classified[0] for key in ("uid", "message_id", "kind"))
    assert any(line.startswith("INFO ") and " case=" in line for line in lines)
    assert "IMAP login refused" in bad.stderr
    for output in (good.stdout + good.stderr, bad.stdout + bad.stderr):
        for secret in (imap_password, smtp_password, marker, wrong):
            assert secret not in output


def _run_once_into(env: CurmailEnv, log_path: Path, journal: str | None, *options: str) -> str:
    """`curmail run --once` with stderr on a file, told (or not) that the file is its journal stream."""
    environment = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    environment["CURMAIL_CONFIG"] = str(env.config_path)
    with log_path.open("wb") as handle:
        if journal == "this file":
            stat = os.fstat(handle.fileno())
            environment["JOURNAL_STREAM"] = f"{stat.st_dev}:{stat.st_ino}"
        elif journal is not None:
            environment["JOURNAL_STREAM"] = journal
        subprocess.run([sys.executable, "-m", "daemon.cli", *options, "run", "--once"], env=environment,
                       cwd=REPO, stdout=subprocess.DEVNULL, stderr=handle, timeout=120, check=False)
    return log_path.read_text(encoding="utf-8")


def test_journal_gets_syslog_priorities(tmp_path: Path, imap_account: ImapAccount,
                                        smtp_sink_auth: SmtpSink) -> None:
    """Under journald each line starts with `<N>`, so `journalctl -p warning` finds the problems."""
    env, _, _ = _secret_setup(tmp_path, imap_account, smtp_sink_auth)
    env.deliver(_letter_with_marker(4, "x"))
    try:
        good = _run_once_into(env, tmp_path / "good.log", "this file")
        (tmp_path / "imap.password").write_text("wrong\n", encoding="utf-8")
        bad = _run_once_into(env, tmp_path / "bad.log", "this file", "--log-format", "json")
        elsewhere = _run_once_into(env, tmp_path / "elsewhere.log", "1:1")  # the journal is another stream
    finally:
        env.close()
    lines = good.splitlines()
    assert lines and all(re.match(r"<[2-7]>", line) for line in lines), good
    assert any(line.startswith("<6>INFO curmail.pipeline: classified message") for line in lines)
    refused = [line for line in bad.splitlines() if "IMAP login refused" in line]
    assert refused and refused[0].startswith("<3>{")
    assert json.loads(refused[0][3:])["level"] == "ERROR"
    assert elsewhere and not any(line.startswith("<") for line in elsewhere.splitlines())
