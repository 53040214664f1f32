"""The systemd units: `systemd-analyze verify` says nothing at all, and the security exposure is ≤ 2.0.

curmail.service runs one organisation; the template curmail@.service runs one of several on a host.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.need import missing

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "curmail.service"
TEMPLATE = UNIT.with_name("curmail@.service")
MAX_EXPOSURE = 2.0
# What the template may change; every other line must be the same as in curmail.service.
TEMPLATE_CHANGES = {
    "Description=curmail e-mail case daemon": "Description=curmail e-mail case daemon for %i",
    "Environment=CURMAIL_CONFIG=/etc/curmail/curmail.toml": "Environment=CURMAIL_CONFIG=/etc/curmail/%i.toml",
    "StateDirectory=curmail": "StateDirectory=curmail/%i",
    "LoadCredential=imap:/etc/curmail/imap.password": "LoadCredential=imap:/etc/curmail/%i.imap.password",
    "LoadCredential=smtp:/etc/curmail/smtp.password": "LoadCredential=smtp:/etc/curmail/%i.smtp.password",
}


def _analyze() -> str:
    binary = shutil.which("systemd-analyze")
    if binary is None:
        missing("systemd-analyze is not installed (apt-get install systemd)")
    return binary


@pytest.fixture(params=["curmail.service", "curmail@kozmo.service"])
def unit_copy(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The unit (or an instance of the template) with ExecStart at a binary that exists here (verify checks it)."""
    source = UNIT if request.param == UNIT.name else TEMPLATE
    text = source.read_text(encoding="utf-8")
    assert re.search(r"^ExecStart=/opt/curmail/bin/curmail run$", text, re.M)
    copy = tmp_path / request.param
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
    broken = tmp_path / "broken" / unit_copy.name
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


def test_template_differs_only_where_it_must() -> None:
    def settings(path: Path) -> list[str]:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]

    expected = [TEMPLATE_CHANGES.get(line, line) for line in settings(UNIT)]
    assert settings(TEMPLATE) == expected


def test_sysusers_file_declares_the_user() -> None:
    binary = shutil.which("systemd-sysusers")
    if binary is None:
        missing("systemd-sysusers is not installed (apt-get install systemd)")
    sysusers = UNIT.with_name("curmail.sysusers.conf")
    result = subprocess.run([binary, "--dry-run", str(sysusers)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Failed" not in result.stderr and "Unknown" not in result.stderr, result.stderr
    assert re.search(r"^u curmail - ", sysusers.read_text(), re.M)
