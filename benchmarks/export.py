"""``/export`` of 1,000 links: ``python benchmarks/export.py [--links 1000] [--stale 100]``.

The bot runs in this process through ``bot.app.run_bot`` against the fake Bot API and the
sandbox (real HTTP on 127.0.0.1); the time runs from ``/export`` reaching the fake to the CSV
reaching it. Measured in the same run:

- baseline: a bare httpx loop fetching the same links' details at the export's concurrency
  (``PARALLEL_GETS``), no pacing;
- cold: the bot has no snapshot of any link (all fetched), pacing off (1000 requests/s per
  key), so it is compared with the baseline like for like;
- warm: the bot holds a fresh snapshot of every link but ``--stale`` ones (as the poller
  leaves them), at the bot's default pacing (10 requests/s per key).

Each bot run also sends a second ``/export`` while the first runs, which must be answered
"already running". Prints the ratios first, then the absolute numbers, then whether the
target (≤ 30 s for 1,000 links) holds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings
from bot.dashboard import PARALLEL_GETS
from bot.devtools.sandbox import Sandbox
from bot.dgs import API_KEY_HEADER
from bot.dgs.models import LinkDetails, LinkPage
from tests.conftest import TEST_TOKEN, World, make_settings, start_world
from tests.fakes.telegram import FakeTelegram

TARGET_SECONDS = 30.0
USER_ID = 4242
KEY = f"sk_test_tg_{USER_ID}"


async def all_details(base_url: str, key: str) -> tuple[float, list[LinkDetails]]:
    """The baseline: list the key's links, then GET each one, ``PARALLEL_GETS`` at a time."""
    started = time.perf_counter()
    headers = {API_KEY_HEADER: key}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        ids: list[str] = []
        page = 1
        while True:
            answer = await client.get("/payment-links", params={"page": page, "per_page": 100})
            listed = LinkPage.model_validate(answer.json())
            ids += [link.id for link in listed.links]
            if page >= listed.pagination.total_pages:
                break
            page += 1
        gate = asyncio.Semaphore(PARALLEL_GETS)

        async def one(link_id: str) -> LinkDetails:
            async with gate:
                answer = await client.get(f"/payment-links/{link_id}")
            return LinkDetails.model_validate(answer.json())

        found = await asyncio.gather(*(one(link_id) for link_id in ids))
    return time.perf_counter() - started, list(found)


async def export_once(world: World) -> tuple[float, bool, int]:
    """Seconds from /export to the CSV, whether a second press said "already running", and
    the CSV's rows."""
    user = world.user(USER_ID, "Vendor")
    tg = world.tg
    mark = tg.mark()
    started = time.perf_counter()
    await tg.send_text(user, "/export")
    await tg.wait_for_message(user.id, lambda m: "Preparing" in m.content, since=mark)
    await tg.send_text(user, "/export")
    second = await tg.wait_for_message(
        user.id, lambda m: "already running" in m.content or m.document is not None, timeout=60
    )
    sent = second
    if sent.document is None:
        sent = await tg.wait_for_message(
            user.id, lambda m: m.document is not None, timeout=600, since=mark
        )
    elapsed = time.perf_counter() - started
    assert sent.document is not None
    rows = sent.document.decode().count("\r\n") - 1
    return elapsed, second.document is None, rows


async def run_bot(
    links: int, stale: int | None, *, requests_per_second: float, data_dir: Path
) -> tuple[float, bool, int]:
    """One bot over a fresh sandbox of ``links`` links; ``stale`` None: no snapshot at all."""
    async with FakeTelegram(token=TEST_TOKEN) as tg, Sandbox(test_mode=True) as sandbox:
        sandbox.seed_links(KEY, links, title="Stall")
        settings: Settings = make_settings(
            tg,
            sandbox,
            data_dir,
            dgs_requests_per_second=requests_per_second,
            poll_interval_seconds=60.0,  # the default; the tests' 0.2 s would poll non-stop
            log_level="WARNING",
        )
        world = await start_world(tg, sandbox, settings)
        try:
            # Connect the key as any command does first (auto-connect), without listing.
            await world.services.accounts.api_key_for(USER_ID)
            if stale is not None:
                await seed_snapshots(world, sandbox.api_base_url, links - stale)
            return await export_once(world)
        finally:
            await world.stop()


async def seed_snapshots(world: World, base_url: str, fresh: int) -> None:
    """The bot's store as the poller leaves it: ``fresh`` links with a snapshot taken now,
    not due again for a while; the others known but never polled."""
    _, details = await all_details(base_url, KEY)
    services = world.services
    later = time.time() + 3600
    for index, item in enumerate(details):
        await services.links.remember(
            item.link, api_key=KEY, owner_user_id=USER_ID, chat_id=USER_ID
        )
        if index < fresh:
            await services.repo.save_snapshot(
                None,
                item.link.id,
                item,
                next_poll_at=later,
                quiet_steps=3,
                final_polled=False,
            )
        else:
            await services.repo.set_next_poll(item.link.id, later)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with Sandbox(test_mode=True) as sandbox:
            sandbox.seed_links(KEY, args.links, title="Stall")
            baseline, found = await all_details(sandbox.api_base_url, KEY)
            assert len(found) == args.links
        cold, cold_refused, cold_rows = await run_bot(
            args.links, None, requests_per_second=1000.0, data_dir=Path(tmp) / "cold"
        )
        warm, warm_refused, warm_rows = await run_bot(
            args.links, args.stale, requests_per_second=10.0, data_dir=Path(tmp) / "warm"
        )
    print(f"ratio cold export / bare httpx loop: {cold / baseline:.2f}×")
    print(f"ratio warm export / bare httpx loop: {warm / baseline:.2f}×")
    print(f"bare httpx loop, {args.links} GETs at concurrency {PARALLEL_GETS}: {baseline:.2f} s")
    print(
        f"cold export (no snapshot, every link fetched, pacing off): {cold:.2f} s, "
        f"{cold_rows} rows, second press refused: {cold_refused}"
    )
    print(
        f"warm export ({args.stale} stale of {args.links}, default pacing 10/s per key): "
        f"{warm:.2f} s, {warm_rows} rows, second press refused: {warm_refused}"
    )
    worst = args.links / 10.0
    print(f"a cold export at the default pacing needs at least {worst:.0f} s (10 GETs/s/key)")
    holds = max(cold, warm) <= TARGET_SECONDS and cold_refused and warm_refused
    print(
        f"target ≤ {TARGET_SECONDS:.0f} s for {args.links} links: {'holds' if holds else 'MISSED'}"
    )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=1000)
    parser.add_argument("--stale", type=int, default=100)
    return parser.parse_args(argv)


def cli(argv: list[str] | None = None) -> Any:
    return asyncio.run(main(parse(argv)))


if __name__ == "__main__":
    cli()
