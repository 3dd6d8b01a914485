"""The test world: the provider sandbox, a fake Telegram, and the real bot between them.

Everything talks real HTTP on 127.0.0.1. ``world`` runs the bot in-process through the same
``run_bot`` the command line uses; ``tests/e2e`` also starts it as a separate process.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import BotRun, PayLinksApp, run_bot
from bot.config import Settings, load_settings
from bot.devtools.sandbox import Sandbox
from bot.services import Services
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser

TEST_TOKEN = "123456789:TEST-token-for-the-fake-bot-api-xxxxxxxx"

# database_url / postgres_server: the store's tests on SQLite and on PostgreSQL.
pytest_plugins = ("tests.engines",)


@pytest.fixture(autouse=True)
def _no_real_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to a non-loopback address fails the test: the world is offline."""
    real_connect = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        inet = sock.family in (socket.AF_INET, socket.AF_INET6)
        loopback = isinstance(host, str) and (
            host.startswith("127.") or host in ("::1", "localhost")
        )
        if inet and not loopback:
            raise AssertionError(f"test tried to reach the network: {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TEST_TOKEN) as fake:
        yield fake


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(test_mode=True) as provider:
        yield provider


def make_settings(
    tg: FakeTelegram, sandbox: Sandbox, data_dir: Path, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "telegram_bot_token": TEST_TOKEN,
        "telegram_api_base_url": tg.base_url,
        "dgs_api_base_url": sandbox.api_base_url,
        "bot_data_dir": data_dir,
        "poll_interval_seconds": 0.2,
        "log_level": "DEBUG",
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> Settings:
    return make_settings(tg, sandbox, tmp_path / "data")


@dataclass
class World:
    """The running bot with its fake Telegram and sandbox, and shortcuts to play users."""

    tg: FakeTelegram
    sandbox: Sandbox
    settings: Settings
    run: BotRun
    task: asyncio.Task[None]

    @property
    def app(self) -> PayLinksApp:
        assert self.run.app is not None
        return self.run.app

    @property
    def services(self) -> Services:
        services = self.app.bot_data.services
        assert services is not None
        return services

    def user(
        self, user_id: int = 111, first_name: str = "Aline", language: str = "en"
    ) -> FakeUser:
        return self.tg.user(user_id, first_name=first_name, language_code=language)

    async def say(self, user: FakeUser, text: str, **wait: Any) -> FakeMessage:
        """``user`` sends ``text`` in private; returns the bot's next message there."""
        mark = self.tg.mark()
        await self.tg.send_text(user, text)
        return await self.tg.wait_for_message(user.id, since=mark, **wait)

    async def press(self, user: FakeUser, message: FakeMessage, data: str) -> FakeMessage:
        """``user`` presses the button with callback ``data``; returns the next message/edit."""
        mark = self.tg.mark()
        await self.tg.press(user, message, callback_data=data)
        return await self.tg.wait_for_message(message.chat_id, since=mark)

    async def stop(self) -> None:
        self.run.stop.set()
        await asyncio.wait_for(self.task, timeout=20)


async def start_world(
    tg: FakeTelegram, sandbox: Sandbox, settings: Settings, **run_options: Any
) -> World:
    run = BotRun()
    run_options.setdefault("auto_connect", True)
    task = asyncio.create_task(run_bot(settings, run=run, **run_options))
    started = asyncio.create_task(run.started.wait())
    done, _ = await asyncio.wait({task, started}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        started.cancel()
        task.result()
        raise AssertionError("the bot stopped while starting")
    if started not in done:
        started.cancel()
        task.cancel()
        raise AssertionError("the bot did not start within 20 s")
    return World(tg=tg, sandbox=sandbox, settings=settings, run=run, task=task)


@pytest.fixture
async def world(tg: FakeTelegram, sandbox: Sandbox, settings: Settings) -> AsyncIterator[World]:
    running = await start_world(tg, sandbox, settings)
    try:
        yield running
    finally:
        if not running.task.done():
            await running.stop()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until ``check()`` holds (state the bot writes in the background), or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"still not true after {timeout}s: {check.__qualname__}")
        await asyncio.sleep(0.02)
