"""A refutation end to end on real servers: Dovecot in, `run --once --now` in-process, aiosmtpd out."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import select

from daemon.db.models import Case, OutboxMessage
from tests.support.env import CurmailEnv
from tests.workflow.conftest import CUR, FIXTURES, OFFICIAL, PRESS, WEB_EDITOR, msk, set_headers


def outbox_row(env: CurmailEnv, kind: str, to: str) -> OutboxMessage:
    with env.app().sessions() as session:
        rows = [r for r in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind))
                if r.recipients == [to]]
    (row,) = rows
    return row


def deliver(env: CurmailEnv, name: str, reply_to: str | None = None, *, received) -> None:
    raw = (FIXTURES / name).read_bytes()
    if reply_to:
        raw = set_headers(raw, {"In-Reply-To": reply_to, "References": reply_to})
    env.deliver(raw, internal_date=received)


def test_signal_draft_approval_reach_the_press_address_once(env: CurmailEnv):
    deliver(env, "signal.eml", received=msk(2026, 12, 3, 12, 42))
    env.run_once(now=msk(2026, 12, 3, 12, 43).astimezone(UTC))
    notice = outbox_row(env, "refutation_new", OFFICIAL)

    deliver(env, "draft_reply.eml", notice.message_id, received=msk(2026, 12, 3, 13, 40))
    env.run_once(now=msk(2026, 12, 3, 13, 41).astimezone(UTC))
    draft = outbox_row(env, "refutation_draft", CUR)

    deliver(env, "approval.eml", draft.message_id, received=msk(2026, 12, 3, 14, 20))
    env.run_once(now=msk(2026, 12, 3, 14, 21).astimezone(UTC))
    env.run_once(now=msk(2026, 12, 3, 14, 30).astimezone(UTC))  # a second run sends nothing again

    with env.app().sessions() as session:
        (case,) = session.scalars(select(Case)).all()
        assert case.state == "sent_to_press"
    received = {rcpt: [m for m in env.smtp.messages if rcpt in m.rcpt_tos] for rcpt in (PRESS, WEB_EDITOR, CUR)}
    assert len(received[PRESS]) == 1 and len(received[WEB_EDITOR]) == 1
    assert any(b"<wf-signal-1@cur12.example.org>" in m.raw for m in received[CUR])  # the draft, in the ЦУР thread
    assert outbox_row(env, "refutation_press", PRESS).status == "sent"
