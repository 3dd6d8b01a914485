"""Alerts among replicas (issue 16, point 3): two real Applications, in this process, in webhook
mode on one PostgreSQL database, with the fake Bot API and the sandbox over real HTTP.

An outbox row is marked sent only once Telegram has answered; while one replica waits for that
answer, another replica starting (which puts back rows "left in flight by a dead process")
leaves the row alone, and a row Telegram refused stays unsent and is sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.devtools.botapi.model import ServerError, Timeout
from bot.devtools.sandbox import Sandbox
from bot.notify import SenderConfig, notifier_of
from bot.replicas import BEAT_SECONDS
from bot.store.models import OutboxState
from tests.conftest import World, eventually, make_settings, start_world
from tests.e2e.test_alerts import make_link
from tests.e2e.test_webhook import SECRET, free_port
from tests.fakes.telegram import FakeTelegram, FakeUser

PAID = "Payment received"


class Replicas:
    """Bot replicas in this process, each in webhook mode on its own port, one database."""

    def __init__(self, tg: FakeTelegram, sandbox: Sandbox, folder: Path, url: str) -> None:
        self.tg, self.sandbox, self.folder, self.url = tg, sandbox, folder, url
        self.worlds: list[World] = []
        self.key = Fernet.generate_key().decode()  # every replica reads the keys it stores

    async def start(self) -> World:
        port = free_port()
        settings = make_settings(
            self.tg,
            self.sandbox,
            self.folder / f"replica{len(self.worlds)}",
            database_url=self.url,
            webhook_url=f"http://127.0.0.1:{port}/hook",
            webhook_secret=SECRET,
            webhook_listen="127.0.0.1",
            webhook_port=port,
            bot_encryption_key=self.key,
        )
        assert settings.replicated
        world = await start_world(self.tg, self.sandbox, settings)
        self.worlds.append(world)
        return world

    async def stop(self) -> None:
        for world in self.worlds:
            if not world.task.done():
                await world.stop()


@pytest.fixture
async def replicas(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path, postgres_url: str
) -> AsyncIterator[Replicas]:
    running = Replicas(tg, sandbox, tmp_path, postgres_url)
    try:
        yield running
    finally:
        await running.stop()


def paid(tg: FakeTelegram, user: FakeUser) -> int:
    return sum(1 for m in tg.sent_to(user) if PAID in m.content)


async def test_an_alert_is_sent_once_while_a_replica_waits_and_again_when_refused(
    tg: FakeTelegram, sandbox: Sandbox, replicas: Replicas
) -> None:
    first = await replicas.start()
    vendor = first.user(501, "Aline")
    await first.say(vendor, "/start", timeout=20)
    link, key = await make_link(first, vendor, "Tea")
    repo = first.services.repo

    # Telegram takes the alert but its answer is slow: the first replica's row is in flight.
    tg.inject("sendMessage", Timeout(seconds=6), chat_id=vendor.id)
    await sandbox.add_charge(key, link.id, 5000, payer_name="Aline Uwase")

    async def in_flight() -> bool:
        row = await repo.get_outbox(1)
        return row is not None and row.state is OutboxState.IN_FLIGHT

    await eventually(in_flight, timeout=20)
    # A second replica starts meanwhile: the first is alive and waiting, not dead.
    second = await replicas.start()

    async def sent() -> bool:
        row = await repo.get_outbox(1)
        return row is not None and row.state is OutboxState.SENT

    await eventually(sent, timeout=20)
    await asyncio.sleep(2)  # both senders have ticked many times since
    assert paid(tg, vendor) == 1

    # The next alert: Telegram refuses it (a 502, nothing delivered). It stays unsent and is
    # sent again, by whichever replica; once.
    tg.inject("sendMessage", ServerError(), chat_id=vendor.id)
    await sandbox.add_charge(key, link.id, 5000, payer_name="Eric")

    async def refused_then_sent() -> bool:
        row = await repo.get_outbox(2)
        return row is not None and row.state is OutboxState.SENT

    await eventually(refused_then_sent, timeout=40)
    row = await repo.get_outbox(2)
    assert row is not None and row.attempts == 2 and row.last_error is None
    assert paid(tg, vendor) == 2

    # Telegram's per-bot rate for alerts is shared: each of the two live replicas sends half.
    full = SenderConfig().messages_per_second
    senders = [notifier_of(world.app).sender for world in (first, second)]

    async def halved() -> bool:
        return all(sender.rate == full / 2 for sender in senders)

    await eventually(halved, timeout=3 * BEAT_SECONDS)
    await second.stop()  # it says so: the first takes the whole rate at its next beat

    async def whole() -> bool:
        return senders[0].rate == full

    await eventually(whole, timeout=3 * BEAT_SECONDS)
