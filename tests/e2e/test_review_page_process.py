"""``paylinks-bot review-page rw -o review-rw.html`` as a reviewer's helper runs it: the
installed command in its own process, with no bot settings at all (a reviewer has no token),
and the file it writes read back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


def command() -> list[str]:
    script = Path(sys.executable).with_name("paylinks-bot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd)}  # no token, no .env
    return subprocess.run(
        [*command(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("language", ["rw", "sw"])
def test_the_command_writes_the_page(tmp_path: Path, language: str) -> None:
    done = run("review-page", language, "-o", f"review-{language}.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / f"review-{language}.html").read_text(encoding="utf-8")
    with (ROOT / "locales" / language / "LC_MESSAGES" / "bot.po").open("rb") as handle:
        keys = [m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id]
    assert all(f'data-msgid="{key}"' in page for key in keys)
    assert f'<html lang="{language}">' in page
    assert f"review-{language}.html" in done.stdout  # tells the reviewer where it is


def test_an_unknown_language_is_one_clear_line(tmp_path: Path) -> None:
    done = run("review-page", "de", "-o", "x.html", cwd=tmp_path)
    assert done.returncode == 2
    assert "'de'" in done.stderr  # the language refused is named, with those accepted
    assert all(f"'{code}'" in done.stderr for code in ("rw", "en", "fr", "sw"))
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.html").exists()
