"""`curmail demo` runs a whole refutation on its own local servers and prints the timeline in Russian."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_prints_the_refutation_timeline_from_signal_to_the_press_letter(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k != "CURMAIL_CONFIG"}  # the demo needs no configuration
    result = subprocess.run([sys.executable, "-m", "daemon.cli", "demo", "--keep", str(keep)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    steps = re.findall(r"^\d\d\.\d\d\.\d{4} \d\d:\d\d \(МСК\) — (.+)$", out, re.MULTILINE)
    assert steps[:4] == ["ЦУР сообщает о недостоверной публикации", "За час до срока: напоминание исполнителю",
                         "Ответственный присылает текст комментария", "ЦУР согласовывает комментарий"]
    assert steps[-1] == "Редактор сайта сообщает ссылку на публикацию"
    blocks = dict(zip(steps, re.split(r"^\d\d\.\d\d\.\d{4} \d\d:\d\d \(МСК\) — .+$", out, flags=re.MULTILINE)[1:],
                      strict=True))
    assert "→ письмо petrov@kozmo.example: [KZM-1] Сигнал ЦУР: нужен официальный комментарий до" in \
        blocks["ЦУР сообщает о недостоверной публикации"]
    assert "→ письмо petrov@kozmo.example: [KZM-1] Напоминание: срок до" in \
        blocks["За час до срока: напоминание исполнителю"]
    assert "→ письмо cur@cur12.example.org: [KZM-1] Проект официального комментария на согласование" in \
        blocks["Ответственный присылает текст комментария"]
    approval = blocks["ЦУР согласовывает комментарий"]
    assert "→ письмо prpress@gov.mari.ru: Официальный комментарий администрации г. Козьмодемьянск: " in approval
    assert "направлено в пресс-службу" in approval
    assert out.count("→ письмо prpress@gov.mari.ru:") == 1  # the press letter once in the whole run
    assert re.search(r"\[KZM-1\] опровержение \(сигнал ЦУР\)\s+закрыто", blocks[steps[-1]])
    assert f"Файлы демо: {keep}" in out and (keep / "curmail.db").is_file()
