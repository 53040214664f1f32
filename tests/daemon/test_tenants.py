"""Several organisations on one PostgreSQL: each in its own schema, never seeing the other's cases or mail."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.config import parse_settings
from daemon.errors import ConfigError
from tests.support.dovecot import Dovecot
from tests.support.env import CurmailEnv
from tests.support.fixtures import new_account
from tests.support.mail import appeal, cur_signal
from tests.support.smtp import SmtpSink

RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def organisation(tmp_path: Path, dovecot: Dovecot, smtp: SmtpSink, pg_url: str, schema: str, tag: str) -> CurmailEnv:
    folder = tmp_path / schema
    folder.mkdir()
    env = CurmailEnv(tmp_path=folder, account=new_account(dovecot), smtp=smtp, db_url=pg_url)
    env.configure(database={"schema": schema}, organization={"case_tag": tag})
    return env


def test_two_organisations_share_a_server_but_not_their_cases(
    tmp_path: Path, dovecot: Dovecot, smtp_sink: SmtpSink, pg_url: str
) -> None:
    kozmo = organisation(tmp_path, dovecot, smtp_sink, pg_url, "kozmodemyansk", "KZM")
    yoshkar = organisation(tmp_path, dovecot, smtp_sink, pg_url, "yoshkar_ola", "YOL")
    try:
        kozmo.deliver(cur_signal(1), internal_date=RECEIVED)
        yoshkar.deliver(appeal(7), internal_date=RECEIVED)
        yoshkar.deliver(appeal(8), internal_date=RECEIVED)
        kozmo.cli("run", "--once", "--now", "2026-12-01T10:05:00+03:00")
        yoshkar.cli("run", "--once", "--now", "2026-12-01T10:05:00+03:00")

        mine = json.loads(kozmo.cli("cases", "list", "--json").stdout)
        theirs = json.loads(yoshkar.cli("cases", "list", "--json").stdout)
        assert [(c["tag"], c["kind"]) for c in mine] == [("[KZM-1]", "refutation")]
        assert [(c["tag"], c["kind"]) for c in theirs] == [("[YOL-1]", "appeal"), ("[YOL-2]", "appeal")]
        # The same number in both is a different case: nothing of Yoshkar-Ola's shows under Kozmodemyansk.
        assert "Недостоверная" in kozmo.cli("cases", "show", "1").stdout
        assert "Недостоверная" not in yoshkar.cli("cases", "show", "1").stdout
        assert kozmo.cli("cases", "show", "2", check=False).returncode == 1
    finally:
        kozmo.close()
        yoshkar.close()


def test_a_schema_is_refused_for_sqlite() -> None:
    with pytest.raises(ConfigError, match="schema applies to PostgreSQL only"):
        parse_settings({
            "organization": {"name": "А", "address": "a@b.ru"},
            "mailbox": {"host": "127.0.0.1", "security": "none", "username": "u", "password": "p"},
            "smtp": {"host": "127.0.0.1"},
            "database": {"url": "sqlite:////tmp/x.db", "schema": "kozmo"},
        })
