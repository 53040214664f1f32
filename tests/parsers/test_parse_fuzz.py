"""Property tests: no byte sequence makes parse_message raise or hang."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import ParsedMessage, parse_message

# Pieces that steer random input into the parser's interesting corners.
_FRAGMENTS = [
    b"From: ", b"To: ", b"Subject: ", b"Date: ", b"Message-ID: ", b"References: ", b"\r\n", b"\n", b"\r\n\r\n",
    b"Content-Type: multipart/mixed; boundary=\"b\"\r\n", b"--b\r\n", b"--b--\r\n",
    b"Content-Type: message/rfc822\r\n", b"Content-Type: multipart/report; report-type=delivery-status\r\n",
    b"Content-Type: message/delivery-status\r\n", b"Content-Type: text/html; charset=koi8-r\r\n",
    b"Content-Transfer-Encoding: base64\r\n", b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename*0*=utf-8''%D0%90; filename*1=x\r\n",
    b"=?utf-8?B?0J/RgA?=", b"=?windows-1251?Q?=CF=F0?=", b"=?x?q?", b"<a@b>", b"\"Name\" <", b"\xcf\xf0\xe8",
    b"\xd0\x9f", b"\xff\xfe", b"<p>", b"</blockquote>", b"winmail.dat", b"Content-Type: application/ms-tnef\r\n",
    b"x\"=0A=", b"(", b")", b";", b",",
]


@st.composite
def mail_like(draw: st.DrawFn) -> bytes:
    pieces = draw(st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.binary(max_size=40)), max_size=60))
    return b"".join(pieces)


def _check(pm: ParsedMessage, raw: bytes) -> None:
    assert isinstance(pm, ParsedMessage)
    assert pm.size == len(raw)
    assert pm.message_id.startswith("<") and pm.message_id.endswith(">")
    assert pm.date is None or pm.date.tzinfo is not None
    assert "\n" not in pm.subject and "\r" not in pm.subject
    assert pm.from_addr == pm.from_addr.lower()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    _check(parse_message(raw), raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mail_like())
def test_mail_shaped_bytes_never_raise(raw: bytes) -> None:
    _check(parse_message(raw), raw)
