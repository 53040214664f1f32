"""Suite-wide pytest configuration: puts the repository root on sys.path for tests.support."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
pytest_plugins = ["tests.support.fixtures", "tests.support.env"]
