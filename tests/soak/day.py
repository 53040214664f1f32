"""The soak scenario engine: a seeded working day of ЦУР signals, requests and appeals, with an expected-state ledger.

`plan_day` draws the day (who writes what, when, and how each case must end); `play` delivers each
letter into Dovecot at its moment and runs `curmail run --once` in-process with the clock pinned to
every step of a fixed grid (every 10 or 5 minutes from 08:00 to 23:00, then four runs a day for a week),
so the day plays far faster than the 100× the issue asks (the CI day: about 20 s per database).
Replies are built only from what curmail really sent: a staff draft answers the notification that
reached that person through the SMTP sink, a ЦУР verdict answers the draft letter that reached the ЦУР.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from email import message_from_bytes
from email.policy import default
from email.utils import make_msgid
from zoneinfo import ZoneInfo

from sqlalchemy import select

from daemon.app import App
from daemon.clock import Clock
from daemon.db.models import Case, OutboxMessage, StoredMessage
from daemon.runner import Runner
from tests.support.env import CurmailEnv
from tests.support.mail import make_message
from tests.support.settings import STAFF

MSK = ZoneInfo("Europe/Moscow")
CUR = "cur@example.org"
CUR_OFFICER = "Петрова Е.В. (ЦУР) <petrova@cur12.example.org>"
INCIDENTS = "Инцидент-менеджмент <no-reply@cur12.example.org>"
POS = "Платформа обратной связи <noreply@pos.gosuslugi.ru>"
PRESS = "prpress@gov.mari.ru"
ON_VACATION = "ivanova@kozmo.example"  # the contact official, whose out-of-office answers every notice
STAFF_NAMES = {member["email"]: member["name"] for member in STAFF}

STREETS = ["ул. Ленина", "ул. Советская", "ул. Пушкина", "ул. Кирова", "ул. Чапаева", "ул. Гагарина", "ул. Рабочая"]
TOPICS = [
    ("вывоз мусора", "контейнерная площадка переполнена, мусор не вывозят неделю"),
    ("уличное освещение", "третью неделю не горят фонари во дворе"),
    ("ремонт дороги", "во дворе яма на дороге, машины бьют подвеску"),
    ("отопление", "в доме холодные батареи, в квартирах 15 градусов"),
    ("уборка снега", "во дворах не убирают снег, скорая не может проехать"),
]
SURNAMES = ["Смирнова Ольга Николаевна", "Кузьмин Андрей Петрович", "Морозова Елена Викторовна",
            "Алексеев Константин Ильич", "Николаева Ольга Сергеевна", "Сидоров Пётр Андреевич"]


FATES = ["published", "remarks", "silent", "approved", "awaiting"]  # how a refutation's day can end


@dataclass(frozen=True)
class SoakSize:
    """How big the day is and how fine its time grid (minutes between daemon runs on the main day)."""

    name: str
    signals: int
    requests: int
    appeals: int
    grid_minutes: int


CI_SIZE = SoakSize("ci", signals=8, requests=4, appeals=40, grid_minutes=10)
FULL_SIZE = SoakSize("full", signals=50, requests=20, appeals=300, grid_minutes=5)


def size_from_env() -> SoakSize:
    """`CURMAIL_SOAK=full` for the hand-run day; the CI size otherwise."""
    return FULL_SIZE if os.environ.get("CURMAIL_SOAK", "").lower() == "full" else CI_SIZE


@dataclass
class Expected:
    """The ledger line of one case: how it was opened and how it must end."""

    label: str
    kind: str
    opening_id: str
    state: str
    outcome: str | None = None
    press_letters: int = 0
    bounce_press: bool = False
    draft_versions: int = 0  # drafts the assignee sends; the press must get the last one
    exact_reminders: bool = True  # False where a rework re-opens the wait (only "never twice" is checked)
    case_id: int | None = None
    waiting_ended_before: datetime | None = None  # the last grid step before the staff's answer arrived


@dataclass
class Letter:
    """One incoming mail at its moment; `build` returns None while what it answers has not been sent yet."""

    at: datetime
    label: str
    build: Callable[[Day], bytes | None]
    ends_wait: bool = False  # the assignee's answer: the case stops waiting on staff
    delivered_at: datetime | None = None
    tries: int = 0


@dataclass
class Day:
    """The planned day, and while it plays: which letters went in, and the ledger to check at the end."""

    env: CurmailEnv
    size: SoakSize
    day: date
    letters: list[Letter] = field(default_factory=list)
    ledger: dict[str, Expected] = field(default_factory=dict)
    steps: list[datetime] = field(default_factory=list)
    bounced_ids: list[str] = field(default_factory=list)
    automatic_ids: list[str] = field(default_factory=list)  # auto-replies and bounces: nothing may answer them
    delivered_ids: set[str] = field(default_factory=set)  # Message-IDs of everything put into the mailbox
    errors: list[tuple] = field(default_factory=list)  # ERROR log records of the day (name, message, case, template)
    now: datetime | None = None  # the moment the letter being built is written (set by play)
    _lookup: App | None = None

    def lookup_app(self) -> App:
        """One App for the engine's own reads (each session sees what the last run committed)."""
        if self._lookup is None:
            self._lookup = self.env.app()
        return self._lookup

    def automatic(self, raw: bytes) -> bytes:
        """Note an auto-reply or bounce about to be delivered, so the end check can see nothing answered it."""
        self.automatic_ids.append(str(message_from_bytes(raw, policy=default)["Message-ID"]).strip())
        return raw

    # -- lookups of what curmail did, for replies ------------------------------------------------------

    def case_id(self, label: str) -> int | None:
        expected = self.ledger[label]
        if expected.case_id is None:
            with self.lookup_app().sessions() as session:
                expected.case_id = session.scalars(
                    select(StoredMessage.case_id).where(StoredMessage.message_id == expected.opening_id)).first()
        return expected.case_id

    def sent_letter(self, label: str, kind: str, to: str | None = None) -> tuple[OutboxMessage, Case] | None:
        """The newest letter of `kind` for the case that the SMTP sink accepted (to `to`, or to the assignee)."""
        case_id = self.case_id(label)
        if case_id is None:
            return None
        with self.lookup_app().sessions() as session:
            case = session.get(Case, case_id)
            rows = list(session.scalars(select(OutboxMessage).where(
                OutboxMessage.case_id == case_id, OutboxMessage.kind == kind).order_by(OutboxMessage.id.desc())))
        accepted = {m.message_id for m in self.env.smtp.messages}
        wanted = to or case.assignee
        for row in rows:
            if (wanted is None or row.recipients == [wanted]) and row.message_id in accepted:
                return row, case
        return None


def _reply(sender: str, answered: OutboxMessage, body: str, when: datetime, **headers: str) -> bytes:
    domain = sender.rpartition("@")[2].rstrip(">")
    return make_message(sender=sender, subject=f"Re: {answered.subject}", body=body, date=when,
                        message_id=make_msgid(domain=domain), in_reply_to=answered.message_id,
                        references=answered.message_id, headers=headers or None)


def _staff(address: str) -> str:
    return f"{STAFF_NAMES.get(address, 'Сотрудник')} <{address}>"


# --- the letters of each flow ---------------------------------------------------------------------


def _signal(n: int, rng: random.Random, at: datetime) -> tuple[str, bytes]:
    message_id = f"<soak-signal-{n}@cur12.example.org>"
    topic, complaint = rng.choice(TOPICS)
    street = rng.choice(STREETS)
    raw = make_message(
        sender=f"ЦУР Республики Марий Эл <{CUR}>", subject=f"Недостоверная информация № {1200 + n}: {topic}, {street}",
        body=("Добрый день!\n\nЦентр управления регионом выявил публикацию с недостоверной информацией о работе "
              f"администрации.\n\nСсылка: https://vk.com/wall-170{n:03d}_{9000 + n}\n"
              "Источник: сообщество «Подслушано Козьмодемьянск» (ВКонтакте)\n"
              f"Цитата: «На {street} {complaint}, администрация молчит».\n\n"
              "Просим в течение 3 часов подготовить официальный комментарий (опровержение).\n\n"
              "С уважением,\nЦУР Республики Марий Эл\n"),
        message_id=message_id, date=at)
    return message_id, raw


def _draft(label: str, version: int) -> Callable[[Day], bytes | None]:
    def build(day: Day) -> bytes | None:
        found = day.sent_letter(label, "refutation_remarks" if version > 1 else "refutation_new")
        if found is None:
            return None
        notice, case = found
        body = (f"Информация не соответствует действительности. Работы ведутся по графику, опубликованному на "
                f"сайте администрации; последняя проверка проведена {day.day:%d.%m.%Y}. Справки по телефону "
                f"+7 83632 0-00-0{version}.\n\nС уважением,\n{STAFF_NAMES.get(case.assignee or '', '')}\n")
        return _reply(_staff(notice.recipients[0]), notice, body, _moment(day))
    return build


def _verdict(label: str, text: str, *, again: bool = False) -> Callable[[Day], bytes | None]:
    """The ЦУР's word on the draft it got; `again`: a second «Согласовано» to the same letter, after the first."""
    def build(day: Day) -> bytes | None:
        found = day.sent_letter(label, "refutation_draft", to=CUR)
        if found is None or (found[1].state != "awaiting_approval" and not again):
            return None
        return _reply(f"ЦУР Республики Марий Эл <{CUR}>", found[0], text, _moment(day))
    return build


def _published(label: str) -> Callable[[Day], bytes | None]:
    def build(day: Day) -> bytes | None:
        editor = next(m["email"] for m in STAFF if "web_editor" in m["roles"])
        found = day.sent_letter(label, "refutation_web", to=editor)
        if found is None:
            return None
        return _reply(_staff(editor), found[0], f"Размещено: https://kozmo.example/news/soak-{label}.html\n",
                      _moment(day))
    return build


def _bounce(label: str) -> Callable[[Day], bytes | None]:
    def build(day: Day) -> bytes | None:
        found = day.sent_letter(label, "refutation_press", to=PRESS)
        if found is None:
            return None
        press = found[0]
        day.bounced_ids.append(press.message_id)
        return day.automatic(make_message(
            sender="mailer-daemon@yandex.ru", to="adm@kozmo.example", subject="Недоставленное сообщение",
            body=("Это письмо отправлено почтовой системой Яндекса.\n\nВаше сообщение не может быть доставлено "
                  f"одному или нескольким получателям:\n\n<{PRESS}>: адрес получателя не найден "
                  "(550 5.1.1 No such user!)\n\nЗаголовки исходного сообщения:\n\n"
                  f"Message-ID: {press.message_id}\nFrom: adm@kozmo.example\nTo: {PRESS}\n"
                  f"Subject: {press.subject}\n"),
            message_id=make_msgid(domain="mxback1.mail.yandex.example"), date=_moment(day),
            headers={"Auto-Submitted": "auto-replied", "Return-Path": "<>"}))
    return build


def _vacation(label: str, kind: str) -> Callable[[Day], bytes | None]:
    def build(day: Day) -> bytes | None:
        found = day.sent_letter(label, kind, to=ON_VACATION)
        if found is None:
            return None
        return day.automatic(make_message(
            sender=_staff(ON_VACATION), subject=f"Автоматический ответ: {found[0].subject}",
            body="Здравствуйте! Я в отпуске до 14.12.2026. По срочным вопросам обращайтесь к Петрову С.И.\n",
            message_id=make_msgid(domain="mail.kozmo.example"), in_reply_to=found[0].message_id, date=_moment(day),
            headers={"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}))
    return build


def _answer(label: str, kind: str, text: str) -> Callable[[Day], bytes | None]:
    def build(day: Day) -> bytes | None:
        found = day.sent_letter(label, kind)
        if found is None:
            return None
        notice = found[0]
        return _reply(_staff(notice.recipients[0]), notice, text, _moment(day))
    return build


def _moment(day: Day) -> datetime:
    assert day.now is not None, "letters are built only while the day plays"
    return day.now


# --- drawing the day -------------------------------------------------------------------------------


def _at(day: date, minutes_from_8: int) -> datetime:
    return datetime.combine(day, time(8, 0), MSK) + timedelta(minutes=minutes_from_8)


def plan_day(env: CurmailEnv, size: SoakSize, day: date, seed: int = 2026) -> Day:
    """Draw the day's mail and the expected end of every case, reproducibly from `seed`."""
    rng = random.Random(seed)
    plan = Day(env=env, size=size, day=day)
    gap = 2 * size.grid_minutes  # each answer lands at least one daemon run after what it answers

    def add(at: datetime, label: str, build: Callable[[Day], bytes | None], ends_wait: bool = False) -> None:
        plan.letters.append(Letter(at=at, label=label, build=build, ends_wait=ends_wait))

    for n in range(size.signals):
        label = f"signal-{n}"
        start = _at(day, rng.randrange(30, 8 * 60 + 30))  # 08:30–16:30
        message_id, raw = _signal(n, rng, start)
        add(start, label, lambda _d, raw=raw: raw)
        if n % 4 == 1:  # the same letter again (a resend, or a copy filed twice): it must open nothing new
            add(start + timedelta(minutes=gap), label, lambda _d, raw=raw: raw)
        # The first five play every fate, so even the CI day covers each; then by realistic shares.
        fate = FATES[n] if n < len(FATES) else rng.choices(FATES, [4, 2, 1.5, 1, 1.5])[0]
        expected = Expected(label, "refutation", message_id, state="assigned")
        plan.ledger[label] = expected
        if n % 3 == 0:
            add(start + timedelta(minutes=gap), label, _vacation(label, "refutation_new"))
        if fate == "silent":
            continue
        t = start + timedelta(minutes=rng.randrange(max(gap, 30), 170))
        add(t, label, _draft(label, 1), ends_wait=True)
        expected.state, expected.draft_versions = "awaiting_approval", 1
        if fate == "awaiting":
            continue
        if fate == "remarks":
            t += timedelta(minutes=rng.randrange(gap, 40))
            add(t, label, _verdict(label, "Не согласовано, направляем на доработку. Замечания:\n"
                                          "1. Укажите точные сроки работ.\n2. Добавьте телефон для справок.\n"))
            t += timedelta(minutes=rng.randrange(gap, 50))
            add(t, label, _draft(label, 2), ends_wait=True)
            expected.exact_reminders, expected.draft_versions = False, 2
        t += timedelta(minutes=rng.randrange(gap, 40))
        add(t, label, _verdict(label, "Добрый день! Согласовано, можно публиковать.\n"))
        expected.state, expected.press_letters = "sent_to_press", 1
        if n % 3 == 0:  # the ЦУР confirms twice: still one press letter
            add(t + timedelta(minutes=gap), label, _verdict(label, "Согласовано.\n", again=True))
        if rng.random() < 0.25 or not any(e.bounce_press for e in plan.ledger.values()):  # at least one
            t += timedelta(minutes=gap)
            add(t, label, _bounce(label))
            expected.bounce_press = True
        if fate == "published":
            t += timedelta(minutes=rng.randrange(gap, 60))
            add(t, label, _published(label))
            expected.state, expected.outcome = "closed", "published"

    for n in range(size.requests):
        label = f"request-{n}"
        start = _at(day, rng.randrange(60, 7 * 60))  # 09:00–15:00
        due_day = day + timedelta(days=rng.choice([1, 4, 5, 6]))  # Thu → Fri, Mon, Tue, Wed
        topic, _ = rng.choice(TOPICS)
        message_id = f"<soak-request-{n}@cur12.example.org>"
        raw = make_message(
            sender=CUR_OFFICER, subject=f"Запрос информации № {310 + n}-ЦУР: {topic}", message_id=message_id,
            date=start,
            body=("Уважаемые коллеги!\n\nВ связи с поступающими обращениями граждан прошу предоставить "
                  f"информацию по теме «{topic}» (график работ, ответственный подрядчик) в срок до "
                  f"{due_day:%d.%m.%Y}.\n\nС уважением,\nПетрова Е.В., главный специалист ЦУР Республики Марий Эл\n"))
        add(start, label, lambda _d, raw=raw: raw)
        expected = Expected(label, "request", message_id, state="assigned")
        plan.ledger[label] = expected
        if rng.random() < 0.6:
            add(start + timedelta(minutes=rng.randrange(gap, 8 * 60)), label,
                _answer(label, "request_new", f"Направляем информацию по теме «{topic}»: работы ведутся по "
                                              "графику, подрядчик — ООО «Чистый город».\n\nПетров С.И.\n"),
                ends_wait=True)
            expected.state, expected.outcome = "closed", "answered"

    for n in range(size.appeals):
        label = f"appeal-{n}"
        start = _at(day, rng.randrange(0, 12 * 60))  # 08:00–20:00, day and evening
        topic, complaint = rng.choice(TOPICS)
        who, street = rng.choice(SURNAMES), rng.choice(STREETS)
        if rng.random() < 0.75:
            message_id = f"<soak-pos-{n}@pos.gosuslugi.ru>"
            raw = make_message(
                sender=POS, subject=f"Новое сообщение ПОС № {5000 + n}: {topic}", message_id=message_id, date=start,
                body=(f"Поступило сообщение через ПОС «Госуслуги. Решаем вместе».\n\nЗаявитель: {who}\n"
                      f"Телефон: +7 900 {n // 100:03d}-{n % 100:02d}-{rng.randrange(100):02d}\n"
                      f"Адрес: г. Козьмодемьянск, {street}, д. {rng.randrange(1, 60)}\n\n"
                      f"Текст обращения: {complaint}, прошу принять меры.\n"),
                headers={"Auto-Submitted": "auto-generated", "Precedence": "bulk"})
        else:
            message_id = f"<soak-im-{n}@cur12.example.org>"
            raw = make_message(
                sender=INCIDENTS, subject=f"Новый инцидент ИМ-2026-{7000 + n}", message_id=message_id, date=start,
                body=(f"Инцидент-менеджмент: новый инцидент № ИМ-2026-{7000 + n}\n\n"
                      "Источник: социальная сеть ВКонтакте\n"
                      f"Ссылка: https://vk.com/wall-98765_{20000 + n}\nАвтор: {who}\n"
                      f"Дата публикации: {start:%d.%m.%Y %H:%M}\n\nТекст публикации:\n"
                      f"На {street} {complaint}. Куда смотрит администрация?\n\n"
                      "Ответ необходимо разместить в комментариях к публикации в течение 8 рабочих часов.\n"),
                headers={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"})
        add(start, label, lambda _d, raw=raw: raw)
        expected = Expected(label, "appeal", message_id, state="assigned")
        plan.ledger[label] = expected
        if n % 8 == 3:
            add(start + timedelta(minutes=gap), label, _vacation(label, "appeal_new"))
        if rng.random() < 0.6:
            outcome = f"по обращению на {street} работы выполнены, заявителю направлен ответ."
            add(start + timedelta(minutes=rng.randrange(gap, 6 * 60)), label,
                _answer(label, "appeal_new", f"Итог: {outcome}\n\nПетров С.И.\n"), ends_wait=True)
            expected.state, expected.outcome = "closed", outcome

    plan.letters.sort(key=lambda letter: letter.at)
    plan.steps = grid(day, size)
    return plan


def grid(day: date, size: SoakSize) -> list[datetime]:
    """The moments the daemon runs: every few minutes 08:00–23:00 on the day, then four times a day for a week."""
    start, end = datetime.combine(day, time(8, 0), MSK), datetime.combine(day, time(23, 0), MSK)
    steps = [start + timedelta(minutes=m) for m in range(0, int((end - start).total_seconds() // 60) + 1,
                                                         size.grid_minutes)]
    for offset in range(1, 8):
        later = day + timedelta(days=offset)
        steps += [datetime.combine(later, time(hh, mm), MSK) for hh, mm in ((9, 5), (12, 0), (16, 5), (18, 5))]
    return steps


# --- playing it ------------------------------------------------------------------------------------


MAX_TRIES = 30  # a letter whose answered mail never went out is a failure of the day, not a hang


def run_once(env: CurmailEnv, now: datetime) -> None:
    """`curmail run --once --now` in-process, like `env.run_once`, but closing its App (a day opens hundreds)."""
    app = App.open(env.settings, Clock(fixed=now))
    try:
        Runner(app).run_once()
    finally:
        app.close()


def play(plan: Day) -> list[Letter]:
    """Run the day; returns the letters that could never be built (the mail they answer was never sent)."""
    pending = list(plan.letters)
    previous: datetime | None = None
    for step in plan.steps:
        plan.now = step
        waiting: list[Letter] = []
        for letter in pending:
            if letter.at > step:
                waiting.append(letter)
                continue
            plan.now = max(letter.at, previous or letter.at)
            raw = letter.build(plan)
            if raw is None:
                letter.tries += 1
                if letter.tries < MAX_TRIES:
                    waiting.append(letter)
                continue
            plan.env.deliver(raw, internal_date=plan.now)
            plan.delivered_ids.add(str(message_from_bytes(raw, policy=default)["Message-ID"]).strip())
            letter.delivered_at = step
            if letter.ends_wait and plan.ledger[letter.label].waiting_ended_before is None:
                plan.ledger[letter.label].waiting_ended_before = previous
        pending = waiting
        run_once(plan.env, step)
        previous = step
    return [letter for letter in plan.letters if letter.delivered_at is None]
