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
    b"x\"=0A=", b"(", b")", b";", b",", b"Content-Type: text/plain; format=flowed; delsp=yes\r\n", b" \r\n", b">",
    b"Date: Thu, 03 Dec 26 10:00 MSK\r\n", b"Date: 2026-12-03T10:00:00\r\n",
]


@st.composite
def mail_like(draw: st.DrawFn) -> bytes:
    pieces = draw(st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.binary(max_size=40)), max_size=60))
    return b"".join(pieces)


_BODY_BITS = st.one_of(
    st.binary(max_size=30),
    st.sampled_from(
        [b"--b1", b"--b1--", b"--b2 ", b"--b1x", b"\r\n", b"\n", b"\r", b"=?utf-8?B?0J8=?=", b"\xd0\x9f", b" \r\n",
         b"> "]
    ),
)


@st.composite
def _part(draw: st.DrawFn, depth: int) -> bytes:
    kinds = ["text", "html", "base64", "rfc822", "multipart"] if depth < 3 else ["text", "html", "base64"]
    kind = draw(st.sampled_from(kinds))
    body = b"".join(draw(st.lists(_BODY_BITS, max_size=8)))
    if kind == "text":
        charset = draw(st.sampled_from([b"utf-8", b"koi8-r", b"x"]))
        flowed = draw(st.sampled_from([b"", b"; format=flowed", b"; format=flowed; delsp=yes", b"; format=\"flowed"]))
        return b"Content-Type: text/plain; charset=" + charset + flowed + b"\r\n\r\n" + body
    if kind == "html":
        return b"Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>" + body
    if kind == "base64":
        head = b'Content-Type: application/pdf; name="=?utf-8?B?0J8=?="\r\nContent-Transfer-Encoding: base64'
        return head + b"\r\n\r\n" + body
    if kind == "rfc822":
        return b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n" + draw(_part(depth + 1))
    boundary = b"b%d" % depth
    children = draw(st.lists(_part(depth + 1), min_size=1, max_size=3))
    parts = b"".join(b"--" + boundary + b"\r\n" + child + b"\r\n" for child in children)
    closing = draw(st.sampled_from([b"--" + boundary + b"--\r\n", b"--" + boundary + b"--", b""]))
    return b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n' + parts + closing


@st.composite
def structured_mail(draw: st.DrawFn) -> bytes:
    """Mostly well-formed MIME with random bodies, sometimes cut or spliced, to reach the fast tree."""
    raw = b"From: a@b.ru\r\nSubject: s\r\n" + draw(_part(0))
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + draw(st.sampled_from(_FRAGMENTS)) + raw[cut + draw(st.integers(0, 5)) :]
    return raw


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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structured_mail())
def test_structured_mail_never_raises(raw: bytes) -> None:
    _check(parse_message(raw), raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(structured_mail(), mail_like()))
def test_fast_tree_agrees_with_full_parser_whenever_it_is_used(raw: bytes) -> None:
    from tests.parsers.test_parse import fast_and_full_agree

    fast_and_full_agree(raw)
