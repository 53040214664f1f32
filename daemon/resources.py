"""Where the packaged resources (templates, example config) live: in a wheel or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# pyproject.toml force-includes templates/ and config/ at daemon/_resources/ inside the wheel.
_INSTALLED = _PACKAGE / "_resources"
_CHECKOUT = _PACKAGE.parent


def _resource(name: str) -> Path:
    """The installed copy when present, else the folder at the root of the source checkout."""
    installed = _INSTALLED / name
    if installed.is_dir():
        return installed
    return _CHECKOUT / name


def templates_dir() -> Path:
    """The built-in Jinja2 templates of outgoing mail."""
    return _resource("templates")


def config_dir() -> Path:
    """The folder with the commented example configuration."""
    return _resource("config")
