"""The systemd unit: `systemd-analyze verify` says nothing at all, and the security exposure is ≤ 2.0."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.need import missing

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "curmail.service"
MAX_EXPOSURE = 2.0


def _analyze() -> str:
    binary = shutil.which("systemd-analyze")
    if binary is None:
        missing("systemd-analyze is not installed (apt-get install systemd)")
    return binary


@pytest.fixture
def unit_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at a binary that exists here (verify checks the path)."""
    text = UNIT.read_text(encoding="utf-8")
    assert re.search(r"^ExecStart=/opt/curmail/bin/curmail run$", text, re.M)
    copy = tmp_path / "curmail.service"
    copy.write_text(re.sub(r"^ExecStart=\S+", "ExecStart=/usr/bin/true", text, flags=re.M), encoding="utf-8")
    return copy


def test_verify_prints_nothing(unit_copy: Path) -> None:
    # verify exits 0 on misspelt keys, so any output at all counts as a failure.
    result = subprocess.run([_analyze(), "verify", str(unit_copy)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    assert result.stdout == "", result.stdout


def test_verify_would_catch_a_typo(tmp_path: Path, unit_copy: Path) -> None:
    """The check above has teeth: a misspelt key does print a warning."""
    broken = tmp_path / "broken" / "curmail.service"
    broken.parent.mkdir()
    broken.write_text(unit_copy.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict"))
    result = subprocess.run([_analyze(), "verify", str(broken)], capture_output=True, text=True, timeout=60)
    assert "ProtectSystm" in result.stderr


def test_security_exposure_at_most_two(unit_copy: Path) -> None:
    result = subprocess.run([_analyze(), "security", "--offline=yes", str(unit_copy)],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_unit_has_the_required_settings() -> None:
    text = UNIT.read_text(encoding="utf-8")
    for line in ("Type=notify", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID", "User=curmail",
                 "StateDirectory=curmail", "ConfigurationDirectory=curmail",
                 "LoadCredential=imap:/etc/curmail/imap.password", "LoadCredential=smtp:/etc/curmail/smtp.password",
                 "Environment=CURMAIL_CONFIG=/etc/curmail/curmail.toml", "ProtectSystem=strict",
                 "NoNewPrivileges=yes", "PrivateTmp=yes", "SystemCallFilter=@system-service",
                 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    assert re.search(r"^WatchdogSec=\S+", text, re.M)


def test_sysusers_file_declares_the_user() -> None:
    binary = shutil.which("systemd-sysusers")
    if binary is None:
        missing("systemd-sysusers is not installed (apt-get install systemd)")
    sysusers = UNIT.with_name("curmail.sysusers.conf")
    result = subprocess.run([binary, "--dry-run", str(sysusers)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Failed" not in result.stderr and "Unknown" not in result.stderr, result.stderr
    assert re.search(r"^u curmail - ", sysusers.read_text(), re.M)
