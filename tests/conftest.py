"""Suite-wide pytest configuration: puts the repository root on sys.path for tests.support."""

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
pytest_plugins = ["tests.support.fixtures", "tests.support.env"]


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """In-process CLI runs point the root logger at the test's captured stderr; put it back afterwards.

    Left in place, the handler wrote every later test's log lines to a closed stream, and each
    failure's report filled up with «Logging error: I/O operation on closed file».
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
