"""QR card rendering against the bare ``qrcode`` library, measured in the same run.

The baseline makes the same code (same URL, EC level, module size and quiet zone) with
``qrcode``'s own PIL image and saves it as PNG, with no caption. Runs are interleaved so
machine noise hits both alike. Also times the cached async path.

    .venv/bin/python -m benchmarks.qr [--repeats N]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import time
from collections.abc import Callable
from functools import partial

import qrcode
import qrcode.constants

from bot import qr

EC_CONSTANTS = {"M": qrcode.constants.ERROR_CORRECT_M, "Q": qrcode.constants.ERROR_CORRECT_Q}
CASES = {
    "short URL": "https://pay.digitalservicescenter.rw/generation/pay/invoice-123",
    "long URL (~1 KB)": "https://pay.digitalservicescenter.rw/generation/pay/x?ref="
    + "a1b2c3d4" * 120,
}
TITLE = "Église Saint-Michel — toiture, collecte pour la paroisse"
AMOUNT = "RWF50,000"


def baseline(url: str, ec_level: str, module: int) -> bytes:
    code = qrcode.QRCode(
        error_correction=EC_CONSTANTS[ec_level], box_size=module, border=qr.QUIET_ZONE
    )
    code.add_data(url)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out, format="PNG")
    return out.getvalue()


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def cached_async_ms(url: str, repeats: int) -> float:
    async def run() -> list[float]:
        await qr.render_qr_card_async(url, TITLE, AMOUNT)  # warm the cache
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            await qr.render_qr_card_async(url, TITLE, AMOUNT)
            samples.append((time.perf_counter() - start) * 1000)
        return samples

    return statistics.median(asyncio.run(run()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    print(f"{'case':<18} {'card ms':>9} {'qrcode ms':>10} {'ratio':>7} {'cached ms':>10}")
    for name, url in CASES.items():
        layout = qr._layout(url, qr.DEFAULT_SIZE_HINT)
        card = partial(qr.render_qr_card, url, TITLE, AMOUNT)
        bare = partial(baseline, url, layout.ec_level, layout.module)
        # Warm-up: font loading and imports are one-off costs, not per-card ones.
        card()
        bare()
        repeats = args.repeats if len(url) < 200 else max(3, args.repeats // 3)
        card_ms, bare_ms = [], []
        for _ in range(repeats):
            card_ms.append(timed(card))
            bare_ms.append(timed(bare))
        card_median, bare_median = statistics.median(card_ms), statistics.median(bare_ms)
        cached = cached_async_ms(url, repeats)
        print(
            f"{name:<18} {card_median:>9.2f} {bare_median:>10.2f} "
            f"{card_median / bare_median:>6.2f}x {cached:>10.4f}"
        )
        print(
            f"{'':<18} EC {layout.ec_level}, module {layout.module} px, "
            f"{len(layout.matrix)} modules with quiet zone, {repeats} interleaved runs"
        )


if __name__ == "__main__":
    main()
