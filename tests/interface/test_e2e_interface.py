"""The e-mail interface end to end: mail goes in through Dovecot (IMAP), curmail's answers come out through aiosmtpd.

Every assertion reads what a person would get in their mail client: the letters in the SMTP sink.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.header import Header
from email.message import EmailMessage
from pathlib import Path

import dkim
import icalendar
import pytest
from sqlalchemy import select

from daemon import auth
from daemon.db.models import Case, CaseEvent, StoredMessage
from tests.interface.clients import CLIENTS, client_mail
from tests.interface.test_digest_ics import event_of
from tests.interface.test_loops import dsn_for, exim_bounce
from tests.support.env import CurmailEnv
from tests.workflow.conftest import CONTACT, CUR, MSK, OFFICIAL, PRESS, SUPERVISOR, WEB_EDITOR, msk, set_headers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OUR_MTA = "mx.kozmo.example"
SIGNAL_AT = msk(2026, 12, 3, 12, 42)


@dataclass
class Post:
    """Mail in through Dovecot at a given time, one `curmail run --once` at a given time, letters out of the sink."""

    env: CurmailEnv
    read: int = 0

    def send(self, raw: bytes, at: datetime) -> None:
        self.env.deliver(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), internal_date=at)
        self.env.run_once(now=at + timedelta(minutes=1))

    def fixture(self, name: str, at: datetime, reply_to: EmailMessage | None = None, **headers: str) -> None:
        raw = (FIXTURES / "workflow" / name).read_bytes()
        changes = {k.replace("_", "-"): v for k, v in headers.items()}
        if reply_to is not None:
            changes["In-Reply-To"] = changes["References"] = reply_to["Message-ID"]
        self.send(set_headers(raw, changes) if changes else raw, at)

    def letters(self, to: str | None = None, subject: str = "") -> list[EmailMessage]:
        found = [email.message_from_bytes(m.raw, policy=policy.default) for m in self.env.smtp.messages
                 if to is None or to in m.rcpt_tos]
        return [m for m in found if subject in str(m["Subject"])]

    def one(self, to: str, subject: str) -> EmailMessage:
        (letter,) = self.letters(to, subject)
        return letter

    def new(self) -> list[tuple[tuple[str, ...], EmailMessage]]:
        """Letters sent since the last call, with their envelope recipients."""
        fresh = self.env.smtp.messages[self.read:]
        self.read += len(fresh)
        return [(m.rcpt_tos, email.message_from_bytes(m.raw, policy=policy.default)) for m in fresh]

    def cases(self) -> list[Case]:
        with self.env.reader().sessions() as session:
            return list(session.scalars(select(Case).order_by(Case.id)))

    def events(self, action: str) -> list[CaseEvent]:
        with self.env.reader().sessions() as session:
            return list(session.scalars(select(CaseEvent).where(CaseEvent.action == action).order_by(CaseEvent.id)))


def text_of(letter: EmailMessage) -> str:
    return re.sub(r"\s+", " ", letter.get_body(("plain",)).get_content())


def html_of(letter: EmailMessage) -> str:
    return letter.get_body(("html",)).get_content()


def calendars(letters: list[EmailMessage]) -> list[icalendar.Calendar]:
    found = []
    for letter in letters:
        for part in letter.iter_attachments():
            if part.get_content_type() == "text/calendar":
                assert part.get_param("method") in ("REQUEST", "CANCEL")
                found.append(icalendar.Calendar.from_ical(part.get_payload(decode=True)))
    return found


@pytest.fixture
def post(env: CurmailEnv) -> Post:
    return Post(env)


def open_signal(post: Post) -> EmailMessage:
    """The ЦУР signal; returns curmail's letter about it to the contact official."""
    post.fixture("signal.eml", SIGNAL_AT)
    return post.one(CONTACT, "Сигнал ЦУР")


# ---------------------------------------------------------------- every staff command, from every client


STAFF_LINES = [
    ("#статус", "#status", "состояние: назначено исполнителю"),
    ("#тема ЖКХ, отопление", "#topic ЖКХ, отопление", "тема дела: ЖКХ, отопление"),
    ("#срок 10.12.2026 15:00", "#due 10.12.2026 15:00", "срок установлен: 10.12.2026 15:00 (МСК)"),
    ("#назначить Сидорова", "#assign sidorova@kozmo.example", "дело передано: Сидорова Анна Викторовна"),
    ("#список", "#list", "все открытые дела: 1: [KZM-1]"),
    ("#мои", "#mine", "мои открытые дела: открытых дел нет"),
    ("#помощь", "#help", "справка — в конце письма"),
    ("#закрыть дан ответ", "#close дан ответ", "дело закрыто; итог: дан ответ"),
    ("#открыть", "#reopen", "дело открыто снова; срок 10.12.2026 15:00 (МСК)"),
    ("#отчёт 4 2026", "#report 4 2026", "отчёт за"),
]


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_every_staff_command_from_each_client_is_run_and_echoed(post: Post, client: str):
    notice = open_signal(post)
    english = sorted(CLIENTS).index(client) % 2 == 1  # half the clients write English spellings
    lines = [en if english else ru for ru, en, _ in STAFF_LINES]
    post.send(client_mail(client, lines, sender=CONTACT, subject=f"RE: {notice['Subject']}",
                          in_reply_to=notice["Message-ID"]), msk(2026, 12, 3, 13, 0))
    answer = post.one(CONTACT, "Обработано:")
    assert answer["Subject"].startswith("[KZM-1] Обработано: ")
    assert answer["In-Reply-To"] == f"<client-{_number(answer)}@client.example>"
    text = text_of(answer)
    for line, (_, _, result) in zip(lines, STAFF_LINES, strict=True):
        assert f"> {line} ✓" in text and result in text.split(f"> {line} ✓", 1)[1], (line, text)
    assert "#закрыть" not in text.split("Справка")[0].replace("> #закрыть дан ответ", "").replace(
        "> #close дан ответ", "")  # the quoted «#закрыть» was not run
    (case,) = post.cases()
    assert (case.state, case.assignee, case.topic) == ("assigned", SUPERVISOR, "ЖКХ, отопление")
    assert post.one(SUPERVISOR, "Вам передано дело")
    (report,) = post.letters(CONTACT, "Статистика работы с обращениями за IV квартал 2026")
    assert any(part.get_filename().endswith(".xlsx") for part in report.iter_attachments())


def _number(letter: EmailMessage) -> str:
    return re.search(r"client-(\d+)@", letter["In-Reply-To"]).group(1)


# ---------------------------------------------------------------- the ЦУР's and the web editor's commands


def draft_at_cur(post: Post) -> EmailMessage:
    """Signal, the official's draft; returns the draft letter the ЦУР got."""
    open_signal(post)
    post.fixture("draft_reply.eml", msk(2026, 12, 3, 13, 40), reply_to=post.one(OFFICIAL, "Сигнал ЦУР"))
    (draft,) = drafts(post)
    return draft


def drafts(post: Post) -> list[EmailMessage]:
    return [m for m in post.letters(CUR, "Проект") if "Обработано" not in m["Subject"]]


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_cur_rework_and_approval_and_the_web_editors_publication_from_each_client(post: Post, client: str):
    english = sorted(CLIENTS).index(client) % 2 == 0
    draft = draft_at_cur(post)
    rework = "#rework уточните адрес" if english else "#на доработку уточните адрес"
    post.send(client_mail(client, [rework], sender=f"ЦУР <{CUR}>", subject=f"RE: {draft['Subject']}",
                          in_reply_to=draft["Message-ID"]), msk(2026, 12, 3, 14, 0))
    assert f"> {rework} ✓ проект возвращён исполнителю с замечаниями" in text_of(post.one(CUR, "Обработано:"))
    (remarks,) = [m for m in post.letters(OFFICIAL) if "уточните адрес" in text_of(m)]
    post.fixture("draft_reply_v2.eml", msk(2026, 12, 3, 14, 20), reply_to=remarks)
    (_, second) = drafts(post)
    approve = "#approved" if english else "#Согласовано"
    post.send(client_mail(client, [approve], sender=CUR, subject=f"RE: {second['Subject']}",
                          in_reply_to=second["Message-ID"]), msk(2026, 12, 3, 14, 40))
    (answer,) = [m for m in post.letters(CUR, "Обработано:") if approve in text_of(m)]
    assert f"> {approve} ✓ текст согласован и направлен в пресс-службу" in text_of(answer)
    assert len(post.letters(PRESS)) == 1
    web = post.letters(WEB_EDITOR)[-1]
    publish = "#published" if english else "#опубликовано"
    post.send(client_mail(client, [f"{publish} https://kozmo.example/news/17"], sender=WEB_EDITOR,
                          subject=f"RE: {web['Subject']}", in_reply_to=web["Message-ID"]), msk(2026, 12, 3, 15, 0))
    assert "публикация отмечена, дело закрыто" in text_of(post.one(WEB_EDITOR, "Обработано:"))
    (case,) = post.cases()
    assert (case.state, case.outcome, case.data["published_url"]) == ("closed", "published",
                                                                      "https://kozmo.example/news/17")


# ---------------------------------------------------------------- spoofed approvals


def local_dns(name: bytes, timeout: int = 5) -> bytes | None:
    """example.org's DKIM key, served from the fixture instead of DNS."""
    if name == b"sel._domainkey.example.org.":
        return b"v=DKIM1; k=rsa; p=" + (FIXTURES / "interface" / "dkim_test.pub.b64").read_bytes().strip()
    return None


def signed(raw: bytes) -> bytes:
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    key = (FIXTURES / "interface" / "dkim_test.key").read_bytes()
    return dkim.sign(raw, b"sel", b"example.org", key,
                     include_headers=[b"from", b"to", b"subject", b"date", b"message-id"]) + raw


GOOD_RESULTS = f"{OUR_MTA}; dkim=pass header.d=example.org header.s=sel; dmarc=pass header.from=example.org"
SPOOFS = {
    # form: (answers our draft letter, Authentication-Results on top, body changed after signing, reason)
    "forged From without our token": (False, GOOD_RESULTS, False, "только в ответе на письмо curmail"),
    "Authentication-Results of another authserv-id": (
        True, "mx.evil.example; dkim=pass header.d=example.org; dmarc=pass header.from=example.org", False,
        f"authserv-id «{OUR_MTA}»"),
    "DKIM failing at our MTA": (True, f"{OUR_MTA}; dkim=fail header.d=example.org; dmarc=fail", False, "dkim=fail"),
    "DKIM failing in dkimpy's own check": (True, GOOD_RESULTS, True, "подпись DKIM неверна"),
}


@pytest.fixture
def guarded(post: Post, monkeypatch: pytest.MonkeyPatch) -> Post:
    post.env.configure(security={"authserv_id": OUR_MTA, "verify_dkim": True})
    monkeypatch.setattr(auth, "dkim_dnsfunc", local_dns)
    return post


def approval_mail(draft: EmailMessage, *, token: bool, results: str, tamper: bool, line: str = "#согласовано") -> bytes:
    raw = signed(client_mail("outlook_plain_cp1251", [line], sender=CUR, domain="example.org",
                             subject=f"RE: {draft['Subject']}", in_reply_to=draft["Message-ID"] if token else None))
    if tamper:  # a replayed or altered letter: the body no longer matches the signature
        raw = raw.replace(b"=C8=E2=E0=ED=EE=E2=E0", b"=C8=E2=E0=ED=EE=E2=E0=21")
    return f"Authentication-Results: {results}\r\n".encode() + raw


@pytest.mark.parametrize("form", list(SPOOFS), ids=list(SPOOFS))
def test_a_spoofed_approval_is_refused_recorded_and_reported_to_the_contact_official(guarded: Post, form: str):
    token, results, tamper, reason = SPOOFS[form]
    draft = draft_at_cur(guarded)
    guarded.send(approval_mail(draft, token=token, results=results, tamper=tamper), msk(2026, 12, 3, 14, 0))
    (case,) = guarded.cases()
    assert case.state == "awaiting_approval"
    assert guarded.letters(PRESS) == [] and guarded.letters(WEB_EDITOR) == []
    (refused,) = guarded.events("command_refused")
    assert reason in refused.detail["reason"]
    alert = guarded.one(CONTACT, "возможна подделка")
    assert reason in text_of(alert) and CUR in text_of(alert)
    assert f"> #согласовано ✗ отклонено: {refused.detail['reason'][:40]}" in text_of(guarded.one(CUR, "Обработано:"))


PLAIN_REASONS = {  # the workflow's refusal codes for a plain «Согласовано.» reply in the same forms
    "forged From without our token": "not_reply",
    "Authentication-Results of another authserv-id": "not_authenticated",
    "DKIM failing at our MTA": "not_authenticated",
    "DKIM failing in dkimpy's own check": "not_authenticated",
}


@pytest.mark.parametrize("form", list(SPOOFS), ids=list(SPOOFS))
def test_a_spoofed_plain_text_approval_is_refused_too(guarded: Post, form: str):
    token, results, tamper, _ = SPOOFS[form]
    draft = draft_at_cur(guarded)
    guarded.send(approval_mail(draft, token=token, results=results, tamper=tamper, line="Согласовано."),
                 msk(2026, 12, 3, 14, 0))
    (case,) = guarded.cases()
    assert case.state == "awaiting_approval" and guarded.letters(PRESS) == []
    (refused,) = guarded.events("approval_refused")
    assert refused.detail["reason"] == PLAIN_REASONS[form]
    assert guarded.one(CONTACT, "Согласование не принято")
    assert guarded.one(CUR, "Согласование не принято")  # the sender hears why, in plain words


def test_an_authenticated_signed_reply_to_our_draft_letter_approves(guarded: Post):
    draft = draft_at_cur(guarded)
    guarded.send(approval_mail(draft, token=True, results=GOOD_RESULTS, tamper=False), msk(2026, 12, 3, 14, 0))
    (case,) = guarded.cases()
    assert case.state == "sent_to_press"
    assert len(guarded.letters(PRESS)) == 1
    assert guarded.letters(CONTACT, "возможна подделка") == []


# ---------------------------------------------------------------- loops


STYLES = {
    # style: (headers, subject prefix, text)
    "marked": (["Auto-Submitted: auto-replied", "X-Autoreply: yes"], "Автоответ: ",
               ["Я в отпуске до 10.12.2026, на письма не отвечаю."]),
    "unmarked": ([], "Автоматический ответ: ", ["Я в отпуске до 10.12.2026, на письма не отвечаю.",
                                                "По срочным вопросам звоните 8 (83632) 0-00-00."]),
    # The worst responder: no marks, a plain «RE:», a text that reads like a person's answer.
    "disguised": ([], "RE: ", ["Спасибо, ваше письмо получено и передано специалисту."]),
    # Worse still: no thread headers and a subject of its own, so every answer looks like a new letter.
    "unthreaded": ([], "Ваше письмо получено", ["Спасибо, ваше письмо получено и передано специалисту."]),
}


def responder_reply(n: int, responder: str, letter: EmailMessage, style: str) -> bytes:
    """An automatic answer from `responder` to one of our letters, in the given style."""
    headers, prefix, text = STYLES[style]
    subject = f"{prefix} №{n}" if style == "unthreaded" else f"{prefix}{letter['Subject']}"
    raw = client_mail("outlook_plain_cp1251", text, sender=responder, subject=subject,
                      in_reply_to=None if style == "unthreaded" else letter["Message-ID"],
                      domain=f"responder{n}.example")
    return "".join(f"{h}\r\n" for h in headers).encode() + raw


@dataclass
class Settled:
    """How an exchange with auto-responders ended: letters they answered, and daemon runs it took."""

    answered: int
    rounds: int


def answer_until_quiet(post: Post, people: tuple[str, ...], at: datetime, style: str, max_rounds: int,
                       stuck: str) -> Settled:
    """Every new letter to `people` gets an automatic answer two minutes on, and the daemon runs, until
    no new letter goes to them."""
    answered = rounds = 0
    while fresh := [(to, letter) for tos, letter in post.new() for to in tos if to in people]:
        rounds += 1
        assert rounds < max_rounds, stuck  # a guard against a hang, not a timing bound
        at += timedelta(minutes=2)
        for to, letter in fresh:
            answered += 1
            post.env.deliver(responder_reply(answered, to, letter, style), internal_date=at)
        post.env.run_once(now=at + timedelta(minutes=1))
    return Settled(answered, rounds)


@pytest.mark.parametrize("style", list(STYLES))
def test_two_auto_responders_answering_each_other_through_curmail_settle(post: Post, style: str):
    """The ЦУР's mailbox and the assignee both answer every letter they get; curmail must not keep them talking."""
    responders = (CUR, OFFICIAL)
    post.fixture("signal.eml", SIGNAL_AT)
    settled = answer_until_quiet(post, responders, SIGNAL_AT, style, 80, "still mailing the responders")
    answered, rounds = settled.answered, settled.rounds
    limit = post.env.settings.security.auto_mail_per_address_per_day
    to_cur, to_official = post.letters(CUR), post.letters(OFFICIAL)
    with post.env.reader().sessions() as session:
        stored = list(session.scalars(select(StoredMessage)))
    assert len(stored) == 1 + answered  # every automatic answer is kept
    if style in ("marked", "unmarked"):
        # Recognised as automatic: stored in the case's thread, never answered, nothing relayed.
        assert rounds == 1 and len(post.cases()) == 1
        assert all(m.case_id == 1 for m in stored if "[KZM-1]" in (m.subject or ""))
        assert [m["Subject"].split("]")[1].split(":")[0].strip() for m in to_cur] == ["Принято"]
    elif style == "disguised":
        # Read as people's answers (a draft, remarks): the workflow acts, then the talk runs dry.
        assert rounds <= 4 and len(to_cur) <= 5 and len(to_official) <= 6
    else:
        # Every answer opens a case and earns an acknowledgement until each address's daily limit stops it;
        # the contact official hears of each address once.
        for responder in responders:
            acks = [m for m in post.letters(responder) if "Принято:" in m["Subject"]]
            assert len(acks) == limit
            (told,) = post.letters(CONTACT, f"Автоответы на адрес {responder} приостановлены")
            assert str(limit) in text_of(told)
        assert len(to_cur) == limit and len(to_official) == limit + 3  # + the signal's notice, invitation, list
        assert rounds == limit
    if style != "unthreaded":
        assert post.letters(CONTACT, "Автоответы на адрес") == []


# ---------------------------------------------------------------- bounces


def test_a_bounce_of_the_prpress_letter_marks_it_failed_and_tells_the_contact_official(post: Post):
    draft = draft_at_cur(post)
    post.fixture("approval.eml", msk(2026, 12, 3, 14, 20), reply_to=draft)
    (press,) = post.letters(PRESS)
    assert post.letters(CONTACT, "ИНЦИДЕНТ") == []
    post.send(dsn_for(press.as_bytes(), PRESS), msk(2026, 12, 3, 14, 30))
    alert = post.one(CONTACT, "ИНЦИДЕНТ: комментарий не доставлен в пресс-службу")
    text = text_of(alert)
    assert PRESS in text and "5.1.1" in text and "User unknown" in text
    (failed,) = post.events("delivery_failed")
    assert failed.detail["recipients"] == [PRESS] and failed.detail["kind"] == "refutation_press"
    assert failed.detail["matched_by"] == "message_id"
    # Postfix retries and bounces again: nobody is told twice; a bounce of someone else's letter tells nobody.
    post.send(dsn_for(press.as_bytes(), PRESS, "bounce-2"), msk(2026, 12, 3, 14, 31))
    foreign = press.as_bytes().replace(press["Message-ID"].encode(), b"<not-ours@elsewhere.example>")
    post.send(dsn_for(foreign, PRESS, "bounce-3"), msk(2026, 12, 3, 14, 32))
    assert len(post.letters(CONTACT, "ИНЦИДЕНТ")) == 1
    assert [e.detail["outbox_id"] for e in post.events("delivery_failed")] == [failed.detail["outbox_id"]]


# ---------------------------------------------------------------- digests and calendar invitations


def test_the_working_day_digest_and_the_personal_lists(post: Post):
    post.env.run_once(now=msk(2026, 12, 2, 9, 5))
    assert post.new() == []  # nothing open: no digest at all
    post.fixture("signal.eml", msk(2026, 12, 3, 8, 0))  # KZM-1, Petrov: published on Monday 7 December
    post.fixture("generic_cur.eml", msk(2026, 12, 3, 8, 10))  # KZM-2, Ivanova: due 04.12, overdue by the 8th
    post.fixture("appeal_59fz.eml", msk(2026, 12, 3, 8, 20))  # KZM-3, Ivanova: moved to 08.12 15:00 below
    post.fixture("request.eml", msk(2026, 12, 3, 8, 30))  # KZM-4, Petrov: due 10.12, this week on the 8th
    assert [m for _, m in post.new() if "Сводка" in m["Subject"]] == []  # before 09:00
    appeal_notice = post.one(CONTACT, "[KZM-3] Обращение")
    post.send(client_mail("thunderbird_flowed", ["#срок 08.12.2026 15:00"], sender=CONTACT,
                          subject=f"Re: {appeal_notice['Subject']}", in_reply_to=appeal_notice["Message-ID"]),
              msk(2026, 12, 3, 8, 40))
    post.fixture("draft_reply.eml", msk(2026, 12, 7, 10, 0), reply_to=post.one(OFFICIAL, "[KZM-1] Сигнал ЦУР"))
    post.fixture("approval.eml", msk(2026, 12, 7, 10, 20), reply_to=drafts(post)[0])
    post.fixture("published.eml", msk(2026, 12, 7, 11, 0), reply_to=post.letters(WEB_EDITOR, "[KZM-1]")[-1])
    post.new()

    post.env.run_once(now=msk(2026, 12, 8, 9, 5))  # Tuesday
    sent = post.new()
    digests = {tos: m for tos, m in sent if m["Subject"].startswith("Сводка на 08.12.2026")}
    assert set(digests) == {(CONTACT,), (SUPERVISOR,)}
    digest = digests[(CONTACT,)]
    assert digest["Subject"] == "Сводка на 08.12.2026: просрочено 1, сегодня 1"
    assert digest.get_content_type() == "multipart/alternative"
    text = text_of(digest)
    assert "ПРОСРОЧЕНО (1): [KZM-2] Совещание в пятницу — срок 04.12.2026 18:00 (МСК); Иванова Мария Петровна" in text
    assert "Срок сегодня (1): [KZM-3]" in text and "срок 08.12.2026 15:00 (МСК)" in text
    assert "Срок на этой неделе (1): [KZM-4] Запрос информации о вывозе ТКО — срок 10.12.2026 18:00 (МСК)" in text
    assert "Иванова Мария Петровна: 2 / 1" in text and "Петров Сергей Иванович: 1 / 0" in text
    assert "Опубликовано вчера: [KZM-1]" in text and "https://kozmo.example/news/" in text
    markup = html_of(digest)
    assert "<style" not in markup and 'style="' in markup and "<table" in markup  # Outlook drops <style>
    assert 'name="viewport"' in markup and "max-width:640px" in markup  # phones
    assert '<!--[if mso]><table role="presentation" width="640"' in markup  # Outlook ignores max-width
    for part in ("Просрочено: 1", "Срок сегодня: 1", "Срок на этой неделе: 1", "Опубликовано вчера"):
        assert part in markup
    personal = {tos: m for tos, m in sent if m["Subject"].startswith("Ваши дела на 08.12.2026")}
    assert set(personal) == {(CONTACT,), (OFFICIAL,)}  # each assignee with open cases, nobody else
    assert personal[(OFFICIAL,)]["Subject"] == "Ваши дела на 08.12.2026: 1"
    mine = text_of(personal[(CONTACT,)])
    assert "[KZM-2]" in mine and "ПРОСРОЧЕНО" in mine and "[KZM-3]" in mine and "[KZM-4]" not in mine
    assert personal[(CONTACT,)].get_body(("html",)) is not None

    post.env.run_once(now=msk(2026, 12, 8, 15, 0))
    post.env.run_once(now=msk(2026, 12, 12, 9, 5))  # Saturday
    assert [m for _, m in post.new() if "Сводка" in m["Subject"] or "Ваши дела" in m["Subject"]] == []


def test_calendar_invitations_in_msk_follow_the_deadline_and_the_close(post: Post):
    notice = open_signal(post)
    (first,) = calendars(post.letters(OFFICIAL))
    assert str(first["method"]) == "REQUEST" and first.walk("VTIMEZONE")
    event = event_of(first)
    end = event.decoded("dtend")
    assert end == msk(2026, 12, 3, 15, 42) and end.utcoffset() == timedelta(hours=3)
    assert str(event["dtend"].params["TZID"]) == "Europe/Moscow"
    assert event.decoded("dtstart") == msk(2026, 12, 3, 15, 12)
    assert int(event["sequence"]) == 0 and "mailto:petrov@kozmo.example" in str(event["attendee"])
    uid = str(event["uid"])
    (letter,) = post.letters(OFFICIAL, "Срок в календарь")
    assert "03.12.2026 15:42 (МСК)" in letter["Subject"]

    post.send(client_mail("outlook_html", ["#срок 10.12.2026 11:30"], sender=CONTACT,
                          subject=f"RE: {notice['Subject']}", in_reply_to=notice["Message-ID"]),
              msk(2026, 12, 3, 13, 0))
    moved = event_of(calendars(post.letters(OFFICIAL))[1])
    assert str(moved["uid"]) == uid and int(moved["sequence"]) == 1
    assert moved.decoded("dtend").astimezone(MSK) == msk(2026, 12, 10, 11, 30)

    post.send(client_mail("gmail_ru", ["#закрыть дан ответ"], sender=CONTACT, subject=f"RE: {notice['Subject']}",
                          in_reply_to=notice["Message-ID"]), msk(2026, 12, 3, 13, 30))
    cancel = calendars(post.letters(OFFICIAL))[2]
    assert str(cancel["method"]) == "CANCEL"
    cancelled = event_of(cancel)
    assert (str(cancelled["uid"]), int(cancelled["sequence"]), str(cancelled["status"])) == (uid, 2, "CANCELLED")
    assert len(calendars(post.letters(OFFICIAL))) == 3  # nothing more after the close


# ---------------------------------------------------------------- bad input


def test_bad_input_gets_the_exact_error_and_help(post: Post):
    notice = open_signal(post)
    post.send(client_mail("yandex_html", ["#срок 32.13.2026", "#due 10 дикабря", "#удалить дело"], sender=CONTACT,
                          subject=f"Re: {notice['Subject']}", in_reply_to=notice["Message-ID"]),
              msk(2026, 12, 3, 13, 0))
    text = text_of(post.one(CONTACT, "Обработано:"))
    formats = "Принимаются: «10.12.2026», «10.12.2026 15:00», «10 декабря»"
    assert f"> #срок 32.13.2026 ✗ ошибка: не удалось прочитать дату «32.13.2026». {formats}" in text
    assert f"> #due 10 дикабря ✗ ошибка: не удалось прочитать дату «10 дикабря». {formats}" in text
    assert "> #удалить дело ✗ неизвестная команда" in text
    assert "Справка по командам" in text and "#назначить <e-mail или фамилия>" in text
    (case,) = post.cases()
    assert case.due_at == msk(2026, 12, 3, 15, 42)

    # Petrov holds the case but may not move its deadline; the supervisor's letter is about no case of hers.
    official_notice = post.one(OFFICIAL, "Сигнал ЦУР")
    post.send(client_mail("iphone", ["#срок 10.12.2026", "#список"], sender=OFFICIAL,
                          subject=f"Re: {official_notice['Subject']}", in_reply_to=official_notice["Message-ID"]),
              msk(2026, 12, 3, 13, 10))
    text = text_of(post.one(OFFICIAL, "Обработано:"))
    assert ("> #срок 10.12.2026 ✗ отклонено: команду могут выполнять: контактное лицо, руководитель аппарата; "
            "у отправителя такой роли нет") in text
    assert "> #список ✗ отклонено: команду могут выполнять: контактное лицо, руководитель аппарата" in text
    post.send(client_mail("mailru", ["#закрыть дубль"], sender=SUPERVISOR, subject=f"Re: {notice['Subject']}"),
              msk(2026, 12, 3, 13, 20))
    text = text_of(post.one(SUPERVISOR, "Обработано:"))
    assert "> #закрыть дубль ✗ отклонено: команда меняет дело, поэтому принимается только в ответе на письмо" in text
    assert [e.detail["command"] for e in post.events("command_refused")] == ["due", "list", "close"]
    (case,) = post.cases()
    assert (case.state, case.due_at) == ("assigned", msk(2026, 12, 3, 15, 42))
    assert post.letters(CONTACT, "возможна подделка") == []  # only refused approvals are reported


def calendar_response(invite: EmailMessage, client: str) -> bytes:
    """The attendee's «Принято» as Outlook (alternative, no text) or Thunderbird (text + REPLY + .ics) sends it."""
    event = event_of(calendars([invite])[0])
    reply = (f"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nPRODID:-//{client}//RU\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n"
             f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{OFFICIAL}\r\nUID:{event['uid']}\r\nSEQUENCE:0\r\n"
             f"DTSTAMP:20261203T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    subject = f"Принято: {event['summary']}"
    if client == "outlook":
        parts = [("text/plain; charset=utf-8", ""), ("text/calendar; charset=utf-8; method=REPLY", reply)]
        kind = "alternative"
    else:
        parts = [("text/plain; charset=utf-8", "Петров Сергей Иванович принял ваше приглашение."),
                 ("text/calendar; charset=utf-8; method=REPLY", reply),
                 ('application/ics; name="invite.ics"\r\nContent-Disposition: attachment; filename="invite.ics"',
                  reply)]
        kind = "mixed"
    body = "".join(f"--c\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n"
                   for ctype, text in parts)
    return (f"From: {OFFICIAL}\r\nTo: adm@kozmo.example\r\nSubject: {Header(subject, 'utf-8').encode()}\r\n"
            f"Message-ID: <accept-{client}@kozmo.example>\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/{kind}; boundary="c"\r\n\r\n{body}--c--\r\n').encode()


def test_accepting_the_invitation_is_stored_but_is_no_draft_and_gets_no_answer(post: Post):
    open_signal(post)
    (invite,) = post.letters(OFFICIAL, "Срок в календарь")
    post.new()
    for client in ("outlook", "thunderbird"):
        post.send(calendar_response(invite, client), msk(2026, 12, 3, 13, 0))
    assert post.new() == []  # nothing to the ЦУР as a draft, no «пустой ответ» to Petrov
    (case,) = post.cases()
    assert case.state == "assigned"
    with post.env.reader().sessions() as session:
        accepts = list(session.scalars(select(StoredMessage).where(StoredMessage.subject.like("Принято:%"))))
    assert [(m.kind, m.case_id) for m in accepts] == [("auto_reply", 1), ("auto_reply", 1)]


def test_an_exim_bounce_without_our_headers_is_matched_to_the_prpress_letter_by_recipient(post: Post):
    draft = draft_at_cur(post)
    post.fixture("approval.eml", msk(2026, 12, 3, 14, 20), reply_to=draft)
    post.send(exim_bounce(PRESS, "exim-e2e"), msk(2026, 12, 3, 14, 40))
    alert = post.one(CONTACT, "ИНЦИДЕНТ: комментарий не доставлен в пресс-службу")
    assert "нет Message-ID исходного письма" in text_of(alert)
    (failed,) = post.events("delivery_failed")
    assert (failed.detail["kind"], failed.detail["matched_by"]) == ("refutation_press", "recipient")


def test_two_staff_auto_responders_relaying_through_a_closed_case_stop_at_the_daily_limit(post: Post):
    """Mail on a closed case is relayed to its assignee, the assignee's to the contact official: two disguised
    responders (Petrov's and Ivanova's) would pass the relay back and forth for ever without the limit."""
    notice = open_signal(post)
    post.send(client_mail("thunderbird_flowed", ["#закрыть дубль"], sender=CONTACT,
                          subject=f"Re: {notice['Subject']}", in_reply_to=notice["Message-ID"]),
              msk(2026, 12, 3, 13, 0))
    post.new()
    post.send(client_mail("gmail_ru", ["Дополнение по делу: воду дали."], sender=CUR,
                          subject=f"Re: {notice['Subject']}"), msk(2026, 12, 3, 13, 5))
    staff = (CONTACT, OFFICIAL)
    answer_until_quiet(post, staff, msk(2026, 12, 3, 13, 10), "disguised", 80, "the relay does not stop")
    limit = post.env.settings.security.auto_mail_per_address_per_day
    relayed = {who: post.letters(who, "по закрытому делу") for who in staff}
    # Ivanova's address reaches the limit first (her command answer counted too): the relay to her stops,
    # so her responder falls silent and the ping-pong ends; the supervisor hears of it once.
    assert len(relayed[CONTACT]) == limit - 1 and len(relayed[OFFICIAL]) <= limit
    (told,) = post.letters(subject="Автоответы на адрес")
    assert told["To"] == SUPERVISOR and CONTACT in told["Subject"]
    (case,) = [c for c in post.cases() if c.id == 1]
    assert case.state == "closed"


@pytest.mark.parametrize(("fixture", "cur"), [("request.eml", "petrova@cur12.example.org"), ("generic_cur.eml", CUR),
                                              ("appeal_59fz.eml", CUR), ("signal.eml", CUR)],
                         ids=["request", "generic", "appeal", "refutation"])
def test_disguised_responders_on_every_address_settle_for_every_case_kind(post: Post, fixture: str, cur: str):
    """The ЦУР and every staff member answer every letter with a human-looking «RE:»: the mail stays bounded."""
    post.fixture(fixture, msk(2026, 12, 3, 12, 0))
    people = (CONTACT, OFFICIAL, SUPERVISOR, WEB_EDITOR, cur)
    answer_until_quiet(post, people, msk(2026, 12, 3, 12, 10), "disguised", 40, "the mail does not settle")
    limit = post.env.settings.security.auto_mail_per_address_per_day
    for person in people:
        assert len(post.letters(person)) <= 2 * limit, person
