"""Reply trimming on discourse/email_reply_trimmer's 64 real replies: the issue-3 accuracy bar."""

from __future__ import annotations

import pytest

from bench.accuracy_text import RUSSIAN_REPLIES, normalise, reply_trimming_outcomes, share
from parsers.reply import split_reply
from tests.support.need import corpora

pytestmark = pytest.mark.corpora


def test_at_least_90_percent_of_replies_are_trimmed_exactly() -> None:
    outcomes = reply_trimming_outcomes(corpora("reply-trimming"))
    assert len(outcomes) == 64
    wrong = [o.name for o in outcomes if not o.ok]
    assert share(outcomes) >= 0.90, f"wrong: {wrong}"


@pytest.mark.parametrize("name", RUSSIAN_REPLIES)
def test_russian_replies_are_trimmed_exactly(name: str) -> None:
    folder = corpora("reply-trimming")
    body = (folder / "emails" / f"{name}.txt").read_text(encoding="utf-8")
    parts = split_reply(body)
    assert normalise(parts.new_text) == normalise((folder / "trimmed" / f"{name}.txt").read_text(encoding="utf-8"))
    # What was cut is kept as the quote, starting at the «… пользователь … написал:» line.
    assert "написал" in parts.quoted.split("\n")[0]


def test_mobile_footers_go_to_the_signature() -> None:
    body = (corpora("reply-trimming") / "emails" / "signatures.txt").read_text(encoding="utf-8")
    parts = split_reply(body)
    assert parts.new_text == "This email was sent from way too much different devices ;)"
    assert parts.signature.startswith("Envoyé depuis mon iPhone")
