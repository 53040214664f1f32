"""Skip-or-fail for external things a test needs: fail under CI=true, skip with a reason elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPORA = REPO_ROOT.parent / "shared" / "corpora"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(what: str) -> None:
    """A needed thing is absent: CI must fail loudly, a developer machine may skip."""
    if in_ci():
        pytest.fail(f"CI=true but {what}", pytrace=False)
    pytest.skip(what)


def corpora(sub: str = "") -> Path:
    """Path of ../shared/corpora[/sub], or skip/fail when it is not there."""
    path = CORPORA / sub if sub else CORPORA
    if not path.exists():
        missing(f"corpus folder {path} is absent (it comes from ../shared/corpora)")
    return path
