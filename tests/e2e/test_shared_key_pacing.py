"""A shared operator key on market day (issue 15): many quick creates at once against a
provider that answers 429 above 20 requests a second. Every create still succeeds, and each
link is made by exactly one POST that the provider accepted."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.devtools.sandbox import Sandbox
from tests.conftest import World, make_settings, start_world
from tests.fakes.telegram import FakeTelegram

OPERATOR_KEY = "sk_test_operator_market_15"
PEOPLE = 60
FIRST_ID = 41_000
LIMIT = 20  # requests a second the provider takes from one key


@pytest.fixture
async def market(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[World]:
    allowed = ",".join(str(FIRST_ID + n) for n in range(PEOPLE))
    settings = make_settings(
        tg,
        sandbox,
        tmp_path / "data",
        dgs_api_key=OPERATOR_KEY,
        dgs_allowed_users=allowed,
        poll_interval_seconds=60,
        log_level="INFO",
        # A guess far above the provider's real limit: the pacer must learn it from 429s.
        dgs_requests_per_second=200,
    )
    running = await start_world(tg, sandbox, settings, auto_connect=False)
    try:
        yield running
    finally:
        if not running.task.done():
            await running.stop()


async def test_creates_on_a_rate_limited_shared_key_all_succeed_once(
    market: World, sandbox: Sandbox
) -> None:
    world = market
    sandbox.set_rate_limit(LIMIT)
    people = [world.user(FIRST_ID + n, f"Vendor {n}") for n in range(PEOPLE)]
    marks = {person.id: world.tg.mark() for person in people}
    for n, person in enumerate(people):
        await world.tg.send_text(person, f"/new 1000 Perf {n}")

    async def card(person_id: int) -> None:
        message = await world.tg.wait_for_message(
            person_id, lambda m: m.photo is not None, since=marks[person_id], timeout=40
        )
        assert "Perf" in message.content, message.describe()

    async with asyncio.timeout(45):
        await asyncio.gather(*(card(person.id) for person in people))

    posts = [r for r in await sandbox.requests() if r["method"] == "POST"]
    refused = [r for r in posts if r["status"] == 429]
    made = Counter(r["body"]["title"] for r in posts if r["status"] == 201)
    assert refused, "the provider never refused: the limit was not reached"
    assert made == Counter(f"Perf {n}" for n in range(PEOPLE))  # each once, none twice
    assert len(sandbox.store.list_links(OPERATOR_KEY, limit=1000, offset=0)) == PEOPLE
