"""Accuracy of reply trimming and forward extraction on the public corpora (issue 3 bars), as a table."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.common import Figure, print_table
from parsers.forward import find_forwarded
from parsers.reply import extract_reply

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
REPLY_TRIMMING = CORPORA / "reply-trimming"
FORWARDED = CORPORA / "forwarded"

# Ground truth of the forwarded corpus (see ../shared/corpora/README.md).
ORIGINAL_SENDER = "john.doe@acme.com"
ORIGINAL_SUBJECT = "Integer consequat non purus"
RUSSIAN_REPLIES = ("embedded_email_russian_1", "embedded_email_russian_2")

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Outcome:
    """One corpus case and whether the parser got it right."""

    name: str
    ok: bool
    got: str = ""


def normalise(text: str) -> str:
    """Whitespace-normalised text, as the reply-trimming bar compares it."""
    return _WHITESPACE.sub(" ", text).strip()


def reply_trimming_outcomes(folder: Path = REPLY_TRIMMING) -> list[Outcome]:
    """extract_reply(emails/NAME.txt) against trimmed/NAME.txt for every reply of the corpus."""
    outcomes = []
    for email in sorted((folder / "emails").glob("*.txt")):
        expected = folder / "trimmed" / email.name
        if not expected.exists():
            continue
        got = extract_reply(email.read_text(encoding="utf-8"))
        outcomes.append(Outcome(email.stem, normalise(got) == normalise(expected.read_text(encoding="utf-8")), got))
    return outcomes


@dataclass(frozen=True)
class ForwardCase:
    """A forwarded-corpus fixture: a body, the outer subject it came with, and whether it is a forward."""

    name: str
    body: Path
    subject: str
    is_forward: bool


def forwarded_cases(folder: Path = FORWARDED) -> list[ForwardCase]:
    """Every (body, subject) pair of the corpus, paired as its own test suite pairs them.

    `*_variant_4` fixtures are replies, not forwards: they count as right when nothing is found.
    The one Outlook Live body is forwarded with each language's subject prefix, one case each.
    """
    cases = []
    for body in sorted(folder.glob("*_body*.txt")):
        is_forward = "_variant_4" not in body.name
        if body.name == "outlook_live_body.txt":
            for subject_file in sorted(folder.glob("outlook_live_*_subject.txt")):
                cases.append(ForwardCase(f"{body.stem}+{subject_file.stem}", body, _read(subject_file), True))
            continue
        cases.append(ForwardCase(body.stem, body, _subject_for(folder, body.name), is_forward))
    return cases


def _subject_for(folder: Path, body_name: str) -> str:
    own = folder / body_name.replace("_body", "_subject")
    if own.exists():
        return _read(own)
    if body_name.startswith("outlook_2019_"):
        return _read(folder / "outlook_2019_subject.txt")
    if body_name.startswith("unknown_en_"):
        return _read(folder / "unknown_en_subject.txt")
    return ""


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def forwarded_outcomes(folder: Path = FORWARDED) -> list[Outcome]:
    """find_forwarded on every case: the original sender address and subject must both be recovered."""
    outcomes = []
    for case in forwarded_cases(folder):
        found = find_forwarded(_read(case.body), case.subject)
        if not case.is_forward:
            outcomes.append(Outcome(case.name, found is None, "" if found is None else found.from_addr))
            continue
        ok = found is not None and found.from_addr == ORIGINAL_SENDER and found.subject == ORIGINAL_SUBJECT
        outcomes.append(Outcome(case.name, ok, "" if found is None else f"{found.from_addr} | {found.subject}"))
    return outcomes


def share(outcomes: list[Outcome]) -> float:
    return sum(o.ok for o in outcomes) / len(outcomes) if outcomes else 0.0


def run() -> list[Figure]:
    """The accuracy figures of issue 3, sections 2 and 3."""
    figures: list[Figure] = []
    if REPLY_TRIMMING.exists():
        replies = reply_trimming_outcomes()
        russian = [o for o in replies if o.name in RUSSIAN_REPLIES]
        figures.append(
            Figure(f"reply-trimming: exact after whitespace ({len(replies)})", share(replies), None, ">= 0.90")
        )
        figures.append(Figure("reply-trimming: Russian cases", share(russian), None, "= 1.00"))
    if FORWARDED.exists():
        forwards = forwarded_outcomes()
        russian = [o for o in forwards if "_ru_" in o.name]
        figures.append(
            Figure(f"forwarded: sender and subject, all ({len(forwards)})", share(forwards), None, ">= 0.90")
        )
        figures.append(
            Figure(f"forwarded: sender and subject, *_ru_* ({len(russian)})", share(russian), None, "= 1.00")
        )
    return figures


def main() -> None:
    figures = run()
    if not figures:
        print(f"corpora not found under {CORPORA}", file=sys.stderr)
        raise SystemExit(2)
    print_table(figures, "accuracy of reply and forward extraction")
    failed = [o for o in reply_trimming_outcomes() + forwarded_outcomes() if not o.ok]
    if failed:
        print("\nnot right:")
        for outcome in failed:
            print(f"  {outcome.name}: {outcome.got[:80]!r}")


if __name__ == "__main__":
    main()
