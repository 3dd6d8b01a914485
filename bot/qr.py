"""The QR card: a scannable code of a payment link, with its title and amount underneath,
then "Scan to pay" and the URL printed for typing by hand (when it fits in two lines).

Rendering is CPU work (QR encoding in pure Python, text drawing), so the bot calls
``render_qr_card_async``, which runs it in a worker process and caches the PNG by content.
A worker thread would keep the loop free but not the GIL: while it renders, every socket send
on the loop waits for it, and a burst of cards slows every reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import json
import multiprocessing
import os
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.connection import Connection

import qrcode
import qrcode.constants
import qrcode.exceptions
from PIL import Image, ImageDraw

from bot.drawing import Font, font

# Bump when the picture changes for the same inputs, so cached Telegram file_ids are dropped.
RENDER_VERSION = 3
DEFAULT_SIZE_HINT = 900
MAX_SIDE = 1000
QUIET_ZONE = 4  # modules; the QR spec's minimum
PREFERRED_MIN_MODULE = 8  # px: scans from a phone screen at arm's length
MIN_MODULE = 4  # px: only for very long URLs that would not fit otherwise
TITLE_LINES = 2
URL_LINES = 2  # a longer URL is not one anybody would type
CACHE_SIZE = 128
RENDER_WORKERS = 2  # a burst of cards renders on both cores of a small machine

# Q first (a quarter of the code may be damaged or covered); M when Q would not fit.
_EC_LEVELS = (
    ("Q", qrcode.constants.ERROR_CORRECT_Q),
    ("M", qrcode.constants.ERROR_CORRECT_M),
)

_ELLIPSIS = "…"
# The card is drawn in sixteen greys, as palette indices (0 black … 15 white): PNG then
# stores four bits a pixel, and encodes in two thirds of the time of an 8-bit grey PNG (the
# code is black and white; only text edges are grey, and sixteen steps smooth them enough).
_INK = 0
_CAPTION_INK = 2
_PAPER = 15
_GREYS = bytes(level * 17 for level in range(16) for _ in "RGB")


def _one_line(text: str) -> str:
    """Whitespace runs (newlines included) become one space; control characters go."""
    text = " ".join(unicodedata.normalize("NFC", text).split())
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cc")


def _fit(text: str, font: Font, width: int) -> str:
    """The longest prefix of ``text`` that fits ``width`` with an ellipsis after it."""
    if font.getlength(text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if font.getlength(text[:mid].rstrip() + _ELLIPSIS) <= width:
            low = mid
        else:
            high = mid - 1
    return text[:low].rstrip() + _ELLIPSIS


def _wrap(text: str, font: Font, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap into at most ``max_lines``; the last line ellipsized if cut."""
    lines: list[str] = []
    rest = text
    while rest and len(lines) < max_lines:
        if len(lines) == max_lines - 1 or font.getlength(rest) <= width:
            lines.append(_fit(rest, font, width))
            break
        words = rest.split(" ")
        line = words[0]
        taken = 1
        for word in words[1:]:
            if font.getlength(f"{line} {word}") > width:
                break
            line = f"{line} {word}"
            taken += 1
        if font.getlength(line) > width:
            # One word longer than the line: break it where it stops fitting.
            cut = len(_fit(line, font, width)) - len(_ELLIPSIS)
            line, rest = line[: max(cut, 1)], line[max(cut, 1) :] + rest[len(line) :]
        else:
            rest = " ".join(words[taken:])
        lines.append(line)
        rest = rest.strip()
    return lines


@dataclass(frozen=True)
class _Layout:
    matrix: list[list[bool]]
    ec_level: str
    module: int
    title_size: int
    amount_size: int

    @property
    def width(self) -> int:
        return len(self.matrix) * self.module

    @property
    def margin(self) -> int:
        return max(QUIET_ZONE * self.module, 24)

    @property
    def small_size(self) -> int:
        return max(16, self.width // 28)

    def caption_height(self, title_lines: int, has_amount: bool, small_lines: int = 0) -> int:
        height = title_lines * _line_height(self.title_size)
        if has_amount:
            height += _line_height(self.amount_size) + self.title_size // 2
        if small_lines:
            height += small_lines * _line_height(self.small_size) + self.title_size // 2
        return height + self.margin if height else 0


def _line_height(size: int) -> int:
    return size * 5 // 4


def _matrix(url: str, ec: int) -> list[list[bool]] | None:
    code = qrcode.QRCode(error_correction=ec, border=QUIET_ZONE)
    code.add_data(url)
    try:
        code.make(fit=True)
    except (qrcode.exceptions.DataOverflowError, ValueError):
        # Past version 40 qrcode raises a plain ValueError ("Invalid version").
        return None
    matrix: list[list[bool]] = code.get_matrix()
    return matrix


@functools.lru_cache(maxsize=32)
def _layout(url: str, size_hint: int) -> _Layout:
    """The largest module size that keeps the card within ``size_hint`` (height), but not
    under 8 px unless needed to stay within 1000 px, and never under 4 px.

    Cached: a card needs it twice (the code, then the small print's width), and encoding the
    QR code (eight masks tried) is most of what a card costs."""
    target = min(max(size_hint, 200), MAX_SIDE)
    for name, ec in _EC_LEVELS:
        matrix = _matrix(url, ec)
        if matrix is None:
            continue
        side = len(matrix)
        for module in range(max(target // side, PREFERRED_MIN_MODULE), MIN_MODULE - 1, -1):
            width = side * module
            layout = _Layout(
                matrix=matrix,
                ec_level=name,
                module=module,
                title_size=max(20, width // 20),
                amount_size=max(22, width // 17),
            )
            # Reserve the caption's worst case so the module size never depends on the title.
            height = width + layout.caption_height(TITLE_LINES, True, 1 + URL_LINES)
            if height <= (MAX_SIDE if module <= PREFERRED_MIN_MODULE else target):
                return layout
    raise ValueError("URL too long for a QR card")


_render_lock = threading.Lock()
_render_counter = 0


def render_count() -> int:
    """How many cards this process has rendered (the cache's hits do not count)."""
    return _render_counter


def url_lines(url: str, font: Font, width: int, max_lines: int = URL_LINES) -> list[str]:
    """The URL cut anywhere into lines of ``width`` (a URL has no spaces to wrap at); none
    when it needs more than ``max_lines``: nobody types that, the code is for it."""
    lines: list[str] = []
    rest = url
    while rest:
        if len(lines) == max_lines:
            return []
        # The longest prefix that fits (at least one character): a prefix is never narrower
        # than a shorter one, so halving finds it in a few measures, not one per character.
        low, high = 1, len(rest)
        while low < high:
            mid = (low + high + 1) // 2
            if font.getlength(rest[:mid]) <= width:
                low = mid
            else:
                high = mid - 1
        cut = low
        lines.append(rest[:cut])
        rest = rest[cut:]
    return lines


def small_lines(url: str, scan_text: str, *, size_hint: int = DEFAULT_SIZE_HINT) -> list[str]:
    """The small print under the amount: ``scan_text`` and the URL's lines (none without
    ``scan_text``: a bare code stays a bare code)."""
    if not scan_text:
        return []
    layout = _layout(url, size_hint)
    small = font(False, layout.small_size)
    lines = [_fit(scan_text, small, layout.width - 2 * layout.margin)]
    return lines + url_lines(url, small, layout.width - 2 * layout.margin)


def render_qr_card(
    url: str,
    title: str,
    amount_line: str,
    *,
    size_hint: int = DEFAULT_SIZE_HINT,
    scan_text: str = "",
) -> bytes:
    """PNG bytes: the QR code of ``url`` (EC level Q, or M for very long URLs; 4-module quiet
    zone) with ``title`` (at most two lines, ellipsized) and ``amount_line`` under it, then
    ``scan_text`` ("Scan to pay", in the vendor's language) and the URL (``small_lines``).

    Deterministic for the same inputs. Raises ``ValueError`` for a URL no QR code can hold.
    """
    global _render_counter
    # One render at a time: FreeType faces are shared and not thread-safe.
    with _render_lock:
        png = _render_card(url, title, amount_line, size_hint, scan_text)
        _render_counter += 1
    return png


def _render_card(url: str, title: str, amount_line: str, size_hint: int, scan_text: str) -> bytes:
    # What a render worker runs: module-level and plain arguments, so it pickles.
    return _render(url, _one_line(title), _one_line(amount_line), size_hint, _one_line(scan_text))


def _render(url: str, title: str, amount_line: str, size_hint: int, scan_text: str) -> bytes:
    layout = _layout(url, size_hint)
    small = small_lines(url, scan_text, size_hint=size_hint)
    side = len(layout.matrix)
    modules = Image.frombytes(
        "L",
        (side, side),
        bytes(_INK if dark else _PAPER for row in layout.matrix for dark in row),
    )
    width = layout.width
    text_width = width - 2 * layout.margin
    title_font = font(True, layout.title_size)
    amount_font = font(False, layout.amount_size)
    title_lines = _wrap(title, title_font, text_width, TITLE_LINES) if title else []
    amount = _fit(amount_line, amount_font, text_width) if amount_line else ""
    height = width + layout.caption_height(len(title_lines), bool(amount), len(small))

    card = Image.new("L", (width, height), _PAPER)
    card.paste(modules.resize((width, width), Image.Resampling.NEAREST), (0, 0))
    draw = ImageDraw.Draw(card)
    # The caption starts below the code's quiet zone, which must stay blank to scan well.
    y = width
    for line in title_lines:
        draw.text((width / 2, y), line, font=title_font, fill=_INK, anchor="ma")
        y += _line_height(layout.title_size)
    if amount:
        y += layout.title_size // 2
        draw.text((width / 2, y), amount, font=amount_font, fill=_CAPTION_INK, anchor="ma")
        y += _line_height(layout.amount_size)
    if small:
        y += layout.title_size // 2
        small_font = font(False, layout.small_size)
        for line in small:
            draw.text((width / 2, y), line, font=small_font, fill=_CAPTION_INK, anchor="ma")
            y += _line_height(layout.small_size)
    card.putpalette(_GREYS)  # the levels drawn become palette indices, in place
    out = io.BytesIO()
    # Level 1: half the time of the default for 2 KB more; Telegram re-encodes it anyway.
    card.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def card_content_hash(
    url: str,
    title: str,
    amount_line: str,
    *,
    size_hint: int = DEFAULT_SIZE_HINT,
    scan_text: str = "",
) -> str:
    """sha256 of the card's inputs and the render version: the key of cached cards and of
    Telegram's file_id for them."""
    payload = json.dumps(
        [RENDER_VERSION, url, title, amount_line, size_hint, scan_text], ensure_ascii=False
    ).encode()
    return hashlib.sha256(payload).hexdigest()


_cache: OrderedDict[str, bytes] = OrderedDict()
_in_flight: dict[str, asyncio.Future[bytes]] = {}
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()
_lifeline: Connection | None = None  # the render workers' lifeline: see _renderer


def _renderer() -> ProcessPoolExecutor:
    """The render workers, started with the first card. Forkserver, not fork: forking a
    process that runs threads (the database's) can copy a lock held mid-use. Each worker is
    forked from a small server that has already imported this module. As with any
    multiprocessing start method but fork, the main module must be safe to import (its work
    behind ``if __name__ == "__main__"``): a worker imports it again."""
    global _pool, _lifeline
    with _pool_lock:
        if _pool is not None:
            return _pool
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        # A worker blocks on its task queue, whose both ends it holds: were this process
        # killed (SIGKILL, out of memory), it would wait forever, and keep the fork server
        # alive too. Each worker watches a pipe only this process writes to instead.
        watched, _lifeline = context.Pipe(duplex=False)
        _pool = ProcessPoolExecutor(
            RENDER_WORKERS, mp_context=context, initializer=_start_worker, initargs=(watched,)
        )
        for _ in range(RENDER_WORKERS):
            # Every worker starts now, with the first card, rather than one in the middle of
            # the next burst (a start imports the bot's main module again, as multiprocessing
            # does, and loads the fonts).
            _pool.submit(_ready)
        return _pool


_WARM_URL = "https://pay.digitalservicescenter.rw/generation/pay/a-typical-link-of-a-vendor"


def _start_worker(lifeline: Connection) -> None:
    """In a new worker: exit when the bot's end of ``lifeline`` closes, then draw a typical
    card once, so its fonts and code paths are loaded before the first card someone waits
    for."""
    threading.Thread(target=_exit_with_the_bot, args=(lifeline,), daemon=True).start()
    _render_card(_WARM_URL, "Tomatoes", "RWF 1,000", DEFAULT_SIZE_HINT, "Scan to pay")


def _exit_with_the_bot(lifeline: Connection) -> None:
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv_bytes()  # nothing is ever sent: this returns when the bot is gone
    os._exit(0)


def _ready() -> None:
    """Nothing: submitted once a worker, to start them all."""


def stop_renderer() -> None:
    """Stop the render workers; a card asked for later starts them again. Blocks until they
    exit (at most one render): call it from a thread when a loop is running."""
    global _pool, _lifeline
    with _pool_lock:
        pool, _pool = _pool, None
        lifeline, _lifeline = _lifeline, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
    if lifeline is not None:
        lifeline.close()


async def in_render_worker(draw: Callable[..., bytes], *args: object) -> bytes:
    """``draw(*args)`` in a render worker process: the loop, and this process's GIL, stay free
    meanwhile. ``draw`` and its arguments must pickle (a module-level function, plain data)."""
    try:
        return await _in_worker(draw, *args)
    except BrokenProcessPool:
        # A worker died (killed, out of memory): its pool is dropped, so this picture and the
        # next ones get fresh workers instead of every later one failing.
        return await _in_worker(draw, *args)


async def _in_worker(draw: Callable[..., bytes], *args: object) -> bytes:
    global _pool
    # Starting the workers waits for them (the first time, for the server they are forked
    # from to import this module): in a thread, so the loop keeps answering meanwhile.
    pool = _pool if _pool is not None else await asyncio.to_thread(_renderer)
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, draw, *args)
    except BrokenProcessPool:
        with _pool_lock:
            if _pool is pool:
                _pool = None
        pool.shutdown(wait=False, cancel_futures=True)
        raise


async def _render_elsewhere(
    url: str, title: str, amount_line: str, size_hint: int, scan_text: str
) -> bytes:
    global _render_counter
    png = await in_render_worker(_render_card, url, title, amount_line, size_hint, scan_text)
    _render_counter += 1  # counted here: a worker's own counter is not this process's
    return png


def clear_cache() -> None:
    """Forget every cached card (renders in flight still finish)."""
    _cache.clear()


def _remember(key: str, png: bytes) -> None:
    _cache[key] = png
    _cache.move_to_end(key)
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)


async def render_qr_card_async(
    url: str,
    title: str,
    amount_line: str,
    *,
    size_hint: int = DEFAULT_SIZE_HINT,
    scan_text: str = "",
) -> bytes:
    """``render_qr_card`` in a worker process, cached by content: a card is rendered once,
    even when several updates ask for it at the same time."""
    key = card_content_hash(url, title, amount_line, size_hint=size_hint, scan_text=scan_text)
    cached = _cache.get(key)
    if cached is not None:
        _cache.move_to_end(key)
        return cached
    loop = asyncio.get_running_loop()
    pending = _in_flight.get(key)
    if pending is None or pending.get_loop() is not loop:
        pending = loop.create_task(
            _render_elsewhere(url, title, amount_line, size_hint, scan_text)
        )
        _in_flight[key] = pending

        def _done(task: asyncio.Future[bytes], key: str = key) -> None:
            if _in_flight.get(key) is task:
                del _in_flight[key]
            if not task.cancelled() and task.exception() is None:
                _remember(key, task.result())

        pending.add_done_callback(_done)
    # A caller that gives up does not cancel the render others may be waiting for.
    return await asyncio.shield(pending)


# Shared with the printed poster (bot/poster.py, issue 17): the same code and the same text
# fitting, drawn at print size.
def code_matrix(url: str) -> list[list[bool]]:
    """The QR code of ``url`` with its quiet zone (EC level Q, or M when Q cannot hold it)."""
    for _name, ec in _EC_LEVELS:
        matrix = _matrix(url, ec)
        if matrix is not None:
            return matrix
    raise ValueError("URL too long for a QR code")


one_line = _one_line
fit_line = _fit
wrap_lines = _wrap
# FreeType faces are shared (bot/drawing.py caches them) and not thread-safe: every picture
# drawn with them holds this lock (a render worker runs one picture at a time anyway).
render_lock = _render_lock
