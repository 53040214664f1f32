"""п. 9: a change of the contact officials makes exactly one written notice to the ЦУР; no change makes none."""

from __future__ import annotations

import copy
import email
from collections.abc import Callable
from datetime import datetime
from email import policy

from sqlalchemy import select
from sqlalchemy.orm import undefer

from daemon.app import App
from daemon.clock import Clock
from daemon.config import load_settings
from daemon.db.models import KeyValue, OutboxMessage
from daemon.reports import contacts
from tests.reports.seed import msk
from tests.support.settings import STAFF, config_data, to_toml


def notices(app: App) -> list[OutboxMessage]:
    with app.sessions() as session:
        return list(session.scalars(select(OutboxMessage).options(undefer(OutboxMessage.raw))
                                    .where(OutboxMessage.kind == contacts.TEMPLATE).order_by(OutboxMessage.id)))


def body(row: OutboxMessage) -> str:
    return email.message_from_bytes(row.raw, policy=policy.default).get_body(("plain",)).get_content()


def staff_with(**changes: str) -> list[dict]:
    staff = copy.deepcopy(STAFF)
    staff[0].update(changes)  # the contact official
    return staff


def test_a_change_makes_one_notice_and_a_restart_without_change_none(make_app: Callable[..., App]) -> None:
    first = make_app()
    assert contacts.check_contacts(first).first  # nothing to compare with yet: recorded, no notice
    assert contacts.check_contacts(make_app()) == contacts.ContactCheck(changed=False, first=False)
    assert notices(first) == []

    changed = make_app(staff=staff_with(phone="+7 83632 7-77-77", position="Заместитель главы"))
    changed.clock = Clock(fixed=msk(2026, 12, 3, 10, 15))
    result = contacts.check_contacts(changed)
    assert result.changed and result.notified_to == ("cur@example.org",)
    for _ in range(2):  # restarts and reloads with the same configuration
        assert not contacts.check_contacts(make_app(staff=staff_with(phone="+7 83632 7-77-77",
                                                                     position="Заместитель главы"))).changed
    (notice,) = notices(first)
    assert notice.recipients == ["cur@example.org"]
    text = body(notice)
    assert "Иванова Мария Петровна, Заместитель главы" in text
    assert "телефон «+7 83632 0-00-00» → «+7 83632 7-77-77»" in text
    assert "должность «Главный специалист» → «Заместитель главы»" in text
    with first.sessions() as session:
        recorded = session.get(KeyValue, (contacts.KEY, "default")).value
    assert datetime.fromisoformat(recorded["notified_at"]) == msk(2026, 12, 3, 10, 15)
    assert recorded["officials"][0]["phone"] == "+7 83632 7-77-77"


def test_a_new_contact_official_and_a_removed_one(make_app: Callable[..., App]) -> None:
    contacts.check_contacts(make_app())
    staff = copy.deepcopy(STAFF)
    staff[0]["roles"] = ["responsible"]  # Иванова is no longer the contact official
    staff[2]["roles"] = ["supervisor", "contact"]  # Сидорова is
    app = make_app(staff=staff)
    result = contacts.check_contacts(app)
    assert result.changes == (
        "назначено: Сидорова Анна Викторовна, Руководитель аппарата, sidorova@kozmo.example",
        "исключено: Иванова Мария Петровна, Главный специалист, ivanova@kozmo.example, +7 83632 0-00-00",
    )
    (notice,) = notices(app)
    assert "1. Сидорова Анна Викторовна" in body(notice)


def test_notify_resends_by_hand(make_app: Callable[..., App]) -> None:
    app = make_app()
    contacts.check_contacts(app)
    app.clock = Clock(fixed=msk(2026, 12, 4, 9, 0))
    assert contacts.notify(app).notified_to == ("cur@example.org",)
    app.clock = Clock(fixed=msk(2026, 12, 4, 9, 5))
    contacts.notify(app)
    assert len(notices(app)) == 2
    assert not contacts.check_contacts(app).changed


def write_config(env, staff: list[dict]) -> None:
    """The installation's config file with another [[staff]] list (env.configure merges tables only)."""
    data = config_data(env.tmp_path, imap_port=env.account.server.port, imap_user=env.account.user,
                       imap_password=env.account.password, smtp_port=env.smtp.port, db_url=env.db_url)
    data["staff"] = staff
    env.config_path.write_text(to_toml(data), encoding="utf-8")
    env.settings = load_settings(env.config_path)


def notices_at_the_cur(env) -> list[email.message.EmailMessage]:
    letters = [email.message_from_bytes(m.raw, policy=policy.default) for m in env.smtp.messages
               if "cur@example.org" in m.rcpt_tos]
    return [m for m in letters if "контактных должностных лицах" in str(m["Subject"])]


def test_the_daemon_mails_one_notice_per_change_at_start_up_and_on_reload(env) -> None:
    from daemon.runner import Runner

    env.run_once(msk(2026, 12, 3, 10, 0))  # the first start records the officials
    env.run_once(msk(2026, 12, 3, 10, 5))
    assert notices_at_the_cur(env) == []

    write_config(env, staff_with(email="ivanova.m@kozmo.example"))  # a new e-mail, then a start-up
    env.run_once(msk(2026, 12, 3, 11, 0))
    env.run_once(msk(2026, 12, 3, 11, 5))
    (notice,) = notices_at_the_cur(env)
    text = " ".join(notice.get_body(("plain",)).get_content().split())
    assert "эл. почта «ivanova@kozmo.example» → «ivanova.m@kozmo.example»" in text
    assert "Сведения действуют с 03.12.2026 11:00 (МСК)" in text

    # A running daemon is reloaded (SIGHUP) with another phone: one more notice, sent by the next run.
    runner = Runner(env.app(msk(2026, 12, 3, 12, 0)))
    write_config(env, staff_with(email="ivanova.m@kozmo.example", phone="+7 83632 5-55-55"))
    runner.request_reload()
    runner._reload()  # what run_forever does when the flag is set (private: the loop itself never returns)
    assert len(notices(runner.app)) == 2  # enqueued by the reload itself, before any periodic job ran
    runner.run_once()
    env.run_once(msk(2026, 12, 3, 12, 30))
    _, second = notices_at_the_cur(env)  # exactly two: one per change
    assert "телефон «+7 83632 0-00-00» → «+7 83632 5-55-55»" in " ".join(
        second.get_body(("plain",)).get_content().split())


def test_a_change_without_a_cur_address_is_reported_once_one_is_configured(make_app: Callable[..., App]) -> None:
    contacts.check_contacts(make_app())
    changed = staff_with(phone="+7 83632 9-99-99")
    nowhere = make_app(staff=changed, cur={"addresses": []})
    for _ in range(2):
        result = contacts.check_contacts(nowhere)
        assert result.changed and result.notified_to == ()
    assert notices(nowhere) == []
    configured = make_app(staff=changed)
    assert contacts.check_contacts(configured).notified_to == ("cur@example.org",)
    assert not contacts.check_contacts(configured).changed
    assert len(notices(configured)) == 1
