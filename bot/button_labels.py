"""Button labels that fit a phone (issue 14, point 5): a row of one holds about 30 characters,
a row of two about 16 each; past that Telegram cuts the label with "…". A vendor's own words
put in a label (a title, a value) are cut here, so the label's own words always show."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from bot.i18n import Translator

ONE_IN_ROW: Final = 30
TWO_IN_ROW: Final = 16
ON: Final = "✅"
OFF: Final = "⬜"


def width(label: str) -> int:
    """How wide a label reads: an emoji or a wide sign takes two places, a joiner none."""
    total = 0
    for char in label:
        if unicodedata.combining(char) or char in "\ufe0f\u200d":
            continue
        total += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return total


def budget(in_row: int) -> int:
    """The width each button of a row of ``in_row`` buttons has."""
    return ONE_IN_ROW if in_row <= 1 else max(ONE_IN_ROW // in_row - 1, 4)


def cut(words: str, room: int) -> str:
    """``words`` in at most ``room`` places, ended by "…" when cut."""
    # Line breaks and runs of spaces folded; a no-break space (in an amount) is kept.
    words = re.sub(r"[ \t\r\n]+", " ", words).strip()
    if width(words) <= room:
        return words
    kept = ""
    for char in words:
        if width(kept + char) > room - 1:
            break
        kept += char
    return kept.rstrip() + "…"


def filled(tr: Translator, key: str, name: str, words: str, limit: int = ONE_IN_ROW) -> str:
    """The label ``key`` with the vendor's ``words`` as ``{name}``, cut to fit ``limit``."""
    room = limit - width(tr.plain(key, **{name: ""}))
    return tr.plain(key, **{name: cut(words, max(room, 2))})


def toggle(tr: Translator, key: str, on: bool) -> str:
    """A switch shows its state in its label: "✅ Ask phone" / "⬜ Ask phone"."""
    return f"{ON if on else OFF} {tr(key)}"
