"""The printable poster (issue 17, point 8): one A5 page to tape on a stall or a counter.

From top to bottom: "Scan to pay" in the vendor's language and, under it, in English (the payer
may read either); the QR code, large; the link's title and amount; the payment methods; the
URL written out for anyone who cannot scan. Everything is pure black on white, no meaning
carried by colour, text at print sizes (the smallest line 12 pt), so it prints on any office
or shop printer in black and white and photocopies well.

The page is drawn with the QR card's code and fonts (``bot/qr.py``, ``bot/drawing.py``) at 300
dots per inch, made one-bit (black or white, nothing between: no grey halo for a cheap
printer to dither), and stored as a one-page PDF whose page is exactly A5 (Pillow writes the
image CCITT G4-compressed: a few tens of kB). Characters the font cannot draw (emoji) are left
out (``bot/glyphs.py``). Rendering is CPU work: the bot calls ``render_poster_async``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageDraw

from bot import qr
from bot.drawing import Font, font
from bot.glyphs import printable

DPI: Final = 300
A5_MM: Final = (148, 210)
MARGIN_MM: Final = 12
QR_MAX_MM: Final = 105  # about 10 cm: scans from a metre away
_INK = 0
_PAPER = 255


def mm(value: float) -> int:
    return round(value * DPI / 25.4)


def pt(value: float) -> int:
    """A font size in points as pixels at ``DPI``."""
    return round(value * DPI / 72)


PAGE_PX: Final = (mm(A5_MM[0]), mm(A5_MM[1]))  # 1748 × 2480


@dataclass(frozen=True)
class PosterText:
    """What the poster says; every line already in the vendor's language except
    ``scan_english``."""

    url: str
    title: str
    amount: str  # "RWF 5,000", "any amount (RWF)"
    scan: str  # "Scan to pay" in the vendor's language
    scan_english: str  # the same in English; left out when it is the same words
    methods: str  # "Accepts: mobile money, card"


@dataclass(frozen=True)
class _Line:
    text: str
    font: Font
    size: int
    gap_before: int = 0


def _lines(text: PosterText, width: int) -> tuple[list[_Line], list[_Line]]:
    """The lines above the code and those under it."""
    scan_font, english_font = font(True, pt(30)), font(False, pt(18))
    title_font, amount_font = font(True, pt(22)), font(True, pt(28))
    small_font, url_font = font(False, pt(14)), font(False, pt(12))
    scan = printable(qr.one_line(text.scan))
    english = printable(qr.one_line(text.scan_english))
    above = [_Line(qr.fit_line(scan, scan_font, width), scan_font, pt(30))]
    if english and english.casefold() != scan.casefold():
        above.append(_Line(qr.fit_line(english, english_font, width), english_font, pt(18)))
    below: list[_Line] = []
    title = printable(qr.one_line(text.title))
    for index, line in enumerate(qr.wrap_lines(title, title_font, width, 2) if title else []):
        below.append(_Line(line, title_font, pt(22), mm(4) if index == 0 else 0))
    amount = printable(qr.one_line(text.amount))
    if amount:
        below.append(_Line(qr.fit_line(amount, amount_font, width), amount_font, pt(28), mm(3)))
    methods = printable(qr.one_line(text.methods))
    for index, line in enumerate(qr.wrap_lines(methods, small_font, width, 2)):
        below.append(_Line(line, small_font, pt(14), mm(5) if index == 0 else 0))
    # All of the URL, however long: on paper it is the way in for a phone without a camera.
    for index, line in enumerate(qr.url_lines(text.url, url_font, width, max_lines=8)):
        below.append(_Line(line, url_font, pt(12), mm(3) if index == 0 else 0))
    return above, below


def _height(lines: list[_Line]) -> int:
    return sum(line.gap_before + line.size * 5 // 4 for line in lines)


def _draw(draw: ImageDraw.ImageDraw, lines: list[_Line], y: int, centre: int) -> int:
    for line in lines:
        y += line.gap_before
        draw.text((centre, y), line.text, font=line.font, fill=_INK, anchor="ma")
        y += line.size * 5 // 4
    return y


def render_poster(text: PosterText) -> bytes:
    """PDF bytes: one A5 page (420 × 595 pt), black on white. Raises ``ValueError`` for a
    URL no QR code can hold."""
    with qr.render_lock:
        return _render(text)


def _render(text: PosterText) -> bytes:
    width, height = PAGE_PX
    margin = mm(MARGIN_MM)
    content = width - 2 * margin
    matrix = qr.code_matrix(text.url)
    above, below = _lines(text, content)
    # The code takes what the text leaves, up to about 10 cm; whole pixels per module.
    room = height - 2 * margin - _height(above) - _height(below)
    side = min(mm(QR_MAX_MM) + 2 * qr.QUIET_ZONE * mm(1), content, room)
    module = side // len(matrix)
    if module < 2:
        raise ValueError("URL too long for a printed QR code")
    code_px = module * len(matrix)
    code = Image.frombytes(
        "L",
        (len(matrix), len(matrix)),
        bytes(_INK if dark else _PAPER for row in matrix for dark in row),
    ).resize((code_px, code_px), Image.Resampling.NEAREST)

    page = Image.new("L", (width, height), _PAPER)
    draw = ImageDraw.Draw(page)
    # The whole block centred on the page, the quiet zone (inside the code) as its gap.
    block = _height(above) + code_px + _height(below)
    y = margin + max(0, (height - 2 * margin - block) // 2)
    y = _draw(draw, above, y, width // 2)
    page.paste(code, ((width - code_px) // 2, y))
    _draw(draw, below, y + code_px, width // 2)
    # One bit a pixel: text edges become black or white, never a grey a printer dithers.
    bitonal = page.point(lambda value: 0 if value < 128 else 255).convert("1", dither=None)
    out = io.BytesIO()
    bitonal.save(out, format="PDF", resolution=float(DPI), title=qr.one_line(text.title))
    return out.getvalue()


async def render_poster_async(text: PosterText) -> bytes:
    """``render_poster`` in a render worker process (``bot/qr.py``): the bot keeps
    answering meanwhile."""
    return await qr.in_render_worker(render_poster, text)
