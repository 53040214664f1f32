"""Build a curmail configuration for tests: a TOML file pointing at the test's Dovecot, sink and database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemon.config import Settings, load_settings

STAFF = [
    {"name": "Иванова Мария Петровна", "email": "ivanova@kozmo.example", "position": "Главный специалист",
     "phone": "+7 83632 0-00-00", "roles": ["contact"]},
    {"name": "Петров Сергей Иванович", "email": "petrov@kozmo.example", "position": "Начальник отдела ЖКХ",
     "roles": ["responsible"], "topics": ["ЖКХ", "дороги и транспорт"]},
    {"name": "Сидорова Анна Викторовна", "email": "sidorova@kozmo.example", "position": "Руководитель аппарата",
     "roles": ["supervisor"]},
    {"name": "Кузнецов Олег Павлович", "email": "kuznetsov@kozmo.example", "position": "Редактор сайта",
     "roles": ["web_editor"]},
]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def to_toml(data: dict[str, Any]) -> str:
    """A tiny TOML writer for the shapes our config uses: tables, arrays of tables, scalars and lists."""
    lines: list[str] = []
    for section, body in data.items():
        if isinstance(body, list):
            for item in body:
                lines.append(f"[[{section}]]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in item.items()]
                lines.append("")
            continue
        lines.append(f"[{section}]")
        nested = {k: v for k, v in body.items() if isinstance(v, dict)}
        lines += [f"{k} = {_toml_value(v)}" for k, v in body.items() if not isinstance(v, dict)]
        lines.append("")
        for name, table in nested.items():
            lines.append(f"[{section}.{name}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
            lines.append("")
    return "\n".join(lines)


def config_data(
    tmp_path: Path,
    *,
    imap_port: int,
    imap_user: str,
    imap_password: str,
    smtp_port: int,
    db_url: str,
    **sections: dict[str, Any],
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "organization": {"name": "Администрация городского округа «Город Козьмодемьянск»",
                         "address": "adm@kozmo.example", "case_tag": "KZM"},
        "mailbox": {"host": "127.0.0.1", "port": imap_port, "security": "none", "username": imap_user,
                    "password": imap_password, "timeout_seconds": 10, "poll_interval_seconds": 1,
                    "idle_renew_seconds": 60},
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none", "timeout_seconds": 5},
        "database": {"url": db_url},
        "cur": {"addresses": ["cur@example.org"], "domains": ["cur12.example.org", "pos.gosuslugi.ru"]},
        "state": {"directory": str(tmp_path / "state")},
        "staff": STAFF,
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return data


def write_config(tmp_path: Path, **kwargs: Any) -> tuple[Path, Settings]:
    """Write curmail.toml into tmp_path and load it the way the daemon does."""
    path = tmp_path / "curmail.toml"
    path.write_text(to_toml(config_data(tmp_path, **kwargs)), encoding="utf-8")
    return path, load_settings(path)
