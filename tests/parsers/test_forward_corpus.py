"""Forward extraction on crisp-oss/email-forward-parser's fixtures: the issue-3 accuracy bar and details."""

from __future__ import annotations

import pytest

from bench.accuracy_text import ORIGINAL_SENDER, ORIGINAL_SUBJECT, forwarded_cases, forwarded_outcomes, share
from parsers import parse_message
from parsers.forward import find_forwarded
from tests.support.need import corpora

pytestmark = pytest.mark.corpora

COMMON_BODY_START = "Aenean quis diam urna."
COMMON_NOTE = "Praesent suscipit egestas hendrerit.\n\nAliquam eget dui dui."


def test_sender_and_subject_recovered_for_at_least_90_percent() -> None:
    outcomes = forwarded_outcomes(corpora("forwarded"))
    assert len(outcomes) > 200
    wrong = [o.name for o in outcomes if not o.ok]
    assert share(outcomes) >= 0.90, f"wrong: {wrong}"


def test_every_russian_fixture_is_recovered() -> None:
    russian = [o for o in forwarded_outcomes(corpora("forwarded")) if "_ru_" in o.name]
    assert len(russian) == 6
    assert [o.name for o in russian if not o.ok] == []


def _cases_named(fragment: str) -> list:
    return [case for case in forwarded_cases(corpora("forwarded")) if fragment in case.name and case.is_forward]


def test_russian_fixtures_give_name_date_and_body() -> None:
    for case in _cases_named("_ru_"):
        found = find_forwarded(case.body.read_text(encoding="utf-8"), case.subject)
        assert found is not None, case.name
        assert (found.from_addr, found.from_name, found.subject) == (ORIGINAL_SENDER, "John Doe", ORIGINAL_SUBJECT)
        assert found.date is not None and found.date.tzinfo is not None, case.name
        assert found.text.startswith(COMMON_BODY_START), case.name


def test_cc_lists_keep_names_and_order() -> None:
    case = _cases_named("thunderbird_ru_body")[0]
    found = find_forwarded(case.body.read_text(encoding="utf-8"), case.subject)
    assert found is not None
    assert [(a.email, a.name) for a in found.cc] == [
        ("walter.sheltan@acme.com", "Walter Sheltan"),
        ("nicholas@globex.corp", "Nicholas"),
    ]
    assert [a.email for a in found.to] == ["bessie.berry@acme.com"]


def test_the_forwarders_note_is_kept_apart() -> None:
    cases = [c for c in _cases_named("_variant_2") if "Praesent suscipit" in c.body.read_text(encoding="utf-8")]
    assert len(cases) >= 5
    for case in cases:
        found = find_forwarded(case.body.read_text(encoding="utf-8"), case.subject)
        assert found is not None and found.note == COMMON_NOTE, case.name
        assert found.text.startswith(COMMON_BODY_START), case.name


def test_replies_in_the_corpus_are_not_forwards() -> None:
    replies = [case for case in forwarded_cases(corpora("forwarded")) if not case.is_forward]
    assert len(replies) >= 10
    for case in replies:
        assert find_forwarded(case.body.read_text(encoding="utf-8"), case.subject) is None, case.name


def test_bounces_copying_our_headers_are_not_forwards() -> None:
    """A bounce quotes the original's From/To/Subject among raw headers: that is not a forward."""
    bounces = sorted(corpora("bounces/bsd").iterdir())
    assert len(bounces) > 600
    forwards = [
        path.name
        for path in bounces
        if (pm := parse_message(path.read_bytes())) and find_forwarded(pm.text, pm.subject) is not None
    ]
    assert len(forwards) <= len(bounces) // 100, forwards
