"""The README's two set-up commands stay true: CI runs the test command verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", setup)


def test_the_readme_has_two_setup_commands() -> None:
    run, test = _commands()
    assert "paylinks-bot demo" in run
    assert test.endswith("pytest -q")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _, test = _commands()
    assert f"bash -c '{test}'" in (ROOT / ".ci" / "run").read_text()


def test_the_documented_variables_are_the_settings() -> None:
    from bot.config import Settings

    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_]+)`", readme, flags=re.MULTILINE))
    documented |= {"BOT_DEFAULT_CURRENCY"}  # shares a row with BOT_DEFAULT_LANGUAGE
    fields = {name.upper() for name in Settings.model_fields} - {"DEMO_MODE"}
    assert fields <= documented
