"""The collected-over-time chart: the running total it draws, and a picture that shows it."""

from __future__ import annotations

import io
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from PIL import Image

from bot import charts
from bot.dgs.models import KIGALI, Charge

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=KIGALI)


def charge(n: int, amount: str, status: str = "success", hours: float = 0) -> Charge:
    return Charge(
        id=f"c{n}",
        amount=Decimal(amount),
        currency="RWF",
        status=status,
        created_at=T0 + timedelta(hours=hours),
    )


def test_cumulative_counts_successful_charges_only_in_time_order() -> None:
    points = charts.cumulative(
        [
            charge(1, "2500", hours=5),
            charge(2, "1000", status="failed", hours=1),
            charge(3, "500.50", hours=2),
            charge(4, "700", status="pending", hours=3),
            Charge(id="no-time", amount=Decimal(9999), currency="RWF", status="success"),
        ]
    )
    assert points == [
        (T0 + timedelta(hours=2), Decimal("500.50")),
        (T0 + timedelta(hours=5), Decimal("3000.50")),
    ]
    assert all(isinstance(value, Decimal) for _, value in points)


@pytest.mark.parametrize(
    ("top", "step"),
    [
        (Decimal(112500), Decimal(50000)),
        (Decimal(7), Decimal(2)),
        (Decimal("76.50"), Decimal(20)),
        (Decimal("0.30"), Decimal("0.1")),
        (Decimal(40000), Decimal(10000)),
    ],
)
def test_axis_steps_are_round(top: Decimal, step: Decimal) -> None:
    assert charts.nice_step(top) == step
    assert top / step <= 5  # a handful of grid lines, not dozens


def _render(points: list[tuple[datetime, Decimal]], start: datetime | None = None) -> Image.Image:
    png = charts.render_collected_chart(
        points,
        currency="RWF",
        language="en",
        title="Rent — March",
        subtitle="Collected RWF 3,000 · 2 payments",
        start=start,
    )
    assert png.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.convert("RGB")


def _line_pixels(image: Image.Image) -> list[tuple[int, int]]:
    width, height = image.size
    return [
        (x, y)
        for x in range(0, width, 2)
        for y in range(0, height, 2)
        if image.getpixel((x, y)) == charts.LINE
    ]


def test_the_line_rises_from_left_to_right() -> None:
    points = charts.cumulative(charge(n, "1000", hours=n * 6) for n in range(1, 9))
    image = _render(points, start=T0)
    assert image.size == (charts.WIDTH, charts.HEIGHT)
    line = _line_pixels(image)
    assert line, "the line is not drawn"
    left = [y for x, y in line if x < charts.WIDTH * 0.35]
    right = [y for x, y in line if x > charts.WIDTH * 0.8]
    # Image rows grow downwards: a rising total sits higher (smaller y) on the right.
    assert min(right) < min(left) - 100


def test_one_payment_and_equal_times_still_draw() -> None:
    single = _render([(T0, Decimal(5000))])
    assert _line_pixels(single)
    same_time = charts.cumulative([charge(1, "10"), charge(2, "10")])
    assert _line_pixels(_render(same_time))


def test_no_payment_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing to draw"):
        charts.render_collected_chart([], currency="RWF", language="en", title="x", subtitle="y")


async def test_rendering_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    real = charts.render_collected_chart

    def watched(*args: Any, **kwargs: Any) -> bytes:
        seen.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(charts, "render_collected_chart", watched)
    points = [(T0, Decimal(10)), (T0 + timedelta(days=3), Decimal(30))]
    png = await charts.render_collected_chart_async(
        points, currency="USD", language="fr", title="Vente", subtitle="30,00 $US"
    )
    assert seen == [False]
    assert png == real(points, currency="USD", language="fr", title="Vente", subtitle="30,00 $US")


def test_the_axis_runs_to_now_the_total_flat_since_the_last_payment() -> None:
    points = charts.cumulative(charge(n, "1000", hours=n) for n in (1, 2))
    png = charts.render_collected_chart(
        points,
        currency="RWF",
        language="en",
        title="Rent",
        subtitle="x",
        start=T0,
        now=T0 + timedelta(hours=20),
    )
    line = _line_pixels(Image.open(io.BytesIO(png)).convert("RGB"))
    at_the_end = min(y for x, y in line if x > charts.WIDTH * 0.9)  # the total, at now
    # Reached at hour 2 of 20: near the left, then flat to the right edge.
    assert min(x for x, y in line if y <= at_the_end + 2) < charts.WIDTH * 0.3


def test_a_lone_fresh_payment_draws_no_future() -> None:
    now = T0 + timedelta(seconds=30)
    png = charts.render_collected_chart(
        [(T0, Decimal(5000))], currency="RWF", language="en", title="R", subtitle="x", now=now
    )
    line = _line_pixels(Image.open(io.BytesIO(png)).convert("RGB"))
    at_the_end = min(y for x, y in line if x > charts.WIDTH * 0.9)
    # The payment 30 s before now sits at the right end, not in the middle of a padded span.
    assert min(x for x, y in line if y <= at_the_end + 2) > charts.WIDTH * 0.8
