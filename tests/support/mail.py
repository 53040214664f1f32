"""Build realistic test messages as raw bytes (stdlib email), so tests read like the mail they describe."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

_counter = itertools.count(1)


def make_message(
    *,
    subject: str = "Тестовое письмо",
    body: str = "Текст письма.",
    sender: str = "Житель <citizen@mail.example>",
    to: str = "adm@kozmo.example",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    date: datetime | None = None,
    headers: dict[str, str] | None = None,
    charset: str = "utf-8",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    msg["Message-ID"] = message_id or f"<test-{next(_counter)}-{id(msg)}@mail.example>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body, charset=charset)
    return bytes(msg)


def cur_signal(n: int = 1, url: str | None = None) -> bytes:
    """A ЦУР report of unreliable information, as the Mari El ЦУР writes it in plain Russian."""
    link = url or f"https://vk.com/wall-123456_{1000 + n}"
    return make_message(
        sender="ЦУР Республики Марий Эл <cur@example.org>",
        subject=f"Недостоверная информация в социальной сети №{n}",
        body=(
            "Добрый день!\n\nЦентр управления регионом выявил публикацию с недостоверной информацией "
            f"о работе администрации.\n\nСсылка: {link}\nИсточник: группа «Подслушано Козьмодемьянск»\n"
            "Цитата: «Во дворах на улице Советской третью неделю не вывозят мусор».\n\n"
            "Просим в течение 3 часов подготовить официальный комментарий (опровержение).\n"
        ),
    )


def appeal(n: int = 1) -> bytes:
    """A ПОС notification: machine-generated, and exactly the kind of mail that must open a case."""
    return make_message(
        sender="Платформа обратной связи <noreply@pos.gosuslugi.ru>",
        subject=f"Новое сообщение ПОС №{n}: не работает уличное освещение",
        body=(
            "Госуслуги. Решаем вместе.\nПоступило новое сообщение.\n"
            f"Заявитель: Смирнов Иван Петрович, телефон +7 900 000-00-{n % 100:02d}\n"
            "Адрес: г. Козьмодемьянск, ул. Гагарина, д. 5\n"
            "Текст: Третий день не горят фонари во дворе, прошу принять меры.\n"
        ),
        headers={"Auto-Submitted": "auto-generated", "Precedence": "bulk"},
    )
