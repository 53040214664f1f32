"""Child process for the kill -9 tests: one send_due run that SIGKILLs itself at $CURMAIL_CRASH_AT."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from daemon.db.engine import make_engine, make_sessionmaker  # noqa: E402
from daemon.sender import send_due_sync  # noqa: E402
from tests.daemon.outbox_support import make_settings  # noqa: E402


def main() -> None:
    args = json.loads(sys.argv[1])
    settings = make_settings(Path(args["state_dir"]), smtp_port=args["smtp_port"], db_url=args["db_url"])
    factory = make_sessionmaker(make_engine(args["db_url"]))
    report = send_due_sync(factory, settings, now=datetime.fromisoformat(args["now"]), owner="child")
    print(json.dumps({"sent": report.sent}))


if __name__ == "__main__":
    main()
