"""The sisimai bounce corpus: bsd/ is machine mail (bounce or auto_reply), not/ is not."""

from __future__ import annotations

import pytest

from bench.accuracy_classify import score_bounces
from parsers import classify, parse_message
from tests.support.need import corpora

pytestmark = pytest.mark.corpora


@pytest.fixture(scope="module")
def score():
    return score_bounces(corpora("bounces"))


def test_at_least_98_percent_of_bsd_is_bounce_or_auto_reply(score) -> None:
    assert score.total == 629
    assert score.machine_share >= 0.98, score.misses


def test_every_rfc3834_message_is_an_auto_reply(score) -> None:
    assert score.rfc3834_total == 6
    assert score.rfc3834_auto_reply == score.rfc3834_total, score.misses


def test_nothing_in_not_is_a_bounce_or_an_auto_reply(score) -> None:
    assert score.not_total == 3
    assert score.not_false_positives == 0, score.false_positives


def test_rfc3464_bounces_name_the_original_message_id() -> None:
    folder = corpora("bounces") / "bsd"
    results = [classify(parse_message(p.read_bytes())) for p in sorted(folder.glob("rfc3464-*.eml"))]
    bounces = [r for r in results if r.kind == "bounce"]
    with_id = [r for r in bounces if r.bounced_message_id and r.bounced_message_id.startswith("<")]
    assert len(bounces) >= 30
    assert len(with_id) / len(bounces) >= 0.8


def test_human_mail_with_an_attached_message_is_not_a_bounce() -> None:
    pm = parse_message((corpora("bounces") / "not" / "is-not-bounce-02.eml").read_bytes())
    result = classify(pm)
    assert result.kind not in {"bounce", "auto_reply"}
    assert not result.no_auto_reply


def test_every_matching_rule_is_recorded_not_only_the_first() -> None:
    pm = parse_message((corpora("bounces") / "not" / "rb-issue-368-bug.eml").read_bytes())
    result = classify(pm)
    assert result.kind == "auto_reply"
    assert result.reasons[0] == "auto-submitted-auto-replied"
    assert "bounce-heuristic" in result.reasons  # it is a bounce notice too; the first hit decided
