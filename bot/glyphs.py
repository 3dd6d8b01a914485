"""What the bundled font can draw: characters it has no glyph for (emoji, most Asian scripts)
are left out of printed text rather than drawn as empty boxes ("tofu").

DejaVu Sans covers Latin (every accent of French, Kinyarwanda and Swahili), Greek, Cyrillic
and many symbols; it has no colour emoji. Pillow does not say whether a face has a glyph, so a
character is compared with one no font maps (a private-use code point): FreeType draws the
same ".notdef" box for both.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from bot.drawing import font

_UNMAPPED = "\U000f0000"  # plane 15 private use: never in a shipped font
_PROBE_SIZE = 24
# Joiners and variation selectors only shape the emoji around them.
_SHAPING = frozenset("\u200d\ufe0e\ufe0f")


@lru_cache(maxsize=1)
def _notdef() -> bytes:
    return bytes(font(False, _PROBE_SIZE).getmask(_UNMAPPED))


@lru_cache(maxsize=4096)
def drawable(char: str) -> bool:
    """Whether the bundled font has a glyph for ``char`` (spaces and marks count as drawn)."""
    if char.isspace() or unicodedata.combining(char):
        return True
    if char in _SHAPING or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
        return False
    return bytes(font(False, _PROBE_SIZE).getmask(char)) != _notdef()


def printable(text: str) -> str:
    """``text`` with what the font cannot draw left out, spaces folded: ``"🍌 Bananas"`` is
    printed ``"Bananas"``."""
    kept = "".join(char for char in unicodedata.normalize("NFC", text) if drawable(char))
    return " ".join(kept.split())
