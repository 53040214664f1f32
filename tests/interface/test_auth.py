"""Authorisation against spoofing: role + reply token, Authentication-Results of our own MTA only, DKIM."""

from __future__ import annotations

import base64
from pathlib import Path

import dkim
import pytest

from daemon.auth import cur_sender_verdict, parse_authentication_results, results_verdict, trusted_results, verify_dkim
from parsers import parse_message
from tests.interface.conftest import Mail
from tests.support.mail import make_message
from tests.workflow.conftest import CONTACT, CUR, OFFICIAL, PRESS, body_of, msk, plain

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "interface"
OUR_MTA = "mx.kozmo.example"


@pytest.fixture
def guarded(make_flow) -> Mail:
    return make_flow(security={"authserv_id": OUR_MTA})


def awaiting_approval(flow: Mail) -> tuple[int, str]:
    flow.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    notice = flow.one("refutation_new", OFFICIAL)
    flow.deliver("draft_reply.eml", at=msk(2026, 12, 3, 13, 40), reply_to=notice.message_id)
    return flow.case().id, flow.one("refutation_draft", CUR).message_id


def approval(number: int, reply_to: str | None, *, results: tuple[str, ...] | list[str] = (), n: int = 1) -> bytes:
    """A ЦУР `#согласовано`, with Authentication-Results fields in the given order from the top."""
    raw = make_message(sender=f"ЦУР <{CUR}>", subject=f"RE: [KZM-{number}] Проект комментария",
                       body="#согласовано\n\nС уважением, ЦУР", in_reply_to=reply_to, references=reply_to,
                       message_id=f"<approval-{n}@example.org>")
    for value in reversed(results):  # the topmost field is the last one an MTA prepended
        raw = f"Authentication-Results: {value}\n".encode() + raw
    return raw


def assert_refused(flow: Mail, reason: str) -> None:
    case = flow.case()
    assert case.state == "awaiting_approval"
    assert flow.outbox("refutation_press", PRESS) == []
    refused = flow.events(case, "command_refused")
    assert refused and reason in refused[-1].detail["reason"]
    alert = flow.one("command_refused_alert", CONTACT)
    assert reason in plain(body_of(alert)) and "возможна подделка" in alert.subject
    (answer,) = flow.outbox("command_result", CUR)
    assert "✗ отклонено" in plain(body_of(answer))


def test_a_forged_from_without_our_token_cannot_approve(guarded: Mail):
    number, _ = awaiting_approval(guarded)
    guarded.deliver_raw(approval(number, None, results=[f"{OUR_MTA}; dkim=pass header.d=example.org"]),
                        at=msk(2026, 12, 3, 14, 0))
    assert_refused(guarded, "только в ответе на письмо curmail")


def test_authentication_results_from_another_authserv_id_are_not_trusted(guarded: Mail):
    number, to_cur = awaiting_approval(guarded)
    forged = ["mx.evil.example; dkim=pass header.d=example.org; dmarc=pass header.from=example.org"]
    guarded.deliver_raw(approval(number, to_cur, results=forged), at=msk(2026, 12, 3, 14, 0))
    assert_refused(guarded, f"authserv-id «{OUR_MTA}»")


def test_failing_dkim_at_our_mta_refuses_the_approval(guarded: Mail):
    number, to_cur = awaiting_approval(guarded)
    ours = [f"{OUR_MTA}; dkim=fail (signature did not verify) header.d=example.org; dmarc=fail header.from=example.org"]
    guarded.deliver_raw(approval(number, to_cur, results=ours), at=msk(2026, 12, 3, 14, 0))
    assert_refused(guarded, "dkim=fail")


def test_an_authenticated_reply_to_our_draft_letter_approves(guarded: Mail):
    number, to_cur = awaiting_approval(guarded)
    # Our MTA's field is on top; a forged one further down claiming our id must not matter.
    results = [f"{OUR_MTA}; dkim=pass header.d=example.org header.s=sel", f"{OUR_MTA}; dkim=fail"]
    guarded.deliver_raw(approval(number, to_cur, results=results), at=msk(2026, 12, 3, 14, 0))
    assert guarded.case().state == "sent_to_press"
    assert len(guarded.outbox("refutation_press", PRESS)) == 1
    assert guarded.outbox("command_refused_alert") == []


def test_staff_cannot_approve_for_the_cur(flow: Mail):
    number, _ = awaiting_approval(flow)
    notice = flow.one("refutation_new", CONTACT)
    raw = make_message(sender=CONTACT, subject=f"RE: [KZM-{number}] x", body="#согласовано\n",
                       in_reply_to=notice.message_id, references=notice.message_id)
    flow.deliver_raw(raw, at=msk(2026, 12, 3, 14, 0))
    case = flow.case()
    assert case.state == "awaiting_approval"
    assert "команду могут выполнять: ЦУР" in flow.events(case, "command_refused")[0].detail["reason"]


def test_authentication_results_parsing_ignores_comments_and_reads_properties():
    parsed = parse_authentication_results(
        "mx.kozmo.example (Postfix 3.7); dkim=pass (2048-bit key) header.d=cur12.example.org header.s=mail;"
        " spf=pass smtp.mailfrom=cur@cur12.example.org; dmarc=pass (p=reject) header.from=cur12.example.org")
    assert parsed.authserv_id == "mx.kozmo.example"
    assert [(r.method, r.result) for r in parsed.results] == [("dkim", "pass"), ("spf", "pass"), ("dmarc", "pass")]
    assert parsed.results[0].properties["header.d"] == "cur12.example.org"
    assert results_verdict(parsed, "m.ivanova@cur12.example.org", "mx.kozmo.example").ok
    assert not results_verdict(parsed, "cur@evil.example", "mx.kozmo.example").ok  # not aligned


def test_only_top_level_fields_count_not_copies_inside_an_attached_message():
    inner = make_message(sender=CUR, headers={"Authentication-Results": f"{OUR_MTA}; dkim=pass header.d=example.org"})
    outer = make_message(sender=CUR, body="see attached")
    from email import message_from_bytes, policy
    msg = message_from_bytes(outer, policy=policy.default)
    msg.add_attachment(inner, maintype="application", subtype="octet-stream", filename="fwd.eml")
    pm = parse_message(bytes(msg))
    assert trusted_results(pm, OUR_MTA) is None


# ---------------------------------------------------------------- dkimpy, offline


def _dns(public_b64: str):
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        if name == b"sel._domainkey.example.org.":
            return b"v=DKIM1; k=rsa; p=" + public_b64.encode()
        return None
    return lookup


def signed_approval() -> bytes:
    raw = make_message(sender=CUR, subject="RE: [KZM-1] Проект", body="#согласовано\n").replace(b"\n", b"\r\n")
    raw = raw.replace(b"\r\r\n", b"\r\n")
    key = (HERE / "dkim_test.key").read_bytes()
    signature = dkim.sign(raw, b"sel", b"example.org", key, include_headers=[b"from", b"to", b"subject", b"date"])
    return signature + raw


def test_dkim_signature_verifies_offline_with_a_local_key():
    dns = _dns((HERE / "dkim_test.pub.b64").read_text().strip())
    raw = signed_approval()
    assert verify_dkim(raw, CUR, dnsfunc=dns).ok
    body_changed = raw[:-10] + b"changed\r\n"
    verdict = verify_dkim(body_changed, CUR, dnsfunc=dns)
    assert not verdict.ok and "DKIM" in verdict.reason


def test_dkim_of_another_domain_is_not_aligned_with_the_sender():
    dns = _dns((HERE / "dkim_test.pub.b64").read_text().strip())
    verdict = verify_dkim(signed_approval(), "cur@cur12.example.net", dnsfunc=dns)
    assert not verdict.ok and "не доменом отправителя" in verdict.reason


def test_without_an_authserv_id_the_token_alone_decides(flow: Mail):
    pm = parse_message(approval(1, None, results=["mx.evil.example; dkim=fail"]))
    assert cur_sender_verdict(flow.settings, pm).ok


def test_the_public_key_fixture_is_base64():
    assert base64.b64decode((HERE / "dkim_test.pub.b64").read_text())



def test_a_token_for_another_case_does_not_authorise_this_one(flow: Mail):
    flow.deliver("signal.eml", at=msk(2026, 12, 3, 12, 42))
    flow.deliver("request.eml", at=msk(2026, 12, 3, 12, 50))
    _refutation, request = flow.cases()
    notice = flow.one("refutation_new", CONTACT)  # about the refutation
    raw = make_message(sender=CONTACT, subject=f"RE: [KZM-{request.id}] Запрос", body="#закрыть не требуется\n",
                       in_reply_to=notice.message_id, references=notice.message_id)
    flow.deliver_raw(raw, at=msk(2026, 12, 3, 13, 0))
    request = next(c for c in flow.cases() if c.id == request.id)
    assert request.state != "closed"
    assert "по другому делу" in flow.events(request, "command_refused")[0].detail["reason"]


@pytest.mark.parametrize(("signer", "sender_domain", "ok"), [
    ("cur12.example.org", "cur12.example.org", True),
    ("example.org", "cur12.example.org", True),  # a parent signs for its subdomain
    ("EXAMPLE.ORG.", "cur12.example.org", True),
    ("evil.example.org", "cur12.example.org", False),  # a sibling never
    ("attacker.spb.ru", "cur.spb.ru", False),  # anyone may register under spb.ru: no «last two labels»
    ("spb.ru", "attacker-spb.ru", False),
    ("ru", "cur.ru", False),
    ("", "cur12.example.org", False),
])
def test_dkim_alignment_is_the_sender_domain_or_a_parent_of_it(signer: str, sender_domain: str, ok: bool):
    from daemon.auth import aligned
    assert aligned(signer, sender_domain) is ok


def test_dmarc_pass_counts_only_for_the_very_from_domain():
    parsed = parse_authentication_results(f"{OUR_MTA}; dmarc=pass header.from=other.example")
    assert not results_verdict(parsed, "cur@example.org", OUR_MTA).ok
    parsed = parse_authentication_results(f"{OUR_MTA}; dmarc=pass header.from=example.org")
    assert results_verdict(parsed, "cur@example.org", OUR_MTA).ok
