"""/links and the link card, over the fake Bot API and the sandbox: paging, learning links made
elsewhere, the card's figures against the provider's stats, the quick actions, who may press
what, and Telegram's length limits."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot import callbacks
from bot.config import Settings
from bot.devtools.sandbox import Sandbox
from bot.dgs.models import KIGALI, AmountType, Link, LinkCreate, PaymentType
from bot.telegram_text import shorten, split, utf16_units, visible_length
from tests.conftest import World, make_settings
from tests.fakes.telegram import FakeGroup, FakeMessage, FakeTelegram, FakeUser

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def settings(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> Settings:
    """The bot paces its provider calls per key; in these tests, not to the second."""
    return make_settings(tg, sandbox, tmp_path / "data", dgs_requests_per_second=1000.0)


def key_of(user: FakeUser) -> str:
    return f"sk_test_tg_{user.id}"


async def make_link(world: World, user: FakeUser, *, remember: bool = True, **fields: Any) -> Link:
    """A link made at the provider; ``remember`` records it the way /new does."""
    body: dict[str, Any] = {
        "title": "Rent March",
        "amount_type": AmountType.FIXED,
        "currency": "RWF",
        "amount": Decimal(5000),
    }
    body.update(fields)
    link = await world.services.dgs.create_link(key_of(user), LinkCreate(**body))
    if remember:
        await world.services.links.remember(
            link, api_key=key_of(user), owner_user_id=user.id, chat_id=user.id
        )
    return link


def card_data(link_id: str, view: str | None = None) -> str:
    suffix = f":{view}" if view else ""
    return callbacks.data(callbacks.LINK_CARD, link_id) + suffix


def link_ids(message: FakeMessage) -> list[str]:
    """The links listed on a page, in order (from their buttons' callback data)."""
    found = []
    for button in (b for row in message.buttons for b in row):
        data = button.get("callback_data", "")
        if data.startswith(callbacks.LINK_CARD):
            found.append(data.removeprefix(callbacks.LINK_CARD).split(":")[0])
    return found


def button(message: FakeMessage, startswith: str) -> str:
    for row in message.buttons:
        for b in row:
            if b.get("callback_data", "").startswith(startswith):
                return str(b["callback_data"])
    raise AssertionError(f"no button {startswith!r} in {message.buttons}")


def button_by_text(message: FakeMessage, text: str) -> dict[str, Any]:
    for row in message.buttons:
        for b in row:
            if text in b["text"]:
                return b
    raise AssertionError(f"no button {text!r} in {message.button_texts}")


def is_list(message: FakeMessage) -> bool:
    """The /links message (not an alert the notifier sent meanwhile)."""
    return any(
        str(b.get("callback_data", "")).startswith(("dx:", "start:new"))
        for row in message.buttons
        for b in row
    )


async def links_message(
    world: World, user: FakeUser, chat: FakeGroup | None = None
) -> FakeMessage:
    mark = world.tg.mark()
    await world.tg.send_text(user, "/links", chat=chat)
    return await world.tg.wait_for_message(chat.id if chat else user.id, is_list, since=mark)


async def tap(
    world: World,
    user: FakeUser,
    message: FakeMessage,
    data: str,
    where: Callable[[FakeMessage], bool] | None = None,
) -> FakeMessage:
    """``user`` presses ``data`` on ``message``; returns that message once edited (or the
    first message matching ``where``)."""
    mark = world.tg.mark()
    await world.tg.press(user, message, callback_data=data)
    found = where or (lambda m: m.message_id == message.message_id)
    return await world.tg.wait_for_message(message.chat_id, found, since=mark)


async def open_card(world: World, user: FakeUser, link: Link) -> FakeMessage:
    """/links (All when the link is not active), then the link's button."""
    listing = await links_message(world, user)
    if link.id not in link_ids(listing):  # not active: on the All list
        listing = await tap(world, user, listing, button_by_text(listing, "All")["callback_data"])
    assert link.id in link_ids(listing), listing.button_texts
    return await tap(world, user, listing, button(listing, card_data(link.id)))


async def sandbox_calls(world: World, method: str, path_part: str = "") -> list[dict[str, Any]]:
    return [
        r
        for r in await world.sandbox.requests()
        if r["method"] == method and path_part in r["path"]
    ]


# --- the list --------------------------------------------------------------------------------


async def test_paging_over_fifty_links_shows_every_link_once_newest_first(world: World) -> None:
    alice = world.user(401, "Alice")
    seeded = world.sandbox.seed_links(key_of(alice), 50, title="Stall")
    await world.sandbox.advance_clock(60)
    newest = await make_link(world, alice, title="Made in the bot")
    assert await world.services.repo.get_link(seeded[0]) is None  # made elsewhere

    page = await links_message(world, alice)
    assert "51" in (page.text or "") and "Page 1 of 7" in (page.text or "")
    assert link_ids(page)[0] == newest.id
    seen: list[str] = []
    for number in range(1, 8):
        ids = link_ids(page)
        assert len(ids) == (8 if number < 7 else 51 - 48)
        seen += ids
        if number < 7:
            assert "Next ›" in page.button_texts
            page = await tap(world, alice, page, button_by_text(page, "Next ›")["callback_data"])
            assert page.edited  # the same message, edited in place
            assert f"Page {number + 1} of 7" in (page.text or "")
    assert "Next ›" not in page.button_texts
    assert sorted(seen) == sorted([*seeded, newest.id]) and len(set(seen)) == 51

    back = await tap(world, alice, page, button_by_text(page, "‹ Prev")["callback_data"])
    assert "Page 6 of 7" in (back.text or "") and link_ids(back) == seen[40:48]

    # Every link listed is now known to the bot (so its alerts cover it), as Alice's.
    for link_id in seeded:
        stored = await world.services.repo.get_link(link_id)
        assert stored is not None and stored.owner_user_id == alice.id


async def test_active_and_all_filters(world: World) -> None:
    bob = world.user(402, "Bob")
    open_link = await make_link(world, bob, title="Open one")
    gone = await make_link(world, bob, title="Gone one")
    await world.services.dgs.archive_link(key_of(bob), gone.id)

    listing = await links_message(world, bob)
    assert link_ids(listing) == [open_link.id]
    everything = await tap(world, bob, listing, button_by_text(listing, "All")["callback_data"])
    assert set(link_ids(everything)) == {open_link.id, gone.id}
    labels = " | ".join(everything.button_texts)
    assert "Gone one · RWF" in labels and "archived" in labels


async def test_an_empty_list_says_how_to_start(world: World) -> None:
    reply = await links_message(world, world.user(403))
    assert "/new" in (reply.text or "")
    assert reply.button_texts == ["➕ New link"]


async def test_my_links_on_start_opens_the_list(world: World) -> None:
    una = world.user(414, "Una")
    link = await make_link(world, una, title="From start")
    welcome = await world.say(una, "/start")
    listing = await tap(world, una, welcome, button(welcome, "start:links"), is_list)
    assert listing.message_id != welcome.message_id and link_ids(listing) == [link.id]


# --- the card --------------------------------------------------------------------------------


async def test_card_figures_match_the_provider_stats(world: World) -> None:
    carol = world.user(404, "Carol")
    link = await make_link(
        world,
        carol,
        title="Design work",
        currency="USD",
        amount=Decimal("25.50"),
        max_uses=10,
        payment_types=[PaymentType.CARD, PaymentType.MOBILE_MONEY],
    )
    key = key_of(carol)
    for payer in ("Jean", "Aline", "Eric"):
        await world.sandbox.add_charge(key, link.id, "25.50", payer_name=payer)
    await world.sandbox.add_charge(key, link.id, "25.50", status="pending")
    await world.sandbox.add_charge(key, link.id, "12.25", status="failed")

    card = await open_card(world, carol, link)
    stats = (await world.services.dgs.get_link(key, link.id)).stats
    assert (stats.successful_charges, stats.pending_charges, stats.failed_charges) == (3, 1, 1)
    assert stats.total_collected == Decimal("76.50")

    text = card.text or ""
    assert text.startswith("Design work")
    assert "✅ 3 paid · ⏳ 1 pending · ❌ 1 failed" in text
    assert "Collected: $76.50" in text
    assert "3 / 10 payments" in text
    assert "Accepts: card, mobile money" in text
    assert re.search(r"\$25\.50 · ✅ paid · .+ · Eric", text)
    assert "$12.25 · ❌ failed" in text
    assert link.url and link.url in text
    assert card.edited  # the list message became the card


async def test_refresh_shows_new_payments_in_place(world: World) -> None:
    dan = world.user(405, "Dan")
    link = await make_link(world, dan)
    card = await open_card(world, dan, link)
    assert "No payments yet" in (card.text or "")
    await world.sandbox.add_charge(key_of(dan), link.id, "5000")
    refreshed = await tap(world, dan, card, button_by_text(card, "Refresh")["callback_data"])
    assert refreshed.message_id == card.message_id
    assert "✅ 1 paid" in (refreshed.text or "") and "RWF\u00a05,000" in (refreshed.text or "")

    # Nothing new: Telegram would refuse the identical edit; the press just says so.
    query_id = await world.tg.press(dan, refreshed, text="🔄 Refresh")
    reply = await world.tg.wait_for_callback_answer(query_id)
    assert reply.text == "Already up to date."


async def test_details_on_a_qr_card_sends_a_new_card_and_qr_resends(world: World) -> None:
    erin = world.user(406, "Erin")
    link = await make_link(world, erin, title="Tickets")
    listing = await links_message(world, erin)
    card = await tap(world, erin, listing, button(listing, card_data(link.id)))
    qr = await tap(world, erin, card, button(card, "dq:"), lambda m: m.photo is not None)
    assert qr.photo is not None and "Tickets" in (qr.caption or "")
    # Details on the photo: a new card message; the photo and the old card stay as they are.
    details = await tap(
        world,
        erin,
        qr,
        callbacks.data(callbacks.LINK_CARD, link.id),
        lambda m: (m.text or "").startswith("Tickets"),
    )
    assert details.message_id not in (qr.message_id, card.message_id)
    assert (details.text or "").startswith("Tickets")


async def test_extend_and_reopen_only_when_needed(world: World) -> None:
    fay = world.user(407, "Fay")
    soon = datetime.now(KIGALI).replace(microsecond=0) + timedelta(minutes=5)
    link = await make_link(world, fay, title="Weekend sale", expires_at=soon)
    await world.sandbox.advance_clock(600)  # now it is expired
    card = await open_card(world, fay, link)
    assert "Status: expired" in (card.text or "")
    extend = button(card, callbacks.EXTEND)
    await world.sandbox.clear_requests()
    # A double tap: both presses are queued before the bot handles the first.
    first = await world.tg.press(fay, card, callback_data=extend)
    second = await world.tg.press(fay, card, callback_data=extend)
    await world.tg.wait_for_callback_answer(first)
    assert "No need" in ((await world.tg.wait_for_callback_answer(second)).text or "")
    extended = world.tg.message(fay.id, card.message_id)
    assert "Status: active" in (extended.text or "") and "(in 7 days)" in (extended.text or "")
    patches = await sandbox_calls(world, "PATCH")
    assert len(patches) == 1 and list(patches[0]["body"]) == ["expires_at"]
    new_expiry = datetime.fromisoformat(patches[0]["body"]["expires_at"]).replace(tzinfo=KIGALI)
    # Seven days on from the old expiry (still ahead of the bot's own clock here).
    assert new_expiry - soon == timedelta(days=7)

    done = await make_link(world, fay, title="One invoice", max_uses=1)
    await world.sandbox.add_charge(key_of(fay), done.id, "5000")
    card = await open_card(world, fay, done)
    assert "Status: completed" in (card.text or "")
    reopened = await tap(world, fay, card, button(card, callbacks.REOPEN))
    assert "Reopened" in (reopened.text or "") and "1 / 2 payments" in (reopened.text or "")
    patches = await sandbox_calls(world, "PATCH", done.id)
    assert [p["body"] for p in patches] == [{"max_uses": 2}]


async def test_mute_and_unmute(world: World) -> None:
    gus = world.user(408, "Gus")
    link = await make_link(world, gus)
    card = await open_card(world, gus, link)
    muted = await tap(world, gus, card, button_by_text(card, "Mute alerts")["callback_data"])
    stored = await world.services.repo.get_link(link.id)
    assert stored is not None and stored.muted
    assert "muted" in (muted.text or "") and "🔔 Unmute alerts" in muted.button_texts
    await tap(world, gus, muted, button_by_text(muted, "Unmute")["callback_data"])
    stored = await world.services.repo.get_link(link.id)
    assert stored is not None and not stored.muted


async def test_an_alerts_buttons_leave_the_alert_as_it_is(world: World) -> None:
    vic = world.user(415, "Vic")
    link = await make_link(world, vic, title="Alerted")
    await links_message(world, vic)  # connects Vic: the notifier watches connected keys' links
    mute_data = callbacks.data(callbacks.MUTE, link.id)
    await world.sandbox.add_charge(key_of(vic), link.id, "5000", payer_name="Jean")

    def has_mute(message: FakeMessage) -> bool:
        return any(b.get("callback_data") == mute_data for row in message.buttons for b in row)

    alert = await world.tg.wait_for_message(vic.id, has_mute, timeout=10)
    query_id = await world.tg.press(vic, alert, callback_data=mute_data)
    assert "muted" in ((await world.tg.wait_for_callback_answer(query_id)).text or "")
    stored = await world.services.repo.get_link(link.id)
    assert stored is not None and stored.muted
    card = await tap(
        world,
        vic,
        alert,
        callbacks.data(callbacks.LINK_CARD, link.id),
        lambda m: (m.text or "").startswith("Alerted"),
    )
    assert card.message_id != alert.message_id
    assert "🔔 Unmute alerts" in card.button_texts
    assert world.tg.message(vic.id, alert.message_id).content == alert.content


# --- who may press what ----------------------------------------------------------------------


async def _others_presses_do_nothing(
    world: World, other: FakeUser, message: FakeMessage, group_id: int
) -> None:
    """``other`` presses every callback button of ``message``: each gets a short alert, and
    neither the chat nor the provider sees anything happen."""
    await world.sandbox.clear_requests()
    before = [(m.message_id, m.content, m.buttons) for m in world.tg.sent_to(group_id)]
    datas = [b["callback_data"] for row in message.buttons for b in row if "callback_data" in b]
    assert datas
    for data in datas:
        query_id = await world.tg.press(other, message, callback_data=data)
        reply = await world.tg.wait_for_callback_answer(query_id)
        assert reply.show_alert and "not for you" in (reply.text or ""), (data, reply)
    after = [(m.message_id, m.content, m.buttons) for m in world.tg.sent_to(group_id)]
    assert after == before
    # The notifier may poll (GET) meanwhile; nothing may change at the provider.
    assert [r for r in await world.sandbox.requests() if r["method"] != "GET"] == []


async def test_another_users_presses_in_a_group_do_nothing(world: World) -> None:
    owner, other = world.user(409, "Hana"), world.user(410, "Ivan")
    group = world.tg.group(-4100, "Market", {owner: "creator", other: "member"})
    await world.tg.add_bot_to_group(owner, group)
    link = await make_link(world, owner, title="Shared stall")
    # /links in a group answers in private; the list's buttons still refuse anyone else.
    mark = world.tg.mark()
    await world.tg.send_text(owner, "/links", chat=group)
    listing = await world.tg.wait_for_message(owner.id, is_list, since=mark)
    await world.tg.wait_for_message(group.id, lambda m: "in private" in m.content, since=mark)
    await _others_presses_do_nothing(world, other, listing, group.id)

    card = await tap(world, owner, listing, button(listing, card_data(link.id)))
    assert (card.text or "").startswith("Shared stall")
    await _others_presses_do_nothing(world, other, card, group.id)

    ask = await tap(world, owner, card, button(card, "da:"))
    assert "permanent" in (ask.text or "")
    await _others_presses_do_nothing(world, other, ask, group.id)
    assert (await world.services.dgs.get_link(key_of(owner), link.id)).link.status == "active"

    card = await tap(world, owner, ask, button(ask, callbacks.LINK_CARD))
    menu = await tap(world, owner, card, button(card, "de:"))
    await _others_presses_do_nothing(world, other, menu, group.id)
    stored = await world.services.repo.get_link(link.id)
    assert stored is not None and not stored.muted


async def test_buttons_carry_no_title_and_fit_64_bytes(world: World) -> None:
    jo = world.user(411, "Jo")
    title = "Ikimina cy'abacuruzi ba Nyabugogo — 🍌🥑🍍 " * 3
    link = await make_link(world, jo, title=title[:100])
    card = await open_card(world, jo, link)
    menu = await tap(world, jo, card, button(card, "de:"))
    for message in (card, menu):
        for row in message.buttons:
            for b in row:
                data = b.get("callback_data")
                if data is not None:
                    assert len(data.encode()) <= 64 and "Ikimina" not in data


async def test_buttons_from_before_the_bots_database_still_work_or_say_so(world: World) -> None:
    kim = world.user(412, "Kim")
    link = await make_link(world, kim, title="Old card")
    card = await open_card(world, kim, link)
    # The bot's record of the link is gone (a new database, say): the button still works,
    # because the provider shows Kim the link, and the bot records it again.
    await world.services.db.execute("DELETE FROM links WHERE link_id = ?", (link.id,))
    query_id = await world.tg.press(kim, card, text="🔄 Refresh")
    reply = await world.tg.wait_for_callback_answer(query_id)
    assert not reply.show_alert  # the card was shown (unchanged: "up to date")
    again = world.tg.message(kim.id, card.message_id)
    assert (again.text or "").startswith("Old card")
    assert await world.services.repo.get_link(link.id) is not None
    # Gone from the provider too: the button says it no longer works.
    await world.services.db.execute("DELETE FROM links WHERE link_id = ?", (link.id,))
    await world.sandbox.reset()
    query_id = await world.tg.press(kim, again, text="🔄 Refresh")
    reply = await world.tg.wait_for_callback_answer(query_id)
    assert reply.show_alert and "no longer works" in (reply.text or "")


async def test_list_buttons_say_connect_first_once_the_key_is_refused(world: World) -> None:
    bo = world.user(602, "Bo")
    await make_link(world, bo, title="Rent March")
    listing = await links_message(world, bo)
    credential = await world.services.repo.get_credential(bo.id)
    assert credential is not None
    # The provider refused the key since.
    await world.services.repo.mark_fingerprint_invalid(credential.key_fingerprint)
    await world.sandbox.clear_requests()
    for prefix in ("dl:", "dx:"):  # the list's filter (All) and Export
        query_id = await world.tg.press(bo, listing, callback_data=button(listing, prefix))
        reply = await world.tg.wait_for_callback_answer(query_id)
        assert reply.show_alert and "First connect your DGS account" in (reply.text or ""), prefix
    assert await sandbox_calls(world, "GET") == []  # no list read, no export started
    assert world.tg.message(bo.id, listing.message_id).button_texts == listing.button_texts


# --- Telegram's limits -----------------------------------------------------------------------


async def test_a_card_with_many_long_charges_and_a_long_title_fits(world: World) -> None:
    lee = world.user(413, "Lee")
    link = await make_link(
        world, lee, title=("Ubukode bw'inzu " * 10)[:100], currency="USD", amount=Decimal("1.50")
    )
    for number in range(12):
        await world.sandbox.add_charge(
            key_of(lee), link.id, "1.50", payer_name=f"Payer {number} " + "N" * 500
        )
    card = await open_card(world, lee, link)
    text = card.text or ""
    assert text.startswith("Ubukode bw'inzu")
    assert len(text) <= 4096 and "✅ 12 paid" in text
    assert text.count("• $1.50") == 10  # the provider's ten newest charges


def test_split_keeps_every_character_and_the_markup_valid() -> None:
    source = "<b>Header &amp; more</b>\n" + "\n".join(
        f"• line {n} <i>it&lt;al</i> 😀" for n in range(600)
    )
    parts = split(source, 4096)
    assert len(parts) > 1
    assert all(visible_length(part) <= 4096 for part in parts)
    rejoined = "\n".join(parts)
    assert visible_length(rejoined) == visible_length(source)
    for part in parts:
        assert part.count("<i>") == part.count("</i>") and part.count("<b>") == part.count("</b>")


def test_split_cuts_a_line_longer_than_the_limit_and_reopens_its_tags() -> None:
    parts = split("<b>" + "é" * 250 + "</b>", 100)
    assert [visible_length(p) for p in parts] == [100, 100, 50]
    assert all(p.startswith("<b>") and p.endswith("</b>") for p in parts)


def test_shorten_ends_with_an_ellipsis_within_the_limit() -> None:
    text = "<b>Title</b>\n" + "\n".join("• 🍌 charge" for _ in range(500))
    short = shorten(text, 1024)
    assert visible_length(short) <= 1024 and short.endswith("…")
    assert short.startswith("<b>Title</b>\n")
    assert utf16_units("🍌") == 2
    assert shorten("short", 10) == "short"
