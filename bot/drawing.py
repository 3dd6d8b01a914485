"""Fonts for the pictures the bot draws (QR cards, charts)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

FONT_DIR = Path(__file__).parent / "fonts"
SYSTEM_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=32)
def font(bold: bool, size: int) -> Font:
    """DejaVu Sans shipped in ``bot/fonts`` (accents, €, ₣…); Pillow's own font otherwise."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in (FONT_DIR, SYSTEM_FONT_DIR):
        path = folder / name
        if path.is_file():
            # BASIC layout: the same pixels whether or not libraqm is installed.
            return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)
    return ImageFont.load_default(size)
