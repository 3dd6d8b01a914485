"""Which links are watched, from when, and what counts as news (issue 12, points 1–4, 21).

Every test runs the real bot with its real job queue: the sweep, the polls and the sender
run as scheduled, never called by the test. The sandbox is the provider, over HTTP.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.devtools.sandbox import Sandbox
from bot.dgs.client import DGSClient
from bot.dgs.models import KIGALI, AmountType, Link, LinkCreate
from bot.notify import notifier_of
from tests.conftest import World, make_settings, start_world
from tests.fakes.telegram import FakeTelegram, FakeUser, ServerError

NBSP = "\xa0"
KEY = "sk_test_vendor_watch_0042"


def rwf(amount: int) -> str:
    return f"RWF{NBSP}{amount:,}"


async def provider_link(sandbox: Sandbox, key: str, title: str, amount: int = 900) -> Link:
    """A link made on the provider's dashboard: the bot is not told."""
    async with DGSClient(sandbox.api_base_url) as client:
        body = LinkCreate(
            title=title, amount_type=AmountType.FIXED, amount=Decimal(amount), currency="RWF"
        )
        return await client.create_link(key, body)


async def connected_key(world: World, user: FakeUser) -> str:
    """The user's key, connected now (the world gives every user a sandbox key)."""
    key = await world.services.accounts.api_key_for(user.id)
    assert key is not None
    return key


async def until(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.02)


async def bot_link(world: World, user: FakeUser, title: str) -> Link:
    """A link made through the bot (recorded as the create flow records it)."""
    key = await connected_key(world, user)
    body = LinkCreate(
        title=title, amount_type=AmountType.FIXED, amount=Decimal(900), currency="RWF"
    )
    link = await world.services.dgs.create_link(key, body)
    await world.services.links.remember(link, api_key=key, owner_user_id=user.id, chat_id=user.id)
    return link


async def watched(world: World, link_id: str) -> bool:
    return await world.services.repo.get_link(link_id) is not None


@pytest.fixture
async def slow_world(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> Any:
    """A bot polling every 30 s: anything that happens within a few seconds happened because
    a job ran at start or was started by the event, not because an interval came round."""
    settings = make_settings(tg, sandbox, tmp_path / "data", poll_interval_seconds=30)
    world = await start_world(tg, sandbox, settings)
    yield world
    await world.stop()


# --- 1 and 3: at start, links made while the bot was down ---------------------------------


async def test_a_link_made_while_the_bot_was_down_is_watched_at_start_and_its_payment_told(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = make_settings(tg, sandbox, tmp_path / "data", poll_interval_seconds=30)
    world = await start_world(tg, sandbox, settings)
    alice = world.user(1201, "Alice")
    await world.say(alice, "/start")
    key = await connected_key(world, alice)
    await world.stop()

    # While the bot is down, a link is made on the dashboard and paid.
    link = await provider_link(sandbox, key, "Made while down", 700)
    await sandbox.add_charge(key, link.id, 700, payer_name="Aline")

    world = await start_world(tg, sandbox, settings)
    try:
        # The sweep runs at start (not after a whole interval), and the link was made after
        # the key was connected: the payment made before the bot saw it is news.
        message = await tg.wait_for_message(
            alice.id, lambda m: "Made while down" in m.content, timeout=10
        )
        assert message.content.startswith(f"💰 Payment received: {rwf(700)} for Made while down")
    finally:
        await world.stop()


async def test_a_link_older_than_the_connection_keeps_its_payments_as_history(
    world: World,
) -> None:
    alice = world.user(1202, "Alice")
    key = world.services.accounts.sandbox_key(alice.id)
    link = await provider_link(world.sandbox, key, "Older than the bot", 900)
    await world.sandbox.add_charge(key, link.id, 900)
    await asyncio.sleep(1.1)  # provider times have whole seconds
    await world.say(alice, "/start")
    assert await connected_key(world, alice) == key

    await until(lambda: watched(world, link.id), 3, "the old link watched")
    await asyncio.sleep(1.0)  # several sweeps and polls
    assert [m for m in world.tg.sent_to(alice) if "Payment received" in m.content] == []

    await world.sandbox.add_charge(key, link.id, 1800)
    message = await world.tg.wait_for_message(alice.id, lambda m: "Payment received" in m.content)
    assert message.content.startswith(f"💰 Payment received: {rwf(1800)} for Older than the bot")
    assert f"Total: {rwf(2700)}" in message.content


# --- 2: /connect lists the key at once -------------------------------------------------------


async def test_connect_watches_the_keys_links_at_once(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = make_settings(tg, sandbox, tmp_path / "data", poll_interval_seconds=30)
    world = await start_world(tg, sandbox, settings, auto_connect=False)
    try:
        bob = world.user(1203, "Bob")
        old = await provider_link(sandbox, KEY, "Shop sign")
        await sandbox.add_charge(KEY, old.id, 900)
        await asyncio.sleep(1.1)  # provider times have whole seconds
        await world.say(bob, "/connect")
        await tg.send_text(bob, KEY)
        await tg.wait_for_message(bob.id, lambda m: "Connected" in m.text)
        # Not at the next sweep, 30 s away: now.
        await until(lambda: watched(world, old.id), 5, "the key's link watched after /connect")
        stored = await world.services.repo.get_link(old.id)
        assert stored is not None and stored.owner_user_id == bob.id
        await asyncio.sleep(0.5)
        assert [m for m in tg.sent_to(bob) if "Payment received" in m.content] == []
    finally:
        await world.stop()


# --- 4: discovery and paid quiet links within two intervals ----------------------------------


async def test_a_link_made_on_the_dashboard_is_watched_within_two_intervals(world: World) -> None:
    alice = world.user(1204, "Alice")
    await world.say(alice, "/start")
    key = await connected_key(world, alice)
    await asyncio.sleep(0.5)
    link = await provider_link(world.sandbox, key, "Dashboard link")
    interval = world.settings.poll_interval_seconds
    # 2 intervals is the promise; the margin is for a loaded test machine.
    await until(lambda: watched(world, link.id), 2 * interval + 2, "the new link watched")
    await world.sandbox.add_charge(key, link.id, 900)
    message = await world.tg.wait_for_message(alice.id, lambda m: "Dashboard link" in m.content)
    assert message.content.startswith(f"💰 Payment received: {rwf(900)} for Dashboard link")


async def test_a_payment_on_a_quiet_link_is_told_within_an_interval_or_two(world: World) -> None:
    alice = world.user(1205, "Alice")
    await world.say(alice, "/start")
    key = await connected_key(world, alice)
    link = await provider_link(world.sandbox, key, "Quiet link")
    await until(lambda: watched(world, link.id), 3, "the link watched")

    async def polled() -> bool:
        stored = await world.services.repo.get_link(link.id)
        return stored is not None and stored.snapshot is not None

    await until(polled, 3, "a first poll")
    # Quiet for days: its next details poll is an hour away.
    await world.services.repo.set_next_poll(link.id, time.time() + 3600, quiet_steps=9)
    await world.sandbox.add_charge(key, link.id, 900)
    # The list's use_count shows the payment: polled now, not in an hour.
    message = await world.tg.wait_for_message(
        alice.id, lambda m: "Quiet link" in m.content, timeout=3
    )
    assert message.content.startswith(f"💰 Payment received: {rwf(900)} for Quiet link")


# --- 21: a clock stepped back --------------------------------------------------------------


class SteppedClock:
    """The machine's wall clock, which an operator (or NTP) can set back."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def step_back(world: World, seconds: float) -> None:
    """Every reader of wall time in the notifier and the store sees the clock set back."""
    clock = SteppedClock()
    notifier = notifier_of(world.app)
    notifier.poller.clock = clock
    notifier.sender.clock = clock
    world.services.repo._clock = clock  # the store's injectable clock
    clock.offset = -seconds


async def test_a_clock_set_back_an_hour_does_not_pause_polls(world: World) -> None:
    alice = world.user(1206, "Alice")
    await world.say(alice, "/start")
    key = await connected_key(world, alice)
    link = await bot_link(world, alice, "Clock link")
    await world.sandbox.add_charge(key, link.id, 900)
    await world.tg.wait_for_message(alice.id, lambda m: "Clock link" in m.content)

    step_back(world, 3600)
    # A failed charge does not move use_count: only the link's own poll can tell it.
    await world.sandbox.add_charge(key, link.id, 900, status="failed")
    message = await world.tg.wait_for_message(
        alice.id, lambda m: "Clock link" in m.content and "failed" in m.content.lower(), timeout=5
    )
    assert "Clock link" in message.content


async def test_a_clock_set_back_an_hour_does_not_pause_alert_retries(world: World) -> None:
    alice = world.user(1207, "Alice")
    await world.say(alice, "/start")
    key = await connected_key(world, alice)
    link = await bot_link(world, alice, "Retry link")
    notifier_of(world.app).sender.config.retry_base = 1.0
    world.tg.inject("sendMessage", ServerError(502), chat_id=alice.id)
    await world.sandbox.add_charge(key, link.id, 900)

    async def released() -> bool:
        rows = await world.services.db.fetchall(
            "SELECT attempts FROM outbox WHERE chat_id = ? AND state = 'pending'", (alice.id,)
        )
        return any(row["attempts"] >= 1 for row in rows)

    await until(released, 5, "the first send failed and waits for its retry")
    step_back(world, 3600)
    message = await world.tg.wait_for_message(
        alice.id, lambda m: "Retry link" in m.content, timeout=6
    )
    assert message.content.startswith(f"💰 Payment received: {rwf(900)} for Retry link")


# --- issue 15: links found from the list alone; quiet links are not polled blindly --------


async def test_old_links_are_adopted_from_the_list_alone_and_only_new_payments_told(
    world: World,
) -> None:
    alice = world.user(1208, "Alice")
    key = world.services.accounts.sandbox_key(alice.id)
    two_days_ago = (datetime.now(KIGALI) - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    ids = world.sandbox.store.seed_links(key, 250, created_at=two_days_ago, title="Old stall")
    await world.sandbox.add_charge(key, ids[7], 500, payer_name="History")
    await world.sandbox.clear_requests()
    await world.say(alice, "/start")
    await connected_key(world, alice)

    async def all_watched() -> bool:
        rows = await world.services.db.fetchall(
            "SELECT COUNT(*) AS n FROM links WHERE owner_user_id = ?", (alice.id,)
        )
        return rows[0]["n"] == 250

    await until(all_watched, 5, "the 250 old links watched")
    details = [
        e for e in await world.sandbox.requests() if e["path"].rstrip("/").split("/")[-1] in ids
    ]
    assert details == []  # found from the lists: 3 pages a sweep, not 250 details calls

    await world.sandbox.add_charge(key, ids[7], 700, payer_name="Aline")
    message = await world.tg.wait_for_message(alice.id, lambda m: "Payment received" in m.content)
    assert message.content.startswith(f"💰 Payment received: {rwf(700)} for Old stall")
    await asyncio.sleep(0.5)
    told = [m.content for m in world.tg.sent_to(alice) if "Payment received" in m.content]
    assert len(told) == 1 and "History" not in told[0]
