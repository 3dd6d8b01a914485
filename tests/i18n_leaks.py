"""Finding one language's words in texts meant to be in another.

A *marker* is a word of the source language's catalogue (for the given keys) that the target
language's catalogue never uses: if it shows up in what a target-language reader saw, some
text did not come from their catalogue (a hard-coded string, a missing message, the wrong
language picked).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES = Path(__file__).resolve().parents[1] / "locales"

# Never translated: names, codes and commands (see locales/GLOSSARY.md).
NAMES = frozenset(
    {"dgs", "paylinks", "telegram", "ussd", "json", "csv", "api", "https", "rwf", "usd", "kes"}
)

# Placeholders, commands (/cancel) and addresses are the same in every language.
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}|\{\w+\}|(?<!\w)/[a-z]\w*|https?://\S+")
_TAG = re.compile(r"<[^>]+>")
_WORD = re.compile(r"[^\W\d_]{3,}")


@cache
def catalogue(language: str) -> dict[str, tuple[str, ...]]:
    """Every message of a catalogue: key → its text (all plural forms)."""
    with (LOCALES / language / "LC_MESSAGES" / "bot.po").open("rb") as handle:
        catalog = read_po(handle, locale=language)
    found: dict[str, tuple[str, ...]] = {}
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        value = message.string
        forms = value if isinstance(value, tuple) else (value,)
        found[key] = tuple(str(form or "") for form in forms)
    return found


def words(text: str) -> set[str]:
    """Words of three letters or more, lower-cased; placeholders, commands, addresses and HTML
    tags left out."""
    plain = html.unescape(_TAG.sub(" ", _PLACEHOLDER.sub(" ", text)))
    return {word.casefold() for word in _WORD.findall(plain)}


@cache
def _all_words(language: str) -> frozenset[str]:
    return frozenset(
        word for texts in catalogue(language).values() for t in texts for word in words(t)
    )


def markers(keys: Iterable[str], target: str, source: str = "en") -> frozenset[str]:
    """Words of ``source``'s messages ``keys`` that ``target``'s catalogue never uses."""
    texts = catalogue(source)
    found = {word for key in keys for text in texts[key] for word in words(text)}
    return frozenset(found - _all_words(target) - NAMES)


def leaks(texts: Iterable[str], found_markers: frozenset[str]) -> list[tuple[str, str]]:
    """(marker, text) for every marker word that appears in one of ``texts``."""
    return [(word, text) for text in texts for word in sorted(words(text) & found_markers)]
