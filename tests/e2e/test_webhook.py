"""Webhook mode, through the bot process: ``WEBHOOK_URL`` set, the local Bot API posts each update
to the bot's endpoint (``bot/webhook.py``) instead of answering getUpdates.

What a post that is not Telegram's, or not an update, gets: a 4xx and nothing handled. A stop
leaves the webhook set, and what was sent meanwhile is posted again to the next process.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.devtools.botapi import command_entities, message_dict, private_chat_dict, update_dict
from bot.devtools.sandbox import Sandbox
from tests.conftest import TEST_TOKEN, eventually
from tests.e2e.test_process import OPERATOR_KEY, BotProcess, bot_env
from tests.fakes.telegram import FakeTelegram, FakeUser

SECRET = "webhook-Secret_0123456789"
HOOK_PATH = "/telegram-updates"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class WebhookBot:
    """The bot process in webhook mode on a port of its own."""

    def __init__(self, tg: FakeTelegram, sandbox: Sandbox, data_dir: Path, *users: int) -> None:
        self.tg = tg
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = bot_env(
            tg,
            data_dir,
            DGS_API_BASE_URL=sandbox.api_base_url,
            DGS_API_KEY=OPERATOR_KEY,
            DGS_ALLOWED_USERS=",".join(str(u) for u in users),
            WEBHOOK_URL=self.url + HOOK_PATH,
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_LISTEN="127.0.0.1",
            PORT=str(self.port),
        )
        self.runs: list[BotProcess] = []

    async def start(self) -> BotProcess:
        """A new process; returns once it has set the webhook (so it is listening)."""
        calls = len(self.tg.calls("setWebhook"))
        process = BotProcess(self.env)
        self.runs.append(process)
        await process.start()

        async def webhook_set() -> bool:
            return len(self.tg.calls("setWebhook")) > calls

        await eventually(webhook_set, timeout=30)
        return process

    @property
    def logs(self) -> bytes:
        return b"".join(run.stderr for run in self.runs)

    def kill_all(self) -> list[asyncio.subprocess.Process]:
        alive = [r.proc for r in self.runs if r.proc is not None and r.proc.returncode is None]
        for proc in alive:
            proc.kill()
        return alive


@pytest.fixture
async def bots(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[WebhookBot]:
    bot = WebhookBot(tg, sandbox, tmp_path, 701, 702)
    yield bot
    for proc in bot.kill_all():
        await proc.wait()


def start_update(update_id: int, user: FakeUser, text: str = "/start") -> dict[str, object]:
    """The JSON Telegram would post for ``user`` writing ``text`` in private."""
    sender = user.to_dict()
    message = message_dict(
        10_000 + update_id,
        private_chat_dict(sender),
        sender,
        text=text,
        entities=command_entities(text),
    )
    return update_dict(update_id, message=message)


async def test_updates_posted_by_telegram_are_answered_and_alerts_still_arrive(
    tg: FakeTelegram, sandbox: Sandbox, bots: WebhookBot
) -> None:
    vendor = tg.user(701, "Vendor")
    # Sent before any bot runs: the update waits at Telegram, and is kept.
    await tg.send_text(vendor, "/start")
    process = await bots.start()

    (call,) = tg.calls("setWebhook")
    assert call.params["url"] == bots.url + HOOK_PATH
    assert call.params["secret_token"] == SECRET
    assert call.params["max_connections"] == 40
    assert {"message", "callback_query", "my_chat_member"} <= set(call.params["allowed_updates"])
    assert call.params["drop_pending_updates"] is False

    welcome = await tg.wait_for_message(vendor.id, timeout=30)
    assert "Vendor" in welcome.content
    await tg.send_text(vendor, "/new 1000 Tea")
    card = await tg.wait_for_message(vendor.id, lambda m: m.photo is not None, timeout=30)
    assert "Tea" in card.content
    # Both came by the webhook: posted and accepted, never fetched.
    assert tg.calls("getUpdates") == []
    assert [d.status for d in tg.deliveries] == [200, 200]

    # The job queue runs: the notifier tells the payment.
    (link,) = sandbox.store.list_links(OPERATOR_KEY, limit=10, offset=0)
    await sandbox.add_charge(OPERATOR_KEY, link.id, 1000, payer_name="Aline Uwase")
    alert = await tg.wait_for_message(vendor.id, lambda m: "Payment received" in m.content, 30)
    assert "Tea" in alert.content and "Aline Uwase" in alert.content

    async with httpx.AsyncClient() as client:
        health = await client.get(f"{bots.url}/healthz")
    assert (health.status_code, health.text) == (200, "ok")

    assert await process.stop() == 0
    assert TEST_TOKEN.encode() not in bots.logs
    assert SECRET.encode() not in bots.logs
    assert b"Traceback" not in bots.logs


async def test_a_post_that_is_not_telegrams_update_gets_a_4xx_and_nothing_is_handled(
    tg: FakeTelegram, bots: WebhookBot
) -> None:
    eve = tg.user(702, "Eve")
    await bots.start()
    hook = bots.url + HOOK_PATH
    good = {SECRET_HEADER: SECRET}
    async with httpx.AsyncClient() as client:
        refused = [
            await client.post(hook, json=start_update(9001, eve), headers={SECRET_HEADER: "x"}),
            await client.post(hook, json=start_update(9002, eve)),  # no header
            await client.post(hook, content=b'{"update_id": 9003, "message": ', headers=good),
            await client.post(
                hook, json={**start_update(9004, eve), "update_id": "9004"}, headers=good
            ),
            await client.post(hook, json=[start_update(9005, eve)], headers=good),
            await client.post(bots.url + "/other", json=start_update(9006, eve), headers=good),
            await client.get(hook, headers=good),
        ]
        statuses = [response.status_code for response in refused]
        assert statuses == [401, 401, 400, 400, 400, 404, 405]
        # The same post with the secret is taken; the chat's updates are handled in order,
        # so once it is answered any refused one would have been answered before it.
        taken = await client.post(hook, json=start_update(9007, eve, "/help"), headers=good)
    assert taken.status_code == 200
    reply = await tg.wait_for_message(eve.id, timeout=30)
    assert "/new" in reply.content
    await asyncio.sleep(0.5)
    assert [m.content for m in tg.sent_to(eve)] == [reply.content]
    assert SECRET.encode() not in bots.logs


async def test_a_stop_keeps_the_webhook_and_updates_sent_meanwhile_are_posted_again(
    tg: FakeTelegram, bots: WebhookBot
) -> None:
    vendor = tg.user(701, "Vendor")
    tg.webhook_retry_seconds = 0.2
    first = await bots.start()
    await tg.send_text(vendor, "/start")
    await tg.wait_for_message(vendor.id, timeout=30)
    assert await first.stop(signal.SIGTERM) == 0
    # Another replica may be serving the same URL: a stopping bot does not delete the webhook.
    assert tg.calls("deleteWebhook") == []
    assert tg.webhook is not None

    await tg.send_text(vendor, "/help")
    await eventually(lambda: _refused_twice(tg), timeout=10)  # nobody listens: retried
    await bots.start()
    reply = await tg.wait_for_message(vendor.id, lambda m: "/new" in m.content, timeout=30)
    assert reply.content
    last = tg.deliveries[-1]
    assert last.status == 200
    assert [d.status for d in tg.deliveries if d.update_id == last.update_id][:2] == [0, 0]
    assert SECRET.encode() not in bots.logs


async def _refused_twice(tg: FakeTelegram) -> bool:
    return sum(1 for d in tg.deliveries if d.status == 0) >= 2


async def test_a_key_pasted_after_connect_never_reaches_the_debug_log(
    tg: FakeTelegram, bots: WebhookBot
) -> None:
    # PTB logs every update it takes from the queue at DEBUG; the webhook tells the redactor
    # about a text sent while a key is awaited before the update is queued.
    odd_key = "Zx9-unknown-shape-KEY-7781"  # matches no key pattern of bot/logs.py
    vendor = tg.user(702, "Eve")
    process = await bots.start()
    await tg.send_text(vendor, "/connect")
    await tg.wait_for_message(vendor.id, timeout=30)
    await tg.send_text(vendor, odd_key)
    refused = await tg.wait_for_message(vendor.id, timeout=30)
    assert "/connect" in refused.content
    assert await process.stop() == 0
    assert b"Processing update" in bots.logs  # the DEBUG lines are there, without the key
    assert odd_key.encode() not in bots.logs
