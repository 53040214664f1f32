"""parse_message on hand-made Russian office mail: charsets, ids, addresses, attachments, forwards, DSNs."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from bench.generate import generate_messages
from parsers import ParsedMessage, parse_message
from parsers.decode import decode_bytes, decode_words
from parsers.mimetree import fast_tree
from parsers.parse import _parse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parse"
MSK = timedelta(hours=3)


def parse_fixture(name: str) -> ParsedMessage:
    return parse_message((FIXTURES / name).read_bytes())


def test_windows_1251_body_and_encoded_headers() -> None:
    pm = parse_fixture("cp1251.eml")
    assert pm.from_addr == "a.petrova@cur12.ru"
    assert pm.from_name == "Петрова Анна"
    assert [(a.email, a.name) for a in pm.to] == [("adm@volzhsk.ru", "Администрация")]
    assert pm.subject == "Запрос информации о ремонте дороги"
    assert "Прошу в срок до 10.12.2026 предоставить информацию" in pm.text
    assert pm.date is not None and pm.date.utcoffset() == MSK and pm.date.hour == 10
    assert pm.message_id == "<req-2026-1203-01@cur12.ru>" and not pm.message_id_synthetic
    assert pm.defects == ()


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ("koi8r.eml", "третью неделю не убирают снег"),
        ("cp866.eml", "Отчёт о выполнении поручения"),
        ("unlabeled_cp1251.eml", "Ремонт дороги запланирован на май"),
    ],
)
def test_cyrillic_code_pages(name: str, phrase: str) -> None:
    assert phrase in parse_fixture(name).text


def test_raw_8bit_headers_without_label() -> None:
    pm = parse_fixture("unlabeled_cp1251.eml")
    assert pm.subject == "Ответ на запрос ЦУР"
    assert pm.from_name == "Иванов Иван"
    assert any("detected cp1251" in d for d in pm.defects)


def test_wrong_labels_are_overruled() -> None:
    pm = parse_fixture("wrong_label.eml")
    assert "Согласовано, можно публиковать." in pm.text
    assert "Вторая часть письма в UTF-8." in pm.text
    assert "charset koi8-r; detected cp1251" in pm.defects


def test_html_only_keeps_paragraphs_links_and_quotes() -> None:
    pm = parse_fixture("html_only.eml")
    assert pm.html is not None and "<blockquote>" in pm.html
    assert pm.text.startswith("Добрый день!\n\nНаправляем предложение")
    assert "https://t.me/yoshkarola_news/1234" in pm.text
    assert "> Цитата из публикации" in pm.text
    assert "color: red" not in pm.text
    assert pm.from_name == "ЦУР Марий Эл"


def test_attachment_names_rfc2231_and_quoted_rfc2047() -> None:
    pm = parse_fixture("rfc2231_name.eml")
    names = [a.filename for a in pm.attachments]
    assert names == ["Справка о ремонте.pdf", "Ответ на запрос.docx"]
    pdf = pm.attachments[0]
    assert pdf.content == b"%PDF-1.4 fake"
    assert pdf.size == 13 and pdf.sha256 == hashlib.sha256(b"%PDF-1.4 fake").hexdigest()
    assert pdf.content_type == "application/pdf"
    assert pm.text == "См. вложение."


def test_winmail_dat_is_unpacked() -> None:
    pm = parse_fixture("winmail.eml")
    assert [a.filename for a in pm.attachments] == ["Справка.txt"]
    assert pm.attachments[0].content.decode("utf-8") == "Содержимое справки"
    assert pm.text == "Текст письма из Outlook"  # the TNEF body stands in for the missing plain part


def test_comma_separated_folded_references() -> None:
    pm = parse_fixture("references_comma.eml")
    assert pm.references == ("<first-1@cur12.ru>", "<second-2@cur12.ru>", "<req-2026-1203-01@cur12.ru>")
    assert pm.in_reply_to == "<req-2026-1203-01@cur12.ru>"
    assert pm.header("thread-topic") == "Запрос"


def test_missing_message_id_and_nonsense_date() -> None:
    raw = (FIXTURES / "no_message_id.eml").read_bytes()
    pm = parse_message(raw)
    assert pm.message_id == f"<{hashlib.sha256(raw).hexdigest()}@curmail.invalid>"
    assert pm.message_id_synthetic
    assert pm.date is None
    assert any(d.startswith("Date: unreadable") for d in pm.defects)
    assert pm.sha256 == hashlib.sha256(raw).hexdigest() and pm.size == len(raw)


def test_message_rfc822_forward() -> None:
    pm = parse_fixture("forwarded_rfc822.eml")
    fwd = pm.forwarded
    assert fwd is not None
    assert fwd.from_addr == "maria.k@yandex.ru"
    assert fwd.from_name == "Кузнецова Мария"
    assert fwd.subject == "Обращение по поводу освещения"
    assert fwd.date is not None and fwd.date.day == 30
    assert "уличное освещение на ул. Пушкина" in fwd.text
    assert fwd.note == "Направляю обращение гражданки для рассмотрения."
    assert [a.content_type for a in pm.attachments] == ["message/rfc822"]
    assert pm.attachments[0].filename == "Обращение по поводу освещения.eml"


def test_broken_encoded_words_and_auto_markers() -> None:
    pm = parse_fixture("broken_words.eml")
    assert pm.from_name == "Алексей Смирнов"  # UTF-8 split across two words, padding missing
    assert pm.from_addr == "a.smirnov@volzhsk.ru"
    assert [(a.email, a.name) for a in pm.to] == [("gkh@volzhsk.ru", "Отдел ЖКХ"), ("pr@volzhsk.ru", "Приемная")]
    assert pm.cc[0].name == "Юрист"  # unknown charset label: detected
    assert pm.subject == "Срочно поручение"
    assert pm.auto_submitted == "auto-generated"
    assert pm.precedence == "bulk"
    assert pm.x_autoreply == "yes"
    assert pm.list_headers == ("list-id", "list-unsubscribe")
    assert pm.return_path == ""


def test_delivery_status_report() -> None:
    pm = parse_fixture("dsn.eml")
    assert pm.content_type == "multipart/report"
    assert pm.report is not None
    assert pm.report.original_message_id == "<case-17.outgoing.1@volzhsk.ru>"
    assert pm.report.recipients == ("nobody@cur12.ru",)
    assert pm.report.action == "failed" and pm.report.status == "5.1.1"
    assert pm.report.diagnostic is not None and "Recipient address rejected" in pm.report.diagnostic
    assert pm.text == "Письмо не доставлено."


def test_headers_are_decoded_in_order() -> None:
    pm = parse_fixture("cp1251.eml")
    names = [k for k, _ in pm.headers]
    assert names[:4] == ["from", "to", "subject", "date"]
    assert pm.header("Subject") == "Запрос информации о ремонте дороги"
    assert pm.header_all("x-nothing") == []


def test_subject_cannot_inject_lines() -> None:
    raw = b"From: a@b.ru\r\nSubject: =?utf-8?Q?hi=0ABcc:_evil@x.ru?=\r\n\r\nbody\r\n"
    pm = parse_message(raw)
    assert "\n" not in pm.subject and "\r" not in pm.subject
    assert pm.subject == "hi Bcc: evil@x.ru"


def test_deep_nesting_is_bounded() -> None:
    depth = 1000
    head = b"From: a@b.ru\r\nSubject: deep\r\n"
    body = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth))
    body += b"Content-Type: text/plain\r\n\r\nhello\r\n"
    body += b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    pm = parse_message(head + body)
    assert pm.subject == "deep"
    assert pm.defects  # the nesting is reported, not raised


def test_deep_message_rfc822_nesting_is_bounded() -> None:
    raw = b"From: a@b.ru\r\nSubject: outer\r\n"
    raw += b"".join(b"Content-Type: message/rfc822\r\n\r\nSubject: level %d\r\n" % i for i in range(1000))
    raw += b"\r\ninnermost\r\n"
    pm = parse_message(raw)
    assert pm.subject == "outer"
    assert pm.defects


def test_not_bytes_and_empty_input() -> None:
    assert parse_message(b"").message_id_synthetic
    assert parse_message("Subject: str input\n\nbody").subject == "str input"  # type: ignore[arg-type]
    assert parse_message(None).size == 0  # type: ignore[arg-type]


def test_decode_words_joins_split_multibyte_characters() -> None:
    assert decode_words("=?utf-8?B?0J8=?= =?utf-8?B?0YA=?=") == "Пр"
    assert decode_words("plain =?bogus-charset?Q?abc?= end") == "plain abc end"


def test_decode_bytes_leaves_western_text_alone() -> None:
    german = "Sehr geehrte Damen und Herren, mit freundlichen Grüßen aus Köln".encode("cp1252")
    assert decode_bytes(german, "iso-8859-1").text.endswith("Grüßen aus Köln")


def comparable(pm: ParsedMessage) -> dict[str, object]:
    """Fields that the fast and the full MIME tree must agree on (the full one may note more defects)."""
    fields = {name: getattr(pm, name) for name in ParsedMessage.__slots__ if name != "defects"}
    fields["text"] = pm.text.strip()
    fields["new_text"] = pm.new_text.strip()
    # an embedded message's bytes may differ by the final line ending the full parser keeps
    fields["attachments"] = [
        (a.filename, a.content_type) if a.content_type.startswith("message/") else a for a in pm.attachments
    ]
    fields["forwarded"] = None if pm.forwarded is None else (pm.forwarded.from_addr, pm.forwarded.subject,
                                                             pm.forwarded.text.strip())
    return fields


def fast_and_full_agree(raw: bytes) -> bool:
    """True when the fast tree was used and gave the same result as the stdlib feed parser."""
    if fast_tree(raw) is None:
        return False
    assert comparable(_parse(raw, fast=True)) == comparable(_parse(raw, fast=False))
    return True


def test_fast_tree_matches_full_parser_on_fixtures() -> None:
    used = [fast_and_full_agree(path.read_bytes()) for path in sorted(FIXTURES.glob("*.eml"))]
    assert sum(used) >= 8  # well-formed fixtures take the fast path


def test_fast_tree_matches_full_parser_on_generated_mail() -> None:
    assert all(fast_and_full_agree(raw) for raw in generate_messages(40, seed=7))


def test_fast_tree_declines_malformed_mime() -> None:
    unclosed = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\ntext\r\n'
    no_separator = b"Subject: x\r\nthis line is no header\r\n\r\nbody"
    assert fast_tree(unclosed) is None and fast_tree(no_separator) is None
    assert parse_message(unclosed).text == "text"


def test_empty_plain_part_beside_html_uses_the_html() -> None:
    raw = (b'From: a@b.ru\r\nContent-Type: multipart/alternative; boundary="a"\r\n\r\n'
           b"--a\r\nContent-Type: text/plain\r\n\r\n\r\n--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b"<p>\xd0\x92\xd0\xb0\xd0\xb6\xd0\xbd\xd0\xbe</p>\r\n--a--\r\n")
    assert parse_message(raw).text == "Важно"


def test_huge_bodies_are_cut_not_choked_on() -> None:
    line = "Прошу рассмотреть обращение о ремонте дороги по ул. Ленина, д. 5.\n"
    plain = b"Subject: big\r\nContent-Type: text/plain\r\n\r\n" + (line * 60_000).encode("cp1251")
    pm = parse_message(plain)
    assert len(pm.text) <= 1024 * 1024 and pm.text.startswith("Прошу рассмотреть")
    assert any("cut" in d for d in pm.defects)
    html = b"Content-Type: text/html; charset=utf-8\r\n\r\n" + ("<p>" + line + "</p>").encode() * 12_000
    pm = parse_message(html)
    assert pm.text.startswith("Прошу рассмотреть")
    assert any("beginning only" in d for d in pm.defects)


def test_parameter_bombs_are_defused() -> None:
    # the stdlib's parameter parser is quadratic in ";" inside quotes: 64 KB of them would take minutes
    bomb = b'Content-Type: text/plain; x-junk="' + b"a;" * 40_000 + b'"\r\nSubject: bomb\r\n\r\nbody'
    pm = parse_message(bomb)
    assert pm.subject == "bomb" and pm.text == "body"
    assert any("longer than" in d for d in pm.defects)


@pytest.mark.timeout(60)  # a hang guard: before defusing, this input took minutes
@pytest.mark.parametrize("junk", ["<a ", '<a href="x', "<!--", "</"])
def test_html_markup_bombs_are_bounded(junk: str) -> None:
    html = ("<p>Начало</p>" + junk * 30_000).encode()
    pm = parse_message(b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html)
    assert pm.text.startswith("Начало")


def test_addresses_in_angle_brackets_survive_html_conversion() -> None:
    html = "<p>Среда, 3 декабря 2026, 10:00 +03:00 от Иван <ivan@example.ru>:</p>".encode()
    pm = parse_message(b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html)
    assert "<ivan@example.ru>" in pm.text


def test_reply_to_and_return_path_are_read_with_decoded_names() -> None:
    raw = (
        b"Return-Path: <Bounce+ID@Lists.Cur12.ru>\r\n"
        b"From: =?utf-8?B?0J/QtdGC0YDQvtCy0LAg0JDQvdC90LA=?= <noreply@cur12.ru>\r\n"
        b"Reply-To: =?koi8-r?B?8MXU0s/XwSDhzs7B?= <A.Petrova@cur12.ru>,\r\n"
        b" =?windows-1251?Q?=C4=E5=E6=F3=F0=ED=FB=E9?= <duty@cur12.ru>\r\n"
        b"Cc: =?utf-8?B?0J/RgNC40ZHQvNC90LDRjw==?= <priem@volzhsk.ru>\r\n"
        b"Subject: test\r\n\r\nbody\r\n"
    )
    pm = parse_message(raw)
    assert pm.return_path == "bounce+id@lists.cur12.ru"
    assert [(a.email, a.name) for a in pm.reply_to] == [
        ("a.petrova@cur12.ru", "Петрова Анна"),
        ("duty@cur12.ru", "Дежурный"),
    ]
    assert [(a.email, a.name) for a in pm.cc] == [("priem@volzhsk.ru", "Приёмная")]
    assert (pm.from_addr, pm.from_name) == ("noreply@cur12.ru", "Петрова Анна")


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("Thu, 03 Dec 26 10:00 MSK", "2026-12-03T10:00:00+03:00"),  # Russian zone names are not UTC
        ("Thu, 3 Dec 2026 10:00:00 msk (Moscow)", "2026-12-03T10:00:00+03:00"),
        ("Thu, 3 Dec 2026 10:00:00 YEKT", "2026-12-03T10:00:00+05:00"),
        ("Thu, 3 Dec 2026 10:00:00 +0300 (MSK)", "2026-12-03T10:00:00+03:00"),
        ("2026-12-03T10:00:00+03:00", "2026-12-03T10:00:00+03:00"),  # ISO 8601 from scripts
        ("2026-12-03T07:00:00Z", "2026-12-03T07:00:00+00:00"),
        ("Thu, 31 Feb 2026 10:00:00 +0300", None),
        ("Thu, 3 Dec 2026 25:61:00 +0300", None),
    ],
)
def test_date_values_seen_in_russian_mail(value: str, iso: str | None) -> None:
    pm = parse_message(f"Date: {value}\r\nSubject: x\r\n\r\nbody\r\n".encode())
    assert (pm.date.isoformat() if pm.date else None) == iso
    assert pm.date is None or pm.date.tzinfo is not None


def _tnef_with_html(html: str) -> bytes:
    """A winmail.dat whose only body is PR_HTML (UTF-8, PR_INTERNET_CPID 65001), as Outlook writes HTML mail."""
    import struct

    def tnef_object(name: int, kind: int, data: bytes) -> bytes:
        return struct.pack("<BHHI", 1, name, kind, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)

    body = html.encode("utf-8")
    props = (
        struct.pack("<I", 2)
        + struct.pack("<HHI", 0x0003, 0x3FDE, 65001)  # PR_INTERNET_CPID, PT_LONG
        + struct.pack("<HHII", 0x0102, 0x1013, 1, len(body)) + body + b"\x00" * (-len(body) % 4)  # PR_HTML
    )
    return struct.pack("<IH", 0x223E9F78, 1) + tnef_object(0x9003, 0x0006, props)  # attMAPIProps


def test_winmail_dat_with_only_an_html_body_gives_readable_text() -> None:
    import base64

    blob = _tnef_with_html("<html><body><p>Согласовано.</p><p>Можно публиковать на сайте.</p></body></html>")
    raw = (
        b"From: ivanova@cur12.ru\r\nSubject: RE: [CUR-31]\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: application/ms-tnef; name="winmail.dat"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(blob)
    )
    pm = parse_message(raw)
    assert pm.text == "Согласовано.\n\nМожно публиковать на сайте."
    assert pm.attachments == ()


def _sibling_parts(count: int, body: str = "part {i}") -> bytes:
    parts = "".join(f"--m\r\nContent-Type: text/plain\r\n\r\n{body.format(i=i)}\r\n" for i in range(count))
    return (b"From: a@example.org\r\nSubject: many\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=m\r\n\r\n" + parts.encode() + b"--m--\r\n")


def test_a_flood_of_parts_is_cut_before_the_tree_is_built_and_reads_the_same(monkeypatch):
    """Past MAX_DELIMITERS boundary lines the tail is not parsed; what the walk reads is unchanged."""
    from parsers import parse as parse_module

    raw = _sibling_parts(parse_module.MAX_DELIMITERS + 500)
    cut = parse_message(raw)
    monkeypatch.setattr(parse_module, "MAX_DELIMITERS", 10**9)
    whole = parse_message(raw)
    assert cut.text == whole.text and cut.attachments == whole.attachments
    # The root is the first of the 2,000 parts read: leaves 0 to 1998 are in, 1999 is not.
    assert cut.text.startswith("part 0\n") and "part 1998" in cut.text and "part 1999" not in cut.text
    assert "more than 5000 MIME boundary lines: read up to there" in cut.defects
    assert "more than 2000 MIME parts: the rest ignored" in cut.defects
    assert cut.size == whole.size == len(raw) and cut.sha256 == whole.sha256  # the stored bytes are whole


def test_lines_that_merely_start_with_two_dashes_are_not_boundaries():
    """An SQL dump pasted into the body: 20,000 "-- comment" lines, one part, nothing cut."""
    dump = "".join(f"-- row {i}\r\nINSERT INTO t VALUES ({i});\r\n" for i in range(20_000))
    raw = (b"From: a@example.org\r\nSubject: dump\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\n"
           + dump.encode() + b"\r\n--m--\r\n")
    parsed = parse_message(raw)
    assert not any("boundary lines" in d for d in parsed.defects)
    assert "-- row 19999" in parsed.text
