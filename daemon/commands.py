"""Run the commands of one staff mail («#статус», «#срок …», «#согласовано» …) and answer «Обработано: <тема>».

Each command is authorised (daemon.auth: role, and for anything that changes a case a reply to a
letter curmail sent to that person about that case), run in its own savepoint so that a failing
command leaves no half-change, and echoed in the one reply with its result or the exact error.
Refusals are recorded in the case history; a refused approval is also reported to the contact
official, since it may be a spoofing attempt. Mail we must never answer (loop rules) runs nothing,
and a sender who is neither staff nor the ЦУР gets no answer (it would be backscatter to a forged From).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from daemon import absence, auth
from daemon.app import App
from daemon.calendar import calendar_for
from daemon.cases import CaseKind, record_event
from daemon.compose import OutgoingAttachment
from daemon.db.models import Case, CaseEvent, StoredMessage
from daemon.dispatch import reassign_case
from daemon.errors import NotAuthorised, WorkflowError
from daemon.notices import contact_addresses
from daemon.workflow import deadlines, machine, refutation, routing
from daemon.workflow.machine import Inbound, send, state_ru
from daemon.workflow.states import CLOSED_STATES, State
from parsers import Classification, ParsedMessage, parse_message
from parsers.commands import (
    ACCEPTED_DATE_FORMATS,
    Command,
    format_help,
    parse_commands,
    parse_staff_date,
    suggest_command,
)
from parsers.threadkeys import normalize_subject

log = logging.getLogger("curmail.commands")

RESULT_TEMPLATE = "command_result"
HISTORY_LINES = 12
NOTE_IN_HISTORY = 300  # characters of a note in a history line; the assignee's letter has it whole
NOTE_LIMIT = 10_000
MAX_ABSENCE = timedelta(days=180)
MAX_HANDOVER = 100  # open cases handed over by one «#отсутствую»; the reply names them
LIST_LIMIT = 60
FULL_CASE_FILES = 5
FULL_CASE_BYTES = 10 * 1024 * 1024
_CASE_NUMBER = re.compile(r"(?:^|[\s\[#-])(\d{1,9})\b")
_URL = re.compile(r"https?://[^\s<>«»\"']+", re.IGNORECASE)

KIND_RU = {
    CaseKind.REFUTATION: "опровержение (сигнал ЦУР)", CaseKind.REQUEST: "запрос ЦУР",
    CaseKind.APPEAL: "обращение гражданина", CaseKind.GENERIC: "прочее", CaseKind.REPORT: "отчётность",
}
ACTION_RU = {
    "opened": "дело открыто", "message_attached": "получено письмо", "deadline_set": "установлен срок",
    "deadline_extended": "срок продлён", "command_refused": "команда отклонена",
    "approval_refused": "согласование не принято", "topic_set": "задана тема",
    "delivery_failed": "письмо не доставлено", "delivery_delayed": "доставка письма задерживается",
    "proposal_received": "предложение ЦУР", "draft_deadline_met": "проект получен",
    "applicant_notice_required": "нужно уведомить заявителя", "reminder_sent": "напоминание",
    "calendar_invite": "приглашение в календарь", "calendar_cancel": "отмена в календаре",
    "ack_suppressed": "подтверждение не отправлено (лимит)", "command_ignored": "команда от автоответчика пропущена",
    "answer_refused": "ответ не принят", "answered": "дан ответ", "draft_refused": "проект не принят",
    "draft_repeated": "проект прислан повторно", "empty_reply": "пустой ответ",
    "follows_closed_case": "продолжение закрытого дела", "followup_opened": "по письму открыто новое дело",
    "illegal_transition": "недопустимое действие", "mail_after_close": "письмо после закрытия",
    "no_web_editor": "веб-редактор не назначен", "publication_not_recorded": "публикация не отмечена",
    "remarks_refused": "замечания не приняты", "reminders_stopped": "напоминания остановлены",
    "report_generated": "отчёт сформирован", "report_regenerated": "отчёт пересчитан",
    "report_send_refused": "отправка отчёта отклонена", "tag_refused": "метка дела в теме не принята",
    "approval_repeated": "повторное согласование", "reminder_skipped": "напоминание пропущено",
    "escalation_sent": "эскалация руководителю", "escalation_skipped": "эскалация пропущена",
    "report_reminder_sent": "напоминание об отчёте", "report_reminder_skipped": "напоминание об отчёте пропущено",
    "report_escalation_sent": "эскалация по отчёту", "report_escalation_skipped": "эскалация по отчёту пропущена",
    "outbox_failed": "письмо не отправлено", "outbox_uncertain": "отправка письма не подтверждена",
    "outbox_confirmed": "отправка письма подтверждена", "outbox_resend": "письмо отправлено повторно",
    "note": "заметка", "assignee_out_of_office": "автоответ исполнителя: отсутствует",
}


class Refused(NotAuthorised):
    """The sender may not run this command here; the text says why (in Russian)."""


@dataclass(frozen=True, slots=True)
class NotDone:
    """A handler's answer when the command was taken but had no effect: echoed with ✗, its records kept.

    A refused approval is recorded and reported by the workflow; rolling that back like an error would
    hide a possible spoofing attempt.
    """

    text: str


@dataclass(frozen=True, slots=True)
class LineResult:
    """One command line and what came of it."""

    line: str
    ok: bool
    text: str


@dataclass
class _Run:
    """One command mail being executed."""

    session: Session
    app: App
    row: StoredMessage
    pm: ParsedMessage
    classification: Classification
    case: Case | None
    sender: str
    roles: frozenset[str]
    proof: auth.ReplyProof

    @property
    def now(self) -> datetime:
        return self.app.clock()

    @property
    def tag_prefix(self) -> str:
        return self.app.settings.organization.case_tag

    def tag(self, case: Case) -> str:
        return f"[{self.tag_prefix}-{case.id}]"

    def msk(self, moment: datetime | None) -> str:
        return calendar_for(self.app.settings).format_msk(moment) if moment else "не установлен"


# ---------------------------------------------------------------- entry point


def execute(
    session: Session,
    app: App,
    row: StoredMessage,
    pm: ParsedMessage,
    classification: Classification,
    case: Case | None,
) -> Case | None:
    """Run the commands of a `command` mail (threaded into `case`, or none) and enqueue the one reply."""
    sender = (pm.from_addr or "").lower()
    if classification.no_auto_reply:
        # A vacation reply or a list copy quoting «#закрыть» must neither act nor be answered.
        if case is not None:
            record_event(session, case, action="command_ignored", at=app.clock(), actor=sender or "unknown",
                         message=row, detail={"reasons": list(classification.no_auto_reply_reasons)})
        log.info("command mail from machine ignored", extra={"sender": sender})
        return case
    run = _Run(session, app, row, pm, classification, case, sender, auth.roles_of(app.settings, sender),
               auth.reply_proof(session, app.settings, pm))
    parsed = parse_commands(pm.new_text or pm.text, pm.subject)
    results = [_one(run, command) for command in parsed.commands]
    results += [LineResult(line, False, _unknown(line)) for line in parsed.unknown]
    show_help = not parsed.commands or bool(parsed.unknown)
    _reply(run, results, show_help=show_help)
    return run.case


def _unknown(line: str) -> str:
    guess = suggest_command(line)
    return f"неизвестная команда; возможно, имелась в виду {guess}" if guess else "неизвестная команда"


def _one(run: _Run, command: Command) -> LineResult:
    handler = HANDLERS[command.name]
    savepoint = run.session.begin_nested()
    try:
        if not run.roles:
            raise Refused("адрес отправителя не числится среди сотрудников администрации и адресов ЦУР")
        outcome = handler(run, command)
        savepoint.commit()
        if isinstance(outcome, NotDone):
            return LineResult(command.line, False, outcome.text)
        return LineResult(command.line, True, outcome)
    except Refused as exc:
        savepoint.rollback()
        _record_refusal(run, command, str(exc))
        return LineResult(command.line, False, f"отклонено: {exc}")
    except WorkflowError as exc:  # IllegalTransition and the deadline rules speak Russian already
        savepoint.rollback()
        return LineResult(command.line, False, f"ошибка: {exc}")
    except Exception:  # a bug in one command must not cost the others their answer
        savepoint.rollback()
        log.exception("command failed", extra={"command": command.name, "sender": run.sender})
        return LineResult(command.line, False,
                          "внутренняя ошибка, команда не выполнена; сообщите администратору curmail")


def _record_refusal(run: _Run, command: Command, reason: str) -> None:
    case = run.case
    if case is not None:
        record_event(run.session, case, action="command_refused", at=run.now, actor=run.sender or "unknown",
                     message=run.row, detail={"command": command.name, "line": command.line[:500], "reason": reason})
    log.warning("command refused", extra={"sender": run.sender, "command": command.name, "reason": reason})
    if command.name in ("approved", "rework"):
        _alert_contact(run, command, reason)


def _alert_contact(run: _Run, command: Command, reason: str) -> None:
    """A refused approval may be a spoofing attempt: the contact official hears of it."""
    to = [a for a in contact_addresses(run.app) if a != run.sender]
    if not to:
        return
    from daemon.outbox import enqueue

    enqueue(run.session, run.app.settings, kind="command_refused_alert", to=to, case=run.case,
            context={"sender": run.sender or "(не указан)", "line": command.line, "reason": reason,
                     "original_subject": run.pm.subject, "received_at": run.row.internal_date,
                     "message_id": run.pm.message_id},
            dedupe_key=f"command_refused_alert:{run.row.id}:{command.name}", now=run.now)


def _reply(run: _Run, results: list[LineResult], *, show_help: bool) -> None:
    """The one «Обработано: <тема>» reply, in the thread of the command mail."""
    from daemon.acks import allow_auto_mail
    from daemon.outbox import enqueue

    if not run.sender:
        return
    if not run.roles:
        # Someone who is neither staff nor the ЦУР: answering would be backscatter to a possibly forged
        # From. The refusal is in the log (and in the case history when the mail threaded into one).
        log.warning("command mail from an unknown sender not answered", extra={"sender": run.sender})
        return
    if not allow_auto_mail(run.session, run.app, run.sender, what="command_result"):
        return
    enqueue(
        run.session, run.app.settings, kind=RESULT_TEMPLATE, to=[run.sender], case=run.case,
        context={"original_subject": normalize_subject(run.pm.subject, (run.tag_prefix,)) or run.pm.subject,
                 "results": results, "help": format_help() if show_help else "",
                 "nothing_understood": not results},
        in_reply_to=run.pm.message_id, references=list(run.pm.references),
        dedupe_key=f"command_result:{run.row.id}", auto_submitted="auto-replied", now=run.now,
    )


# ---------------------------------------------------------------- checks


def _need_case(run: _Run) -> Case:
    if run.case is None:
        raise WorkflowError(
            f"не понятно, о каком деле речь: ответьте на письмо по делу или укажите в теме его номер, "
            f"например [{run.tag_prefix}-42]"
        )
    return run.case


def _authorise(run: _Run, command: Command, case: Case | None) -> None:
    """Role, then (for anything that changes a case) the reply-token proof for this very case."""
    is_assignee = case is not None and bool(case.assignee) and case.assignee == run.sender
    if not run.roles:
        raise Refused("адрес отправителя не числится среди сотрудников администрации и адресов ЦУР")
    if not auth.role_allows(command.name, run.roles, is_assignee=is_assignee):
        raise Refused(f"команду могут выполнять: {auth.who_may(command.name)}; у отправителя такой роли нет")
    if command.name in auth.READ_ONLY:
        return
    if not run.proof.ok:
        raise Refused(
            "команда меняет дело, поэтому принимается только в ответе на письмо curmail, направленное вам; "
            "новое письмо с номером дела может лишь дополнить дело"
        )
    if case is not None and not run.proof.covers(case.id):
        raise Refused("письмо отвечает на письмо curmail по другому делу; ответьте на письмо по этому делу")


def _open_case(case: Case) -> None:
    if case.state in CLOSED_STATES:
        raise WorkflowError(f"дело закрыто{f' ({case.outcome})' if case.outcome else ''}")


def _date(run: _Run, text: str) -> datetime:
    moment = parse_staff_date(text, run.now, calendar_for(run.app.settings))
    if moment is None:
        raise WorkflowError(f"не удалось прочитать дату «{text}». Принимаются: {ACCEPTED_DATE_FORMATS}")
    return moment


# ---------------------------------------------------------------- read-only commands


def _help(run: _Run, command: Command) -> str:
    _authorise_read(run, command)
    return "справка — в конце письма"


def _authorise_read(run: _Run, command: Command) -> None:
    if not run.roles:
        raise Refused("адрес отправителя не числится среди сотрудников администрации и адресов ЦУР")


def _status(run: _Run, command: Command) -> str:
    case = run.case
    number = _CASE_NUMBER.search(command.args or "")
    if number is not None:
        case = run.session.get(Case, int(number.group(1)))
        if case is None or case.tenant != run.row.tenant:
            raise WorkflowError(f"дела № {number.group(1)} нет")
    if case is None:
        case = _need_case(run)
    _authorise(run, command, case)
    if "staff" not in run.roles and not run.app.settings.is_cur_address(case.counterpart or ""):
        raise Refused("ЦУР может запрашивать состояние только дел, открытых по его письмам")
    return "\n" + describe_case(run, case)


def describe_case(run: _Run, case: Case) -> str:
    """State, deadline, assignee and the recent history of a case, as staff read it."""
    lines = [
        f"Дело {run.tag(case)}: {case.subject}",
        f"Вид: {KIND_RU.get(case.kind, case.kind)}; состояние: {state_ru(case.state)}",
        f"Срок: {run.msk(case.due_at)}{' (предполагаемый)' if case.due_assumed else ''}",
    ]
    original = (case.data or {}).get("original_due_at")
    if original:  # an extended appeal: both terms, since the 30-day limit counts from the first
        lines.append(f"Первоначальный срок: {run.msk(datetime.fromisoformat(original))}")
    lines.append(f"Исполнитель: {_person(run, case.assignee)}")
    if case.topic:
        lines.append(f"Тема: {case.topic}")
    if case.outcome:
        lines.append(f"Итог: {case.outcome}")
    events = list(run.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc()).limit(HISTORY_LINES)
    ))
    if events:
        lines.append("История (последние записи):")
        for event in reversed(events):
            lines.append(f"  {run.msk(event.at)} — {_action_ru(run, event)} ({event.actor})")
    return "\n".join(lines)


def _action_ru(run: _Run, event: CaseEvent) -> str:
    if event.action.startswith("transition:"):
        return f"{state_ru(event.from_state or '')} → {state_ru(event.to_state or '')}"
    text = ACTION_RU.get(event.action) or f"служебная запись «{event.action}»"  # staff read Russian
    detail = event.detail or {}
    if event.action in ("deadline_set", "deadline_extended") and detail.get("new_due_at"):
        text += f": {run.msk(datetime.fromisoformat(detail['new_due_at']))}"
        if event.action == "deadline_extended" and detail.get("reason"):
            # The extension's reason is what staff typed; deadline_set reasons are internal notes.
            text += f", причина: {str(detail['reason'])[:200]}"
    elif event.action == "command_refused" and detail.get("command"):
        text += f": #{detail['command']}"
    elif event.action == "note" and detail.get("text"):
        text += f": {_one_line(str(detail['text']), NOTE_IN_HISTORY)}"
    return text


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _person(run: _Run, address: str | None) -> str:
    if not address:
        return "не назначен"
    member = run.app.settings.staff_by_email(address)
    return f"{member.name} <{address}>" if member else address


def _case_lines(run: _Run, cases: list[Case], *, with_assignee: bool) -> str:
    if not cases:
        return "открытых дел нет"
    now = run.now
    lines = []
    for case in cases[:LIST_LIMIT]:
        overdue = " ПРОСРОЧЕНО" if case.due_at and case.due_at < now else ""
        who = f"; {_person(run, case.assignee)}" if with_assignee else ""
        lines.append(f"  {run.tag(case)} {case.subject[:80]} — срок {run.msk(case.due_at)}{overdue}{who}")
    if len(cases) > LIST_LIMIT:
        lines.append(f"  … и ещё {len(cases) - LIST_LIMIT}")
    return f"{len(cases)}:\n" + "\n".join(lines)


def open_cases(session: Session, tenant: str, assignee: str | None = None) -> list[Case]:
    """Open cases, the earliest deadline first (cases without one last)."""
    query = select(Case).where(Case.tenant == tenant, Case.state.not_in([s.value for s in CLOSED_STATES]))
    if assignee is not None:
        query = query.where(Case.assignee == assignee)
    cases = list(session.scalars(query))
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(cases, key=lambda c: (c.due_at or far, c.id))


def _mine(run: _Run, command: Command) -> str:
    _authorise(run, command, None)
    return "мои открытые дела: " + _case_lines(run, open_cases(run.session, run.row.tenant, run.sender),
                                                with_assignee=False)


def _list(run: _Run, command: Command) -> str:
    _authorise(run, command, None)
    text = "все открытые дела: " + _case_lines(run, open_cases(run.session, run.row.tenant), with_assignee=True)
    away = absence.all_current(run.session, run.app)
    if away:
        lines = []
        for entry in away:
            deputy = _person(run, absence.stand_in(run.session, run.app, entry.email))
            lines.append(f"  {_person(run, entry.email)} — до {run.msk(entry.until)}; замещает {deputy}")
        text += "\nотсутствуют:\n" + "\n".join(lines)
    return text


# ---------------------------------------------------------------- commands that change a case


def _assign(run: _Run, command: Command) -> str:
    case = _need_case(run)
    _authorise(run, command, case)
    _open_case(case)
    if not command.args:
        raise WorkflowError("укажите, кому передать дело: e-mail или фамилию сотрудника")
    member = routing.find_staff(run.app.settings, command.args)
    if member is None:
        raise WorkflowError(f"сотрудник «{command.args}» не найден в списке сотрудников")
    if member.email == case.assignee:
        return f"дело уже назначено: {_person(run, member.email)}"
    # The workflow re-sends the letter of the case's kind (what to do, the deadline); ours adds the history
    # and the original letters, so the new assignee has the whole case.
    reassign_case(run.session, run.app, case, member.email, actor=run.sender, message=run.row)
    send_full_case(run, case, member.email)
    away = absence.current(run.session, run.app, member.email)
    note = f" (внимание: сотрудник отсутствует до {run.msk(away.until)})" if away else ""
    return f"дело передано: {_person(run, member.email)}; новому исполнителю направлены все материалы дела{note}"


def send_full_case(run: _Run, case: Case, to: str) -> None:
    """The new assignee gets the whole case: summary, history, texts, notes and the original letters as .eml."""
    rows = list(run.session.scalars(
        select(StoredMessage).where(StoredMessage.case_id == case.id).order_by(StoredMessage.id)
    ))
    # The history shows the last lines only; colleagues' notes are what a new assignee most needs whole,
    # and a note's files travel as its mail (command mails are left out otherwise).
    note_events = list(run.session.scalars(select(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.action == "note").order_by(CaseEvent.id)))
    notes = [{"author": _person(run, e.actor), "at": e.at, "text": (e.detail or {}).get("text", "")}
             for e in note_events]
    notes_with_files = {e.message_row_id for e in note_events if (e.detail or {}).get("files")}
    files: list[OutgoingAttachment] = []
    texts: list[dict[str, Any]] = []
    budget = FULL_CASE_BYTES
    for stored in rows:
        if stored.id == run.row.id:
            continue
        if stored.kind in ("command", "bounce", "auto_reply"):
            if stored.id not in notes_with_files:
                continue
        else:
            pm = parse_message(stored.raw)
            texts.append({"sender": pm.from_addr, "subject": pm.subject, "at": stored.internal_date,
                          "text": (pm.new_text or pm.text).strip()[:6000]})
        if len(files) < FULL_CASE_FILES and stored.size <= budget:
            budget -= stored.size
            files.append(OutgoingAttachment(filename=f"письмо_{stored.id}.eml", content=stored.raw,
                                            content_type="application/octet-stream"))
    send(run.session, run.app, case, kind="case_assigned", to=[to],
         context={"summary": describe_case(run, case), "letters": texts, "assigned_by": _person(run, run.sender),
                  "due_at": case.due_at, "notes": notes},
         dedupe_key=f"case_assigned:{case.id}:{run.row.id}", attachments=files, bulk=False)


def _topic(run: _Run, command: Command) -> str:
    case = _need_case(run)
    _authorise(run, command, case)
    topic = command.args.strip()[:100]
    if not topic:
        raise WorkflowError("укажите тему после команды, например «#тема ЖКХ»")
    from daemon.reports.settings import canonical_topic, known_topics

    # The reports count topics by name: «жкх» is filed under «ЖКХ», an unknown name stays but is flagged.
    known = canonical_topic(run.app.settings, topic)
    old, case.topic = case.topic, known or topic
    record_event(run.session, case, action="topic_set", at=run.now, actor=run.sender, message=run.row,
                 detail={"old": old, "new": case.topic})
    if known is None:
        return (f"тема дела: {topic} (такой темы нет в справочнике, в отчётах она будет отдельной строкой; "
                f"темы справочника: {', '.join(known_topics(run.app.settings))})")
    return f"тема дела: {known}"


def _due(run: _Run, command: Command) -> str:
    case = _need_case(run)
    _authorise(run, command, case)
    _open_case(case)
    if not command.args:
        raise WorkflowError(f"укажите дату. Принимаются: {ACCEPTED_DATE_FORMATS}")
    moment = _date(run, command.args)
    if moment <= run.now:
        raise WorkflowError(f"срок {run.msk(moment)} уже прошёл")
    if case.kind == CaseKind.APPEAL and case.due_at is not None and moment > case.due_at:
        raise WorkflowError("срок обращения переносится только продлением с причиной: #продлить <дата> <причина>")
    deadlines.set_due(run.session, run.app, case, moment, assumed=False,
                      reason=f"команда #срок от {run.sender}", actor=run.sender, message=run.row)
    return f"срок установлен: {run.msk(case.due_at)}"


def _extend(run: _Run, command: Command) -> str:
    from parsers.commands import parse_staff_date_prefix

    case = _need_case(run)
    _authorise(run, command, case)
    _open_case(case)
    moment, reason = parse_staff_date_prefix(command.args, run.now, calendar_for(run.app.settings))
    if moment is None:
        raise WorkflowError(f"не удалось прочитать дату в «{command.args}». Принимаются: {ACCEPTED_DATE_FORMATS}")
    deadlines.extend(run.session, run.app, case, moment, reason=reason, actor=run.sender)
    return f"срок продлён до {run.msk(case.due_at)}; причина: {reason}. Не забудьте уведомить заявителя"


def _away(run: _Run, command: Command) -> str:
    """«#отсутствую <до даты> [заместитель]»: new cases go to the stand-in until then, open ones are handed over."""
    _authorise(run, command, None)
    return _record_absence(run, run.sender, command.args, example="#отсутствую 25.12.2026 Сидорова")


def _absent(run: _Run, command: Command) -> str:
    """«#отсутствует <кто> <до даты> [заместитель]»: a manager records the absence of a member who cannot.

    Znuny lets an administrator set an agent's out-of-office; here the contact official or the
    supervisor does it by mail, typically in answer to the assignee's out-of-office notice.
    """
    _authorise(run, command, None)
    who, _, rest = (command.args or "").strip().partition(" ")
    member = routing.find_staff(run.app.settings, who) if who else None
    if member is None:
        raise WorkflowError(f"сотрудник «{who}» не найден в списке сотрудников" if who else
                            "укажите сотрудника и дату: «#отсутствует Петров до 25.12.2026»")
    if member.email == run.sender:
        return _record_absence(run, run.sender, rest, example="#отсутствую 25.12.2026 Сидорова")
    return _record_absence(run, member.email, rest, example=f"#отсутствует {who} до 25.12.2026", of_other=True)


def _record_absence(run: _Run, member: str, args: str, *, example: str, of_other: bool = False) -> str:
    from parsers.commands import parse_staff_date_prefix

    until, rest = parse_staff_date_prefix(args, run.now, calendar_for(run.app.settings))
    if until is None:
        raise WorkflowError(f"укажите, до какого дня {'длится отсутствие' if of_other else 'вы отсутствуете'}: "
                            f"«{example}». Даты: {ACCEPTED_DATE_FORMATS}")
    if until <= run.now:
        raise WorkflowError(f"дата {run.msk(until)} уже прошла")
    if until > run.now + MAX_ABSENCE:
        raise WorkflowError(f"отсутствие дольше {MAX_ABSENCE.days} дней оформляется сменой исполнителей в настройках")
    deputy = None
    if rest:
        found = routing.find_staff(run.app.settings, rest)
        if found is None:
            raise WorkflowError(f"заместитель «{rest}» не найден в списке сотрудников")
        if found.email == member:
            raise WorkflowError("заместителем нельзя назначить самого отсутствующего" if of_other else
                                "заместителем нельзя назначить себя")
        deputy = found.email
    absence.set_absence(run.session, run.app, member, until, deputy, set_by=run.sender)
    whose = f"открытые дела {_person(run, member)}" if of_other else "ваши открытые дела"
    stand_in = absence.stand_in(run.session, run.app, member)
    if stand_in == member:
        return (f"отсутствие до {run.msk(until)} записано, но заменить некому: все, кто мог бы, тоже "
                f"отсутствуют. {whose.capitalize()} остаются, где были")
    named = "" if deputy in (None, stand_in) else f" ({_person(run, deputy)} тоже отсутствует)"
    handed, kept = [], []
    for case in open_cases(run.session, run.row.tenant, member)[:MAX_HANDOVER]:
        savepoint = run.session.begin_nested()
        try:
            reassign_case(run.session, run.app, case, stand_in, actor=run.sender, message=run.row)
            send_full_case(run, case, stand_in)
            savepoint.commit()
            handed.append(run.tag(case))
        except WorkflowError:  # a state that allows no reassignment: it stays, and the reply says so
            savepoint.rollback()
            kept.append(run.tag(case))
    who = f"{_person(run, member)} отсутствует" if of_other else "отсутствие"
    lines = [f"{who} до {run.msk(until)}; новые дела на это время назначаются: {_person(run, stand_in)}{named}"]
    lines.append(f"{whose} переданы: {', '.join(handed)}" if handed else "открытых дел нет")
    if kept:
        lines.append(f"не переданы (их состояние не допускает передачи): {', '.join(kept)}")
    lines.append("после возвращения дела сами не вернутся: " + (
        "их передают обратно командой #назначить" if of_other else "попросите передать их командой #назначить"))
    return "\n".join(lines)


def _back(run: _Run, command: Command) -> str:
    """«#на месте [кто]»: an absence ends early; a manager may end another member's."""
    _authorise(run, command, None)
    member = run.sender
    if command.args:
        found = routing.find_staff(run.app.settings, command.args)
        if found is None:
            raise WorkflowError(f"сотрудник «{command.args}» не найден в списке сотрудников")
        if found.email != run.sender and not (run.roles & auth.MANAGERS):
            raise Refused(f"отменить отсутствие другого сотрудника могут: {auth.who_may('absent')}")
        member = found.email
    was = absence.clear(run.session, run.app, member)
    whom = "вам" if member == run.sender else _person(run, member)
    if was is None:
        return f"отсутствие не было записано; новые дела назначаются {whom}, как обычно"
    return f"отсутствие отменено; новые дела снова назначаются {whom}"


def _inbound(run: _Run, new_text: str | None = None) -> Inbound:
    # The workflow must not answer the sender itself: this mail gets exactly one reply, ours.
    pm = run.pm if new_text is None else dataclasses.replace(run.pm, new_text=new_text)
    return Inbound(row=run.row, pm=pm, classification=dataclasses.replace(run.classification, no_auto_reply=True))


def _cur_checks(run: _Run, command: Command, case: Case) -> None:
    _authorise(run, command, case)
    verdict = auth.cur_sender_verdict(run.app.settings, run.pm, run.row.raw)
    if not verdict.ok:
        raise Refused(verdict.reason)
    if case.kind != CaseKind.REFUTATION:
        raise WorkflowError("согласование и доработка применяются только к опровержениям")


def _approved(run: _Run, command: Command) -> str | NotDone:
    case = _need_case(run)
    _cur_checks(run, command, case)
    before = _last_event_id(run, case)
    refutation.take_approval(run.session, run.app, case, _inbound(run))
    if _events_since(run, case, before, "approval_repeated"):
        return "текст уже был согласован и направлен в пресс-службу; повторно не отправлялся"
    if case.state == State.SENT_TO_PRESS:
        refused = _events_since(run, case, before, "approval_refused")
        if not refused:
            return "текст согласован и направлен в пресс-службу и веб-редактору"
    refused = _events_since(run, case, before, "approval_refused")
    if refused:
        code = (refused[-1].detail or {}).get("reason", "")
        # take_approval recorded the attempt and told the contact official; our reply gives the reason.
        return NotDone(f"не принято: {refutation.REFUSAL_TEXT.get(code, code)}")
    return f"дело {state_ru(case.state)}; повторное согласование не требуется"


def _last_event_id(run: _Run, case: Case) -> int:
    run.session.flush()
    last = run.session.scalars(select(CaseEvent.id).where(CaseEvent.case_id == case.id)
                               .order_by(CaseEvent.id.desc()).limit(1)).first()
    return last or 0


def _events_since(run: _Run, case: Case, after: int, action: str) -> list[CaseEvent]:
    run.session.flush()
    return list(run.session.scalars(select(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.id > after, CaseEvent.action == action).order_by(CaseEvent.id)))


def _rework(run: _Run, command: Command) -> str:
    case = _need_case(run)
    _cur_checks(run, command, case)
    remarks = "\n".join(part for part in (command.args, _rest_after(run)) if part).strip()
    if not remarks:
        raise WorkflowError("укажите замечания после команды: «#на доработку <замечания>»")
    if case.state != State.AWAITING_APPROVAL:
        raise WorkflowError(f"дело {state_ru(case.state)}: проекта на согласовании нет")
    refutation.take_remarks(run.session, run.app, case, _inbound(run, remarks))
    return "проект возвращён исполнителю с замечаниями"


def _rest_after(run: _Run) -> str:
    return parse_commands(run.pm.new_text or run.pm.text, run.pm.subject).rest


def _published(run: _Run, command: Command) -> str:
    case = _need_case(run)
    _authorise(run, command, case)
    urls = _URL.findall(command.args)
    if not urls:
        raise WorkflowError("укажите адрес страницы: «#опубликовано https://…»")
    if case.kind != CaseKind.REFUTATION:
        raise WorkflowError("отметка о публикации применяется только к опровержениям")
    refutation.mark_published(run.session, run.app, case, urls[0].rstrip(".,;)"), actor=run.sender,
                              message=run.row)
    return f"публикация отмечена, дело закрыто: {urls[0]}"


def _close(run: _Run, command: Command) -> str:
    case = _need_case(run)
    _authorise(run, command, case)
    outcome = command.args.strip()
    if not outcome:
        raise WorkflowError("укажите итог после команды: «#закрыть <итог>»")
    machine.close(run.session, run.app, case, outcome[:2000], actor=run.sender, message=run.row)
    return f"дело закрыто; итог: {outcome}"


def _reopen(run: _Run, command: Command) -> str:
    case = _need_case(run)
    _authorise(run, command, case)
    machine.reopen(run.session, run.app, case, actor=run.sender, message=run.row)
    if case.due_at is not None and case.due_at <= run.now:
        return "дело открыто снова; срок прошёл — установите новый командой #срок <дата>"
    return f"дело открыто снова; срок {run.msk(case.due_at)}"


def _note(run: _Run, command: Command) -> str:
    """RT's comment, Zammad's internal note: words for colleagues that never leave the administration.

    The text is the command's argument plus the lines under it. It is recorded in the case history
    (and so reaches a new assignee with the whole case); the assignee gets it by mail, with its files,
    unless the assignee wrote it. Nothing goes to the ЦУР or the applicant, and it is never taken as
    the answer of a request or an appeal, which a plain reply to a curmail letter would be.
    """
    case = _need_case(run)
    _authorise(run, command, case)
    text = machine.substantive("\n".join(part for part in (command.args, _rest_after(run)) if part))[:NOTE_LIMIT]
    if not text:
        raise WorkflowError("напишите текст заметки после команды: «#заметка <текст>»")
    files = machine.attachments_of(run.pm)
    record_event(run.session, case, action="note", at=run.now, actor=run.sender, message=run.row,
                 detail={"text": text, "files": [f.filename for f in files]})
    if not case.assignee or case.assignee == run.sender:
        return "заметка записана в историю дела"
    send(run.session, run.app, case, kind="case_note", to=[case.assignee],
         context={"author": _person(run, run.sender), "author_name": machine.staff_name(run.app.settings, run.sender),
                  "text": text, "files": [f.filename for f in files],
                  "state": state_ru(case.state), "due_at": case.due_at, "kind": KIND_RU.get(case.kind, case.kind)},
         dedupe_key=f"case_note:{case.id}:{run.row.id}", attachments=files, bulk=False)
    return f"заметка записана в историю дела и направлена исполнителю: {_person(run, case.assignee)}"


def _reports(run: _Run, command: Command) -> str:
    """`#отчёт` and `#отправить` belong to the reports feature: call it when it is installed."""
    _authorise(run, command, run.case if command.name == "send" else None)
    try:
        reports = importlib.import_module("daemon.reports")
    except ImportError:
        raise WorkflowError("команда пока недоступна: модуль отчётов ещё не установлен") from None
    handler = getattr(reports, "run_command", None)
    if handler is None:
        raise WorkflowError("команда пока недоступна: модуль отчётов пока не принимает команды по почте")
    return str(handler(run.session, run.app, name=command.name, args=command.args, sender=run.sender,
                       case=run.case, now=run.now))


HANDLERS: dict[str, Callable[[_Run, Command], str | NotDone]] = {
    "help": _help,
    "status": _status,
    "mine": _mine,
    "list": _list,
    "assign": _assign,
    "topic": _topic,
    "due": _due,
    "extend": _extend,
    "approved": _approved,
    "rework": _rework,
    "published": _published,
    "close": _close,
    "reopen": _reopen,
    "note": _note,
    "away": _away,
    "absent": _absent,
    "back": _back,
    "report": _reports,
    "send": _reports,
}

__all__ = ["HANDLERS", "LineResult", "NotDone", "Refused", "describe_case", "execute", "open_cases"]
