"""The four catalogues hold the same messages with the same placeholders, really translated."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.config import LANGUAGES
from bot.i18n import placeholders

ROOT = Path(__file__).resolve().parents[2] / "locales"

# Entries that are the same in every language because they are names, codes or symbols.
SAME_AS_ENGLISH = {
    "method-ussd",  # USSD is USSD everywhere
    "amount-range",  # "{low} – {high}"
    "quick-problem",  # a placeholder only
    "value-none",  # "—"
}
# Words that are the same in some languages by nature (loanwords), per language.
SAME_IN = {
    # French shares these words with English.
    "fr": {
        "method-mobile_money",
        "opt-logo",
        "summary-logo",
        "edit-field-description",
        "edit-field-logo",
        "demo-chat-bot-subtitle",  # "bot"
        "demo-role-owner",  # "admin"
        "demo-input-placeholder",  # "Message"
        "demo-menu",
        "demo-photo",
        "demo-via",  # "via {name}"
    },
    # Loanwords vendors use as they are.
    "rw": {
        "method-mobile_money",
        "card-qr",
        "demo-chat-bot-subtitle",
        "demo-menu",
    },
}


def load(language: str) -> Catalog:
    with (ROOT / language / "LC_MESSAGES" / "bot.po").open("rb") as handle:
        return read_po(handle, locale=language)


def strings(message: object) -> list[str]:
    value = message.string  # type: ignore[attr-defined]
    return list(value) if isinstance(value, tuple) else [value]


CATALOGUES = {language: load(language) for language in LANGUAGES}
ENGLISH = CATALOGUES["en"]
KEYS = sorted(str(m.id if isinstance(m.id, str) else m.id[0]) for m in ENGLISH if m.id)


def by_key(catalog: Catalog) -> dict[str, object]:
    return {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog if m.id}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_is_in_every_catalogue_and_filled(language: str) -> None:
    messages = by_key(CATALOGUES[language])
    assert sorted(messages) == KEYS
    empty = [key for key, m in messages.items() if not all(strings(m))]
    assert not empty, f"{language}: untranslated {empty}"


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_placeholders_match_english(language: str) -> None:
    english = by_key(ENGLISH)
    wrong = []
    for key, message in by_key(CATALOGUES[language]).items():
        expected = set().union(*(placeholders(s) for s in strings(english[key])))
        for text in strings(message):
            if placeholders(text) - expected - {"count"}:
                wrong.append((key, text))
        if not expected <= set().union(*(placeholders(s) for s in strings(message))) | {"count"}:
            wrong.append((key, "missing placeholders"))
    assert not wrong


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_no_entry_is_left_in_english(language: str) -> None:
    english = by_key(ENGLISH)
    allowed = SAME_AS_ENGLISH | SAME_IN.get(language, set())
    same = [
        key
        for key, message in by_key(CATALOGUES[language]).items()
        if key not in allowed
        and strings(message) == strings(english[key])
        and re.search(r"[A-Za-z]{3}", re.sub(r"\{\w+\}", "", strings(message)[0]))
    ]
    assert not same, f"{language}: still English: {same}"


def test_every_key_the_code_names_exists() -> None:
    code_root = ROOT.parent
    pattern = re.compile(r"""\btr(?:\.plural|\.plain)?\(\s*["']([a-z0-9]+(?:-[a-z0-9_]+)+)["']""")
    named: set[str] = set()
    for folder in ("bot", "handlers"):
        for path in (code_root / folder).rglob("*.py"):
            named |= set(pattern.findall(path.read_text()))
    assert named, "the scan found no message keys at all"
    missing = sorted(named - set(KEYS))
    assert not missing


def _tags(text: str) -> list[str]:
    return sorted(re.findall(r"</?\w+>", text))


def _emoji(text: str) -> list[str]:
    # Pictographs and symbols from the arrows block on (not "°" or "©").
    return sorted(ch for ch in text if unicodedata.category(ch) == "So" and ord(ch) >= 0x2190)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_html_tags_and_emoji_are_those_of_english(language: str) -> None:
    english = by_key(ENGLISH)
    wrong = []
    for key, message in by_key(CATALOGUES[language]).items():
        source = strings(english[key])
        for index, text in enumerate(strings(message)):
            reference = source[min(index, len(source) - 1)]
            if _tags(text) != _tags(reference) or _emoji(text) != _emoji(reference):
                wrong.append((key, text))
    assert not wrong


# Inline buttons: what fits on a phone's width without being cut.
BUTTON_LABEL_MAX = 24
# A button alone on its row has the whole width (issue 14: 30 places, each row's budget is
# checked in tests/unit/test_button_widths.py): the card's Reopen says how many payments it
# adds (issue 18, point 7).
FULL_ROW_LABEL_MAX = {"card-reopen": 30}
BUTTON_KEYS = sorted(
    key
    for key in KEYS
    if key.startswith(("button-", "alert-button-", "dash-filter-", "notify-level-"))
    or key
    in {
        "form-kind-fixed",
        "form-kind-flexible",
        "form-currency-other-button",
        "card-refresh",
        "card-qr",
        "card-edit",
        "card-chart",
        "card-csv",
        "card-extend",
        "card-reopen",
        "card-mute",
        "card-unmute",
        "card-duplicate",
        "card-archive",
        "card-back",
        "dash-prev",
        "dash-next",
        "dash-export",
        "archive-yes",
        "disconnect-yes",
        "share-open",
        "group-open-form",
        "drive-open-to-give",
        "drive-hide-names",
        "drive-show-names",
    }
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_button_labels_fit_a_phone(language: str) -> None:
    messages = by_key(CATALOGUES[language])
    too_long = [
        (key, label)
        for key in BUTTON_KEYS
        for label in strings(messages[key])
        if "{value}" not in label
        and "{slug}" not in label  # filled and cut by the bot
        and len(label.replace("{count}", "30")) > FULL_ROW_LABEL_MAX.get(key, BUTTON_LABEL_MAX)
    ]
    assert not too_long


# Issue 14, point 2: developer words never reach a vendor, in any language ("/help" for
# operators aside). Placeholders are names in code, not words shown, so they are removed first.
BANNED_WORDS = {
    "en": ("metadata", "json", "key=value", "slug", "api", "url"),
    "fr": ("métadonnée", "json", "clé=valeur", "slug", "api", "url"),
    "rw": ("metadata", "json", "key=value", "slug", "api", "url"),
    "sw": ("metadata", "json", "key=value", "slug", "api", "url", "data za ziada"),
}
OPERATOR_ONLY = {"help-operator"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_developer_words_in_what_a_vendor_reads(language: str) -> None:
    found = []
    for key, message in by_key(CATALOGUES[language]).items():
        if key in OPERATOR_ONLY or key.startswith(("demo-cli", "cli-")):
            continue
        for text in strings(message):
            words = re.sub(r"\{[a-z_0-9]+\}", " ", text).lower()
            for banned in BANNED_WORDS[language]:
                if re.search(rf"(?<![\w/]){re.escape(banned)}(?!\w)", words):
                    found.append(f"{key}: {banned}")
    assert not found, found
