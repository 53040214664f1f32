"""Configuration: the example file is valid, and every kind of bad file gets one clear message."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from daemon.config import load_settings, parse_settings
from daemon.errors import ConfigError
from tests.support.settings import to_toml

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "curmail.example.toml"


def example_data() -> dict:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    for section in ("mailbox", "smtp"):
        data[section].pop("password_file")
        data[section]["password"] = "secret"
    return data


def error_for(data: dict, tmp_path: Path) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    return str(info.value)


def test_the_example_documents_a_valid_configuration() -> None:
    settings = parse_settings(example_data(), EXAMPLE)
    assert settings.organization.case_tag == "KZM"
    assert settings.press.address == "prpress@gov.mari.ru"
    assert settings.staff[0].roles == ("contact",)
    assert str(settings.deadlines.refutation_draft) == "3h"


def test_the_example_mentions_every_setting() -> None:
    """Every key of the model appears in the commented example, so the example stays the documentation."""
    from daemon.config import Settings

    text = EXAMPLE.read_text(encoding="utf-8")
    missing = []
    for section, field in Settings.model_fields.items():
        if section == "source":
            continue
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))[0] if section == "staff" else annotation
        for name, info in getattr(inner, "model_fields", {}).items():
            key = info.alias or name
            if f"{key} =" not in text and f".{key}]" not in text:
                missing.append(f"[{section}] {key}")
    assert missing == []


def test_unknown_key_is_named_with_its_section(tmp_path: Path) -> None:
    data = example_data()
    data["mailbox"]["pasword"] = "typo"
    message = error_for(data, tmp_path)
    assert "bad.toml" in message
    assert "[mailbox] pasword: unknown key" in message


def test_wrong_type(tmp_path: Path) -> None:
    data = example_data()
    data["mailbox"]["port"] = "imap"
    assert "[mailbox] port:" in error_for(data, tmp_path)


def test_missing_password(tmp_path: Path) -> None:
    data = example_data()
    del data["mailbox"]["password"]
    assert "[mailbox]" in (message := error_for(data, tmp_path)) and "password is required" in message


def test_unknown_timezone(tmp_path: Path) -> None:
    data = example_data()
    data["organization"]["timezone"] = "Europe/Kozmodemyansk"
    assert "unknown timezone «Europe/Kozmodemyansk»" in error_for(data, tmp_path)


def test_bad_address_in_staff(tmp_path: Path) -> None:
    data = example_data()
    data["staff"][1]["email"] = "petrov at kozmo"
    assert "[[staff]] #2 email: «petrov at kozmo» is not an e-mail address" in error_for(data, tmp_path)


def test_plain_text_imap_refused_for_a_remote_host(tmp_path: Path) -> None:
    data = example_data()
    data["mailbox"]["security"] = "none"
    assert "not a loopback address" in error_for(data, tmp_path)


def test_missing_password_file_stops_start_up(tmp_path: Path) -> None:
    data = example_data()
    del data["mailbox"]["password"]
    data["mailbox"]["password_file"] = str(tmp_path / "absent")
    assert "cannot read password_file" in error_for(data, tmp_path)


def test_not_toml_at_all(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[organization\nname = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_settings(path)


def test_check_config_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(to_toml(example_data()), encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text("[organization]\nname = 1\n", encoding="utf-8")

    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "daemon.cli", "--config", str(path), "check-config"],
                              capture_output=True, text=True, cwd=REPO, timeout=60)

    ok = check(good)
    assert ok.returncode == 0, ok.stderr
    failed = check(bad)
    assert failed.returncode == 2
    assert "bad.toml" in failed.stderr and "[mailbox]" in failed.stderr


def test_a_bare_password_file_name_is_a_systemd_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "imap").write_text("s3cret\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    data = example_data()
    del data["mailbox"]["password"]
    data["mailbox"]["password_file"] = "imap"
    path = tmp_path / "c.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    assert load_settings(path).mailbox.resolve_password() == "s3cret"


def test_commands_that_never_log_in_work_without_the_credentials(tmp_path: Path) -> None:
    data = example_data()
    del data["mailbox"]["password"]
    data["mailbox"]["password_file"] = str(tmp_path / "absent")
    path = tmp_path / "c.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    with pytest.raises(ConfigError):
        load_settings(path)
    assert load_settings(path, check_secrets=False).mailbox.username == "adm"
