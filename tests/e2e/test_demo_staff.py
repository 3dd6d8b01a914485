"""Issue 17, point 1 in ``paylinks-bot demo``: Aline (the demo's owner) invites Jean (the
demo's second person) as a cashier through the web chat's own API, as the page does: /staff,
Invite, the link copied with its button and pasted into Jean's chat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.devtools.demo import MEMBER, OWNER, Demo

JSON = dict[str, Any]


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    demo = Demo(data_dir=tmp_path / "demo", port=0, settings_overrides={"log_level": "WARNING"})
    await demo.start()
    try:
        async with httpx.AsyncClient(base_url=demo.url, timeout=10) as client:
            yield client
    finally:
        await demo.stop()


async def send(page: httpx.AsyncClient, person: int, text: str) -> None:
    response = await page.post(
        "/api/send", json={"chat_id": person, "user_id": person, "text": text}
    )
    assert response.status_code == 200, response.text


async def press(page: httpx.AsyncClient, person: int, message: JSON, data: str) -> None:
    body = {"chat_id": person, "message_id": message["id"], "user_id": person, "data": data}
    response = await page.post("/api/press", json=body)
    assert response.status_code == 200, response.text


async def bot_message(page: httpx.AsyncClient, person: int, needle: str) -> JSON:
    """The bot's message in ``person``'s private chat whose text holds ``needle``."""
    for _ in range(200):
        body = (await page.get("/api/messages", params={"since": 0})).json()
        for message in body["messages"]:
            if (
                message["chat_id"] == person
                and message["from"]["is_bot"]
                and needle in (message.get("text") or "")
            ):
                return dict(message)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no bot message with {needle!r} for {person}")


async def test_the_demo_owner_invites_the_other_person_as_a_cashier(
    page: httpx.AsyncClient,
) -> None:
    await send(page, OWNER.id, "/staff")
    menu = await bot_message(page, OWNER.id, "Your cashiers")
    invite = next(b for row in menu["buttons"] for b in row if "Invite" in b["text"])
    await press(page, OWNER.id, menu, invite["data"])
    sent = await bot_message(page, OWNER.id, "It works once")
    copy = sent["buttons"][0][0]
    assert copy["kind"] == "copy" and copy["copy"].startswith("https://t.me/")
    await send(page, MEMBER.id, copy["copy"])  # pasted into Jean's chat
    joined = await bot_message(page, MEMBER.id, "You are now a cashier")
    assert "Aline" in joined["text"]
    await bot_message(page, OWNER.id, "Jean joined your shop")
