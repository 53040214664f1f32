"""An encoded word in the From display name must not change who the sender is (RFC 2047 §5: decode after parsing).

curmail authorises ЦУР mail, approvals and staff commands by the sender's address, so an attacker who
can choose the parsed `from_addr` can open cases as the ЦУР or pose as staff.
"""

from __future__ import annotations

import pytest

from parsers import parse_message

SPOOFS = {
    "address list inside an encoded word": b"=?utf-8?q?Bob_<cur@example.org>,?= <attacker@evil.example>",
    "CR LF and an address inside an encoded word": b"=?utf-8?q?x=0D=0ABcc:_cur@example.org?= <attacker@evil.example>",
}


def raw_from(value: bytes) -> bytes:
    return (b"From: " + value + b"\r\nTo: adm@kozmo.example\r\nSubject: test\r\n"
            b"Message-ID: <spoof@evil.example>\r\n\r\nbody\r\n")


def test_a_plain_encoded_display_name_keeps_the_real_address() -> None:
    pm = parse_message(raw_from(b"=?utf-8?q?cur@example.org?= <attacker@evil.example>"))
    assert pm.from_addr == "attacker@evil.example"


@pytest.mark.parametrize("value", list(SPOOFS.values()), ids=list(SPOOFS))
def test_an_address_hidden_in_an_encoded_display_name_is_not_the_sender(value: bytes) -> None:
    pm = parse_message(raw_from(value))
    assert pm.from_addr == "attacker@evil.example"
