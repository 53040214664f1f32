"""Coverage-guided fuzzing of the parsers with atheris (libFuzzer); run by hand, and briefly by a test.

    python -m tests.fuzz.atheris_parsers NEW_CORPUS_DIR ../shared/corpora/mime ../shared/corpora/bounces \
        -max_total_time=3600 -timeout=5 -artifact_prefix=/tmp/curmail-fuzz-

libFuzzer writes new interesting inputs into the FIRST directory only, so give it a scratch folder and
the shared corpora after it. A crash or an input over -timeout seconds is saved under
-artifact_prefix; copy it into tests/fixtures/fuzz/ as NAME.eml and it becomes a regression test.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import atheris

with atheris.instrument_imports(include=["parsers"]):
    from parsers import extract_deadline, extract_reply, parse_message
    from parsers.commands import parse_commands

RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def one_input(data: bytes) -> None:
    """Every public parser on one input; any exception is a finding (parsers/ must never raise)."""
    pm = parse_message(data)
    extract_reply(pm.text)
    parse_commands(pm.new_text, pm.subject)
    extract_deadline(pm.text, RECEIVED)
    text = data.decode("utf-8", "replace")
    extract_reply(text)
    parse_commands(text, "")
    extract_deadline(text, RECEIVED)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
