"""Issue 18, a kit for native reviewers: every English message carries a translator note
(``#.``) saying who reads it, where, its budget and what its placeholders hold, and
``python -m bot.devtools.catalogue_comments`` carries those notes into fr, rw and sw.

Button budgets are the ones ``tests/unit/test_button_widths.py`` reads from the code: a label
in a row of two gets "≤ 16 characters", a label alone "≤ 30".
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.button_labels import ON, width
from bot.config import LANGUAGES
from bot.devtools.catalogue_comments import NOTE
from bot.i18n import placeholders
from tests.unit.test_button_widths import PAIRED, TICKED, TOGGLES, USED, shown

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "locales"
OTHERS = tuple(language for language in LANGUAGES if language != "en")
BUDGET = re.compile(r"≤ (\d+) characters")


def load(path: Path, language: str) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def po(root: Path, language: str) -> Path:
    return root / language / "LC_MESSAGES" / "bot.po"


def notes_of(catalog: Catalog) -> dict[str, str]:
    """msgid → its ``#.`` note as one line, as Babel reads it (``auto_comments``)."""
    return {
        message.id if isinstance(message.id, str) else message.id[0]: " ".join(
            message.auto_comments
        )
        for message in catalog
        if message.id
    }


def texts(catalog: Catalog) -> dict[str, list[str]]:
    found = {}
    for message in catalog:
        if message.id:
            key = message.id if isinstance(message.id, str) else message.id[0]
            found[key] = [message.string] if isinstance(message.string, str) else message.string
    return found


ENGLISH = load(po(LOCALES, "en"), "en")
NOTES = notes_of(ENGLISH)


def test_every_english_message_has_a_note_naming_its_placeholders() -> None:
    missing = sorted(key for key, note in NOTES.items() if not note)
    assert not missing, f"no #. note: {missing}"
    unexplained = []
    for key, forms in texts(ENGLISH).items():
        names = set().union(*(placeholders(form) for form in forms))
        unexplained += [
            f"{key}: {{{name}}}" for name in sorted(names) if f"{{{name}}}" not in NOTES[key]
        ]
    assert not unexplained, "placeholders the note does not explain:\n" + "\n".join(unexplained)


def test_every_note_is_short() -> None:
    """One or two lines each, as a reviewer reads them in a .po file."""
    sizes = {
        message.id if isinstance(message.id, str) else message.id[0]: len(message.auto_comments)
        for message in ENGLISH
        if message.id
    }
    wrong = {key: size for key, size in sizes.items() if size not in (1, 2)}
    assert not wrong, f"notes of 1 or 2 lines, not: {wrong}"


@pytest.mark.parametrize("key", sorted(USED))
def test_a_button_note_states_its_budget_and_english_fits_it(key: str) -> None:
    expected = 16 if key in PAIRED else 30
    note = NOTES[key]
    stated = [int(n) for n in BUDGET.findall(note)]
    assert stated == [expected], f"{key}: note says {stated}, the row gives {expected}: {note}"
    assert ("half-row" if expected == 16 else "full-width") in note, note
    for form in texts(ENGLISH)[key]:
        label = shown(form)
        if key in TICKED or key in TOGGLES:
            assert "✅" in note, f"{key}: a switch's note names the mark in front: {note}"
            label = f"{ON} {label}"
        assert width(label) <= expected, f"{key}: {label!r} is {width(label)} > {expected}"


def _without_notes(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith(NOTE)]


def test_the_command_carries_the_notes_into_a_copy_and_twice_changes_nothing(
    tmp_path: Path,
) -> None:
    for language in ("en", "fr"):
        po(tmp_path, language).parent.mkdir(parents=True)
        shutil.copy(po(LOCALES, language), po(tmp_path, language))
    french = po(tmp_path, "fr")
    original = french.read_text(encoding="utf-8")
    # A stale note and a translator's own note on one entry: the first goes, the second stays.
    lines = original.splitlines(keepends=True)
    at = lines.index('msgid "button-back"\n')
    lines[at:at] = ["# fr: « Retour », pas « Arrière »\n", "#. an old note\n"]
    french.write_text("".join(lines), encoding="utf-8")
    before = french.read_text(encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "bot.devtools.catalogue_comments", "--locales"]
        return subprocess.run(
            [*command, str(tmp_path), *args], capture_output=True, text=True, cwd=ROOT, check=False
        )

    assert run("--check", "fr").returncode == 1
    assert french.read_text(encoding="utf-8") == before, "--check wrote the file"
    first = run("fr")
    assert first.returncode == 0, first.stderr
    after = french.read_text(encoding="utf-8")

    assert all(NOTES.values()), "English has messages without a note: nothing to carry"
    assert notes_of(load(french, "fr")) == NOTES
    assert "#. an old note" not in after
    # Everything but the notes is byte for byte what it was, the translator's note included.
    assert _without_notes(after) == _without_notes(before)
    assert after.index("# fr: « Retour »") < after.index('msgid "button-back"')
    assert texts(load(french, "fr")) == texts(load(po(LOCALES, "fr"), "fr"))

    second = run("fr")
    assert second.returncode == 0, second.stderr
    assert french.read_text(encoding="utf-8") == after
    assert run("--check", "fr").returncode == 0


@pytest.mark.parametrize("language", OTHERS)
def test_each_catalogue_carries_the_english_notes(language: str) -> None:
    """Fails until ``python -m bot.devtools.catalogue_comments`` has been run on locales/."""
    assert all(NOTES.values()), "English has messages without a note"
    notes = notes_of(load(po(LOCALES, language), language))
    behind = sorted(key for key, note in NOTES.items() if notes.get(key) != note)
    assert not behind, (
        f"{language}: {len(behind)} notes differ from English (first: {behind[:5]}); "
        "run python -m bot.devtools.catalogue_comments"
    )
