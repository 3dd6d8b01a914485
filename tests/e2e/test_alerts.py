"""Payment alerts over the fake Bot API and the sandbox provider (real HTTP both ways).

The world polls every 0.2 s. Links are made on the provider directly and recorded with
``LinkService.remember`` (what the create flow does after the provider answered).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot import callbacks
from bot.config import Settings
from bot.devtools.sandbox import Sandbox
from bot.dgs.models import KIGALI, AmountType, Link, LinkCreate
from bot.notify import notifier_of
from bot.notify.diff import Alert, Event, EventKind, LinkFacts
from bot.services import open_services
from bot.store.models import NotifyLevel, OutboxRow
from tests.conftest import TEST_TOKEN, World, make_settings, start_world
from tests.fakes.telegram import (
    FakeMessage,
    FakeTelegram,
    FakeUser,
    RetryAfter,
    ServerError,
    Timeout,
)

INTERVAL = 0.2  # the world's POLL_INTERVAL_SECONDS


@pytest.fixture
def settings(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path, database_url: str) -> Settings:
    """Every ``world`` of this file runs on SQLite and again on PostgreSQL (DATABASE_URL)."""
    engine = {"database_url": database_url} if database_url.startswith("postgresql://") else {}
    return make_settings(tg, sandbox, tmp_path / "data", **engine)


PROJECT_ROOT = Path(__file__).resolve().parents[2]
NBSP = "\xa0"


def rwf(amount: int) -> str:
    """An amount as the English alerts write it."""
    return f"RWF{NBSP}{amount:,}"


async def make_link(
    world: World,
    owner: FakeUser,
    title: str = "Church roof",
    chat_id: int | None = None,
    **fields: Any,
) -> tuple[Link, str]:
    """A link made by ``owner``'s key (in ``chat_id``, by default their private chat) and
    recorded as the create flow records it."""
    services = world.services
    key = await services.accounts.api_key_for(owner.id)
    assert key is not None
    body = LinkCreate(
        title=title, amount_type=AmountType.FIXED, amount=Decimal(5000), currency="RWF", **fields
    )
    link = await services.dgs.create_link(key, body)
    await services.links.remember(
        link, api_key=key, owner_user_id=owner.id, chat_id=chat_id or owner.id
    )
    return link, key


def alerts(tg: FakeTelegram, user: FakeUser, needle: str) -> list[FakeMessage]:
    return [m for m in tg.sent_to(user) if needle in m.content]


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 5.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within} s")
        await asyncio.sleep(0.02)


async def link_gets(sandbox: Sandbox, link_id: str) -> int:
    return sum(
        1
        for entry in await sandbox.requests()
        if entry["method"] == "GET" and entry["path"].endswith(f"/payment-links/{link_id}")
    )


async def key_requests(sandbox: Sandbox, key: str) -> list[dict[str, Any]]:
    return [entry for entry in await sandbox.requests() if entry["key"] == key[-4:]]


async def outbox(world: World) -> list[OutboxRow]:
    """The outbox once the sender has marked what it sent: Telegram has a message a moment
    before its row says so (on PostgreSQL this read does not queue behind that write)."""

    async def settled() -> bool:
        in_flight = "SELECT count(*) FROM outbox WHERE state = 'in_flight'"
        return not (await world.services.db.fetchall(in_flight))[0][0]

    await eventually(settled, what="no alert in flight")
    rows = await world.services.db.fetchall("SELECT id FROM outbox ORDER BY id")
    found = [await world.services.repo.get_outbox(row["id"]) for row in rows]
    return [row for row in found if row is not None]


# --- telling the owner --------------------------------------------------------------------


async def test_a_payment_alerts_its_owner_exactly_once(world: World) -> None:
    alice, bob = world.user(401, "Alice"), world.user(402, "Bob")
    link, key = await make_link(world, alice, max_uses=10)
    await make_link(world, bob, title="Bob's shop")
    await world.sandbox.add_charge(
        key, link.id, 5000, payer_name="Aline Uwase", payment_type="mobile_money"
    )
    message = await world.tg.wait_for_message(alice.id, lambda m: "Church roof" in m.content)
    assert message.content == (
        f"💰 Payment received: {rwf(5000)} for Church roof\n"
        "Aline Uwase · mobile money\n"
        f"1 / 10 payments · Total: {rwf(5000)}"
    )
    assert message.buttons[0][0]["callback_data"] == callbacks.data(callbacks.LINK_CARD, link.id)
    await asyncio.sleep(5 * INTERVAL)  # many more polls of the same link
    assert len(world.tg.sent_to(alice)) == 1
    assert world.tg.sent_to(bob) == []
    assert [row.state for row in await outbox(world)] == ["sent"]


async def test_a_pending_payment_alerts_when_it_succeeds(world: World) -> None:
    alice = world.user(403, "Alice")
    link, key = await make_link(world, alice)
    charge = await world.sandbox.add_charge(key, link.id, 3000, status="pending")
    await eventually(
        lambda: _has_charge(world, link.id, charge["id"]), what="the pending charge seen"
    )
    await asyncio.sleep(3 * INTERVAL)
    assert world.tg.sent_to(alice) == []
    await world.sandbox.settle(charge["id"], "success")
    message = await world.tg.wait_for_message(alice.id)
    assert message.content.startswith(f"💰 Payment received: {rwf(3000)} for Church roof")
    await asyncio.sleep(4 * INTERVAL)
    assert len(world.tg.sent_to(alice)) == 1


async def _has_charge(world: World, link_id: str, charge_id: str) -> bool:
    return any(c.charge_id == charge_id for c in await world.services.repo.charges_of(link_id))


async def test_a_failed_attempt_is_noted_unless_payments_only(world: World) -> None:
    alice, bob = world.user(404, "Alice"), world.user(405, "Bob")
    link_a, key_a = await make_link(world, alice)
    link_b, key_b = await make_link(world, bob, title="Bob's shop")
    prompt = await world.say(bob, "/notifications")
    assert "✅ All events" in prompt.button_texts
    edited = await world.press(bob, prompt, "notify:payments")
    assert "✅ Payments only" in edited.button_texts
    stored_bob = await world.services.repo.get_user(bob.id)
    assert stored_bob is not None and stored_bob.notify_level is NotifyLevel.PAYMENTS

    await world.sandbox.add_charge(key_a, link_a.id, 2500, status="failed")
    await world.sandbox.add_charge(key_b, link_b.id, 2500, status="failed")
    note = await world.tg.wait_for_message(alice.id)
    assert note.content == (f"⚠️ A payment of {rwf(2500)} for Church roof failed. No money moved.")
    await asyncio.sleep(4 * INTERVAL)
    assert alerts(world.tg, bob, "⚠️") == []
    # Payments still reach Bob.
    await world.sandbox.add_charge(key_b, link_b.id, 4000)
    paid = await world.tg.wait_for_message(bob.id, lambda m: "Payment received" in m.content)
    assert rwf(4000) in paid.content


async def test_pending_for_more_than_15_minutes_gets_one_note(world: World) -> None:
    alice = world.user(406, "Alice")
    link, key = await make_link(world, alice)
    charge = await world.sandbox.add_charge(key, link.id, 7000, status="pending")
    await eventually(lambda: _has_charge(world, link.id, charge["id"]))
    poller = notifier_of(world.app).poller
    await asyncio.sleep(3 * INTERVAL)
    assert world.tg.sent_to(alice) == []
    # The poller's clock jumps 16 minutes: the charge has been pending that long.
    poller.clock = lambda: time.time() + 16 * 60
    note = await world.tg.wait_for_message(alice.id)
    assert note.content.startswith(
        f"⏳ {rwf(7000)} for Church roof is still pending after 16 minutes."
    )
    await asyncio.sleep(6 * INTERVAL)
    assert len(world.tg.sent_to(alice)) == 1


async def test_a_burst_of_three_payments_is_one_message(world: World) -> None:
    alice = world.user(407, "Alice")
    link, key = await make_link(world, alice)
    await asyncio.sleep(2 * INTERVAL)
    # No await yields between these: the three land between two polls.
    for amount, payer in ((1000, "Aline"), (2000, "Jean"), (3000, None)):
        await world.sandbox.add_charge(key, link.id, amount, payer_name=payer)
    message = await world.tg.wait_for_message(alice.id)
    assert message.content.split("\n") == [
        "💰 3 new payments for Church roof:",
        f"• {rwf(1000)} — Aline",
        f"• {rwf(2000)} — Jean",
        f"• {rwf(3000)}",
        f"3 payments · Total: {rwf(6000)}",
    ]
    await asyncio.sleep(4 * INTERVAL)
    assert len(world.tg.sent_to(alice)) == 1


async def test_alerts_that_wait_together_for_one_chat_go_out_as_one_message(
    world: World,
) -> None:
    alice = world.user(419, "Alice")
    roof, key = await make_link(world, alice)
    choir, _ = await make_link(world, alice, title="Choir robes")
    # A 502 puts the first alert back for a retry (5 s): the second queues behind it.
    world.tg.inject("sendMessage", ServerError(), chat_id=alice.id)
    await world.sandbox.add_charge(key, roof.id, 1000)
    await world.tg.wait_for_request("sendMessage", lambda r: r.chat_id == alice.id and not r.ok)
    await world.sandbox.add_charge(key, choir.id, 2000)
    message = await world.tg.wait_for_message(alice.id, timeout=20)
    roof_part, choir_part = message.content.split("\n\n")
    assert roof_part.startswith(f"💰 Payment received: {rwf(1000)} for Church roof")
    assert choir_part.startswith(f"💰 Payment received: {rwf(2000)} for Choir robes")
    # Per link: its card, named, and its mute switch; then its payment's Receipt (issue 17).
    rows = [[(b["text"], b["callback_data"]) for b in row] for row in message.buttons]
    receipt = [(text, data.partition(":")[0] + ":") for text, data in rows[1] + rows[3]]
    assert receipt == [("🧾 Receipt", callbacks.RECEIPT)] * 2
    assert rows[1][0][1].startswith(f"{callbacks.RECEIPT}{roof.id}:")
    assert rows[3][0][1].startswith(f"{callbacks.RECEIPT}{choir.id}:")
    assert [rows[0], rows[2]] == [
        [
            ("📇 Church roof", callbacks.data(callbacks.LINK_CARD, roof.id)),
            ("🔕 Mute", callbacks.data(callbacks.MUTE, roof.id)),
        ],
        [
            ("📇 Choir robes", callbacks.data(callbacks.LINK_CARD, choir.id)),
            ("🔕 Mute", callbacks.data(callbacks.MUTE, choir.id)),
        ],
    ]
    assert len(rows) == 4
    await asyncio.sleep(4 * INTERVAL)
    assert len(world.tg.sent_to(alice)) == 1
    assert [row.state for row in await outbox(world)] == ["sent", "sent"]


async def test_closed_links_get_a_note_and_are_no_longer_polled(world: World) -> None:
    alice = world.user(408, "Alice")
    tg, sandbox = world.tg, world.sandbox
    completed, key = await make_link(world, alice, title="Raffle", max_uses=1)
    expiring, _ = await make_link(
        world, alice, title="Market day", expires_at=datetime.now(KIGALI) + timedelta(hours=1)
    )
    archived, _ = await make_link(world, alice, title="Old stock")
    active, _ = await make_link(world, alice, title="Still open")

    await sandbox.add_charge(key, completed.id, 5000)
    done = await tg.wait_for_message(alice.id, lambda m: "Raffle" in m.content)
    assert "Payment received" in done.content and "all the payments it allows" in done.content
    assert [b["text"] for b in done.buttons[1]] == ["🔄 Reopen", "📄 Duplicate"]
    await sandbox.advance_clock(2 * 3600)
    gone = await tg.wait_for_message(alice.id, lambda m: "Market day" in m.content)
    assert gone.content == "⌛ Market day has expired and no longer takes payments."
    assert [b["callback_data"] for b in gone.buttons[1]] == [
        callbacks.data(callbacks.EXTEND, expiring.id),
        callbacks.data(callbacks.DUPLICATE, expiring.id),
    ]
    await world.services.dgs.archive_link(key, archived.id)
    shelved = await tg.wait_for_message(alice.id, lambda m: "Old stock" in m.content)
    assert shelved.content == "🗄 Old stock was archived and no longer takes payments."

    await asyncio.sleep(3 * INTERVAL)  # each had its one last poll
    closed = (completed.id, expiring.id, archived.id)
    before = {link_id: await link_gets(sandbox, link_id) for link_id in (*closed, active.id)}
    await asyncio.sleep(6 * INTERVAL)
    after = {link_id: await link_gets(sandbox, link_id) for link_id in (*closed, active.id)}
    assert {link_id: after[link_id] - before[link_id] for link_id in closed} == dict.fromkeys(
        closed, 0
    )
    assert after[active.id] > before[active.id]  # the poller itself goes on
    for link_id in closed:
        stored = await world.services.repo.get_link(link_id)
        assert stored is not None and stored.final_polled
    assert len(tg.sent_to(alice)) == 3


# --- restarts --------------------------------------------------------------------------


async def test_restarts_deliver_each_alert_once(world: World) -> None:
    tg, sandbox, settings = world.tg, world.sandbox, world.settings
    alice = world.user(410, "Alice")
    link, key = await make_link(world, alice)
    await asyncio.sleep(2 * INTERVAL)

    # A charge while the bot is down is alerted after the start.
    await world.stop()
    await sandbox.add_charge(key, link.id, 1111)
    world = await start_world(tg, sandbox, settings)
    try:
        await tg.wait_for_message(alice.id, lambda m: rwf(1111) in m.content)

        # Stopped between the alert's outbox row and its delivery: delivered after the start.
        notifier_of(world.app).sender.config.retry_base = 0.1  # the retry is due at once
        tg.inject("sendMessage", ServerError(), times=None, chat_id=alice.id)
        await sandbox.add_charge(key, link.id, 2222)
        await tg.wait_for_request("sendMessage", lambda r: r.chat_id == alice.id and not r.ok)
        await world.stop()
        tg.clear_faults()
        world = await start_world(tg, sandbox, settings)
        await tg.wait_for_message(alice.id, lambda m: rwf(2222) in m.content, timeout=15)

        # And nothing is said again by a further restart.
        await world.stop()
        world = await start_world(tg, sandbox, settings)
        await asyncio.sleep(6 * INTERVAL)
        assert len(alerts(tg, alice, rwf(1111))) == 1
        assert len(alerts(tg, alice, rwf(2222))) == 1
        assert len(tg.sent_to(alice)) == 2
    finally:
        await world.stop()


class BotProcess:
    """``python -m bot`` in its own process; its log goes to a file (a pipe could fill)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log_file:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                env=self.env,
                cwd=self.env["HOME"],
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log_file,
            )

    async def stop(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), timeout=30)


@pytest.fixture
async def processes() -> AsyncIterator[list[BotProcess]]:
    started: list[BotProcess] = []
    yield started
    for process in started:
        if process.proc is not None and process.proc.returncode is None:
            process.proc.kill()
            await process.proc.wait()


OPERATOR_KEY = "sk_test_operator_alerts_0077"


async def test_kill_9_loses_no_alert_and_repeats_none(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path, processes: list[BotProcess]
) -> None:
    vendor = tg.user(611, "Vendor")
    data_dir = tmp_path / "data"
    settings = make_settings(
        tg, sandbox, data_dir, dgs_api_key=OPERATOR_KEY, dgs_allowed_users=str(vendor.id)
    )
    async with open_services(settings, dgs_base_url=sandbox.api_base_url) as services:
        body = LinkCreate(
            title="Tailor", amount_type=AmountType.FIXED, amount=Decimal(100), currency="RWF"
        )
        link = await services.dgs.create_link(OPERATOR_KEY, body)
        await services.links.remember(link, api_key=OPERATOR_KEY, owner_user_id=vendor.id)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(PROJECT_ROOT),
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
        "TELEGRAM_API_BASE_URL": tg.base_url,
        "DGS_API_BASE_URL": sandbox.api_base_url,
        "DGS_API_KEY": OPERATOR_KEY,
        "DGS_ALLOWED_USERS": str(vendor.id),
        "BOT_DATA_DIR": str(data_dir),
        "POLL_INTERVAL_SECONDS": str(INTERVAL),
        "LOG_LEVEL": "INFO",
    }

    async def launch() -> BotProcess:
        process = BotProcess(env, tmp_path / "bot.log")
        processes.append(process)
        await process.start()
        return process

    def rows() -> list[tuple[str, str]]:
        with sqlite3.connect(settings.database_path) as conn:
            return conn.execute("SELECT kind, state FROM outbox ORDER BY id").fetchall()

    # Killed between the charge's outbox row and its delivery.
    tg.inject("sendMessage", ServerError(), times=None, chat_id=vendor.id)
    bot = await launch()
    await sandbox.add_charge(OPERATOR_KEY, link.id, 1234)
    await tg.wait_for_request(
        "sendMessage", lambda r: r.chat_id == vendor.id and not r.ok, timeout=30
    )
    assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
    # Waiting for a retry, or in the middle of one: either way it must go out after the start.
    assert rows() in ([("alert", "pending")], [("alert", "in_flight")])
    tg.clear_faults()
    bot = await launch()
    await tg.wait_for_message(vendor.id, lambda m: "1,234" in m.content, timeout=30)
    await asyncio.sleep(4 * INTERVAL)  # marked sent meanwhile

    # Killed after the delivery: a restart repeats nothing, and the next payment alerts.
    assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
    assert rows() == [("alert", "sent")]
    bot = await launch()
    await sandbox.add_charge(OPERATOR_KEY, link.id, 4321)
    await tg.wait_for_message(vendor.id, lambda m: "4,321" in m.content, timeout=30)
    assert await bot.stop(signal.SIGTERM) == 0
    assert len(alerts(tg, vendor, "1,234")) == 1
    assert len(alerts(tg, vendor, "4,321")) == 1
    log_text = (tmp_path / "bot.log").read_text()
    assert "Traceback" not in log_text
    assert OPERATOR_KEY not in log_text


# --- Telegram faults -------------------------------------------------------------------


async def test_retry_after_waits_as_told(world: World) -> None:
    alice = world.user(412, "Alice")
    link, key = await make_link(world, alice)
    world.tg.inject("sendMessage", RetryAfter(1), chat_id=alice.id)
    await world.sandbox.add_charge(key, link.id, 5000)
    await world.tg.wait_for_message(alice.id, timeout=6)
    calls = [c for c in world.tg.calls("sendMessage") if c.chat_id == alice.id]
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].time - calls[0].time >= 1.0
    await asyncio.sleep(3 * INTERVAL)
    assert len(world.tg.sent_to(alice)) == 1


async def test_a_blocked_bot_pauses_the_users_links_until_they_write(world: World) -> None:
    tg, sandbox = world.tg, world.sandbox
    alice = world.user(413, "Alice")
    link, key = await make_link(world, alice)
    await asyncio.sleep(2 * INTERVAL)
    tg.block(alice, notify=False)
    await sandbox.add_charge(key, link.id, 1500)

    async def inactive() -> bool:
        user = await world.services.repo.get_user(alice.id)
        return user is not None and not user.active

    await eventually(inactive, what="Alice marked inactive")
    [row] = await outbox(world)
    assert row.state == "failed" and "forbidden" in (row.last_error or "")
    await asyncio.sleep(2 * INTERVAL)  # a poll in flight may still land
    before = await link_gets(sandbox, link.id)
    await asyncio.sleep(6 * INTERVAL)
    assert await link_gets(sandbox, link.id) == before

    # She unblocks and writes: her links are watched again, the news of the pause arrives.
    await sandbox.add_charge(key, link.id, 2500)
    tg.unblock(alice, notify=False)
    await world.say(alice, "/help")
    message = await tg.wait_for_message(alice.id, lambda m: "Payment received" in m.content)
    assert rwf(2500) in message.content and rwf(1500) not in message.content
    assert await link_gets(sandbox, link.id) > before


async def test_a_migrated_group_gets_the_message_at_its_new_id(world: World) -> None:
    tg = world.tg
    alice = world.user(414, "Alice")
    group = tg.group(-4140, "Market", {alice: "creator"})
    await tg.add_bot_to_group(alice, group)
    link, _ = await make_link(world, alice, chat_id=group.id)  # made in the group
    repo = world.services.repo
    world.app.chat_data[group.id]["note"] = "kept"
    await tg.migrate_group(group, -1004140)
    payment = Event(kind=EventKind.PAYMENT, charge_id="c1", amount=Decimal(800), currency="RWF")
    facts = LinkFacts(link.id, "Church roof", "RWF", "active", 1, None, Decimal(800))
    await repo.enqueue(None, -4140, "alert", Alert(facts, (payment,)).to_payload(), alice.id)

    message = await tg.wait_for_message(-1004140, lambda m: "Church roof" in m.content)
    assert rwf(800) in message.content
    [row] = await outbox(world)
    assert (row.chat_id, row.state) == (-1004140, "sent")
    stored = await repo.get_link(link.id)
    assert stored is not None and stored.chat_id == -1004140
    assert world.app.chat_data[-1004140]["note"] == "kept"


async def test_a_send_that_times_out_is_not_sent_again(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    alice = world.user(415, "Alice")
    link, key = await make_link(world, alice)
    notifier_of(world.app).sender.config.send_timeout = 0.5
    # Telegram takes the message but answers after the bot gave up waiting.
    world.tg.inject("sendMessage", Timeout(1.5), chat_id=alice.id)
    await world.sandbox.add_charge(key, link.id, 5000)

    async def failed() -> bool:
        return any(row.state == "failed" for row in await outbox(world))

    await eventually(failed, what="the row marked failed")
    [row] = await outbox(world)
    assert (row.last_error or "").startswith("uncertain")
    assert "may have delivered it" in caplog.text
    await asyncio.sleep(1.2)  # the late answer has come and gone
    calls = [c for c in world.tg.calls("sendMessage") if c.chat_id == alice.id]
    assert len(calls) == 1
    assert len(world.tg.sent_to(alice)) == 1  # it did arrive, once


# --- provider faults ----------------------------------------------------------------------


async def test_a_refused_key_is_told_once_and_waits_for_connect(world: World) -> None:
    tg, sandbox, repo = world.tg, world.sandbox, world.services.repo
    alice, bob = world.user(416, "Alice"), world.user(417, "Bob")
    link_a, key_a = await make_link(world, alice)
    link_b, key_b = await make_link(world, bob, title="Bob's shop")
    await sandbox.inject(key=key_a, status=401, times=0)
    await sandbox.add_charge(key_a, link_a.id, 1600)
    await sandbox.add_charge(key_b, link_b.id, 1700)

    note = await tg.wait_for_message(alice.id)
    assert note.content.startswith("🔑 DGS refused your key ending in _416")
    credential = await repo.get_credential(alice.id)
    assert credential is not None and not credential.is_valid
    await tg.wait_for_message(bob.id, lambda m: rwf(1700) in m.content)  # Bob is unaffected
    await asyncio.sleep(2 * INTERVAL)
    before = len(await key_requests(sandbox, key_a))
    await asyncio.sleep(6 * INTERVAL)
    assert len(await key_requests(sandbox, key_a)) == before
    assert len(tg.sent_to(alice)) == 1

    # The key works again and Alice connects it: her payment arrives.
    await sandbox.clear_faults()
    await world.say(alice, "/connect")
    await tg.send_text(alice, key_a)
    await tg.wait_for_message(alice.id, lambda m: "Connected" in m.content)
    paid = await tg.wait_for_message(alice.id, lambda m: "Payment received" in m.content)
    assert rwf(1600) in paid.content


async def test_a_429_slows_that_key_down_and_no_other(world: World) -> None:
    sandbox = world.sandbox
    alice, bob = world.user(418, "Alice"), world.user(419, "Bob")
    link_a, key_a = await make_link(world, alice)
    await make_link(world, bob, title="Bob's shop")
    await asyncio.sleep(INTERVAL)
    await sandbox.inject(key=key_a, path=f"{link_a.id}$", status=429, retry_after=1, times=1)

    async def limited() -> bool:
        return any(e["status"] == 429 for e in await key_requests(sandbox, key_a))

    await eventually(limited, what="the 429")
    mark = len(await sandbox.requests())
    await asyncio.sleep(0.8)
    later = (await sandbox.requests())[mark:]
    assert [e for e in later if e["key"] == key_a[-4:]] == []
    assert len([e for e in later if e["key"] == "_419"]) >= 2
    await sandbox.add_charge(key_a, link_a.id, 1900)
    paid = await world.tg.wait_for_message(alice.id)
    assert rwf(1900) in paid.content


async def test_5xx_backs_one_key_off_and_logs_down_and_back_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.notify")
    sandbox = world.sandbox
    alice, bob = world.user(420, "Alice"), world.user(421, "Bob")
    link_a, key_a = await make_link(world, alice)
    link_b, key_b = await make_link(world, bob, title="Bob's shop")
    await asyncio.sleep(INTERVAL)
    await sandbox.inject(key=key_a, method="GET", status=503, times=0)
    await sandbox.add_charge(key_a, link_a.id, 2100)
    await sandbox.add_charge(key_b, link_b.id, 2200)
    await world.tg.wait_for_message(bob.id, lambda m: rwf(2200) in m.content)

    async def failed_twice() -> bool:
        # Each poll is one request and the client's three retries.
        return len([e for e in await key_requests(sandbox, key_a) if e["status"] == 503]) >= 8

    await eventually(failed_twice, within=15, what="two failed polls")
    await sandbox.clear_faults()
    paid = await world.tg.wait_for_message(alice.id, timeout=10)
    assert rwf(2100) in paid.content
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("bot.notify.")]
    assert len([m for m in messages if m.startswith("DGS is not answering")]) == 1
    assert len([m for m in messages if m.startswith("DGS answers again")]) == 1
    assert key_a not in caplog.text
