"""The README stays true: CI runs its test command verbatim, its sample alert is the bot's
real text, and it names what a newcomer needs (Python, DGS, the screenshots folder)."""

from __future__ import annotations

import html
import re
from decimal import Decimal
from pathlib import Path

from bot.i18n import Catalogues
from bot.notify.diff import Alert, Event, EventKind, LinkFacts
from bot.notify.messages import Rendered, render_alert

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


def _readme() -> str:
    return (ROOT / "README.md").read_text()


def _as_readme_shows(rendered: Rendered) -> str:
    """A bot message as the README's sample chat writes it: plain text, one line per line,
    indented under ``Bot:``, its buttons on one line in brackets."""
    plain = html.unescape(re.sub(r"<[^>]+>", "", rendered.text)).replace("\xa0", " ")
    lines = plain.split("\n")
    lines += [" ".join(f"[{button.text}]" for row in rendered.buttons for button in row)]
    return "\n".join(["Bot:  " + lines[0], *("      " + line for line in lines[1:])])


def test_the_sample_alert_is_the_bots_real_text() -> None:
    """What the README shows after ``/new 50000 Invoice #123`` (no limit on payments) and
    Aline's mobile money payment is what the alert renderer writes for it."""
    tr = Catalogues.load().translator("en")
    link = LinkFacts(
        link_id="25a5643d-31de-490d-808d-82af72fdd097",
        title="Invoice #123",
        currency="RWF",
        status="active",
        use_count=1,
        max_uses=None,
        total_collected=Decimal(50000),
    )
    paid = Event(
        kind=EventKind.PAYMENT,
        charge_id="ch_1",
        amount=Decimal(50000),
        currency="RWF",
        payer_name="Aline",
        payment_type="mobile_money",
    )
    sample = _readme().split("```\n", 2)[1]
    expected = _as_readme_shows(render_alert(Alert(link, (paid,)), tr))
    assert expected in sample, f"README's sample alert should read:\n{expected}"


def test_the_readme_names_the_python_it_needs_and_says_what_dgs_is() -> None:
    readme = _readme()
    needed = re.search(r'requires-python = ">=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text())
    assert needed is not None
    assert f"Python ≥ {needed.group(1)}" in readme.split("## Set up", 1)[1]
    intro = readme.split("## ", 1)[0]
    assert re.search(r"^DGS is .+\.$", intro, flags=re.MULTILINE), "one line: what DGS is"


def test_the_readme_names_the_folder_the_browser_test_saves_its_screenshots_to() -> None:
    # Read, not imported: the browser test skips itself at import where Chromium is missing.
    source = (ROOT / "tests" / "e2e" / "test_demo_browser.py").read_text()
    named = re.search(r'^SCREENSHOTS = ROOT / "([\w./-]+)"$', source, flags=re.MULTILINE)
    assert named is not None, "the browser test saves its screenshots to a fixed folder"
    folder = named.group(1)
    setup = _readme().split("## Set up", 1)[1].split("\n## ", 1)[0]
    assert f"`{folder}/`" in setup
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert f"{folder}/" in ignored or f"/{folder}/" in ignored
