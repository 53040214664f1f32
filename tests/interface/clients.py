"""Command mails in the shapes real clients give them (the clients of tests/fixtures/clients), for any command lines.

Each builder writes what that client puts around the new text: Outlook's Word HTML with its «От:» block
or its plain cp1251 «-----Original Message-----», Thunderbird's format=flowed «… пишет:», Gmail's
multipart/alternative with `gmail_quote`, Yandex's `<div>` lines with `&nbsp;` and a `<blockquote>`,
Mail.ru's «--» signature and «… от curmail <…>:», Apple Mail's HTML `blockquote type="cite"`, the
iPhone's «Отправлено с iPhone», The Bat!'s cp1251 8-bit text. The quoted part always holds a command
(«#закрыть») that must not run.
"""

from __future__ import annotations

import base64
import html
import itertools
import quopri
from collections.abc import Callable, Sequence

_numbers = itertools.count(1)
OURS = "curmail <adm@kozmo.example>"
QUOTED = ["Дело назначено вам.", "#закрыть"]


def _head(sender: str, subject: str, in_reply_to: str | None, extra: Sequence[str], n: int, domain: str) -> str:
    from email.header import Header

    lines = [f"From: {sender}", "To: adm@kozmo.example", f"Subject: {Header(subject, 'utf-8').encode()}",
             "Date: Thu, 03 Dec 2026 13:20:00 +0300", f"Message-ID: <client-{n}@{domain}>", "MIME-Version: 1.0"]
    if in_reply_to:
        lines += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    return "\r\n".join([*lines, *extra])


def _b64(text: str, charset: str = "utf-8") -> str:
    data = base64.b64encode(text.encode(charset)).decode("ascii")
    return "\r\n".join(data[i:i + 76] for i in range(0, len(data), 76))


def _qp(text: str, charset: str) -> str:
    return quopri.encodestring(text.replace("\n", "\r\n").encode(charset)).decode("ascii")


def _esc(line: str) -> str:
    return html.escape(line, quote=False)


def outlook_html(lines: Sequence[str]) -> tuple[list[str], bytes]:
    paragraphs = "".join(f"<p class=MsoNormal>{_esc(line)}<o:p></o:p></p>\n" for line in lines)
    body = (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><style><!-- p.MsoNormal {margin:0cm;} -->'
        "</style></head>\n<body lang=RU><div class=WordSection1>\n<p class=MsoNormal><o:p>&nbsp;</o:p></p>\n"
        f"{paragraphs}<p class=MsoNormal><o:p>&nbsp;</o:p></p>\n<p class=MsoNormal>Петров П.П.<o:p></o:p></p>\n"
        "<div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'>\n"
        "<p class=MsoNormal><b>От:</b> curmail &lt;adm@kozmo.example&gt;<br><b>Отправлено:</b> 3 декабря 2026 г. "
        "10:00<br><b>Тема:</b> Дело</p></div>\n"
        + "".join(f"<p class=MsoNormal>{_esc(q)}<o:p></o:p></p>\n" for q in QUOTED)
        + "</div></body></html>"
    )
    return (["Content-Type: text/html; charset=\"utf-8\"", "Content-Transfer-Encoding: base64",
             "X-Mailer: Microsoft Outlook 16.0"], _b64(body).encode())


def outlook_plain(lines: Sequence[str]) -> tuple[list[str], bytes]:
    text = "\n".join([*lines, "", "", "С уважением,", "Иванова Мария", "", "-----Original Message-----",
                      f"From: {OURS}", "Sent: Thursday, December 3, 2026 10:00 AM", "Subject: Дело", "", *QUOTED])
    return (["Content-Type: text/plain; charset=\"windows-1251\"", "Content-Transfer-Encoding: quoted-printable",
             "X-Mailer: Microsoft Outlook 16.0"], _qp(text, "cp1251").encode())


def thunderbird(lines: Sequence[str]) -> tuple[list[str], bytes]:
    text = "\r\n".join([*lines, "", "03.12.2026 10:00, curmail пишет:", *(f"> {q}" for q in QUOTED), ""])
    return (["Content-Type: text/plain; charset=UTF-8; format=flowed", "Content-Transfer-Encoding: 8bit",
             "User-Agent: Mozilla Thunderbird"], text.encode())


def gmail(lines: Sequence[str]) -> tuple[list[str], bytes]:
    attribution = "чт, 3 дек. 2026 г. в 10:00, curmail <adm@kozmo.example>:"
    plain = "\r\n".join([*lines, "", attribution, "", *(f"> {q}" for q in QUOTED), ""])
    divs = "".join(f"<div>{_esc(line)}</div>" for line in lines)
    markup = (f'<div dir="ltr">{divs}</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
              f"{_esc(attribution)}<br></div><blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex\">"
              + "".join(f"<div>{_esc(q)}</div>" for q in QUOTED) + "</blockquote></div>")
    body = ('--g1\r\nContent-Type: text/plain; charset="UTF-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            f"{_b64(plain)}\r\n\r\n--g1\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{_b64(markup)}\r\n\r\n--g1--\r\n")
    return (['Content-Type: multipart/alternative; boundary="g1"'], body.encode())


def yandex(lines: Sequence[str]) -> tuple[list[str], bytes]:
    markup = ("".join(f"<div>{_esc(line)}</div>" for line in lines) + "<div>&nbsp;</div><div>&nbsp;</div>"
              "<div>03.12.2026, 10:00, \"curmail\" &lt;adm@kozmo.example&gt;:</div><blockquote>"
              + "".join(f"<div>{_esc(q)}</div>" for q in QUOTED) + "</blockquote>")
    return (["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit"], markup.encode())


def mailru(lines: Sequence[str]) -> tuple[list[str], bytes]:
    attribution = "Среда, 3 декабря 2026, 10:00 +03:00 от curmail <adm@kozmo.example>:"
    plain = "\r\n".join([*lines, "", "--", "Иванов Иван", "Отправлено из Почты Mail.ru", "", attribution,
                         *(f"> {q}" for q in QUOTED), ""])
    markup = ("<HTML><BODY>" + "".join(f"<div>{_esc(line)}</div>" for line in lines)
              + "<div>&nbsp;</div><div data-signature-widget=\"container\"><div>--<br>Иванов Иван<br>Отправлено "
              f"из Почты Mail.ru</div></div><div>&nbsp;</div><div>{_esc(attribution)}<br>"
              "<blockquote style=\"border-left:1px solid #0857A6; margin:10px; padding:0 0 0 10px;\">"
              + "".join(f"<div>{_esc(q)}</div>" for q in QUOTED) + "</blockquote></div></BODY></HTML>")
    body = ('--m1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            f"{_b64(plain)}\r\n--m1\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{_b64(markup)}\r\n--m1--\r\n")
    return (['Content-Type: multipart/alternative; boundary="m1"'], body.encode())


def apple_mail(lines: Sequence[str]) -> tuple[list[str], bytes]:
    attribution = "3 дек. 2026 г., в 10:00, curmail <adm@kozmo.example> написал(а):"
    plain = "\n".join([*lines, "", f"> {attribution}", ">", *(f"> {q}" for q in QUOTED), ""])
    markup = ('<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
              '<body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;">'
              + "".join(f"<div>{_esc(line)}</div>" for line in lines)
              + f'<div><br><blockquote type="cite"><div>{_esc(attribution)}</div><br>'
              + "".join(f"<div>{_esc(q)}</div>" for q in QUOTED) + "</blockquote></div></body></html>")
    body = ('--a1\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/plain;\r\n\tcharset=utf-8\r\n'
            f"\r\n{_qp(plain, 'utf-8')}\r\n--a1\r\nContent-Transfer-Encoding: quoted-printable\r\n"
            f"Content-Type: text/html;\r\n\tcharset=utf-8\r\n\r\n{_qp(markup, 'utf-8')}\r\n--a1--\r\n")
    return (['Content-Type: multipart/alternative; boundary="a1"', "X-Mailer: Apple Mail (2.3826.300.87.4.3)"],
            body.encode())


def iphone(lines: Sequence[str]) -> tuple[list[str], bytes]:
    text = "\n".join([*lines, "", "Отправлено с iPhone", "",
                      "> 3 дек. 2026 г., в 10:00, curmail <adm@kozmo.example> написал(а):", ">",
                      *(f"> {q}" for q in QUOTED), ""])
    return (["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable",
             "X-Mailer: iPhone Mail (21A329)"], _qp(text, "utf-8").encode())


def thebat(lines: Sequence[str]) -> tuple[list[str], bytes]:
    text = "\r\n".join([*lines, "", "Вы писали 3 декабря 2026 г., 10:00:45:", "",
                        *(f"cm> {q}" for q in QUOTED), "", "-- ", "С уважением,", " Иван"])
    return (["Content-Type: text/plain; charset=windows-1251", "Content-Transfer-Encoding: 8bit",
             "X-Mailer: The Bat! (v10.5.3) Professional"], text.encode("cp1251"))


CLIENTS: dict[str, Callable[[Sequence[str]], tuple[list[str], bytes]]] = {
    "outlook_html": outlook_html,
    "outlook_plain_cp1251": outlook_plain,
    "thunderbird_flowed": thunderbird,
    "gmail_ru": gmail,
    "yandex_html": yandex,
    "mailru": mailru,
    "apple_mail_html": apple_mail,
    "iphone": iphone,
    "thebat_cp1251": thebat,
}


def client_mail(
    client: str,
    lines: Sequence[str],
    *,
    sender: str,
    subject: str,
    in_reply_to: str | None = None,
    domain: str = "client.example",
) -> bytes:
    """A raw mail from `client` whose new text is `lines` (then the client's signature and quote)."""
    extra, body = CLIENTS[client](lines)
    n = next(_numbers)
    return _head(sender, subject, in_reply_to, extra, n, domain).encode() + b"\r\n\r\n" + body
