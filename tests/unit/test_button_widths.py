"""Issue 14, point 5: every button label the bot builds fits a phone, in every language.

The label keys are read from the code itself (every ``InlineKeyboardButton(...)``, the form's
``button(form, ...)`` and the alerts' ``Button(...)``, plus the field registry's labels), so a
new button cannot slip past. A row of two holds at most 16 characters a button, a row of one
30. Which labels share a row is read from the code too: a list literal holding two buttons or
more; rows built by ``append`` or slicing are named in ``PAIRED_ELSEWHERE`` (the language walk,
``tests/e2e/test_button_widths.py``, checks every row the bot really sends).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.button_labels import ON, ONE_IN_ROW, TWO_IN_ROW, width
from bot.fields import FIELDS, editor_fields
from tests.i18n_leaks import catalogue

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("rw", "en", "fr", "sw")
ONE_IN_ROW_MAX = 30
TWO_IN_ROW_MAX = 16
assert (ONE_IN_ROW, TWO_IN_ROW) == (ONE_IN_ROW_MAX, TWO_IN_ROW_MAX)  # the budget
BUTTON_CALLS = {"InlineKeyboardButton", "button", "Button"}
TR_CALLS = {"tr", "plain", "plural"}
KEYS = frozenset(catalogue("en"))

# Rows of two the code builds by appending or slicing, not as a list literal.
PAIRED_ELSEWHERE = {
    "button-back",  # Back + Cancel (the form), Remove + Back (the editor)
    "button-cancel",
    "button-remove",
    "button-in-days",  # the expiry's choices, two a row
    "button-no-expiry",
    "card-mute",  # the card: Mute + Duplicate, Archive + Back
    "card-unmute",
    "card-duplicate",
    "card-archive",
    "card-back",
    "dash-prev",  # Previous + Next
    "dash-next",
    "button-open",  # Open + Share (the QR card)
    "button-share",
    "drive-open-to-give",  # Give + Share (the drive card)
    "alert-button-card",  # an alert's card + mute, then its actions
    "alert-button-mute",
    "alert-button-extend",
    "alert-button-reopen",
    "alert-button-duplicate",
    # The editor's menu: its fields two by two (the switches after them, one a row).
    *(spec.label for spec in editor_fields() if spec.label and not spec.toggle),
}
# The payment methods: ticked, one a row (the form's and the editor's).
TICKED = {key for key in KEYS if key.startswith("method-")}


def _sources() -> Iterator[Path]:
    for folder in ("bot", "handlers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "devtools" not in path.parts:
                yield path


def _name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _keys_in(node: ast.AST, scope: ast.AST) -> set[str]:
    """The catalogue keys a label expression may show: string constants naming a key, an
    f-string's prefix (``f"method-{kind}"``: every key so named), and a name's assignments in
    the same function."""
    found: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value in KEYS:
            found.add(sub.value)
        elif isinstance(sub, ast.JoinedStr) and sub.values:
            head = sub.values[0]
            if isinstance(head, ast.Constant) and str(head.value).endswith("-"):
                found |= {key for key in KEYS if key.startswith(str(head.value))}
        elif isinstance(sub, ast.Name):
            for other in ast.walk(scope):
                if isinstance(other, ast.Assign) and any(
                    sub.id in {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
                    for t in other.targets
                ):
                    found |= {
                        c.value
                        for c in ast.walk(other.value)
                        if isinstance(c, ast.Constant) and c.value in KEYS
                    }
    return found


def _label_arg(call: ast.Call) -> ast.AST | None:
    """The label: ``InlineKeyboardButton``'s and ``Button``'s first argument, the form's
    ``button``'s second."""
    index = 1 if _name(call) == "button" else 0
    if len(call.args) > index:
        return call.args[index]
    return next((kw.value for kw in call.keywords if kw.arg in ("text", "label")), None)


def _collect() -> tuple[dict[str, set[str]], set[str]]:
    """Label key -> the files using it as a button; the keys in a literal row of two."""
    used: dict[str, set[str]] = {}
    paired: set[str] = set()
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for scope in ast.walk(tree):
            if not isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(scope):
                if isinstance(node, ast.Call) and _name(node) in BUTTON_CALLS:
                    label = _label_arg(node)
                    if label is None:
                        continue
                    for key in _keys_in(label, scope):
                        used.setdefault(key, set()).add(path.name)
                elif isinstance(node, ast.List):
                    calls = [
                        e
                        for e in node.elts
                        if isinstance(e, ast.Call) and _name(e) in BUTTON_CALLS
                    ]
                    if len(calls) >= 2:
                        for call in calls:
                            label = _label_arg(call)
                            if label is not None:
                                paired |= _keys_in(label, scope)
    # The field registry's labels: the form's More options, the editor's menu and Remove.
    for spec in FIELDS.values():
        for key in (spec.option_label, spec.clear_label):
            if key:
                used.setdefault(key, set()).add("fields.py")
    for spec in editor_fields():
        if spec.label:
            used.setdefault(spec.label, set()).add("fields.py")
    return used, paired


USED, PAIRED_IN_CODE = _collect()
TOGGLES = {spec.option_label for spec in FIELDS.values() if spec.toggle}
PAIRED = (PAIRED_IN_CODE | PAIRED_ELSEWHERE) & set(USED)


def shown(text: str) -> str:
    """A label as a phone shows it: placeholders at the width the bot fills them with. The
    bot cuts the vendor's own words it puts in a label (``{value}``, ``{slug}``, a title), so
    they count here at the room it leaves them."""
    text = text.replace("{count}", "30").replace("{currency}", "RWF")
    return re.sub(r"\{[a-z_]+\}", "", text)


def test_the_scan_finds_the_buttons_of_every_screen() -> None:
    """The scan is no stub: it sees the labels of the start menu, the form, the card, the
    list, the editor, the alerts and the drive, and the rows of two among them."""
    expected = {
        "button-new-link",  # /start
        "form-kind-fixed",  # the form
        "opt-phone",  # More options (a toggle)
        "card-refresh",  # the card
        "dash-filter-active",  # /links
        "edit-field-title",  # the editor
        "archive-yes",  # archive confirm
        "alert-button-mute",  # an alert
        "drive-hide-names",  # after a plain link is posted in a group
        "method-mobile_money",  # the methods' ticks (an f-string)
        "notify-level-all",  # /notifications
    }
    assert expected <= set(USED), expected - set(USED)
    assert {"card-refresh", "card-qr", "archive-yes", "button-no"} <= PAIRED_IN_CODE
    assert "button-create" not in PAIRED


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_button_label_fits_its_row(language: str) -> None:
    messages = catalogue(language)
    too_long = []
    for key in sorted(USED):
        limit = TWO_IN_ROW_MAX if key in PAIRED else ONE_IN_ROW_MAX
        for form in messages[key]:
            label = shown(form)
            if key in TICKED or key in TOGGLES:
                label = f"{ON} {label}"  # a switch shows its state in front
            if width(label) > limit:
                too_long.append(f"{key} ({width(label)} > {limit}): {label}")
    assert not too_long, "\n".join(too_long)
