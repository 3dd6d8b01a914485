"""N replicas on one PostgreSQL (issue 16, point 3), through bot processes.

Two ``python -m bot`` processes in webhook mode share one PostgreSQL database. The local Bot
API posts each update to whichever replica the test points its webhook at, as a load balancer
would: a vendor's form goes back and forth between them, step by step. Each replica keeps
what it is posted in the shared inbox; any replica handles it, reading the conversation from
the database first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.devtools.sandbox import Sandbox
from tests.conftest import eventually
from tests.e2e.test_webhook import HOOK_PATH, SECRET, SECRET_HEADER, WebhookBot, start_update
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser

VENDOR = 701


@pytest.fixture
async def two_replicas(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path, postgres_url: str
) -> AsyncIterator[tuple[WebhookBot, WebhookBot]]:
    pair = []
    for name in ("a", "b"):
        replica = WebhookBot(tg, sandbox, tmp_path / name, VENDOR)
        # One database; a sweep round long enough that the test sees one round only.
        replica.env.update(DATABASE_URL=postgres_url, POLL_INTERVAL_SECONDS="120")
        pair.append(replica)
    yield pair[0], pair[1]
    for replica in pair:
        for proc in replica.kill_all():
            await proc.wait()


def route(tg: FakeTelegram, replica: WebhookBot) -> None:
    """The load balancer sends what comes next to ``replica``."""
    assert tg.webhook is not None
    tg.webhook = dataclasses.replace(tg.webhook, url=replica.url + HOOK_PATH)


class Vendor:
    def __init__(self, tg: FakeTelegram, user: FakeUser) -> None:
        self.tg = tg
        self.user = user
        self.last: FakeMessage | None = None

    async def type(self, text: str) -> FakeMessage:
        mark = self.tg.mark()
        await self.tg.send_text(self.user, text)
        self.last = await self.tg.wait_for_message(self.user.id, since=mark, timeout=30)
        return self.last

    async def tap(self, label: str) -> FakeMessage:
        assert self.last is not None
        mark = self.tg.mark()
        await self.tg.press(self.user, self.last, text=label)
        self.last = await self.tg.wait_for_message(self.user.id, since=mark, timeout=30)
        return self.last


async def list_calls(sandbox: Sandbox) -> int:
    return sum(
        1
        for entry in await sandbox.requests()
        if entry["method"] == "GET" and entry["path"].rstrip("/").endswith("/payment-links")
    )


async def test_a_form_goes_on_at_whichever_replica_takes_each_step(
    tg: FakeTelegram, sandbox: Sandbox, two_replicas: tuple[WebhookBot, WebhookBot]
) -> None:
    a, b = two_replicas
    await a.start()
    await b.start()
    vendor = Vendor(tg, tg.user(VENDOR, "Vendor"))

    route(tg, a)
    kind = await vendor.type("/new")
    assert "Fixed amount" in kind.button_texts
    route(tg, b)  # B never saw this form: it reads the step and the answers from the database
    await vendor.tap("Fixed amount")
    route(tg, a)
    await vendor.type("Tea")
    route(tg, b)
    await vendor.tap("RWF")
    route(tg, a)
    summary = await vendor.type("1,000")
    assert "Tea" in summary.content and "RWF\xa01,000" in summary.content
    route(tg, b)
    mark = tg.mark()
    await tg.press(vendor.user, summary, text="✅ Create link")
    card = await tg.wait_for_message(vendor.user.id, lambda m: m.photo is not None, 30, since=mark)
    assert "Tea" in card.content
    posts = [r for r in await sandbox.requests() if r["method"] == "POST"]
    assert len(posts) == 1  # one link, made once

    # Telegram posts one update twice, once to each replica (a retry after a lost answer):
    # it is answered once.
    mark = tg.mark()
    update = start_update(9001, vendor.user, "/help")
    async with httpx.AsyncClient() as client:
        for replica in (a, b):
            answer = await client.post(
                replica.url + HOOK_PATH, json=update, headers={SECRET_HEADER: SECRET}
            )
            assert answer.status_code == 200
    helped = await tg.wait_for_message(vendor.user.id, timeout=30, since=mark)
    # The chat's next update is handled after the repeat would have been (the chat's order).
    await vendor.type("Hello")
    replies = [m for m in tg.changes_since(mark) if m.chat_id == vendor.user.id]
    assert [m.content for m in replies].count(helped.content) == 1

    # The sweep of every key's list is a once-only job: one replica ran it this round.
    async def swept() -> bool:
        return await list_calls(sandbox) >= 1

    await eventually(swept, timeout=20)
    assert await list_calls(sandbox) == 1
    assert b"Traceback" not in a.logs + b.logs
