"""Attachment names such as `../../etc/passwd`, an absolute path or one with a NUL byte are data, never paths.

Where curmail writes files: the dry-run outbox writer (`<id>-<message-id>.eml`, the Message-ID
reduced to [A-Za-z0-9._@-]) and the quarterly report files (fixed ASCII names). Attachment names only
travel inside MIME, through compose's header sanitiser. A staff draft with hostile attachment names is
driven through intake, the refutation workflow and the dry-run outbox, and the file system is checked.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload, undefer

from daemon.db.models import Case, OutboxMessage, StoredMessage
from tests.support.env import CurmailEnv
from tests.support.mail import cur_signal

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "security"
RECEIVED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
ABSOLUTE = Path("/tmp/curmail-absolute-path.txt")
DRY_RUN_NAME = re.compile(r"^\d{8}-[A-Za-z0-9._@-]+\.eml$")


def with_reply_headers(raw: bytes, parent: str) -> bytes:
    return f"In-Reply-To: {parent}\r\nReferences: {parent}\r\n".encode() + raw


def every_file(root: Path) -> list[Path]:
    return [Path(folder) / name for folder, _, names in os.walk(root) for name in names]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_hostile_attachment_names_are_stored_as_data_and_never_used_as_paths(env: CurmailEnv, tmp_path: Path) -> None:
    dry_run = tmp_path / "dry-run"
    env.configure(mail={"dry_run": True, "dry_run_dir": str(dry_run)})
    passwd_before = Path("/etc/passwd").stat().st_mtime_ns
    ABSOLUTE.unlink(missing_ok=True)

    env.deliver(cur_signal(1), internal_date=RECEIVED)
    env.run_once(RECEIVED + timedelta(minutes=1))
    with env.app().sessions() as session:
        case = session.scalars(select(Case)).one()
        notice = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "refutation_new")).first()
    assert case.assignee == "petrov@kozmo.example"
    draft = with_reply_headers((FIXTURES / "draft_with_evil_names.eml").read_bytes(), notice.message_id)
    env.deliver(draft, internal_date=RECEIVED + timedelta(minutes=30))
    env.run_once(RECEIVED + timedelta(minutes=31))

    with env.app().sessions() as session:
        case = session.scalars(select(Case)).one()
        stored = session.scalars(select(StoredMessage).options(selectinload(StoredMessage.raw_row))
                                 .where(StoredMessage.message_id == "<sec-draft-1@mail.kozmo.example>")).one()
        to_cur = session.scalars(select(OutboxMessage).options(undefer(OutboxMessage.raw))
                                 .where(OutboxMessage.kind == "refutation_draft")).one()
    assert stored.raw.replace(b"\r\n", b"\n") == draft.replace(b"\r\n", b"\n"), "the raw mail is kept byte for byte"
    names = [a["filename"] for a in case.data["drafts"][0]["attachments"]]
    assert "../../etc/passwd" in names and str(ABSOLUTE) in names  # kept as data, as the sender wrote them

    # Nothing was written outside the dry-run folder, and inside it only curmail's own file names.
    assert Path("/etc/passwd").stat().st_mtime_ns == passwd_before
    assert not ABSOLUTE.exists()
    assert not [p for p in every_file(tmp_path) if p.name in {"passwd", "evil.pdf"} or "\x00" in str(p)]
    written = every_file(dry_run)
    assert written and all(p.parent == dry_run and DRY_RUN_NAME.match(p.name) for p in written)

    # The names travel on inside MIME, with no NUL, CR or LF that could break the header.
    letter = BytesParser(policy=compat32).parsebytes(to_cur.raw)
    sent_names = [part.get_filename() for part in letter.walk() if part.get_filename()]
    assert len(sent_names) == 3
    assert all(not set(name) & {"\x00", "\r", "\n"} for name in sent_names)
    head = to_cur.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc" not in head and b"\x00" not in to_cur.raw
