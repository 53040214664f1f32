"""Templates: every built-in one renders in Russian with MSK times; data stays text; the sandbox holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.errors import RenderError
from daemon.render import Renderer
from daemon.resources import config_dir, templates_dir

ORG = {"name": "Администрация «Город Козьмодемьянск»", "address": "adm@kozmo.example", "short_name": "Козьмодемьянск"}
RECEIVED = datetime(2026, 12, 3, 9, 5, tzinfo=UTC)  # 12:05 MSK

CONTEXTS = {
    "oversized_parked": {"sender": "citizen@example.org", "original_subject": "Фото ям", "received_at": RECEIVED,
                         "size_bytes": 52_428_800, "limit_bytes": 36_700_160, "stored_id": 17},
    "parked_alert": {"sender": "cur@example.org", "original_subject": "Сигнал", "received_at": RECEIVED,
                     "stored_id": 18, "reason": "ошибка разбора MIME", "attempts": 3},
    "send_failed": {"outbox_id": 5, "recipient": "prpress@gov.mari.ru", "original_subject": "[KZM-4] Комментарий",
                    "created_at": RECEIVED, "attempts": 1, "expired": False, "error": "550 5.1.1 no such user"},
    "send_uncertain": {"outbox_id": 6, "recipient": "prpress@gov.mari.ru", "original_subject": "[KZM-4] Комментарий",
                       "attempted_at": RECEIVED, "message_id": "<curmail.a.b@kozmo.example>",
                       "error": "timeout во время передачи письма (DATA)"},
}


def test_resources_are_found_in_the_source_checkout():
    assert (templates_dir() / "send_failed.j2").is_file()
    assert config_dir().name == "config"


@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_each_built_in_template_renders_with_msk_times(kind):
    mail = Renderer().render(kind, {"organization": ORG, **CONTEXTS[kind]})
    assert mail.subject and "\n" not in mail.subject
    assert "Здравствуйте!" in mail.text
    assert "adm@kozmo.example" in mail.text
    assert "{{" not in mail.text and "{%" not in mail.text
    if "received_at" in CONTEXTS[kind] or "created_at" in CONTEXTS[kind] or "attempted_at" in CONTEXTS[kind]:
        assert "03.12.2026 12:05 (МСК)" in mail.text


def test_uncertain_letter_names_both_commands():
    mail = Renderer().render("send_uncertain", {"organization": ORG, **CONTEXTS["send_uncertain"]})
    assert "curmail outbox confirm 6" in mail.text
    assert "curmail outbox resend 6" in mail.text


def test_a_missing_variable_is_an_error_not_an_empty_string():
    context = {"organization": ORG, **CONTEXTS["send_failed"]}
    del context["recipient"]
    with pytest.raises(RenderError, match="recipient"):
        Renderer().render("send_failed", context)


def write(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_operator_templates_override_and_data_is_never_evaluated(tmp_path):
    write(tmp_path, "note.j2", "{% block subject %}О {{ topic }}{% endblock %}"
                               "{% block body %}Текст: {{ text }}\nСрок: {{ due | deadline }}{% endblock %}"
                               "{% block html %}<p>{{ text }}</p>{% block inner %}<b>{{ topic }}</b>{% endblock %}"
                               "{% endblock %}")
    mail = Renderer([tmp_path]).render("note", {
        "topic": "ямы <b>", "text": 'Цитата: {{ 7*7 }} "ок" <script>', "due": datetime(2026, 12, 3, 12, 42, tzinfo=UTC),
    })
    assert mail.subject == "О ямы <b>"
    assert 'Текст: Цитата: {{ 7*7 }} "ок" <script>' in mail.text
    assert "Срок: до 15:42 03.12.2026 (МСК)" in mail.text
    # Only the html block is escaped, nested blocks included.
    assert mail.html.strip() == "<p>Цитата: {{ 7*7 }} &#34;ок&#34; &lt;script&gt;</p><b>ямы &lt;b&gt;</b>"


def test_the_sandbox_refuses_python_internals(tmp_path):
    write(tmp_path, "evil.j2", "{% block subject %}x{% endblock %}"
                               "{% block body %}{{ ''.__class__.__mro__[1].__subclasses__() }}{% endblock %}")
    with pytest.raises(RenderError, match=r"SecurityError|UndefinedError"):
        Renderer([tmp_path]).render("evil", {})


def test_a_template_without_a_subject_block_is_refused(tmp_path):
    write(tmp_path, "bad.j2", "{% block body %}x{% endblock %}")
    with pytest.raises(RenderError, match="subject"):
        Renderer([tmp_path]).render("bad", {})


def test_template_names_cannot_leave_the_folder():
    with pytest.raises(RenderError):
        Renderer().render("../etc/passwd", {})
