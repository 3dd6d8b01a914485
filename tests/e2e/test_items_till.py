"""Issue 17, points 2 and 3 through the real bot: saved items (``/items``) and the till
(``/till``), over the fake Telegram and the sandbox provider.

The till's timing (from the amount typed to the QR photo) is printed, not asserted: the
machine is shared and timings are noisy (run with ``-s`` to read it).
"""

from __future__ import annotations

import io
import time
from decimal import Decimal
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from bot import callbacks, qr
from bot.config import Settings
from bot.devtools.sandbox import Sandbox
from bot.dgs.models import Link
from tests.conftest import World, make_settings
from tests.e2e.test_dashboard import key_of
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser

pytestmark = pytest.mark.timeout(60)

DAY = 24 * 3600


@pytest.fixture
def settings(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> Settings:
    """The bot paces its provider calls per key; in these tests, not to the second."""
    return make_settings(tg, sandbox, tmp_path / "data", dgs_requests_per_second=1000.0)


def labels(message: FakeMessage) -> list[str]:
    return [str(b["text"]) for row in message.buttons for b in row]


def data_of(message: FakeMessage, text: str) -> str:
    """The callback data of the button whose label contains ``text``."""
    for row in message.buttons:
        for b in row:
            if text in str(b["text"]):
                return str(b["callback_data"])
    raise AssertionError(f"no button {text!r} in {labels(message)}")


def is_items_list(message: FakeMessage) -> bool:
    return any("Add item" in label for label in labels(message))


def is_qr_card(message: FakeMessage) -> bool:
    return message.photo is not None and any(
        str(b.get("callback_data", "")).startswith(callbacks.LINK_CARD)
        for row in message.buttons
        for b in row
    )


def link_id_of(card: FakeMessage) -> str:
    return callbacks.link_id_of(callbacks.LINK_CARD, str(card.buttons[-1][0]["callback_data"]))


async def provider_links(world: World, user: FakeUser) -> list[Link]:
    return (await world.services.dgs.list_links(key_of(user))).links


async def items_list(world: World, user: FakeUser) -> FakeMessage:
    mark = world.tg.mark()
    await world.tg.send_text(user, "/items")
    return await world.tg.wait_for_message(user.id, is_items_list, since=mark)


async def add_item(world: World, user: FakeUser, text: str) -> FakeMessage:
    """Add item, then ``text``; returns the bot's answer to the text."""
    listing = await items_list(world, user)
    await world.press(user, listing, data_of(listing, "Add item"))
    return await world.say(user, text)


async def tap(world: World, user: FakeUser, message: FakeMessage, label: str) -> FakeMessage:
    mark = world.tg.mark()
    await world.tg.press(user, message, callback_data=data_of(message, label))
    return await world.tg.wait_for_message(user.id, is_qr_card, since=mark)


# --- 2. saved items ------------------------------------------------------------------------------


async def test_items_are_saved_with_forgiving_prices_and_a_bad_price_is_asked_again(
    world: World,
) -> None:
    aline = world.user(1721, "Aline")
    await world.say(aline, "/start")
    empty = await items_list(world, aline)
    assert "No saved items yet" in empty.content

    saved = await add_item(world, aline, "Samosa 500")
    assert "Saved: Samosa · RWF\u00a0500" in saved.content
    saved = await add_item(world, aline, "Haircut 3k")
    assert "Saved: Haircut · RWF\u00a03,000" in saved.content
    refused = await add_item(world, aline, "Chapati 0")
    assert "Saved" not in refused.content and "Samosa 500" in refused.content
    # The same question is still open: the next text is the item.
    saved = await world.say(aline, "5,000 Sack of rice")
    assert "Saved: Sack of rice · RWF\u00a05,000" in saved.content
    listing = await items_list(world, aline)
    assert labels(listing)[:3] == [
        "Samosa · RWF\u00a0500",
        "Haircut · RWF\u00a03,000",
        "Sack of rice · RWF\u00a05,000",
    ]
    items = await world.services.items.items(aline.id)
    assert [(i.name, i.price) for i in items] == [
        ("Samosa", Decimal(500)),
        ("Haircut", Decimal(3000)),
        ("Sack of rice", Decimal(5000)),
    ]


async def test_an_item_is_edited_and_removed(world: World) -> None:
    aline = world.user(1722, "Aline")
    await world.say(aline, "/start")
    await add_item(world, aline, "Samosa 500")
    listing = await items_list(world, aline)
    pick = await world.press(aline, listing, data_of(listing, "Edit items"))
    ask = await world.press(aline, pick, data_of(pick, "Samosa"))
    assert "Send a new price" in ask.content
    refused = await world.say(aline, "-5")
    assert "Send a new price" in refused.content  # asked again
    changed = await world.say(aline, "600")
    assert "Changed: Samosa · RWF\u00a0600" in changed.content
    listing = await items_list(world, aline)
    pick = await world.press(aline, listing, data_of(listing, "Edit items"))
    await world.press(aline, pick, data_of(pick, "Samosa"))
    changed = await world.say(aline, "Beef samosa")
    assert "Changed: Beef samosa · RWF\u00a0600" in changed.content

    listing = await items_list(world, aline)
    pick = await world.press(aline, listing, data_of(listing, "Edit items"))
    ask = await world.press(aline, pick, data_of(pick, "Beef samosa"))
    after = await world.press(aline, ask, data_of(ask, "Remove"))
    assert "No saved items yet" in after.content
    assert await world.services.items.items(aline.id) == []


async def test_a_shop_keeps_at_most_fifty_items(world: World) -> None:
    aline = world.user(1723, "Aline")
    await world.say(aline, "/start")
    for n in range(49):
        await world.services.repo.add_item(
            aline.id, f"Item {n}", Decimal(100 + n), "RWF", limit=50
        )
    saved = await add_item(world, aline, "Fiftieth 900")
    assert "Saved: Fiftieth" in saved.content
    listing = await items_list(world, aline)
    mark = world.tg.mark()
    query = await world.tg.press(aline, listing, callback_data=data_of(listing, "Add item"))
    answer = await world.tg.wait_for_callback_answer(query)
    assert answer.show_alert and "50 items" in (answer.text or "")
    assert not world.tg.changes_since(mark)
    assert len(await world.services.items.items(aline.id)) == 50


async def test_one_tap_makes_a_link_a_second_reuses_it_and_the_next_day_makes_a_new_one(
    world: World,
) -> None:
    aline = world.user(1724, "Aline")
    await world.say(aline, "/start")
    await add_item(world, aline, "Samosa 500")
    listing = await items_list(world, aline)
    first = await tap(world, aline, listing, "Samosa")
    link = (await world.services.dgs.get_link(key_of(aline), link_id_of(first))).link
    assert (link.title, link.amount, link.max_uses) == ("Samosa", Decimal(500), None)

    again = await tap(world, aline, listing, "Samosa")
    assert link_id_of(again) == link_id_of(first)
    assert len(await provider_links(world, aline)) == 1

    repo = world.services.repo
    repo._clock = lambda: time.time() + DAY  # the store's clock: tomorrow in Kigali
    tomorrow = await tap(world, aline, listing, "Samosa")
    assert link_id_of(tomorrow) != link_id_of(first)
    assert len(await provider_links(world, aline)) == 2


async def test_a_strangers_press_on_items_or_the_till_is_refused(world: World) -> None:
    aline, bosco = world.user(1725, "Aline"), world.user(1726, "Bosco")
    await world.say(bosco, "/start")
    await world.say(aline, "/start")
    await add_item(world, aline, "Samosa 500")
    listing = await items_list(world, aline)
    till = await world.say(aline, "/till")
    mark = world.tg.mark()
    for message, label in ((listing, "Samosa"), (listing, "Edit items"), (till, "Samosa")):
        query = await world.tg.press(bosco, message, callback_data=data_of(message, label))
        answer = await world.tg.wait_for_callback_answer(query)
        assert answer.show_alert and "not for you" in (answer.text or ""), (label, answer)
    assert not world.tg.changes_since(mark)
    assert await provider_links(world, bosco) == []
    assert await provider_links(world, aline) == []


# --- 3. the till ---------------------------------------------------------------------------------


async def till_qr(world: World, user: FakeUser, amount: str) -> tuple[FakeMessage, float]:
    """``amount`` typed at the open till; (the QR photo, seconds from the text to the photo)."""
    mark = world.tg.mark()
    started = time.perf_counter()
    await world.tg.send_text(user, amount)
    photo = await world.tg.wait_for_message(user.id, lambda m: m.photo is not None, since=mark)
    return photo, time.perf_counter() - started


async def till_link(world: World, user: FakeUser) -> Link:
    (link,) = await provider_links(world, user)
    return link


async def test_the_till_answers_an_amount_with_a_large_qr_and_marks_the_same_message_paid(
    world: World,
) -> None:
    aline = world.user(1727, "Aline")
    await world.say(aline, "/start")
    opened = await world.say(aline, "/till")
    assert "Till open" in opened.content
    photo, seconds = await till_qr(world, aline, "5k")
    print(f"\ntill: amount typed → QR photo in {seconds * 1000:.0f} ms")
    assert "RWF\u00a05,000" in photo.content and "Waiting" in photo.content
    link = await till_link(world, aline)
    assert (link.amount, link.max_uses) == (Decimal(5000), 1)
    assert photo.photo is not None
    picture = Image.open(io.BytesIO(photo.photo))
    (code,) = zxingcpp.read_barcodes(picture)
    assert code.text == link.url  # the customer's phone reads the link
    # The large code: wider than the link's ordinary QR card draws it.
    ordinary = Image.open(io.BytesIO(qr.render_qr_card(link.url or "", link.title, "")))
    assert picture.width > ordinary.width

    started = time.perf_counter()
    before_payment = world.tg.mark()
    await world.sandbox.add_charge(
        key_of(aline), link.id, 5000, payer_name="Aline U.", payer_phone="+250788000111"
    )
    paid = await world.tg.wait_for_message(
        aline.id, lambda m: m.message_id == photo.message_id and "Paid" in m.content
    )
    print(f"till: payment added → message marked paid in {time.perf_counter() - started:.2f} s")
    assert paid.content == "✅ Paid: RWF\u00a05,000 by Aline U."
    assert "788" not in paid.content
    assert labels(paid) == ["➡️ Next customer"]

    # The payment's alert comes too (a record, with its Receipt), but not "no longer takes
    # payments" and Reopen: a till's link is one sale, used up by design.
    alert = await world.tg.wait_for_message(
        aline.id, lambda m: "Payment received" in m.content, since=before_payment
    )
    assert "Receipt" in " ".join(labels(alert))
    assert "no longer" not in alert.content and "Reopen" not in " ".join(labels(alert))
    mark = world.tg.mark()
    await world.tg.press(aline, paid, callback_data=data_of(paid, "Next customer"))
    await world.tg.wait_for_message(aline.id, lambda m: "Till open" in m.content, since=mark)
    second, _ = await till_qr(world, aline, "2,500")
    assert second.message_id != photo.message_id and "RWF\u00a02,500" in second.content
    assert len(await provider_links(world, aline)) == 2


async def test_a_bad_amount_at_the_till_is_said_and_the_till_stays_open(world: World) -> None:
    aline = world.user(1728, "Aline")
    await world.say(aline, "/start")
    await world.say(aline, "/till")
    refused = await world.say(aline, "lots")
    assert "Type the amount" in refused.content
    photo, _ = await till_qr(world, aline, "1,500")
    assert "RWF\u00a01,500" in photo.content


async def test_a_tapped_item_at_the_till_makes_its_qr(world: World) -> None:
    aline = world.user(1729, "Aline")
    await world.say(aline, "/start")
    await add_item(world, aline, "Haircut 3000")
    till = await world.say(aline, "/till")
    mark = world.tg.mark()
    await world.tg.press(aline, till, callback_data=data_of(till, "Haircut"))
    photo = await world.tg.wait_for_message(aline.id, lambda m: m.photo is not None, since=mark)
    assert "RWF\u00a03,000" in photo.content
    link = await till_link(world, aline)
    assert (link.title, link.amount) == ("Haircut", Decimal(3000))


async def test_the_provider_failing_at_the_till_is_said_and_makes_no_second_link(
    world: World,
) -> None:
    aline = world.user(1730, "Aline")
    await world.say(aline, "/start")
    await world.say(aline, "/till")
    # The link is made, but every answer is lost: the outcome is unknown to the bot.
    # times=0: every matching request, until the faults are cleared.
    await world.sandbox.inject(
        method="POST", path="/payment-links$", status=503, after=True, times=0
    )
    await world.sandbox.inject(method="GET", path="/payment-links$", status=503, times=0)
    told = await world.say(aline, "5000", timeout=15)
    assert "DGS is not answering" in told.content and told.photo is None
    await world.sandbox.clear_faults()
    assert len(await provider_links(world, aline)) == 1  # the lost answer's link
    photo, _ = await till_qr(world, aline, "5000")
    assert "RWF\u00a05,000" in photo.content
    assert len(await provider_links(world, aline)) == 1
