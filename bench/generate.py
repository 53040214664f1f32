"""Deterministic generator of realistic Russian office mail (ЦУР signals, requests, appeals, replies) for benchmarks.

Sender domains are those of the default classifier rules (cur12.example.org for the ЦУР,
kozmo.example for the administration), so benchmarks exercise the real rule paths.
Shape of the stream (seeded, reproducible): about 30 KB a message; 5 % carry a 150 KB attachment;
25 % are windows-1251, the rest UTF-8 in quoted-printable, base64 or 8bit as Outlook, Yandex,
Mail.ru, Thunderbird and phones write them; every Message-ID is unique.
"""

from __future__ import annotations

import base64
import binascii
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

TARGET_SIZE = 30 * 1024
ATTACHMENT_SIZE = 150 * 1024
ATTACHMENT_SHARE = 0.05
CP1251_SHARE = 0.25
MSK = timezone(timedelta(hours=3))

CUR_SENDERS = [
    ("ЦУР Республики Марий Эл", "incident@cur12.example.org"),
    ("Петрова Анна Сергеевна", "a.petrova@cur12.example.org"),
    ("Инцидент-менеджмент", "noreply@pos.gosuslugi.ru"),
    ("Смирнов Олег", "o.smirnov@cur12.example.org"),
]
STAFF = [
    ("Иванов Иван Иванович", "ivanov@kozmo.example", "заместитель главы администрации"),
    ("Кузнецова Мария Петровна", "kuznetsova@kozmo.example", "начальник отдела ЖКХ"),
    ("Соколов Дмитрий", "sokolov@kozmo.example", "пресс-секретарь"),
    ("Приёмная администрации", "priemnaya@kozmo.example", "приёмная"),
]
CITIZENS = [
    ("Сидоров Пётр", "sidorov.p@mail.ru"),
    ("Морозова Елена", "morozova.e@yandex.ru"),
    ("Алексеев Константин", "k.alexeev@gmail.com"),
    ("Николаева Ольга", "olga.nikolaeva@bk.ru"),
]
STREETS = ["ул. Ленина", "ул. Советская", "ул. Пушкина", "Ленинский пр-т", "ул. Кирова", "ул. Чапаева"]
TOPICS = [
    ("ремонт дороги", "дорогу не ремонтируют уже пять лет, ямы по колено"),
    ("уборка снега", "во дворах не убирают снег, машины скорой помощи не могут проехать"),
    ("уличное освещение", "на улице третью неделю не горят фонари"),
    ("вывоз мусора", "контейнерная площадка переполнена, мусор не вывозят"),
    ("отопление", "в доме холодные батареи, температура в квартирах 15 градусов"),
    ("детская площадка", "качели на детской площадке сломаны, дети могут пораниться"),
]
PUBLICATIONS = [
    "https://vk.com/wall-{a}_{b}",
    "https://t.me/yoshkarola_online/{b}",
    "https://ok.ru/group/{a}/topic/{b}",
    "https://dzen.ru/a/Z{a}x{b}",
    "https://vk.com/wall-{a}_{b}?utm_source=share&utm_medium=vk",
]
FILLER = [
    "Информация размещена в открытом доступе и набрала значительное количество просмотров и комментариев.",
    "Просим дать разъяснения по существу вопроса с указанием сроков выполнения работ.",
    "Администрацией проведена проверка, по результатам которой приняты меры реагирования.",
    "Работы включены в план на текущий год, подрядная организация определена по итогам аукциона.",
    "Жители неоднократно обращались в управляющую компанию, однако ответа не получили.",
    "Ситуация находится на контроле главы администрации, ход работ освещается в официальных аккаунтах.",
    "Сообщаем, что в соответствии с муниципальной программой финансирование предусмотрено в полном объёме.",
    "Прошу рассмотреть обращение и сообщить о принятых мерах в установленный законом срок.",
    "Специалисты выехали на место, нарушение подтвердилось, составлен акт осмотра.",
    "По информации подрядчика, работы будут завершены до конца месяца при благоприятной погоде.",
]
DEADLINES = [
    "в срок до 12:00 05.12.2026",
    "в течение 2 рабочих дней",
    "не позднее 15:00 завтрашнего дня",
    "незамедлительно",
    "сегодня до 17:00",
    "в течение 3 часов",
]
OUTLOOK_CSS = (
    "<style><!--\n/* Font Definitions */\n@font-face {font-family:\"Cambria Math\"; panose-1:2 4 5 3 5 4 6 3 2 4;}\n"
    "@font-face {font-family:Calibri; panose-1:2 15 5 2 2 2 4 3 2 4;}\n"
    "p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0cm; font-size:11.0pt; font-family:\"Calibri\",sans-serif;}\n"
    "a:link, span.MsoHyperlink {mso-style-priority:99; color:#0563C1; text-decoration:underline;}\n"
    "span.EmailStyle17 {mso-style-type:personal-compose; font-family:\"Calibri\",sans-serif; color:windowtext;}\n"
    ".MsoChpDefault {mso-style-type:export-only; font-family:\"Calibri\",sans-serif;}\n"
    "@page WordSection1 {size:612.0pt 792.0pt; margin:2.0cm 42.5pt 2.0cm 3.0cm;}\n"
    "div.WordSection1 {page:WordSection1;}\n--></style>"
)


@dataclass(frozen=True)
class _Letter:
    sender: tuple[str, str]
    to: tuple[str, str]
    subject: str
    body: list[str]  # paragraphs of the new text
    quoted: list[str]  # lines of the quoted history (plain, without "> ")
    attribution: str  # the line or header block above the quote
    client: str  # outlook | thunderbird | yandex | mailru | iphone
    in_reply_to: str | None


def _sentence(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(count))


def _url(rng: random.Random) -> str:
    return rng.choice(PUBLICATIONS).format(a=rng.randint(10_000, 99_999_999), b=rng.randint(100, 99_999))


def _deadline(rng: random.Random) -> str:
    return rng.choice(DEADLINES)


def _signal(rng: random.Random, when: datetime) -> tuple[str, list[str]]:
    topic, quote = rng.choice(TOPICS)
    number = rng.randint(10_000, 99_999)
    paragraphs = [
        "Добрый день!",
        f"В сети Интернет выявлена публикация о проблеме: {topic}, {rng.choice(STREETS)}, д. {rng.randint(1, 120)}.",
        f"Ссылка: {_url(rng)}",
        f"Цитата: «{quote}».",
        f"Источник: ВКонтакте, сообщество «Подслушано Волжск», {rng.randint(50, 5000)} просмотров.",
        f"Предлагаемый комментарий: «Администрация знает о проблеме. {rng.choice(FILLER)}»",
        f"Просим {_deadline(rng)} направить комментарий для публикации.",
        _sentence(rng, 3),
        "С уважением,\nЦентр управления регионом Республики Марий Эл",
    ]
    return f"Сигнал ЦУР № {number}: {topic}", paragraphs


def _request(rng: random.Random, when: datetime) -> tuple[str, list[str]]:
    topic, _ = rng.choice(TOPICS)
    paragraphs = [
        "Уважаемые коллеги!",
        f"В связи с поступившими обращениями граждан прошу {_deadline(rng)} представить информацию "
        f"по теме «{topic}»: объёмы работ, сроки, ответственные лица.",
        _sentence(rng, 4),
        "Информацию направить в формате справки на адрес incident@cur12.example.org.",
        "С уважением,\nПетрова А.С.\nЦентр управления регионом",
    ]
    return f"Запрос информации: {topic}", paragraphs


def _verdict(rng: random.Random, when: datetime) -> tuple[str, list[str]]:
    if rng.random() < 0.6:
        body = [rng.choice(["Согласовано.", "Согласовываем, можно публиковать.", "Комментарий согласован."])]
    else:
        body = ["Коллеги, комментарий на доработку. Замечания:", _sentence(rng, 2)]
    return "", [*body, "ЦУР Марий Эл"]


def _appeal(rng: random.Random, when: datetime) -> tuple[str, list[str]]:
    topic, quote = rng.choice(TOPICS)
    name, mail = rng.choice(CITIZENS)
    paragraphs = [
        "Коллеги, направляю обращение гражданина для рассмотрения и подготовки ответа.",
        "-----Original Message-----",
        f"От: {name} <{mail}>\nОтправлено: {format_datetime(when - timedelta(days=1))}\n"
        f"Кому: priemnaya@kozmo.example\nТема: Обращение: {topic}",
        "Здравствуйте!",
        f"Обращаюсь к вам по вопросу: {quote}. Адрес: {rng.choice(STREETS)}, д. {rng.randint(1, 120)}, "
        f"кв. {rng.randint(1, 200)}.",
        _sentence(rng, 3),
        f"{name}\nтел. +7 9{rng.randint(10, 99)} {rng.randint(100, 999)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}",
    ]
    return f"Пересл: Обращение: {topic}", paragraphs


def _staff_reply(rng: random.Random, when: datetime) -> tuple[str, list[str]]:
    topic, _ = rng.choice(TOPICS)
    paragraphs = [
        "Добрый день!",
        f"Направляем проект комментария по теме «{topic}».",
        f"«{rng.choice(FILLER)} {rng.choice(FILLER)}»",
        _sentence(rng, 2),
    ]
    return f"RE: Сигнал ЦУР № {rng.randint(10_000, 99_999)}: {topic}", paragraphs


_KINDS = [(_signal, 0.30), (_request, 0.15), (_verdict, 0.10), (_appeal, 0.20), (_staff_reply, 0.25)]


def _pick_kind(rng: random.Random):
    roll, acc = rng.random(), 0.0
    for maker, share in _KINDS:
        acc += share
        if roll < acc:
            return maker
    return _KINDS[-1][0]


def _attribution(rng: random.Random, client: str, who: tuple[str, str], when: datetime, subject: str) -> str:
    name, mail = who
    stamp = when - timedelta(hours=rng.randint(1, 30))
    if client == "outlook":
        return (f"От: {name} <{mail}>\nОтправлено: {stamp:%d.%m.%Y %H:%M}\nКому: Администрация <adm@kozmo.example>\n"
                f"Тема: {subject}")
    if client == "thunderbird":
        return f"{stamp:%d.%m.%Y %H:%M}, {name} пишет:"
    if client == "yandex":
        return f"{stamp:%d.%m.%Y}, {stamp:%H:%M}, \"{name}\" <{mail}>:"
    if client == "mailru":
        return f"Среда, {stamp.day} декабря {stamp.year}, {stamp:%H:%M} +03:00 от {name} <{mail}>:"
    return f"{stamp:%d.%m.%Y}, в {stamp:%H:%M}, {name} <{mail}> написал(а):"


def _qp(data: bytes) -> bytes:
    return binascii.b2a_qp(data.replace(b"\r\n", b"\n"), istext=True).replace(b"\n", b"\r\n")


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _encoded_word(text: str, charset: str) -> str:
    if text.isascii():
        return text
    data = text.encode(charset)
    # Split into words of at most 45 raw bytes (60 base64 chars), on character boundaries.
    words, chunk = [], b""
    for ch in text:
        piece = ch.encode(charset)
        if len(chunk) + len(piece) > 45:
            words.append(chunk)
            chunk = b""
        chunk += piece
    words.append(chunk)
    del data
    return "\r\n ".join(f"=?{charset}?B?{base64.b64encode(w).decode()}?=" for w in words)


def _address(name: str, mail: str, charset: str) -> str:
    return f"{_encoded_word(name, charset)} <{mail}>"


def _html(paragraphs: list[str], quoted: list[str], attribution: str) -> str:
    def para(text: str) -> str:
        lines = "<br>\r\n".join(text.split("\n"))
        return f'<p class="MsoNormal"><span style="font-size:12.0pt">{lines}<o:p></o:p></span></p>\r\n'

    body = "".join(para(p) for p in paragraphs)
    if quoted:
        head = "<br>".join(attribution.split("\n"))
        quote = "".join(para(q) for q in quoted)
        body += (f'<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
                 f'<p class="MsoNormal"><b>{head}</b></p></div>\r\n<blockquote style="margin-left:6pt">'
                 f"{quote}</blockquote>\r\n")
    return (f'<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>'
            f'<meta http-equiv="Content-Type" content="text/html; charset=utf-8">{OUTLOOK_CSS}</head>\r\n'
            f'<body lang="RU" link="#0563C1" vlink="#954F72"><div class="WordSection1">\r\n{body}</div></body></html>')


def _plain(paragraphs: list[str], quoted: list[str], attribution: str, client: str) -> str:
    text = "\n\n".join(paragraphs)
    if quoted:
        if client == "outlook":
            text += "\n\n" + attribution + "\n\n" + "\n".join(quoted)
        else:
            text += "\n\n" + attribution + "\n" + "\n".join("> " + line for line in quoted)
    return text.replace("\n", "\r\n") + "\r\n"


def _headers(rng: random.Random, index: int, seed: int, when: datetime, sender: tuple[str, str],
             to: tuple[str, str], subject: str, charset: str, client: str, in_reply_to: str | None,
             references: list[str]) -> tuple[str, list[str]]:
    domain = sender[1].split("@", 1)[1]
    message_id = f"<{seed:x}.{index:x}.{rng.getrandbits(48):012x}@{domain}>"
    hops = [
        f"Received: from mx{rng.randint(1, 9)}.{domain} (mx.{domain} [195.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
        f".{rng.randint(1, 254)}])\r\n\tby mail.kozmo.example (Postfix) with ESMTPS id {rng.getrandbits(40):010X}\r\n"
        f"\tfor <adm@kozmo.example>; {format_datetime(when)}"
        for _ in range(rng.randint(2, 4))
    ]
    sig = base64.b64encode(rng.randbytes(256)).decode()
    lines = [
        *hops,
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=mail;\r\n\tt={int(when.timestamp())};"
        f" h=from:to:subject:date:message-id;\r\n\tbh={base64.b64encode(rng.randbytes(32)).decode()};\r\n"
        f"\tb={sig[:70]}\r\n\t {sig[70:140]}\r\n\t {sig[140:210]}\r\n\t {sig[210:]}",
        f"From: {_address(*sender, charset)}",
        f"To: {_address(*to, charset)}",
        f"Subject: {_encoded_word(subject, charset)}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: {message_id}",
    ]
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
        sep = "," if client in ("outlook", "iphone") else "\r\n "
        lines.append("References: " + sep.join([*references, in_reply_to]))
    lines.append("MIME-Version: 1.0")
    if client == "outlook":
        lines += [f"Thread-Index: {base64.b64encode(rng.randbytes(22)).decode()}", "X-Mailer: Microsoft Outlook 16.0",
                  "Content-Language: ru"]
    elif client == "thunderbird":
        lines.append("User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 Thunderbird/115.5")
    elif client == "iphone":
        lines.append("X-Mailer: iPhone Mail (21B101)")
    else:
        lines.append(f"X-Mailer: {client.capitalize()} Web Mail")
    return message_id, lines


def _text_part(text: str, subtype: str, charset: str, cte: str) -> bytes:
    data = text.encode(charset, "replace")
    body = _qp(data) if cte == "quoted-printable" else _b64(data) if cte == "base64" else data
    return (f"Content-Type: text/{subtype}; charset=\"{charset}\"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
            .encode() + body)


def _multipart(subtype: str, parts: list[bytes], boundary: str) -> bytes:
    out = [f"Content-Type: multipart/{subtype};\r\n\tboundary=\"{boundary}\"\r\n\r\n".encode()]
    for part in parts:
        out.append(f"--{boundary}\r\n".encode() + part + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _message(rng: random.Random, index: int, seed: int, start: datetime) -> bytes:
    when = start + timedelta(minutes=7 * index + rng.randint(0, 6))
    maker = _pick_kind(rng)
    subject, paragraphs = maker(rng, when)
    cp1251 = rng.random() < CP1251_SHARE
    charset = "windows-1251" if cp1251 else "utf-8"
    if cp1251:
        client = "outlook" if rng.random() < 0.8 else "thunderbird"
        cte = rng.choice(["quoted-printable", "8bit", "base64"])
    else:
        client = rng.choice(["outlook", "yandex", "mailru", "thunderbird", "iphone"])
        cte = {"outlook": "quoted-printable", "yandex": "base64", "mailru": "base64",
               "thunderbird": "8bit", "iphone": "quoted-printable"}[client]
    if maker in (_signal, _request):
        sender, to = rng.choice(CUR_SENDERS), ("Администрация г. Волжска", "adm@kozmo.example")
    elif maker is _verdict:
        sender, to = rng.choice(CUR_SENDERS[:2] + CUR_SENDERS[3:]), STAFF[2][:2]
    else:
        staff = rng.choice(STAFF)
        sender, to = staff[:2], ("ЦУР Республики Марий Эл", "incident@cur12.example.org")
        closing = f"С уважением,\n{staff[0]}\n{staff[2]}\nАдминистрация городского округа «Город Волжск»"
        paragraphs = [*paragraphs, closing]
    quoted: list[str] = []
    attribution = ""
    in_reply_to = None
    references: list[str] = []
    if maker in (_verdict, _staff_reply):
        original_subject, original = _signal(rng, when)
        subject = subject or f"RE: {original_subject}"
        attribution = _attribution(rng, client, rng.choice(CUR_SENDERS), when, original_subject)
        quoted = "\n".join(original).split("\n")
        in_reply_to = f"<{rng.getrandbits(64):016x}@cur12.example.org>"
        references = [f"<{rng.getrandbits(64):016x}@cur12.example.org>" for _ in range(rng.randint(0, 3))]
    # Older history until the message reaches its size: quoted threads are what makes office mail large.
    plain_only = client == "thunderbird" and rng.random() < 0.5
    factor = {"quoted-printable": 3.2, "base64": 1.8, "8bit": 1.2}[cte] * (1.0 if cp1251 else 1.7)
    factor *= 1.0 if plain_only else 1.9
    target = rng.uniform(0.8, 1.2) * TARGET_SIZE
    while (len("\n".join(paragraphs + quoted)) * factor + 3500) < target:
        quoted.append(_sentence(rng, 2))
        if not attribution:
            attribution = _attribution(rng, client, rng.choice(STAFF)[:2], when, subject)
    plain = _plain(paragraphs, quoted, attribution, client)
    boundary_base = f"----=_NextPart_{rng.getrandbits(64):016X}"
    if plain_only:
        content = _text_part(plain, "plain", charset, cte)
    else:
        html = _html(paragraphs, quoted, attribution)
        content = _multipart("alternative", [_text_part(plain, "plain", charset, cte),
                                             _text_part(html, "html", charset, cte)], boundary_base + "_alt")
    if rng.random() < ATTACHMENT_SHARE:
        filename = rng.choice(["Справка о выполненных работах.pdf", "Фото_нарушения.jpg", "Ответ на запрос.docx"])
        encoded_name = _encoded_word(filename, charset).replace("\r\n ", "")
        attachment = (f"Content-Type: application/octet-stream; name=\"{encoded_name}\"\r\n"
                      f"Content-Disposition: attachment; filename=\"{encoded_name}\"\r\n"
                      "Content-Transfer-Encoding: base64\r\n\r\n").encode() + _b64(rng.randbytes(ATTACHMENT_SIZE))
        content = _multipart("mixed", [content, attachment], boundary_base + "_mix")
    _, header_lines = _headers(rng, index, seed, when, sender, to, subject, charset, client, in_reply_to, references)
    return "\r\n".join(header_lines).encode("ascii") + b"\r\n" + content


def generate_messages(n: int, seed: int = 0) -> Iterator[bytes]:
    """`n` raw messages of realistic Russian office mail; the same `seed` gives the same bytes."""
    rng = random.Random(seed)
    start = datetime(2026, 12, 1, 8, 0, tzinfo=MSK)
    for index in range(n):
        yield _message(rng, index, seed, start)
