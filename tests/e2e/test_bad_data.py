"""Bad data from either side, over the fake Bot API and the sandbox: one link the provider
sends unreadable does not break the others (/links, /export, inline share, alerts); a huge
``Retry-After`` does not pause a key for a day; metadata nested too deep and addresses with a
password get an answer and the same step; plain-text button labels are not HTML-escaped."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.devtools.sandbox import REMOVED, Sandbox
from bot.dgs.errors import RateLimitedError
from tests.conftest import World, make_settings
from tests.e2e.test_create import Vendor, fill_minimal_fixed, posts
from tests.e2e.test_dashboard import button, key_of, link_ids, links_message, make_link, open_card
from tests.e2e.test_edit_archive import answer_prompt, choose, sandbox_calls
from tests.e2e.test_share_export import document_after, inline, rows_of
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def settings(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> Settings:
    """The bot paces its provider calls per key; in these tests, not to the second."""
    return make_settings(tg, sandbox, tmp_path / "data", dgs_requests_per_second=1000.0)


# --- one unreadable link ---------------------------------------------------------------------

UNREADABLE: list[tuple[str, dict[str, Any]]] = [
    ("empty amount", {"amount": ""}),
    ("amount abc", {"amount": "abc"}),
    ("amount 1e30", {"amount": Decimal("1E+30")}),
    ("no id", {"id": REMOVED}),
    ("title null", {"title": None}),
]


@pytest.mark.parametrize(
    "bad", [fields for _, fields in UNREADABLE], ids=[n for n, _ in UNREADABLE]
)
async def test_one_unreadable_link_leaves_the_others_on_links_share_and_export(
    world: World, bad: dict[str, Any]
) -> None:
    ama = world.user(701, "Ama")
    first = await make_link(world, ama, title="Rent March")
    broken = await make_link(world, ama, title="Broken one")
    last = await make_link(world, ama, title="Soap order")
    await world.sandbox.corrupt_link(broken.id, **bad)

    listing = await links_message(world, ama)
    assert set(link_ids(listing)) == {first.id, last.id}, listing.describe()

    assert {r["id"] for r in await inline(world, ama, "")} == {first.id, last.id}

    rows = rows_of(await document_after(world, ama, listing, button(listing, "dx:")))
    assert {row["id"] for row in rows} == {first.id, last.id}


async def test_an_unreadable_link_does_not_stop_the_alerts_of_the_others(world: World) -> None:
    kofi = world.user(702, "Kofi")
    broken = await make_link(world, kofi, title="Broken one")
    fine = await make_link(world, kofi, title="Fine one")
    await world.sandbox.corrupt_link(broken.id, amount="abc")
    # Let the poller meet the broken link (its relist and its own poll) first.
    await world.sandbox.add_charge(key_of(kofi), broken.id, "5000")
    await links_message(world, kofi)
    mark = world.tg.mark()
    await world.sandbox.add_charge(key_of(kofi), fine.id, "5000")
    alert = await world.tg.wait_for_message(
        kofi.id, lambda m: "Fine one" in m.content, since=mark, timeout=15
    )
    assert "5,000" in alert.content


# --- Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize("header", [86400, 10**9])
async def test_a_huge_retry_after_pauses_a_key_for_at_most_five_minutes(
    world: World, header: int
) -> None:
    yaw = world.user(703, "Yaw")
    await world.sandbox.inject(method="GET", path="/payment-links$", retry_after=header, times=0)
    with pytest.raises(RateLimitedError) as info:
        await world.services.dgs.list_links(key_of(yaw))
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 300
    # The key is paced, not paused: its next call waits its turn (≤ 300 s), which is past
    # the retry budget, so it says so at once with the same bound.
    with pytest.raises(RateLimitedError) as again:
        await world.services.dgs.list_links(key_of(yaw))
    assert again.value.retry_after is not None and again.value.retry_after <= 300


# --- metadata nested too deep, addresses with a password -------------------------------------

DEEP = '{"a":' * 2000 + "1" + "}" * 2000


async def test_deep_metadata_in_the_form_is_refused_and_the_step_stays(
    world: World,
) -> None:
    vendor = Vendor(world, world.user(704, "Efua"))
    await fill_minimal_fixed(vendor, "Deep")
    await vendor.tap("⚙️ More options")
    await vendor.tap("Your reference: —")
    reply = await vendor.type(DEEP)
    assert "(at most 8)" in reply.content, reply.content
    nine = '{"a":' * 9 + "1" + "}" * 9
    assert "(at most 8)" in (await vendor.type(nine)).content
    # Still the metadata step: a flat answer is taken, and the link is made with it.
    menu = await vendor.type('{"order": {"id": "123"}}')
    assert "Your reference: 1 line" in menu.button_texts, menu.button_texts
    await vendor.tap("◀️ Back to summary")
    await vendor.tap("✅ Create link")
    await world.tg.wait_for_message(vendor.user.id, lambda m: m.photo is not None)
    (post,) = await posts(world)
    post["body"]["metadata"].pop("paylinks_ref")
    assert post["body"]["metadata"] == {"order": {"id": "123"}}


@pytest.mark.parametrize("option", ["After paying: —", "Logo: —"])
async def test_an_address_with_a_user_and_password_is_refused_in_the_form(
    world: World, option: str
) -> None:
    vendor = Vendor(world, world.user(705, "Kojo"))
    await fill_minimal_fixed(vendor, "Shoes")
    await vendor.tap("⚙️ More options")
    await vendor.tap(option)
    for bad in ("https://user:pw@example.org/x", "https://user@example.org/x"):
        reply = await vendor.type(bad)
        assert "name or password" in reply.content, reply.content
    menu = await vendor.type("https://example.org/x")
    # The address is accepted; its button shows as much of it as fits a phone (issue 14, 5).
    assert any("https://example" in label for label in menu.button_texts), menu.button_texts
    assert not await posts(world)


async def test_the_editor_refuses_deep_metadata_and_addresses_with_a_password(
    world: World,
) -> None:
    abena = world.user(706, "Abena")
    link = await make_link(world, abena, title="Catering")
    card = await open_card(world, abena, link)
    for field, value, expect in (
        ("metadata", DEEP, "(at most 8)"),
        ("redirect_url", "https://user:pw@example.org/thanks", "name or password"),
        ("logo_url", "https://user:pw@example.org/logo.png", "name or password"),
    ):
        await choose(world, abena, card, field)
        reply = await answer_prompt(world, abena, value, expect=expect)
        assert "Type it again, or /cancel." in (reply.text or "")
        await answer_prompt(world, abena, value, expect=expect)  # the same step, again
        await world.tg.send_text(abena, "/cancel")
        await world.tg.wait_for_message(
            abena.id, lambda m: "nothing was changed" in (m.text or "")
        )
    assert await sandbox_calls(world, "PATCH") == []


# --- plain-text button labels ----------------------------------------------------------------


async def test_button_labels_show_user_text_as_typed(world: World) -> None:
    vendor = Vendor(world, world.user(707, "Nana"))
    await fill_minimal_fixed(vendor, "Tom & Jerry")
    await vendor.tap("◀️ Back")  # to the amount
    await vendor.tap("◀️ Back")  # to the currency
    title_step = await vendor.tap("◀️ Back")
    assert "Keep: Tom & Jerry" in title_step.button_texts, title_step.button_texts
    await vendor.tap("Keep: Tom & Jerry")
    await vendor.tap("RWF")
    await vendor.type("5000")
    await vendor.tap("⚙️ More options")
    await vendor.tap("Description: —")
    menu = await vendor.type("Soap <b> & oil")
    assert "Description: Soap <b> & oil" in menu.button_texts, menu.button_texts
    await vendor.tap("After paying: —")
    menu = await vendor.type("https://x.org/p?a=1&b=2")
    # Cut to fit a phone's row (issue 14, point 5), never escaped.
    assert any(t.startswith("After paying: https://x.org/p") for t in menu.button_texts)
    assert not [t for t in menu.button_texts if "&amp;" in t or "&lt;" in t], menu.button_texts


async def test_a_link_button_on_the_list_shows_the_providers_text_as_sent(world: World) -> None:
    kwame = world.user(708, "Kwame")
    link = await make_link(world, kwame, title="Rice & beans")
    await world.sandbox.corrupt_link(link.id, amount_type="flexible", amount=None, currency="R&D")
    listing = await links_message(world, kwame)
    [label] = [b["text"] for row in listing.buttons for b in row if link.id in b["callback_data"]]
    # Issue 14: an active link's row shows no status; the title is cut to fit a phone.
    assert label == "Rice & bea… · any amount (R&D)", label
