"""The sweep does not compare a list page with the store again while the provider shows it
exactly as when it last matched (issue 15: the notifier's CPU per request).

Every test runs the real bot with its real job queue (the sweep every 0.2 s); the sandbox is
the provider, over HTTP. Nothing is called by the test but the provider and the clock.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

from bot.dgs.models import KIGALI
from bot.notify import notifier_of
from bot.notify.sweep import RECHECK_AFTER
from tests.conftest import World

NBSP = "\xa0"


async def until(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.02)


async def watched_old_links(world: World, user_id: int, count: int) -> tuple[str, list[str]]:
    """``count`` links made two days ago on the user's key, watched once the user starts."""
    user = world.user(user_id, "Vendor")
    key = world.services.accounts.sandbox_key(user.id)
    two_days_ago = (datetime.now(KIGALI) - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    ids = world.sandbox.store.seed_links(key, count, created_at=two_days_ago, title="Stall")
    await world.say(user, "/start")
    assert await world.services.accounts.api_key_for(user.id) == key  # connected now

    async def all_watched() -> bool:
        rows = await world.services.db.fetchall(
            "SELECT COUNT(*) AS n FROM links WHERE owner_user_id = ?", (user.id,)
        )
        return bool(rows[0]["n"] == count)

    await until(all_watched, 5, f"the {count} old links watched")
    return key, ids


async def test_unchanged_pages_are_listed_but_not_read_against_the_store(world: World) -> None:
    key, ids = await watched_old_links(world, 1501, 250)  # three pages
    sweep = notifier_of(world.app).poller.sweep
    # One sweep after adoption matches every page with the store...
    settled = sweep.requests + 6
    await until(lambda: _at_least(sweep.requests, settled), 5, "two more sweeps")
    listed, read = sweep.requests, sweep.pages_read
    # ...and from then on the provider's pages, still fetched every interval, are not.
    await until(lambda: _at_least(sweep.requests, listed + 9), 5, "three more sweeps")
    assert sweep.pages_read == read

    # A payment moves one link's use_count: that page is read again, and the payment told.
    await world.sandbox.add_charge(key, ids[120], 700, payer_name="Aline")
    message = await world.tg.wait_for_message(
        1501, lambda m: "Payment received" in m.content, timeout=5
    )
    assert message.content.startswith(f"💰 Payment received: RWF{NBSP}700 for Stall")
    assert sweep.pages_read > read


async def test_a_page_is_read_against_the_store_again_after_the_recheck_bound(
    world: World,
) -> None:
    await watched_old_links(world, 1502, 40)  # one page
    poller = notifier_of(world.app).poller
    sweep = poller.sweep
    settled = sweep.requests + 2
    await until(lambda: _at_least(sweep.requests, settled), 5, "two more sweeps")
    listed, read = sweep.requests, sweep.pages_read
    await until(lambda: _at_least(sweep.requests, listed + 3), 5, "three more sweeps")
    assert sweep.pages_read == read

    # The wall clock moves past the bound: the same page is compared with the store again.
    poller.clock = lambda: time.time() + RECHECK_AFTER + 1
    await until(lambda: _at_least(sweep.pages_read, read + 1), 5, "the page read again")


async def _at_least(value: int, target: int) -> bool:
    return value >= target
