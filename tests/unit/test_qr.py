"""bot.qr: the card decodes to the link, fits a phone screen, explains itself, renders once."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import pytest
import zxingcpp
from PIL import Image

from bot import qr

SHORT_URL = "https://pay.digitalservicescenter.rw/generation/pay/invoice-123"
LONG_URL = "https://pay.digitalservicescenter.rw/generation/pay/x?ref=" + "a1b2c3d4" * 180
UNICODE_TITLE = "Église Saint-Michel — toiture 🙂 Ubwisungane"


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    qr.clear_cache()
    yield
    qr.clear_cache()


def open_png(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def decode(image: Image.Image) -> list[zxingcpp.Barcode]:
    return list(zxingcpp.read_barcodes(image))


def finder_geometry(image: Image.Image) -> tuple[int, int]:
    """(module px, quiet zone px) read off the top-left finder pattern, whose top edge is
    a run of seven dark modules."""
    gray = image.convert("L")
    width = gray.width
    pixels = gray.tobytes()
    for y in range(width):
        row = pixels[y * width : (y + 1) * width]
        for x in range(width):
            if row[x] < 128:
                run = 0
                while x + run < width and row[x + run] < 128:
                    run += 1
                assert run % 7 == 0
                return run // 7, x
    raise AssertionError("no dark pixel")


@pytest.mark.parametrize(
    ("url", "title", "amount"),
    [
        (SHORT_URL, "Invoice #123", "RWF50,000"),
        (LONG_URL, "Long link", "$25.50"),
        (SHORT_URL, UNICODE_TITLE, "50\u202f000\u00a0RWF"),
    ],
)
def test_card_decodes_to_exactly_the_url(url: str, title: str, amount: str) -> None:
    image = open_png(qr.render_qr_card(url, title, amount))
    found = decode(image)
    assert [barcode.text for barcode in found] == [url]
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    assert found[0].ec_level in ("M", "Q", "H")
    assert max(image.size) <= 1000


def test_short_url_uses_q_and_big_modules() -> None:
    image = open_png(qr.render_qr_card(SHORT_URL, "Invoice #123", "RWF50,000"))
    assert decode(image)[0].ec_level == "Q"
    module, quiet = finder_geometry(image)
    assert module >= 8
    assert quiet >= 4 * module
    assert image.width >= 500  # big enough to show full-width on a phone


def test_long_url_shrinks_modules_but_not_below_four_pixels() -> None:
    image = open_png(qr.render_qr_card(LONG_URL, "Long link", "$25.50"))
    module, quiet = finder_geometry(image)
    assert 4 <= module < 8
    assert quiet >= 4 * module
    assert max(image.size) <= 1000


def test_longest_urls_fall_back_to_m_and_too_long_is_refused() -> None:
    url = "https://pay.example.rw/" + "b" * 2000  # beyond what Q holds at version 40
    image = open_png(qr.render_qr_card(url, "x", "y"))
    assert [(b.text, b.ec_level) for b in decode(image)] == [(url, "M")]
    with pytest.raises(ValueError, match="too long"):
        qr.render_qr_card("https://pay.example.rw/" + "b" * 2400, "x", "y")


def test_caption_sits_under_the_code() -> None:
    card = open_png(qr.render_qr_card(SHORT_URL, "Invoice #123", "RWF50,000"))
    bare = open_png(qr.render_qr_card(SHORT_URL, "", ""))
    assert bare.width == bare.height  # nothing to explain: just the code
    assert card.width == bare.width
    assert card.height > card.width
    caption = card.convert("L").crop((0, card.width, card.width, card.height))
    assert min(caption.tobytes()) < 64  # dark text pixels are there
    # The code itself is the same picture with or without a caption.
    square = (0, 0, bare.width, bare.width)
    assert card.convert("L").crop(square).tobytes() == bare.convert("L").crop(square).tobytes()


def test_title_wraps_to_two_lines_at_most() -> None:
    def height(title: str) -> int:
        return open_png(qr.render_qr_card(SHORT_URL, title, "RWF50,000")).height

    one_line = height("Invoice")
    two_lines = height("School fees for the second term of the academic year")
    endless = height("word " * 400)
    unbreakable = height("x" * 500)
    assert one_line < two_lines
    assert endless == two_lines == unbreakable


def test_titles_change_the_caption_only() -> None:
    first = qr.render_qr_card(SHORT_URL, "Invoice #1", "RWF50,000")
    second = qr.render_qr_card(SHORT_URL, "Invoice #2", "RWF50,000")
    assert first != second
    assert decode(open_png(second))[0].text == SHORT_URL


@pytest.mark.parametrize(
    "title",
    ["🙂🙂🙂", "line\nbreak\ttab\x00nul", "עברית العربية", "中文标题", "\u200b", " "],
)
def test_any_unicode_title_renders(title: str) -> None:
    image = open_png(qr.render_qr_card(SHORT_URL, title, "€10"))
    assert decode(image)[0].text == SHORT_URL


def test_rendering_is_deterministic() -> None:
    first = qr.render_qr_card(SHORT_URL, UNICODE_TITLE, "RWF50,000")
    assert qr.render_qr_card(SHORT_URL, UNICODE_TITLE, "RWF50,000") == first


def test_size_hint_bounds_the_card() -> None:
    small = open_png(qr.render_qr_card(SHORT_URL, "Invoice", "RWF50,000", size_hint=500))
    large = open_png(qr.render_qr_card(SHORT_URL, "Invoice", "RWF50,000", size_hint=5000))
    assert small.height <= 500
    assert large.height <= 1000
    assert small.width < large.width


def test_content_hash() -> None:
    digest = qr.card_content_hash(SHORT_URL, "Invoice", "RWF50,000")
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert qr.card_content_hash(SHORT_URL, "Invoice", "RWF50,000") == digest
    others = {
        qr.card_content_hash(SHORT_URL + "x", "Invoice", "RWF50,000"),
        qr.card_content_hash(SHORT_URL, "Invoicf", "RWF50,000"),
        qr.card_content_hash(SHORT_URL, "Invoice", "RWF50,001"),
        qr.card_content_hash(SHORT_URL, "Invoice", "RWF50,000", size_hint=600),
        # The boundary between fields counts: no concatenation collisions.
        qr.card_content_hash(SHORT_URL, "Invoic", "eRWF50,000"),
    }
    assert digest not in others
    assert len(others) == 5


async def test_async_render_is_cached() -> None:
    before = qr.render_count()
    first = await qr.render_qr_card_async(SHORT_URL, "Cached", "RWF1,000")
    second = await qr.render_qr_card_async(SHORT_URL, "Cached", "RWF1,000")
    assert second == first
    assert qr.render_count() == before + 1
    await qr.render_qr_card_async(SHORT_URL, "Other", "RWF1,000")
    assert qr.render_count() == before + 2
    assert decode(open_png(first))[0].text == SHORT_URL


async def test_concurrent_requests_share_one_render() -> None:
    before = qr.render_count()
    cards = await asyncio.gather(
        *(qr.render_qr_card_async(SHORT_URL, "Together", "RWF5,000") for _ in range(5))
    )
    assert len(set(cards)) == 1
    assert qr.render_count() == before + 1


async def test_async_render_leaves_the_loop_free() -> None:
    task = asyncio.create_task(qr.render_qr_card_async(LONG_URL, "Slow", "RWF1"))
    for _ in range(3):
        await asyncio.sleep(0)
    # Rendering a long URL takes far longer than three loop turns: had it run on the loop,
    # the task would have finished in its first step.
    assert not task.done()
    png = await task
    assert decode(open_png(png))[0].text == LONG_URL


async def test_a_cancelled_caller_does_not_lose_the_render() -> None:
    before = qr.render_count()
    waiter = asyncio.create_task(qr.render_qr_card_async(SHORT_URL, "Cancel", "RWF2"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    png = await qr.render_qr_card_async(SHORT_URL, "Cancel", "RWF2")
    assert decode(open_png(png))[0].text == SHORT_URL
    assert qr.render_count() == before + 1


async def test_cache_forgets_the_least_recently_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qr, "CACHE_SIZE", 2)
    for title in ("one", "two", "three"):
        await qr.render_qr_card_async(SHORT_URL, title, "")
    before = qr.render_count()
    await qr.render_qr_card_async(SHORT_URL, "three", "")  # still cached
    assert qr.render_count() == before
    await qr.render_qr_card_async(SHORT_URL, "one", "")  # evicted: rendered again
    assert qr.render_count() == before + 1


def test_card_prints_scan_to_pay_and_the_url_under_the_code() -> None:
    plain = open_png(qr.render_qr_card(SHORT_URL, "Invoice #123", "RWF50,000"))
    image = open_png(
        qr.render_qr_card(SHORT_URL, "Invoice #123", "RWF50,000", scan_text="Scan to pay")
    )
    assert [barcode.text for barcode in decode(image)] == [SHORT_URL]
    lines = qr.small_lines(SHORT_URL, "Scan to pay")
    assert lines[0] == "Scan to pay" and "".join(lines[1:]) == SHORT_URL
    # Drawn: the card is taller than without them, and ink is there, under the amount.
    assert image.height > plain.height and image.width == plain.width
    below = image.crop((0, plain.height, image.width, image.height)).convert("L")
    assert below.getextrema()[0] < 128
    # A URL nobody could type is left to the code.
    assert qr.small_lines(LONG_URL, "Scan to pay") == ["Scan to pay"]
