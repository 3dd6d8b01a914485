"""bot.qr renders cards in a worker process (issue 15): a render in a thread holds the GIL, and
every socket send of the bot's loop waits for it. The workers stop with the bot, and a worker
that dies is replaced."""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from bot import qr
from tests.conftest import World

URL = "https://pay.digitalservicescenter.rw/generation/pay/tomatoes-42"


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    qr.clear_cache()
    yield
    qr.clear_cache()
    qr.stop_renderer()


def decoded(png: bytes) -> str:
    return str(zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))[0].text)


def render_workers() -> set[int]:
    """The pids of this process's live child processes: in these tests, the render workers
    (and, for a moment after a worker is killed, one its broken pool started meanwhile)."""
    return {child.pid for child in multiprocessing.active_children() if child.pid is not None}


async def test_a_card_is_drawn_in_another_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_here(*args: object) -> bytes:
        raise AssertionError("drawn in the bot's own process")

    # Only this process's copy of the drawing is broken: a worker has its own.
    monkeypatch.setattr(qr, "_render", not_here)
    before = qr.render_count()
    png = await qr.render_qr_card_async(URL, "Tomatoes", "RWF 1,000", scan_text="Scan to pay")
    assert decoded(png) == URL
    assert qr.render_count() == before + 1  # counted in the bot's process all the same
    assert render_workers() and os.getpid() not in render_workers()


async def test_the_workers_stop_and_start_again() -> None:
    await qr.render_qr_card_async(URL, "One", "RWF 1")
    workers = render_workers()
    assert workers
    await asyncio.to_thread(qr.stop_renderer)
    assert not render_workers() & workers
    png = await qr.render_qr_card_async(URL, "Two", "RWF 2")
    assert decoded(png) == URL


async def test_a_dead_worker_is_replaced() -> None:
    await qr.render_qr_card_async(URL, "Before", "RWF 1")
    workers = render_workers()
    assert workers
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    before = qr.render_count()
    png = await qr.render_qr_card_async(URL, "After", "RWF 2")
    assert decoded(png) == URL
    assert qr.render_count() == before + 1
    png = await qr.render_qr_card_async(URL, "Later", "RWF 3")
    assert decoded(png) == URL


async def test_the_bot_stops_its_render_workers(world: World) -> None:
    vendor = world.user(502, "Aline")
    others = render_workers()
    mark = world.tg.mark()
    await world.tg.send_text(vendor, "/new 1000 Tomatoes")
    card = await world.tg.wait_for_message(vendor.id, lambda m: m.photo is not None, since=mark)
    assert card.photo is not None and decoded(card.photo).startswith(world.sandbox.url)
    workers = render_workers() - others
    assert workers
    await world.stop()
    assert not render_workers() & workers


CHILD = """
import asyncio, multiprocessing, pathlib, sys
from bot import qr

async def main() -> None:
    await qr.render_qr_card_async("https://pay.example.rw/x", "Killed", "RWF 1")
    pids = [str(child.pid) for child in multiprocessing.active_children()]
    scratch = pathlib.Path(sys.argv[1] + ".tmp")
    scratch.write_text(" ".join(pids))
    scratch.replace(sys.argv[1])
    await asyncio.sleep(60)

asyncio.run(main())
"""


def gone(pid: int) -> bool:
    """No such process, or only its exit status left for a parent to collect."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def test_the_workers_end_when_the_bot_is_killed(tmp_path: Path) -> None:
    report = tmp_path / "workers"
    bot = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, str(report))
    await eventually_true(report.exists, timeout=60)
    workers = [int(pid) for pid in report.read_text().split()]
    assert workers and not any(gone(pid) for pid in workers)
    bot.kill()  # no shutdown, no atexit: what an out-of-memory kill does
    await bot.wait()
    await eventually_true(lambda: all(gone(pid) for pid in workers))


async def eventually_true(check: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"still not true: {check}"
        await asyncio.sleep(0.05)
