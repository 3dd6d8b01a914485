"""Issue 17, point 1: staff. An owner invites a cashier with a one-time deep link; the cashier
makes links with the owner's key (never shown), sees only their own links, cannot archive,
export or change settings; the owner gets the alerts; removal stops it all at once.

Everything goes through the real bot (the ``world``: fake Bot API, the sandbox provider, real
HTTP). Every user has a sandbox key of their own (``sk_test_tg_<id>``), so the key a request
used tells whose account acted.
"""

from __future__ import annotations

import asyncio
import time

from bot import callbacks
from bot.staff import INVITE_SECONDS, START_PREFIX
from tests.conftest import World
from tests.fakes.telegram import FakeMessage, FakeUser

NBSP = "\xa0"


def key_of(user: FakeUser) -> str:
    return f"sk_test_tg_{user.id}"


async def invite_link(world: World, owner: FakeUser) -> str:
    """The owner's /staff → Invite: the deep link the bot gives them."""
    menu = await world.say(owner, "/staff")
    assert "➕ Invite a cashier" in menu.button_texts
    sent = await world.press(owner, menu, f"{callbacks.STAFF}i")
    assert "It works once, within 24 hours" in sent.content, sent.content
    url = next(word for word in sent.content.split() if word.startswith("https://t.me/"))
    # One tap copies it, to paste in another app.
    assert sent.buttons[0][0].get("copy_text") == {"text": url}
    return url


def start_of(url: str) -> str:
    """``/start <parameter>`` as Telegram sends it when the link is opened."""
    return f"/start {url.partition('?start=')[2]}"


async def hire(world: World, owner: FakeUser, cashier: FakeUser) -> None:
    url = await invite_link(world, owner)
    mark = world.tg.mark()
    joined = await world.say(cashier, start_of(url))
    assert f"You are now a cashier of {owner.first_name}'s shop" in joined.content, joined.content
    await world.tg.wait_for_message(
        owner.id, lambda m: "joined your shop" in m.content, since=mark
    )


async def made_link_id(world: World, user: FakeUser, title: str) -> str:
    """``/new 5000 <title>`` as the user types it; the id of the link the bot recorded."""
    mark = world.tg.mark()
    await world.tg.send_text(user, f"/new 5000 {title}")
    await world.tg.wait_for_message(user.id, lambda m: title in m.content, since=mark)
    for stored in await world.services.repo.links_of_user(user.id):
        if stored.title == title:
            return stored.link_id
    raise AssertionError(f"no link {title!r} recorded for {user.id}")


async def press_answer(world: World, user: FakeUser, message: FakeMessage, data: str) -> str:
    """``user`` presses the button ``data`` of ``message``; the pop-up's text."""
    query_id = await world.tg.press(user, message, callback_data=data)
    answer = await world.tg.wait_for_callback_answer(query_id)
    return answer.text or ""


async def card_of(world: World, user: FakeUser, link_id: str) -> FakeMessage:
    """The user's /links, then the link's card (its buttons: Archive, Mute…)."""
    listing = await world.say(user, "/links")
    return await world.press(user, listing, callbacks.data(callbacks.LINK_CARD, link_id) + ":a0")


def listed(message: FakeMessage) -> list[str]:
    return [
        data.removeprefix(callbacks.LINK_CARD).split(":")[0]
        for row in message.buttons
        for button in row
        if (data := button.get("callback_data", "")).startswith(callbacks.LINK_CARD)
    ]


# --- the invite ------------------------------------------------------------------------------


async def test_an_invite_works_once_and_tells_the_owner(world: World) -> None:
    owner, cashier, third = world.user(701, "Aline"), world.user(702, "Eric"), world.user(703)
    url = await invite_link(world, owner)
    token = url.partition(f"?start={START_PREFIX}")[2]
    assert len(token) >= 32  # random, unguessable
    # Stored hashed: the token itself is nowhere in the database.
    rows = await world.services.db.fetchall("SELECT token_hash FROM staff_invites")
    assert [row["token_hash"] for row in rows] != [token] and token not in str(rows)

    mark = world.tg.mark()
    joined = await world.say(cashier, start_of(url))
    assert "You are now a cashier of Aline's shop" in joined.content
    told = await world.tg.wait_for_message(owner.id, since=mark)
    assert "Eric joined your shop as a cashier" in told.content
    menu = await world.say(owner, "/staff")
    assert "🔔 Eric: their payment alerts come to you too" in menu.content
    assert "Remove Eric" in menu.button_texts

    # A second use, by anyone, is refused.
    again = await world.say(third, start_of(url))
    assert "already used or is not valid" in again.content
    assert await world.services.staff.shop_of(third.id) is None


async def test_an_invite_pasted_as_a_message_works_too(world: World) -> None:
    """The link copied from another app and pasted into the bot's chat (the demo's way)."""
    owner, cashier = world.user(706, "Aline"), world.user(707, "Eric")
    url = await invite_link(world, owner)
    joined = await world.say(cashier, url)
    assert "You are now a cashier of Aline's shop" in joined.content
    shop = await world.services.staff.shop_of(cashier.id)
    assert shop is not None and shop.owner_user_id == owner.id


async def test_an_invite_expires_after_24_hours(world: World) -> None:
    owner, late, early = world.user(711, "Aline"), world.user(712, "Eric"), world.user(713)
    first = await invite_link(world, owner)
    second = await invite_link(world, owner)
    staff = world.services.staff
    staff.clock = lambda: time.time() + INVITE_SECONDS - 60  # one minute before the end
    assert "You are now a cashier" in (await world.say(early, start_of(first))).content
    staff.clock = lambda: time.time() + INVITE_SECONDS + 1
    refused = await world.say(late, start_of(second))
    assert "This invite link has expired" in refused.content
    assert await staff.shop_of(late.id) is None


async def test_only_an_owner_invites(world: World) -> None:
    owner, cashier = world.user(721, "Aline"), world.user(722, "Eric")
    # Before joining, Eric had opened /staff for a shop of his own.
    old_menu = await world.say(cashier, "/staff")
    await hire(world, owner, cashier)
    # As a cashier, /staff says whose shop it is and offers no Invite.
    mine = await world.say(cashier, "/staff")
    assert "You are a cashier of Aline's shop" in mine.content
    assert mine.button_texts == []
    # His old Invite button is refused, and no invite is made.
    mark = world.tg.mark()
    text = await press_answer(world, cashier, old_menu, f"{callbacks.STAFF}i")
    assert text == "Only the shop's owner can do this."
    await asyncio.sleep(0.3)
    assert not [m for m in world.tg.sent_to(cashier) if "https://t.me/" in m.content]
    rows = await world.services.db.fetchall(
        "SELECT count(*) AS n FROM staff_invites WHERE owner_user_id = ?", (cashier.id,)
    )
    assert rows[0]["n"] == 0
    assert world.tg.mark() > mark


# --- the cashier at work ----------------------------------------------------------------------


async def test_a_cashier_makes_links_with_the_owners_key_and_never_sees_it(world: World) -> None:
    owner, cashier = world.user(731, "Aline"), world.user(732, "Eric")
    await hire(world, owner, cashier)
    await world.sandbox.clear_requests()
    link_id = await made_link_id(world, cashier, "Samosa")
    creates = [
        entry
        for entry in await world.sandbox.requests()
        if entry["method"] == "POST" and entry["path"].endswith("/payment-links")
    ]
    assert [entry["key"] for entry in creates] == [key_of(owner)[-4:]]
    stored = await world.services.repo.get_link(link_id)
    assert stored is not None and stored.owner_user_id == cashier.id
    assert stored.api_key_fingerprint == world.services.repo.key_fingerprint(key_of(owner))
    # What only the owner may do: connect, disconnect, notifications, export.
    for command in ("/connect", "/disconnect", "/notifications", "/export"):
        answer = await world.say(cashier, command)
        assert answer.content == "Only the shop's owner can do this.", (command, answer.content)
    # Not one message to the cashier holds the owner's key.
    everything = world.tg.history(cashier)
    assert everything
    for message in everything:
        assert key_of(owner) not in f"{message.content} {message.source_text} {message.data}"


async def test_a_cashier_sees_only_their_links_and_cannot_archive(world: World) -> None:
    owner, cashier = world.user(741, "Aline"), world.user(742, "Eric")
    await hire(world, owner, cashier)
    owners = await made_link_id(world, owner, "Wedding cake")
    mine = await made_link_id(world, cashier, "Samosa")

    assert listed(await world.say(cashier, "/links")) == [mine]
    assert set(listed(await world.say(owner, "/links"))) == {owners, mine}

    # The cashier's own card: every button but Archive works for them.
    card = await card_of(world, cashier, mine)
    assert "Samosa" in card.content
    archive = callbacks.data(callbacks.ARCHIVE, mine) + ":a0"
    assert (
        await press_answer(world, cashier, card, archive) == "Only the shop's owner can do this."
    )
    # The owner's card (forwarded, say): not the cashier's to press.
    owner_card = await card_of(world, owner, owners)
    refused = await press_answer(
        world, cashier, owner_card, callbacks.data(callbacks.LINK_CARD, owners) + ":a0"
    )
    assert refused.startswith("This button is not for you")
    stored = await world.services.repo.get_link(mine)
    assert stored is not None and stored.status == "active"
    # The owner may archive the cashier's link.
    owner_view = await card_of(world, owner, mine)
    question = await world.press(owner, owner_view, archive)
    assert "Archive" in question.content or "archive" in question.content


async def test_the_owner_gets_the_alert_of_a_cashiers_link(world: World) -> None:
    owner, cashier = world.user(751, "Aline"), world.user(752, "Eric")
    await hire(world, owner, cashier)
    link_id = await made_link_id(world, cashier, "Samosa")
    mark = world.tg.mark()
    await world.sandbox.add_charge(key_of(owner), link_id, "5000", payer_name="Jean")

    def paid(message: FakeMessage) -> bool:
        return "Payment received" in message.content and "Samosa" in message.content

    to_owner = await world.tg.wait_for_message(owner.id, paid, since=mark)
    to_cashier = await world.tg.wait_for_message(cashier.id, paid, since=mark)
    assert f"RWF{NBSP}5,000" in to_owner.content and f"RWF{NBSP}5,000" in to_cashier.content


async def test_the_owner_may_stop_a_cashiers_alerts_reaching_them(world: World) -> None:
    owner, cashier = world.user(761, "Aline"), world.user(762, "Eric")
    await hire(world, owner, cashier)
    menu = await world.say(owner, "/staff")
    switched = await world.press(owner, menu, f"{callbacks.STAFF}a:{cashier.id}:0")
    assert "🔕 Eric: their payment alerts go to them only" in switched.content
    link_id = await made_link_id(world, cashier, "Samosa")
    mark = world.tg.mark()
    await world.sandbox.add_charge(key_of(owner), link_id, "5000")
    await world.tg.wait_for_message(
        cashier.id, lambda m: "Payment received" in m.content, since=mark
    )
    await asyncio.sleep(1.0)  # five polls more: nothing for the owner
    assert not [m for m in world.tg.sent_to(owner) if "Payment received" in m.content]


# --- removal -------------------------------------------------------------------------------------


async def test_removal_stops_buttons_alerts_and_forms_at_once(world: World) -> None:
    owner, cashier = world.user(771, "Aline"), world.user(772, "Eric")
    await hire(world, owner, cashier)
    link_id = await made_link_id(world, cashier, "Samosa")
    card = await card_of(world, cashier, link_id)
    form = await world.say(cashier, "/new")  # a form in progress

    menu = await world.say(owner, "/staff")
    ask = await world.press(owner, menu, f"{callbacks.STAFF}r:{cashier.id}")
    assert "Remove Eric?" in ask.content
    mark = world.tg.mark()
    await world.press(owner, ask, f"{callbacks.STAFF}y:{cashier.id}")
    told = await world.tg.wait_for_message(cashier.id, since=mark)
    assert "Aline removed you from their shop" in told.content
    assert await world.services.staff.shop_of(cashier.id) is None

    # Their old button on their own link: refused.
    refresh = callbacks.data(callbacks.LINK_CARD, link_id) + ":a0"
    assert await press_answer(world, cashier, card, refresh) == (
        "You are no longer a cashier of this shop."
    )
    # Their form in progress: closed, with a clear line.
    closed = await world.say(cashier, "Samosa")
    assert "Your form was closed: Aline removed you from their shop." in closed.content
    assert form.buttons  # the form had started
    # Their link's payments now go to the owner alone.
    mark = world.tg.mark()
    await world.sandbox.add_charge(key_of(owner), link_id, "5000")
    await world.tg.wait_for_message(
        owner.id, lambda m: "Payment received" in m.content, since=mark
    )
    await asyncio.sleep(1.0)
    assert not [m for m in world.tg.sent_to(cashier) if "Payment received" in m.content]
    # Back on their own: their next link is made with their own key, as before they joined.
    own = await world.services.accounts.api_key_for(cashier.id)
    assert own == key_of(cashier)
