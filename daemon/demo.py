"""`curmail demo`: a whole refutation and more on local servers and SQLite, with no configuration needed.

It starts an in-memory IMAP server and an SMTP sink on loopback, writes realistic Russian mail into
the mailbox step by step (the ЦУР's signal, the official's draft, the ЦУР's approval, the web editor's
page link, a ПОС appeal, a ЦУР request, an auto-reply), runs the daemon once per step with the clock
pinned to that step's moment, and prints what happened: cases, states, deadlines and the mail sent.
"""

from __future__ import annotations

import email
import email.policy
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from daemon.app import App
from daemon.calendar import calendar_for
from daemon.cases import format_tag
from daemon.clock import Clock
from daemon.commands import KIND_RU
from daemon.config import Settings, parse_settings
from daemon.db.models import Case
from daemon.localservers import LocalServers, SentMessage, start_local_servers
from daemon.mailbox import ImapEndpoint, Mailbox
from daemon.runner import Runner
from daemon.workflow.machine import state_ru

MSK = ZoneInfo("Europe/Moscow")
ORG = "adm@kozmo.example"
CUR = "cur@cur12.example.org"
PETROV = "petrov@kozmo.example"
EDITOR = "kuznetsov@kozmo.example"
POST_URL = "https://vk.com/wall-170123456_9876"


def demo_settings(servers: LocalServers, workdir: Path) -> Settings:
    """The example organisation (Козьмодемьянск) wired to the local servers."""
    data = {
        "organization": {"name": "Администрация городского округа «Город Козьмодемьянск»", "address": ORG,
                         "timezone": "Europe/Moscow", "case_tag": "KZM", "short_name": "г. Козьмодемьянск"},
        "mailbox": {"host": servers.host, "port": servers.imap_port, "security": "none", "username": servers.user,
                    "password": servers.password, "timeout_seconds": 10, "sent_folder": "Sent"},
        "smtp": {"host": servers.host, "port": servers.smtp_port, "security": "none", "timeout_seconds": 10},
        "database": {"url": f"sqlite:///{workdir / 'curmail.db'}"},
        "cur": {"addresses": [CUR], "domains": ["cur12.example.org", "pos.gosuslugi.ru"],
                "name": "ЦУР Республики Марий Эл"},
        "press": {"address": "prpress@gov.mari.ru"},
        "state": {"directory": str(workdir / "state")},
        "staff": [
            {"name": "Иванова Мария Петровна", "email": "ivanova@kozmo.example", "position": "Главный специалист",
             "phone": "+7 83632 0-00-00", "roles": ["contact"]},
            {"name": "Петров Сергей Иванович", "email": PETROV, "position": "Начальник отдела ЖКХ",
             "roles": ["responsible"], "topics": ["ЖКХ", "благоустройство"]},
            {"name": "Сидорова Анна Викторовна", "email": "sidorova@kozmo.example",
             "position": "Руководитель аппарата", "roles": ["supervisor"]},
            {"name": "Кузнецов Олег Павлович", "email": EDITOR, "position": "Редактор официального сайта",
             "roles": ["web_editor"]},
        ],
    }
    return parse_settings(data, "<demo>")


def _mail(sender: str, subject: str, body: str, when: datetime, *, reply_to: SentMessage | None = None,
          headers: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = ORG
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].rstrip(">"))
    if reply_to is not None and reply_to.message_id:
        msg["In-Reply-To"] = reply_to.message_id
        msg["References"] = reply_to.message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return bytes(msg)


def _quote(sent: SentMessage) -> str:
    original = email.message_from_bytes(sent.raw, policy=email.policy.default)
    part = original.get_body(("plain",))
    text = part.get_content() if part is not None else ""
    when = original.get("Date", "")
    return f"\n\n{when}, {original.get('From', '')} пишет:\n" + "\n".join(f"> {line}" for line in text.splitlines())


@dataclass
class Step:
    """One moment of the scenario: the mail that arrives then (built from what curmail has sent so far)."""

    at: datetime
    title: str
    arrivals: Callable[[list[SentMessage]], list[bytes]]


def _last_to(sent: list[SentMessage], rcpt: str, contains: str = "") -> SentMessage | None:
    for message in reversed(sent):
        if rcpt in message.rcpt_tos and contains in _subject(message):
            return message
    return None


def _subject(message: SentMessage) -> str:
    return str(email.message_from_bytes(message.raw, policy=email.policy.default).get("Subject", ""))


def scenario(day: datetime) -> list[Step]:
    """A working day of the administration, from the ЦУР's signal to the published comment."""
    t = lambda hh, mm: day.replace(hour=hh, minute=mm)  # noqa: E731

    def signal(_: list[SentMessage]) -> list[bytes]:
        return [_mail(
            f"ЦУР Республики Марий Эл <{CUR}>", "Недостоверная информация: вывоз мусора на ул. Советской",
            "Добрый день!\n\nЦентр управления регионом выявил публикацию с недостоверной информацией о работе "
            f"администрации.\n\nСсылка: {POST_URL}\nИсточник: сообщество «Подслушано Козьмодемьянск» (ВКонтакте)\n"
            "Цитата: «Во дворах на улице Советской третью неделю не вывозят мусор, администрация молчит».\n\n"
            "Просим в течение 3 часов подготовить официальный комментарий (опровержение) и направить его "
            "на согласование.\n\nС уважением,\nЦУР Республики Марий Эл", t(10, 5))]

    def draft(sent: list[SentMessage]) -> list[bytes]:
        notice = _last_to(sent, PETROV)
        subject = "Re: " + _subject(notice) if notice else "Комментарий"
        body = ("Вывоз твёрдых коммунальных отходов с улицы Советской выполняется по графику: последний вывоз "
                "был 1 декабря, следующий — 4 декабря. Перебоев в течение трёх недель не было; график "
                "размещён на сайте администрации. Сообщения о несвоевременном вывозе принимаются по телефону "
                "+7 83632 0-00-01.\n\n--\nС уважением,\nС. И. Петров, начальник отдела ЖКХ")
        return [_mail(f"Петров Сергей Иванович <{PETROV}>", subject, body + (_quote(notice) if notice else ""),
                      t(12, 20), reply_to=notice)]

    def approval(sent: list[SentMessage]) -> list[bytes]:
        draft_mail = _last_to(sent, CUR)
        subject = "Re: " + _subject(draft_mail) if draft_mail else "Согласовано"
        return [_mail(f"ЦУР Республики Марий Эл <{CUR}>", subject,
                      "Согласовано, можно публиковать." + (_quote(draft_mail) if draft_mail else ""),
                      t(12, 45), reply_to=draft_mail)]

    def others(_: list[SentMessage]) -> list[bytes]:
        return [
            _mail("Платформа обратной связи <noreply@pos.gosuslugi.ru>",
                  "Новое сообщение ПОС № 4471: не работает уличное освещение",
                  "Госуслуги. Решаем вместе.\nПоступило новое сообщение.\nКатегория: Благоустройство\n"
                  "Заявитель: Смирнов Иван Петрович, телефон +7 900 000-00-11\n"
                  "Адрес: г. Козьмодемьянск, ул. Гагарина, д. 5\n"
                  "Текст: Третий день не горят фонари во дворе, прошу принять меры.",
                  t(12, 47), headers={"Auto-Submitted": "auto-generated", "Precedence": "bulk"}),
            _mail(f"ЦУР Республики Марий Эл <{CUR}>", "Запрос информации о подготовке к паводку",
                  "Уважаемые коллеги!\n\nПрошу предоставить информацию о мерах по подготовке к весеннему "
                  "паводку 2027 года в срок до 10.12.2026.\n\nС уважением,\nЦУР Республики Марий Эл",
                  t(12, 48)),
            _mail("Петрова Ольга <o.petrova@mail.example>", "Автоответ: Re: график приёма",
                  "Я в отпуске до 15 декабря. Ваше письмо будет прочитано после возвращения.", t(12, 50),
                  headers={"Auto-Submitted": "auto-replied"}),
        ]

    def published(sent: list[SentMessage]) -> list[bytes]:
        to_editor = _last_to(sent, EDITOR)
        subject = "Re: " + _subject(to_editor) if to_editor else "Опубликовано"
        return [_mail(f"Кузнецов Олег Павлович <{EDITOR}>", subject,
                      "Опубликовано: https://kozmodemyansk.example/news/2026/12/vyvoz-musora\n"
                      + (_quote(to_editor) if to_editor else ""), t(13, 30), reply_to=to_editor)]

    return [
        Step(t(10, 5), "ЦУР сообщает о недостоверной публикации", signal),
        Step(t(12, 6), "За час до срока: напоминание исполнителю", lambda _: []),
        Step(t(12, 20), "Ответственный присылает текст комментария", draft),
        Step(t(12, 45), "ЦУР согласовывает комментарий", approval),
        Step(t(12, 50), "Обращение ПОС, запрос ЦУР и автоответ", others),
        Step(t(13, 30), "Редактор сайта сообщает ссылку на публикацию", published),
    ]


def _print_cases(app: App) -> None:
    cal = calendar_for(app.settings)
    with app.sessions() as session:
        for case in session.scalars(select(Case).order_by(Case.id)):
            due = cal.format_deadline(case.due_at) if case.due_at else "без срока"
            who = case.assignee or "—"
            kind = KIND_RU.get(case.kind, case.kind)
            print(f"    {format_tag(app.settings.organization.case_tag, case.id)} {kind:<26} "
                  f"{state_ru(case.state):<26} {due:<28} исполнитель: {who}")


def run_demo(keep: Path | None = None) -> int:
    """Run the scenario and print its timeline; returns the exit code."""
    logging.getLogger().setLevel(logging.WARNING)  # the timeline is the output; warnings still show
    workdir = Path(tempfile.mkdtemp(prefix="curmail-demo-")) if keep is None else keep
    workdir.mkdir(parents=True, exist_ok=True)
    servers = start_local_servers(workdir)
    try:
        settings = demo_settings(servers, workdir)
        day = (datetime.now(MSK) - timedelta(days=2)).replace(second=0, microsecond=0)
        while not calendar_for(settings).is_working_day(day.date()):
            day -= timedelta(days=1)
        print(f"curmail demo: {settings.organization.name}")
        print(f"  IMAP 127.0.0.1:{servers.imap_port}, SMTP 127.0.0.1:{servers.smtp_port}, "
              f"база {workdir / 'curmail.db'}")
        inbox = Mailbox(ImapEndpoint(host=servers.host, port=servers.imap_port, security="none",
                                     username=servers.user, password=servers.password, timeout=10))
        inbox.connect()
        seen = 0
        for step in scenario(day):
            sent = servers.sent_messages()
            for raw in step.arrivals(sent):
                inbox.append("INBOX", raw, flags=(), internal_date=step.at)
            app = App.open(settings, Clock(fixed=step.at))
            Runner(app).run_once()
            print(f"\n{calendar_for(settings).format_msk(step.at)} — {step.title}")
            sent = servers.sent_messages()
            for message in sent[seen:]:
                print(f"  → письмо {', '.join(message.rcpt_tos)}: {_subject(message)}")
            seen = len(sent)
            _print_cases(app)
            app.close()
        inbox.close()
        # Without --keep the folder is removed on the way out, so only a kept one is worth naming.
        kept = f" Файлы демо: {workdir}" if keep is not None else ""
        print(f"\nВсего отправлено писем: {seen}.{kept}")
        return 0
    finally:
        servers.stop()
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
