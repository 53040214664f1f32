"""Threading keys against Mailman's thread index of a real fedora-devel month (292 messages, 60 threads)."""

from __future__ import annotations

import pytest

from bench.accuracy_classify import score_threading
from tests.support.need import corpora

pytestmark = pytest.mark.corpora


def test_references_then_subject_reproduce_mailmans_threads() -> None:
    score = score_threading(corpora("threading") / "fedora-devel-mailman")
    assert (score.messages, score.threads_truth) == (292, 60)
    print(f"threading: precision {score.precision:.3f}, recall {score.recall:.3f}, {score.threads_found} threads")
    assert score.precision >= 0.95
    assert score.recall >= 0.95


def test_the_subject_fallback_is_what_lifts_recall() -> None:
    root = corpora("threading") / "fedora-devel-mailman"
    with_subject = score_threading(root)
    refs_only = score_threading(root, subject_fallback=False)
    assert refs_only.precision >= 0.95
    assert with_subject.recall > refs_only.recall
