"""A payment's receipt as a small picture (issue 17, point 6) the vendor forwards to the payer.

It names the shop, what was paid for (the link's title), the amount, the method, the time in
Kigali and a reference (the provider's charge id, which the vendor and DGS can look up). It
never carries the payer's phone number or email, nor what the payer typed as a name (that may
be either): ``Receipt`` has no field for them.

Drawn with the QR card's fonts (``bot/drawing.py``), characters the font lacks left out
(``bot/glyphs.py``), black on white; rendering runs in a render worker process
(``render_receipt_async``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageDraw

from bot import qr
from bot.drawing import font
from bot.glyphs import printable

WIDTH: Final = 800
PADDING: Final = 48
_INK = 0
_LABEL_INK = 80  # labels a step lighter than the values they name
_RULE_INK = 160
_PAPER = 255


@dataclass(frozen=True)
class ReceiptLine:
    label: str  # "Amount", in the vendor's language
    value: str
    big: bool = False


@dataclass(frozen=True)
class Receipt:
    heading: str  # "Payment receipt"
    shop: str
    lines: tuple[ReceiptLine, ...]


def render_receipt(receipt: Receipt) -> bytes:
    """PNG bytes, ``WIDTH`` pixels wide, as tall as its lines need."""
    with qr.render_lock:
        return _render(receipt)


def _render(receipt: Receipt) -> bytes:
    text_width = WIDTH - 2 * PADDING
    heading_font, shop_font = font(False, 28), font(True, 40)
    label_font, value_font, big_font = font(False, 24), font(True, 30), font(True, 44)
    heading = qr.fit_line(printable(receipt.heading), heading_font, text_width)
    shop = qr.wrap_lines(printable(receipt.shop), shop_font, text_width, 2)
    rows: list[tuple[str, list[str], int]] = []
    for line in receipt.lines:
        value_font_here = big_font if line.big else value_font
        size = 44 if line.big else 30
        value = qr.wrap_lines(printable(line.value), value_font_here, text_width, 3)
        rows.append((qr.fit_line(printable(line.label), label_font, text_width), value, size))

    height = PADDING + 36 + len(shop) * 50 + 28
    height += sum(34 + len(value) * (size * 5 // 4) + 18 for _, value, size in rows)
    height += PADDING
    card = Image.new("L", (WIDTH, height), _PAPER)
    draw = ImageDraw.Draw(card)
    y = PADDING
    draw.text((PADDING, y), heading, font=heading_font, fill=_LABEL_INK)
    y += 36
    for shop_line in shop:
        draw.text((PADDING, y), shop_line, font=shop_font, fill=_INK)
        y += 50
    y += 12
    draw.line((PADDING, y, WIDTH - PADDING, y), fill=_RULE_INK, width=2)
    y += 16
    for label, value, size in rows:
        draw.text((PADDING, y), label, font=label_font, fill=_LABEL_INK)
        y += 34
        for part in value:
            draw.text((PADDING, y), part, font=big_font if size == 44 else value_font, fill=_INK)
            y += size * 5 // 4
        y += 18
    out = io.BytesIO()
    card.save(out, format="PNG", optimize=True)
    return out.getvalue()


async def render_receipt_async(receipt: Receipt) -> bytes:
    """``render_receipt`` in a render worker process (``bot/qr.py``): the bot keeps
    answering meanwhile."""
    return await qr.in_render_worker(render_receipt, receipt)
