"""Many people at once over the real bot: a slow provider for one never stalls another, and one
person's updates keep their order (fast typing, double taps).

The provider is slowed at the HTTP boundary: ``sandbox.set_key_delay`` holds every call of one
user's key, ``sandbox.inject(delay=...)`` holds a single call.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from bot.accounts import SANDBOX_KEY_PREFIX
from bot.dgs.models import LinkCreate
from bot.notify import notifier_of
from tests.conftest import World
from tests.fakes.telegram import FakeMessage, FakeUser

# Long enough that "B finished well before A's provider answered" cannot happen by luck.
PROVIDER_DELAY = 4.0


def key_of(user: FakeUser) -> str:
    return f"{SANDBOX_KEY_PREFIX}{user.id}"


async def provider_calls(world: World, user: FakeUser, method: str) -> list[dict[str, Any]]:
    """The sandbox's log of ``method`` calls made with ``user``'s key (it logs the last 4)."""
    tail = key_of(user)[-4:]
    return [
        r for r in await world.sandbox.requests() if r["method"] == method and r["key"] == tail
    ]


async def wait_for_provider_call(world: World, user: FakeUser, method: str) -> None:
    """Until the provider has received (not necessarily answered) such a call."""
    async with asyncio.timeout(5):
        # The sandbox has no event for arriving requests; its log is cheap to read.
        while not await provider_calls(world, user, method):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def is_card(message: FakeMessage) -> bool:
    return message.photo is not None


async def replies(world: World, user: FakeUser, count: int, since: int) -> list[FakeMessage]:
    """The bot's next ``count`` messages (or edits) in ``user``'s chat after ``since``."""
    found = [await world.tg.wait_for_message(user.id, since=since)]
    while len(found) < count:
        found.append(await world.tg.wait_for_message(user.id))
    return found


async def test_a_create_stuck_at_the_provider_does_not_hold_up_another_user(
    world: World,
) -> None:
    a, b = world.user(701, "Aline"), world.user(702, "Bosco")
    await world.sandbox.set_key_delay(key_of(a), PROVIDER_DELAY)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await world.tg.send_text(a, "/new 5000 Rent")
    await wait_for_provider_call(world, a, "POST")  # A's update is now inside the provider call

    welcome = await world.say(b, "/start")
    assert "Bosco" in welcome.content
    mark = world.tg.mark()
    await world.tg.send_text(b, "/new 5000 Rent")
    card = await world.tg.wait_for_message(b.id, is_card, since=mark)
    assert "Rent" in card.content
    listing = await world.say(b, "/links")
    assert any("Rent" in label for label in listing.button_texts), listing.describe()
    b_done = loop.time() - began

    # B is through while A's create is still held at the provider, and A has had no answer.
    (a_post,) = await provider_calls(world, a, "POST")
    assert a_post["status"] is None
    assert not world.tg.sent_to(a)
    assert b_done < PROVIDER_DELAY / 2, f"B took {b_done:.2f} s"

    a_card = await world.tg.wait_for_message(a.id, is_card, timeout=PROVIDER_DELAY + 5)
    assert "Rent" in a_card.content
    assert loop.time() - began >= PROVIDER_DELAY
    assert [r["status"] for r in await provider_calls(world, a, "POST")] == [201]


async def test_quick_creates_typed_fast_are_answered_in_order(world: World) -> None:
    vendor = world.user(711, "Claudine")
    # The first create is the slowest: run side by side, the later ones would overtake it.
    await world.sandbox.inject(method="POST", key=key_of(vendor), delay=1.0, times=1)
    titles = [f"Order {n}" for n in range(1, 6)]
    mark = world.tg.mark()
    for title in titles:
        await world.tg.send_text(vendor, f"/new 1500 {title}")
    cards = await replies(world, vendor, len(titles), mark)
    assert all(is_card(card) for card in cards), [c.describe() for c in cards]
    assert [card.content.splitlines()[0] for card in cards] == titles
    posts = await provider_calls(world, vendor, "POST")
    assert [post["body"]["title"] for post in posts] == titles


async def tap(world: World, user: FakeUser, message: FakeMessage, label: str) -> FakeMessage:
    """``user`` presses the button labelled ``label``; returns the bot's next message or edit."""
    mark = world.tg.mark()
    await world.tg.press(user, message, text=label)
    return await world.tg.wait_for_message(user.id, since=mark)


async def test_form_answers_typed_before_the_bot_replies_each_land_on_their_step(
    world: World,
) -> None:
    vendor = world.user(721, "Didier")
    prompt = await world.say(vendor, "/new")
    prompt = await tap(world, vendor, prompt, "Payer chooses")
    prompt = await world.say(vendor, "Church roof")
    prompt = await tap(world, vendor, prompt, "Other…")
    assert "currency code" in prompt.content
    # Three answers sent at once, before the bot has answered the first.
    mark = world.tg.mark()
    for text in ("usd", "5", "1,000.50"):
        await world.tg.send_text(vendor, text)
    smallest, largest, summary = await replies(world, vendor, 3, mark)
    assert smallest.content.startswith("Smallest amount") and "USD" in smallest.content
    assert largest.content.startswith("Largest amount") and "USD" in largest.content
    assert "Check your link" in summary.content
    assert "$5.00 – $1,000.50" in summary.content
    assert "Church roof" in summary.content


async def test_a_double_tap_on_create_while_the_provider_is_slow_makes_one_link(
    world: World,
) -> None:
    vendor = world.user(731, "Esther")
    prompt = await world.say(vendor, "/new")
    prompt = await tap(world, vendor, prompt, "Fixed amount")
    prompt = await world.say(vendor, "School fees")
    prompt = await tap(world, vendor, prompt, "RWF")
    summary = await world.say(vendor, "25000")
    assert "✅ Create link" in summary.button_texts
    # The first create takes a while at the provider: the second tap arrives meanwhile.
    await world.sandbox.set_key_delay(key_of(vendor), 0.5)
    mark = world.tg.mark()
    first = await world.tg.press(vendor, summary, text="✅ Create link")
    second = await world.tg.press(vendor, summary, text="✅ Create link")
    await world.tg.wait_for_message(vendor.id, is_card, since=mark, timeout=10)
    answer = await world.tg.wait_for_callback_answer(second)
    posts = await provider_calls(world, vendor, "POST")
    assert len(posts) == 1 and posts[0]["body"]["title"] == "School fees"
    # The second tap found the form already done.
    assert answer.show_alert and "closed" in (answer.text or "")
    first_answer = world.tg.callback_answers.get(first)
    assert first_answer is None or "closed" not in (first_answer.text or "")
    links = await world.services.dgs.list_links(key_of(vendor))
    assert [link.title for link in links.links] == ["School fees"]


def button_data(message: FakeMessage, prefix: str) -> str:
    """The callback data of ``message``'s button whose data starts with ``prefix``."""
    found = [
        str(button["callback_data"])
        for row in message.buttons
        for button in row
        if str(button.get("callback_data", "")).startswith(prefix)
    ]
    assert found, message.describe()
    return found[0]


async def test_a_double_tap_on_yes_archive_archives_once(world: World) -> None:
    vendor = world.user(741, "Fabrice")
    mark = world.tg.mark()
    await world.tg.send_text(vendor, "/new 3000 Market stall")
    card = await world.tg.wait_for_message(vendor.id, is_card, since=mark)
    details = await world.press(vendor, card, button_data(card, "lk:"))
    question = await world.press(vendor, details, button_data(details, "da:"))
    assert "Yes, archive" in question.button_texts
    await world.sandbox.set_key_delay(key_of(vendor), 0.5)
    mark = world.tg.mark()
    first = await world.tg.press(vendor, question, text="Yes, archive")
    second = await world.tg.press(vendor, question, text="Yes, archive")
    await world.tg.wait_for_callback_answer(second, timeout=10)
    await world.tg.wait_for_callback_answer(first)
    assert len(await provider_calls(world, vendor, "DELETE")) == 1
    archived = await world.tg.wait_for_message(
        vendor.id, lambda m: "Archived" in m.content, since=mark
    )
    assert "no longer takes payments" in archived.content


async def test_polls_yield_while_people_wait_for_replies(world: World) -> None:
    """With updates in hand, at most ``busy_in_flight`` polls run; idle, up to the maximum."""
    poller = notifier_of(world.app).poller
    user = world.user(880, "Bulk")
    key = await world.services.accounts.api_key_for(user.id)  # connects them (sandbox mode)
    assert key is not None
    links = [
        await world.services.dgs.create_link(
            key,
            LinkCreate(title=f"Stall {n}", amount_type="fixed", currency="RWF", amount=Decimal(5)),
        )
        for n in range(40)
    ]
    await world.sandbox.set_key_delay(key, 0.2)
    waiting = True
    poller._users_waiting = lambda: waiting
    poller.config.per_key = 64  # one key here: let the global bound be the one that binds
    for link in links:  # due at once: the notifier's own poll job takes them
        await world.services.links.remember(link, api_key=key, owner_user_id=user.id)
    seen: list[int] = []
    for _ in range(50):
        seen.append(len(poller._tasks))
        await asyncio.sleep(0.01)
    assert 0 < max(seen) <= poller.config.busy_in_flight
    waiting = False
    idle: list[int] = []
    for _ in range(100):
        idle.append(len(poller._tasks))
        await asyncio.sleep(0.01)
    assert max(idle) > poller.config.busy_in_flight
