"""The "collected over time" picture of a link, drawn with Pillow.

A step line of the running total of successful payments, with large type and few labels so
it stays readable on a phone. Money stays ``Decimal`` down to the pixel rounding; drawing is
CPU work, so the bot calls ``render_collected_chart_async`` (a worker thread).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from babel.dates import format_skeleton
from PIL import Image, ImageDraw

from bot.dgs.models import KIGALI, Charge, ChargeStatus
from bot.drawing import Font, font
from bot.money import babel_locale, format_amount

WIDTH, HEIGHT = 1080, 720
PAD = 44
TITLE_SIZE, SUBTITLE_SIZE, LABEL_SIZE = 46, 32, 28
LINE_WIDTH = 6
DOT_RADIUS = 8
MAX_DOTS = 60

PAPER = (255, 255, 255)
INK = (33, 33, 33)
MUTED_INK = (110, 110, 110)
GRID = (226, 226, 226)
LINE = (21, 101, 192)
FILL = (214, 230, 248)

_MIN_SPAN = timedelta(hours=1)
_DAY_LABELS_FROM = timedelta(hours=36)

Point = tuple[datetime, Decimal]


def cumulative(charges: Iterable[Charge]) -> list[Point]:
    """The running total after each successful charge, oldest first (charges without a time
    are left out: they cannot be placed)."""
    paid = sorted(
        (c for c in charges if c.status == ChargeStatus.SUCCESS and c.created_at is not None),
        key=lambda c: c.created_at or datetime.min.replace(tzinfo=KIGALI),
    )
    points: list[Point] = []
    total = Decimal(0)
    for charge in paid:
        assert charge.created_at is not None
        total += charge.amount
        points.append((charge.created_at, total))
    return points


def nice_step(top: Decimal, ticks: int = 4) -> Decimal:
    """A round step (1, 2 or 5 times a power of ten) giving about ``ticks`` steps to ``top``."""
    if top <= 0:
        return Decimal(1)
    raw = top / ticks
    magnitude = Decimal(1).scaleb(raw.adjusted())
    for factor in (1, 2, 5, 10):
        step = magnitude * factor
        if step >= raw:
            return step
    return magnitude * 10  # pragma: no cover - factor 10 always satisfies the loop


@dataclass(frozen=True)
class _Frame:
    left: int
    top: int
    right: int
    bottom: int
    start: datetime
    end: datetime
    y_max: Decimal

    def x(self, moment: datetime) -> int:
        span = (self.end - self.start).total_seconds()
        share = (moment - self.start).total_seconds() / span
        return self.left + round(share * (self.right - self.left))

    def y(self, value: Decimal) -> int:
        height = Decimal(self.bottom - self.top)
        return self.top + int((self.y_max - value) * height / self.y_max)


def _fit_text(text: str, font: Font, width: int) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


def render_collected_chart(
    points: Sequence[Point],
    *,
    currency: str,
    language: str,
    title: str,
    subtitle: str,
    start: datetime | None = None,
    now: datetime | None = None,
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> bytes:
    """A PNG of the running total ``points`` (from ``cumulative``); ``start`` (the link's
    creation, say) begins the time axis at zero before the first payment; the axis ends at
    ``now`` (the total stays flat since the last payment), never later."""
    if not points:
        raise ValueError("nothing to draw: no successful payment")
    width, height = size
    image = Image.new("RGB", size, PAPER)
    draw = ImageDraw.Draw(image)
    title_font, subtitle_font = font(True, TITLE_SIZE), font(False, SUBTITLE_SIZE)
    label_font = font(False, LABEL_SIZE)

    draw.text((PAD, PAD), _fit_text(title, title_font, width - 2 * PAD), fill=INK, font=title_font)
    subtitle_y = PAD + int(TITLE_SIZE * 1.3)
    draw.text(
        (PAD, subtitle_y),
        _fit_text(subtitle, subtitle_font, width - 2 * PAD),
        fill=MUTED_INK,
        font=subtitle_font,
    )

    highest = max(value for _, value in points)
    step = nice_step(highest)
    y_max = (highest / step).to_integral_value(rounding=ROUND_CEILING) * step
    ticks = [step * n for n in range(int(y_max / step) + 1)]
    tick_labels = [format_amount(tick, currency, language) for tick in ticks]
    label_width = max(int(label_font.getlength(label)) for label in tick_labels)

    first, last = points[0][0], points[-1][0]
    begin = min(start, first) if start is not None else first
    if now is not None:
        last = max(last, now)
        if last - begin < _MIN_SPAN:  # widened into the past only: the future has no data
            begin = last - _MIN_SPAN
    elif last - begin < _MIN_SPAN:
        begin, last = begin - _MIN_SPAN / 2, last + _MIN_SPAN / 2
    frame = _Frame(
        left=PAD + label_width + 18,
        top=subtitle_y + int(SUBTITLE_SIZE * 1.3) + 36,
        right=width - PAD,
        bottom=height - PAD - int(LABEL_SIZE * 1.3) - 12,
        start=begin,
        end=last,
        y_max=y_max,
    )

    for tick, label in zip(ticks, tick_labels, strict=True):
        y = frame.y(tick)
        draw.line([(frame.left, y), (frame.right, y)], fill=GRID, width=2)
        draw.text((frame.left - 14, y), label, fill=MUTED_INK, font=label_font, anchor="rm")

    path = [(frame.x(begin), frame.y(Decimal(0)))]
    for moment, value in points:
        x = frame.x(moment)
        path += [(x, path[-1][1]), (x, frame.y(value))]
    path.append((frame.right, path[-1][1]))
    baseline = frame.y(Decimal(0))
    draw.polygon([*path, (frame.right, baseline), (path[0][0], baseline)], fill=FILL)
    draw.line(path, fill=LINE, width=LINE_WIDTH, joint="curve")
    if len(points) <= MAX_DOTS:
        for moment, value in points:
            x, y = frame.x(moment), frame.y(value)
            draw.ellipse(
                [(x - DOT_RADIUS, y - DOT_RADIUS), (x + DOT_RADIUS, y + DOT_RADIUS)], fill=LINE
            )
    draw.line([(frame.left, baseline), (frame.right, baseline)], fill=MUTED_INK, width=2)

    label_y = frame.bottom + 12
    by_day = frame.end - frame.start >= _DAY_LABELS_FROM
    middle = frame.start + (frame.end - frame.start) / 2
    for moment, anchor, x in (
        (frame.start, "la", frame.left),
        (middle, "ma", (frame.left + frame.right) // 2),
        (frame.end, "ra", frame.right),
    ):
        text = _time_label(moment, language, by_day=by_day)
        draw.text((x, label_y), text, fill=MUTED_INK, font=label_font, anchor=anchor)

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _time_label(moment: datetime, language: str, *, by_day: bool) -> str:
    skeleton = "MMMd" if by_day else "Hm"
    text: str = format_skeleton(skeleton, moment.astimezone(KIGALI), locale=babel_locale(language))
    return text


async def render_collected_chart_async(
    points: Sequence[Point],
    *,
    currency: str,
    language: str,
    title: str,
    subtitle: str,
    start: datetime | None = None,
    now: datetime | None = None,
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> bytes:
    """``render_collected_chart`` in a worker thread, off the event loop."""
    return await asyncio.to_thread(
        render_collected_chart,
        list(points),
        currency=currency,
        language=language,
        title=title,
        subtitle=subtitle,
        start=start,
        now=now,
        size=size,
    )
