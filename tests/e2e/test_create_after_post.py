"""Once the provider made the link, the vendor gets its URL, whatever fails next.

A failure after the POST (the QR photo refused, the database refusing the link's record)
must never end in "try again": the link is live, a second try makes a second one. The photo
failing gives the text card (title, amount, URL, the same buttons); the record failing still
gives the card, and the record is written later, its charges still news.

Faults come from outside: the fake Bot API answers sendPhoto with an error; the database
refuses the link's row through a trigger installed here (what a full disk or a locked file
does to the INSERT).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from bot.dgs.models import Link
from tests.conftest import World, eventually
from tests.e2e.test_create import Vendor, fill_minimal_fixed, posts
from tests.e2e.test_groups import GROUP_ID, Parish, start_drive
from tests.fakes.telegram import BadRequest, FakeMessage, FakeUser, ServerError

PHOTO_FAULTS = [
    pytest.param(BadRequest("Bad Request: IMAGE_PROCESS_FAILED"), id="400"),
    pytest.param(ServerError(), id="502"),
]
TRY_AGAIN = ("try again", "went wrong", "réessayer", "réessayez", "problème")
CARD_BUTTONS = ["🖨 Print", "📤 Share", "💬 WhatsApp", "📊 Details"]  # as on the photo card
REFUSE_LINKS = (
    "CREATE TRIGGER refuse_links BEFORE INSERT ON links "
    "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
)


@pytest.fixture
def vendor(world: World) -> Vendor:
    return Vendor(world, world.user(601, "Aline"))


@pytest.fixture
def parish(world: World) -> Parish:
    return Parish(world)


async def only_link(world: World, key: str) -> Link:
    """The vendor's one link at the provider (two would mean a second create)."""
    (link,) = (await world.services.dgs.list_links(key)).links
    return link


def said_since(world: World, chat_id: int, mark: int) -> list[str]:
    """Every text the bot showed in ``chat_id`` after ``mark``: messages, edits, alerts."""
    texts = [m.content for m in world.tg.changes_since(mark) if m.chat_id == chat_id]
    texts += [
        str(call.params.get("text") or "")
        for call in world.tg.calls("answerCallbackQuery")
        if call.seq > mark
    ]
    return texts


def assert_no_try_again(world: World, chat_id: int, mark: int) -> None:
    for text in said_since(world, chat_id, mark):
        assert not any(word in text.lower() for word in TRY_AGAIN), text


async def text_card(world: World, chat_id: int, url: str, mark: int) -> FakeMessage:
    return await world.tg.wait_for_message(
        chat_id, lambda m: m.photo is None and url in m.content, since=mark
    )


async def stored(world: World, link_id: str) -> bool:
    return await world.services.repo.get_link(link_id) is not None


async def recorded_by_create(world: World, link_id: str, chat_id: int) -> bool:
    """The create flow's own record: it names the chat the link was made in (the poller's
    sweep may adopt the link first, and its record names no chat)."""
    record = await world.services.repo.get_link(link_id)
    return record is not None and record.chat_id == chat_id


async def refuse_link_records(world: World) -> None:
    await world.services.db.execute(REFUSE_LINKS)


async def accept_link_records(world: World) -> None:
    await world.services.db.execute("DROP TRIGGER refuse_links")


# --- the QR photo fails: the text card -----------------------------------------------------


@pytest.mark.parametrize("fault", PHOTO_FAULTS)
async def test_form_photo_refused_gives_the_text_card_and_ends_the_form(
    world: World, vendor: Vendor, fault: BadRequest | ServerError
) -> None:
    summary = await fill_minimal_fixed(vendor, "Invoice #9")
    world.tg.inject("sendPhoto", fault, chat_id=vendor.user.id)
    mark = world.tg.mark()
    # A second press while the first is handled: the form ends with the first, so it is told
    # "closed" and makes nothing.
    await world.tg.press(vendor.user, summary, text="✅ Create link")
    await world.tg.press(vendor.user, summary, text="✅ Create link")
    link = await eventually_one_link(world, vendor.key)
    assert link.url
    card = await text_card(world, vendor.user.id, link.url, mark)
    assert "Invoice #9" in card.content and "RWF\xa050,000" in card.content
    assert card.button_texts == CARD_BUTTONS
    assert card.buttons[-1][0]["callback_data"] == f"lk:{link.id}"
    await world.tg.wait_for_message(vendor.user.id, lambda m: "link is ready" in m.content)
    # Recorded before any Telegram call: alerts and buttons know it.
    record = await world.services.repo.get_link(link.id)
    assert record is not None and record.owner_user_id == vendor.user.id
    closed = await world.tg.wait_for_request(
        "answerCallbackQuery", lambda r: "closed" in str(r.params.get("text"))
    )
    assert closed is not None
    assert len(await posts(world)) == 1
    await only_link(world, vendor.key)
    assert_no_try_again(world, vendor.user.id, mark)


async def eventually_one_link(world: World, key: str) -> Link:
    async def made() -> bool:
        return bool((await world.services.dgs.list_links(key)).links)

    await eventually(made)
    return await only_link(world, key)


@pytest.mark.parametrize("fault", PHOTO_FAULTS)
async def test_quick_create_photo_refused_gives_the_text_card(
    world: World, vendor: Vendor, fault: BadRequest | ServerError
) -> None:
    world.tg.inject("sendPhoto", fault, chat_id=vendor.user.id)
    mark = world.tg.mark()
    await world.tg.send_text(vendor.user, "/new 5000 Rent")
    link = await eventually_one_link(world, vendor.key)
    assert link.url
    card = await text_card(world, vendor.user.id, link.url, mark)
    assert "Rent" in card.content and "RWF\xa05,000" in card.content
    assert card.button_texts == CARD_BUTTONS
    assert await stored(world, link.id)
    await asyncio.sleep(0.3)  # nothing else follows
    assert_no_try_again(world, vendor.user.id, mark)
    assert len(await posts(world)) == 1


async def test_duplicate_photo_refused_gives_the_text_card(world: World, vendor: Vendor) -> None:
    mark = world.tg.mark()
    await world.tg.send_text(vendor.user, "/new 700 Mandazi")
    card = await world.tg.wait_for_message(
        vendor.user.id, lambda m: m.photo is not None, since=mark
    )
    details = await vendor.tap("📊 Details", card)
    summary = await vendor.tap("📋 Duplicate", details)
    world.tg.inject("sendPhoto", ServerError(), chat_id=vendor.user.id)
    mark = world.tg.mark()
    await world.tg.press(vendor.user, summary, text="✅ Create link")
    await world.tg.press(vendor.user, summary, text="✅ Create link")

    async def two() -> bool:
        return len((await world.services.dgs.list_links(vendor.key)).links) == 2

    await eventually(two)
    links = (await world.services.dgs.list_links(vendor.key)).links
    (copy,) = [link for link in links if link.id != card.buttons[-1][0]["callback_data"][3:]]
    assert copy.url
    text = await text_card(world, vendor.user.id, copy.url, mark)
    assert "Mandazi" in text.content and text.button_texts == CARD_BUTTONS
    await world.tg.wait_for_request(
        "answerCallbackQuery", lambda r: "closed" in str(r.params.get("text"))
    )
    assert len(await posts(world)) == 2
    assert_no_try_again(world, vendor.user.id, mark)


# --- in a group ------------------------------------------------------------------------------


async def deep_link_form(world: World, parish: Parish, title: str) -> FakeMessage:
    """Paul opens the group's form in private and fills a fixed 2,000 RWF link."""
    offer = await parish.say(parish.paul, "/new")
    (url,) = [b["url"] for row in offer.buttons for b in row if "url" in b]
    paul = parish.paul
    kind = await world.say(paul, f"/start {url.split('?start=')[1]}")
    mark = world.tg.mark()
    await world.tg.press(paul, kind, text="Fixed amount")
    await world.tg.wait_for_message(paul.id, since=mark)
    await world.tg.send_text(paul, title)
    currency = await world.tg.wait_for_message(paul.id, lambda m: "currency" in m.content)
    await world.tg.press(paul, currency, text="RWF")
    await world.tg.wait_for_message(paul.id, lambda m: "How much" in m.content)
    await world.tg.send_text(paul, "2000")
    return await world.tg.wait_for_message(paul.id, lambda m: "Check your link" in m.content)


def key_of(user: FakeUser) -> str:
    return f"sk_test_tg_{user.id}"


async def test_group_link_photo_refused_gives_the_group_the_text_card(
    world: World, parish: Parish
) -> None:
    await parish.join()
    summary = await deep_link_form(world, parish, "Harvest offering")
    world.tg.inject("sendPhoto", ServerError(), chat_id=GROUP_ID)
    mark = world.tg.mark()
    await world.tg.press(parish.paul, summary, text="✅ Create link")
    link = await eventually_one_link(world, key_of(parish.paul))
    assert link.url
    card = await text_card(world, GROUP_ID, link.url, mark)
    assert "Harvest offering" in card.content and "2\u202f000\xa0RWF" in card.content
    assert card.button_texts[-1] == "📊 Détails"
    await world.tg.wait_for_message(parish.paul.id, lambda m: "posted in the group" in m.content)
    assert await stored(world, link.id)
    assert_no_try_again(world, parish.paul.id, mark)
    assert len(await parish.posts()) == 1


async def test_group_quick_create_photo_refused_gives_the_text_card(
    world: World, parish: Parish
) -> None:
    await parish.join()
    world.tg.inject("sendPhoto", BadRequest(), chat_id=GROUP_ID)
    mark = world.tg.mark()
    await world.tg.send_text(parish.paul, "/new 3000 Choir robes", chat=parish.group)
    link = await eventually_one_link(world, key_of(parish.paul))
    assert link.url
    card = await text_card(world, GROUP_ID, link.url, mark)
    assert "Choir robes" in card.content
    assert_no_try_again(world, GROUP_ID, mark)
    assert len(await parish.posts()) == 1


async def test_drive_photo_refused_gives_the_group_the_text_drive_card(
    world: World, parish: Parish
) -> None:
    await parish.join()
    world.tg.inject("sendPhoto", ServerError(), chat_id=GROUP_ID)
    mark = world.tg.mark()
    offer = await parish.say(parish.grace, "/drive")
    (url,) = [b["url"] for row in offer.buttons for b in row if "url" in b]
    grace = parish.grace
    await world.say(grace, f"/start {url.split('?start=')[1]}")
    await world.tg.send_text(grace, "Toiture")
    currency = await world.tg.wait_for_message(grace.id, lambda m: "devise" in m.content)
    await world.tg.press(grace, currency, text="RWF")
    await world.tg.wait_for_message(grace.id, lambda m: "objectif" in m.content)
    await world.tg.send_text(grace, "100000")
    await world.tg.wait_for_message(grace.id, lambda m: "suggérés" in m.content)
    await world.tg.send_text(grace, "5 000, 10 000")
    summary = await world.tg.wait_for_message(grace.id, lambda m: "Vérifiez" in m.content)
    await world.tg.press(grace, summary, text="✅ Créer le lien")
    link = await eventually_one_link(world, key_of(grace))
    assert link.url
    card = await text_card(world, GROUP_ID, link.url, mark)
    assert "Toiture" in card.content and "0%" in card.content and "100\u202f000" in card.content
    assert card.buttons  # the drive card's buttons, as on the photo
    await world.tg.wait_for_message(
        grace.id, lambda m: "publiée dans le groupe" in m.content, since=mark
    )
    (drive,) = await world.services.drives.of_group(GROUP_ID)
    assert drive.link_id == link.id and drive.goal == Decimal(100000)
    assert_no_try_again(world, grace.id, mark)
    assert len(await parish.posts()) == 1


# --- the database refuses the link's record ------------------------------------------------


async def test_form_record_refused_still_gives_the_card_and_its_payments_are_news(
    world: World, vendor: Vendor
) -> None:
    summary = await fill_minimal_fixed(vendor, "Invoice #77")
    await refuse_link_records(world)
    mark = world.tg.mark()
    await world.tg.press(vendor.user, summary, text="✅ Create link")
    await world.tg.press(vendor.user, summary, text="✅ Create link")
    link = await eventually_one_link(world, vendor.key)
    assert link.url
    card = await world.tg.wait_for_message(
        vendor.user.id, lambda m: link.url in m.content, since=mark
    )
    assert "Invoice #77" in card.content and card.button_texts == CARD_BUTTONS
    await world.tg.wait_for_message(vendor.user.id, lambda m: "link is ready" in m.content)
    assert not await stored(world, link.id)
    # A customer pays while the bot has no record of the link.
    await world.sandbox.add_charge(vendor.key, link.id, 50000, payer_name="Eric")
    await asyncio.sleep(0.3)
    await accept_link_records(world)
    # The write is retried; once it lands, that payment is news, not history.
    await eventually(lambda: recorded_by_create(world, link.id, vendor.user.id), timeout=10)
    alert = await world.tg.wait_for_message(
        vendor.user.id, lambda m: "Payment received" in m.content, since=mark, timeout=10
    )
    assert "Invoice #77" in alert.content and "Eric" in alert.content
    await world.tg.wait_for_request(
        "answerCallbackQuery", lambda r: "closed" in str(r.params.get("text"))
    )
    assert len(await posts(world)) == 1
    assert_no_try_again(world, vendor.user.id, mark)


async def test_quick_create_record_and_photo_refused_still_gives_the_url(
    world: World, vendor: Vendor
) -> None:
    await refuse_link_records(world)
    world.tg.inject("sendPhoto", ServerError(), chat_id=vendor.user.id)
    mark = world.tg.mark()
    await world.tg.send_text(vendor.user, "/new 5000 Rent")
    link = await eventually_one_link(world, vendor.key)
    assert link.url
    card = await text_card(world, vendor.user.id, link.url, mark)
    assert "Rent" in card.content and card.button_texts == CARD_BUTTONS
    await asyncio.sleep(0.3)
    assert_no_try_again(world, vendor.user.id, mark)
    assert not await stored(world, link.id)
    await accept_link_records(world)
    await eventually(lambda: recorded_by_create(world, link.id, vendor.user.id), timeout=10)
    record = await world.services.repo.get_link(link.id)
    assert record is not None and record.owner_user_id == vendor.user.id
    assert len(await posts(world)) == 1


async def test_drive_record_refused_still_posts_and_records_the_drive_later(
    world: World, parish: Parish
) -> None:
    await parish.join()
    await refuse_link_records(world)
    mark = world.tg.mark()
    card = await start_drive(world, parish)
    link = await only_link(world, key_of(parish.grace))
    assert "Toiture" in card.content
    assert not await world.services.drives.of_group(GROUP_ID)
    await accept_link_records(world)

    async def drive_recorded() -> bool:
        drives = await world.services.drives.of_group(GROUP_ID)
        return bool(drives) and drives[0].card_message_id == card.message_id

    await eventually(drive_recorded, timeout=10)
    (drive,) = await world.services.drives.of_group(GROUP_ID)
    assert drive.link_id == link.id
    assert_no_try_again(world, parish.grace.id, mark)
    assert len(await parish.posts()) == 1
