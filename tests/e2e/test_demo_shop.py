"""Issue 17 in ``paylinks-bot demo``: the shop features a visitor of the demo page can try,
through the page's own API as the page uses it: a saved item (``/items``), one tap on it for a
link, **Print** on that link's card for the poster, served by the page as a PDF download."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from bot.devtools.demo import OWNER
from tests.e2e import test_demo_staff

JSON = dict[str, Any]

# The demo on a free port, its page's API as a client.
page = test_demo_staff.page


async def send(page: httpx.AsyncClient, text: str) -> int:
    """Sends ``text`` as the demo's owner; returns the newest message id before it."""
    since = await newest(page)
    response = await page.post(
        "/api/send", json={"chat_id": OWNER.id, "user_id": OWNER.id, "text": text}
    )
    assert response.status_code == 200, response.text
    return since


async def press(page: httpx.AsyncClient, message: JSON, label: str) -> int:
    """Presses the button of ``message`` whose label holds ``label``."""
    since = await newest(page)
    data = next(
        b["data"] for row in message["buttons"] for b in row if label in str(b.get("text"))
    )
    body = {"chat_id": OWNER.id, "message_id": message["id"], "user_id": OWNER.id, "data": data}
    response = await page.post("/api/press", json=body)
    assert response.status_code == 200, response.text
    return since


async def newest(page: httpx.AsyncClient) -> int:
    body = (await page.get("/api/messages", params={"since": 0})).json()
    return max((int(m["id"]) for m in body["messages"] if m["chat_id"] == OWNER.id), default=0)


async def bot_message(page: httpx.AsyncClient, since: int, found: Callable[[JSON], bool]) -> JSON:
    """The bot's first message to the owner after message ``since`` that ``found`` accepts."""
    for _ in range(200):
        body = (await page.get("/api/messages", params={"since": 0})).json()
        for message in body["messages"]:
            if (
                message["chat_id"] == OWNER.id
                and message["from"]["is_bot"]
                and int(message["id"]) > since
                and found(message)
            ):
                return dict(message)
        await asyncio.sleep(0.05)
    raise AssertionError("the bot did not answer as expected")


def has_button(label: str) -> Callable[[JSON], bool]:
    return lambda m: any(label in str(b.get("text")) for row in m["buttons"] for b in row)


async def test_the_demo_saves_an_item_makes_its_link_and_prints_its_poster(
    page: httpx.AsyncClient,
) -> None:
    listing = await bot_message(page, await send(page, "/items"), has_button("Add item"))
    await bot_message(page, await press(page, listing, "Add item"), lambda m: bool(m["text"]))
    saved = await bot_message(page, await send(page, "Samosa 500"), lambda m: "Saved" in m["text"])
    assert "Samosa" in saved["text"] and "500" in saved["text"]

    listing = await bot_message(page, await send(page, "/items"), has_button("Samosa"))
    card = await bot_message(
        page,
        await press(page, listing, "Samosa"),
        lambda m: "photo" in m and has_button("Print")(m),
    )
    poster = await bot_message(page, await press(page, card, "Print"), lambda m: "document" in m)
    assert poster["document"]["name"].endswith(".pdf")
    download = await page.get(poster["document"]["url"])
    assert download.status_code == 200
    assert download.content.startswith(b"%PDF-")
    assert len(download.content) == poster["document"]["size"]
