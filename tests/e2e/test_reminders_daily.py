"""Issue 17, points 4 and 5: reminders for unpaid invoices and the daily totals.

The real bot with its real job queue: the reminders and the daily totals are the notifier's
``notify:daily`` job, sent through the outbox by the sender job, never called by the test.
The test moves the bot's wall clock (``run_bot(clock=...)``) and the sandbox's, and restarts
the bot on the same data folder to show what survives a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot import callbacks
from bot.config import Settings
from bot.devtools.sandbox import Sandbox
from bot.dgs.models import KIGALI, AmountType, Link, LinkCreate
from tests.conftest import World, eventually, make_settings, start_world
from tests.e2e.test_dashboard import button, key_of, open_card, tap
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser

pytestmark = pytest.mark.timeout(90)

NBSP = "\xa0"
DAY = 24 * 3600.0
QUIET = 1.2  # seconds: several runs of the daily job (every 5 poll ticks) and of the sender


def rwf(amount: int) -> str:
    return f"RWF{NBSP}{amount:,}"


class Clock:
    """The bot's wall clock: real time moved by ``offset`` (kept across restarts)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def set_kigali(self, moment: datetime) -> None:
        self.offset = moment.timestamp() - time.time()


@dataclass
class Bot:
    """A bot that can be restarted on the same data folder with the same clock."""

    tg: FakeTelegram
    sandbox: Sandbox
    settings: Settings
    clock: Clock
    world: World

    async def restart(self) -> None:
        await self.world.stop()
        self.world = await start_world(self.tg, self.sandbox, self.settings, clock=self.clock)


@pytest.fixture
async def bot(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Bot]:
    settings = make_settings(tg, sandbox, tmp_path / "data")
    clock = Clock()
    # Morning of today (Kigali): nobody's 20:00 has come yet, whatever the real time is.
    today = datetime.now(KIGALI).replace(hour=6, minute=0, second=0, microsecond=0)
    clock.set_kigali(today)
    running = Bot(
        tg, sandbox, settings, clock, await start_world(tg, sandbox, settings, clock=clock)
    )
    try:
        yield running
    finally:
        if not running.world.task.done():
            await running.world.stop()


async def make_link(world: World, user: FakeUser, title: str, amount: int, **fields: Any) -> Link:
    """A link made at the provider and recorded the way /new does."""
    # The sandbox key is given on first use (as /new would): from then on it is watched.
    assert await world.services.accounts.api_key_for(user.id) == key_of(user)
    body = LinkCreate(
        title=title,
        amount_type=AmountType.FIXED,
        amount=Decimal(amount),
        currency="RWF",
        **fields,
    )
    link = await world.services.dgs.create_link(key_of(user), body)
    await world.services.links.remember(
        link, api_key=key_of(user), owner_user_id=user.id, chat_id=user.id
    )
    return link


def with_text(tg: FakeTelegram, user: FakeUser, words: str) -> list[FakeMessage]:
    return [m for m in tg.sent_to(user) if words in m.content]


async def set_reminder(world: World, user: FakeUser, link: Link, choice: str) -> FakeMessage:
    """Remind me on the link's card, then ``choice``; returns the card shown again."""
    card = await open_card(world, user, link)
    menu = await tap(world, user, card, button(card, f"{callbacks.REMIND}{link.id}"))
    assert "when should I remind you?" in menu.content, menu.content
    return await tap(world, user, menu, f"{callbacks.REMIND}{link.id}:{choice}")


# --- 4: reminders ----------------------------------------------------------------------------


async def test_an_unpaid_invoice_reminds_its_vendor_once_after_the_chosen_delay(bot: Bot) -> None:
    world, tg = bot.world, bot.tg
    alice = world.user(1701, "Alice")
    await world.say(alice, "/start")
    link = await make_link(world, alice, "Invoice 7 <Musa>", 5000, max_uses=1)
    card = await set_reminder(world, alice, link, "1d")
    assert "I will remind you on" in card.content

    bot.clock.offset += DAY - 120  # two minutes early
    await asyncio.sleep(QUIET)
    assert with_text(tg, alice, "Forward the next message") == []

    bot.clock.offset += 240
    reminder = await tg.wait_for_message(
        alice.id, lambda m: "Forward the next message" in m.content
    )
    assert reminder.content.startswith(f"⏰ Invoice 7 <Musa> ({rwf(5000)}) is still unpaid.")
    share = [b for row in reminder.buttons for b in row if "Share" in b["text"]]
    assert share and share[0]["switch_inline_query"] == (link.slug or link.title)
    whatsapp = [b for row in reminder.buttons for b in row if "WhatsApp" in b["text"]]
    assert whatsapp and whatsapp[0]["url"].startswith("https://wa.me/?text=")
    # The next message is the customer's, as it is: title, amount, address.
    forward = await tg.wait_for_message(alice.id, lambda m: "Pay here:" in m.content)
    assert forward.content == f"Invoice 7 <Musa> — {rwf(5000)}\nPay here: {link.url}"
    assert forward.buttons == [] and forward.message_id > reminder.message_id

    await asyncio.sleep(QUIET)
    assert len(with_text(tg, alice, "Forward the next message")) == 1
    await bot.restart()
    await asyncio.sleep(QUIET)
    assert len(with_text(tg, alice, "Forward the next message")) == 1
    assert len(with_text(tg, alice, "Pay here:")) == 1
    # Only the vendor was ever written to: the customer never started the bot.
    assert {call.chat_id for call in tg.calls("sendMessage")} == {alice.id}


async def test_a_paid_invoice_is_not_reminded(bot: Bot) -> None:
    world, tg = bot.world, bot.tg
    bea = world.user(1702, "Bea")
    await world.say(bea, "/start")
    link = await make_link(world, bea, "Invoice 8", 7000, max_uses=1)
    await set_reminder(world, bea, link, "3d")
    await world.sandbox.add_charge(key_of(bea), link.id, 7000)
    await tg.wait_for_message(bea.id, lambda m: "Payment received" in m.content)

    bot.clock.offset += 3 * DAY + 60
    reminder = await world.services.repo.get_reminder(link.id)
    assert reminder is not None

    async def skipped() -> bool:
        found = await world.services.repo.get_reminder(link.id)
        return found is not None and found.state == "skipped"

    await eventually(skipped)
    await asyncio.sleep(QUIET)
    assert with_text(tg, bea, "Forward the next message") == []


async def test_remind_me_is_only_on_an_unpaid_invoice(bot: Bot) -> None:
    world = bot.world
    cleo = world.user(1703, "Cleo")
    await world.say(cleo, "/start")
    invoice = await make_link(world, cleo, "Invoice 9", 4000, max_uses=1)
    stall = await make_link(world, cleo, "Stall", 500)  # any number of payments
    assert any("Remind me" in t for t in (await open_card(world, cleo, invoice)).button_texts)
    assert not any("Remind me" in t for t in (await open_card(world, cleo, stall)).button_texts)


# --- 5: daily totals -------------------------------------------------------------------------


async def charges_recorded(world: World, count: int) -> None:
    async def recorded() -> bool:
        rows = await world.services.db.fetchall(
            "SELECT 1 FROM charges WHERE status = 'success'", ()
        )
        return len(rows) >= count

    await eventually(recorded, timeout=10)


def kigali_today() -> datetime:
    return datetime.now(KIGALI).replace(hour=0, minute=0, second=0, microsecond=0)


async def a_day_of_sales(bot: Bot, user: FakeUser) -> datetime:
    """One payment yesterday (Samosa 500); today Samosa 500 twice and Cake 3000 once.
    Returns today's midnight (Kigali), by the sandbox's clock and the bot's."""
    world = bot.world
    key = key_of(user)
    samosa = await make_link(world, user, "Samosa", 500)
    await world.sandbox.add_charge(key, samosa.id, 500)  # "yesterday": the real today
    await charges_recorded(world, 1)
    tomorrow = kigali_today() + timedelta(days=1)
    await world.sandbox.advance_clock(
        (tomorrow + timedelta(hours=8) - datetime.now(KIGALI)).total_seconds()
    )
    bot.clock.set_kigali(tomorrow + timedelta(hours=8))
    cake = await make_link(world, user, "Cake", 3000)  # a link made "today"
    await world.sandbox.add_charge(key, samosa.id, 500)
    await world.sandbox.add_charge(key, samosa.id, 500)
    await world.sandbox.add_charge(key, cake.id, 3000)
    await charges_recorded(world, 4)
    return tomorrow


def is_daily(message: FakeMessage) -> bool:
    """A day's totals (not the settings' menu, which starts with the same sign)."""
    return message.content.startswith("📊") and "Daily totals" not in message.content


def daily(tg: FakeTelegram, chat: Any) -> list[FakeMessage]:
    return [m for m in tg.sent_to(chat) if is_daily(m)]


async def test_the_daily_totals_come_at_eight_once_even_across_a_restart(bot: Bot) -> None:
    tg = bot.tg
    dan = bot.world.user(1704, "Dan")
    await bot.world.say(dan, "/start")
    today = await a_day_of_sales(bot, dan)

    bot.clock.set_kigali(today + timedelta(hours=19, minutes=59))
    await asyncio.sleep(QUIET)
    assert daily(tg, dan) == []

    bot.clock.set_kigali(today + timedelta(hours=20, seconds=5))
    message = await tg.wait_for_message(dan.id, is_daily)
    day = f"{today.day} {today.strftime('%B')}"
    assert message.content.splitlines() == [
        f"📊 {day}: 3 payments",
        f"Total: {rwf(4000)}",
        f"Best link: Cake ({rwf(3000)})",
        f"Yesterday: 1 payment, {rwf(500)}",
    ]
    await asyncio.sleep(QUIET)
    assert len(daily(tg, dan)) == 1
    await bot.restart()
    bot.clock.set_kigali(today + timedelta(hours=22))
    await asyncio.sleep(QUIET)
    assert len(daily(tg, dan)) == 1


async def test_a_daily_time_missed_while_down_is_sent_at_start_the_same_day(bot: Bot) -> None:
    tg = bot.tg
    eve = bot.world.user(1705, "Eve")
    await bot.world.say(eve, "/start")
    today = await a_day_of_sales(bot, eve)
    bot.clock.set_kigali(today + timedelta(hours=19, minutes=50))
    await bot.world.stop()
    bot.clock.set_kigali(today + timedelta(hours=21))  # 20:00 passed while the bot was down
    bot.world = await start_world(bot.tg, bot.sandbox, bot.settings, clock=bot.clock)
    message = await tg.wait_for_message(eve.id, is_daily, timeout=5)
    assert ": 3 payments" in message.content


async def test_daily_totals_are_off_for_a_group_and_can_be_turned_off_or_moved(bot: Bot) -> None:
    world, tg = bot.world, bot.tg
    fay = world.user(1706, "Fay")  # turns them off
    gus = world.user(1707, "Gus")  # moves them to 18:00
    for user in (fay, gus):
        await world.say(user, "/start")
    group = tg.group(-1707, "Market", {gus: "creator"})
    await tg.add_bot_to_group(gus, group)
    # A link posted in the group, made today: its owner's day, never the group's.
    assert await world.services.accounts.api_key_for(gus.id) == key_of(gus)
    body = LinkCreate(
        title="Roof", amount_type=AmountType.FIXED, amount=Decimal(900), currency="RWF"
    )
    roof = await world.services.dgs.create_link(key_of(gus), body)
    await world.services.links.remember(
        roof, api_key=key_of(gus), owner_user_id=gus.id, chat_id=group.id, group_chat_id=group.id
    )
    await make_link(world, fay, "Tea", 300)

    settings = await world.say(fay, "/notifications")
    menu = await tap(
        world, fay, settings, callbacks.DAILY_MENU, lambda m: "Daily totals" in m.content
    )
    await tap(world, fay, menu, f"{callbacks.DAILY}off")
    settings = await world.say(gus, "/notifications")
    assert "📊 Daily totals: 20:00" in settings.button_texts
    menu = await tap(
        world, gus, settings, callbacks.DAILY_MENU, lambda m: "Daily totals" in m.content
    )
    menu = await tap(world, gus, menu, f"{callbacks.DAILY}{18 * 60}")
    assert "✅ 18:00" in menu.button_texts

    today = kigali_today()
    bot.clock.set_kigali(today + timedelta(hours=17, minutes=59))
    await asyncio.sleep(QUIET)
    assert daily(tg, gus) == []
    bot.clock.set_kigali(today + timedelta(hours=18, seconds=5))
    await tg.wait_for_message(gus.id, is_daily)
    bot.clock.set_kigali(today + timedelta(hours=23))
    await asyncio.sleep(QUIET)
    assert daily(tg, fay) == []
    assert daily(tg, group) == []
    assert len(daily(tg, gus)) == 1
