"""Issue 14 (a vendor on a phone), points 1, 10 and 11 (part): never silent, a form that bends,
/help and the command menu — through the real bot, the fake Bot API and the sandbox."""

from __future__ import annotations

import asyncio
import csv
import io
from decimal import Decimal

import pytest

from tests.conftest import World
from tests.e2e.test_create import Vendor, posts
from tests.e2e.test_dashboard import button, key_of, make_link, open_card
from tests.e2e.test_share_export import document_after
from tests.fakes.telegram import FakeMessage


@pytest.fixture
def vendor(world: World) -> Vendor:
    return Vendor(world, world.user(514, "Aline"))


async def _card(world: World, vendor: Vendor, mark: int) -> FakeMessage:
    return await world.tg.wait_for_message(
        vendor.user.id, lambda m: m.photo is not None, since=mark, timeout=10
    )


# --- point 1: never silent -------------------------------------------------------------------


async def test_an_amount_outside_any_flow_offers_a_link_and_the_next_text_names_it(
    world: World, vendor: Vendor
) -> None:
    offer = await vendor.type("5k")
    assert "Make a link for RWF\xa05,000?" in offer.content
    assert offer.button_texts == ["Payer chooses"]
    mark = world.tg.mark()
    await world.tg.send_text(vendor.user, "Samosa")
    card = await _card(world, vendor, mark)
    assert "Samosa" in card.content
    (created,) = await posts(world)
    body = created["body"]
    assert (body["title"], body["amount_type"], body["amount"]) == ("Samosa", "fixed", 5000)


async def test_payer_chooses_on_the_offer_makes_a_flexible_link_from_that_amount(
    world: World, vendor: Vendor
) -> None:
    offer = await vendor.type("50 000 RWF")
    assert "RWF\xa050,000" in offer.content
    mark = world.tg.mark()
    await world.tg.press(vendor.user, offer, text="Payer chooses")
    await _card(world, vendor, mark)
    (created,) = await posts(world)
    body = created["body"]
    assert (body["amount_type"], body["min_amount"], body["title"]) == (
        "flexible",
        50000,
        "Payment",
    )
    # The offer is spent: a second tap makes nothing more.
    query_id = await world.tg.press(vendor.user, offer, text="Payer chooses")
    answer = await world.tg.wait_for_callback_answer(query_id)
    assert answer.show_alert and "closed" in (answer.text or "")
    assert len(await posts(world)) == 1


async def test_amounts_read_in_the_users_language(world: World) -> None:
    french = Vendor(world, world.user(515, "Claire", language="fr"))
    offer = await french.type("50.000")
    assert "Créer un lien de" in offer.content and "50\u202f000" in offer.content


async def test_stray_text_a_photo_and_an_unknown_command_get_the_hint(
    world: World, vendor: Vendor
) -> None:
    hint = await vendor.type("hello")
    assert "I did not understand that." in hint.content
    assert hint.button_texts == ["➕ New link", "📋 My links", "❓ Help"]
    mark = world.tg.mark()
    await world.tg.send_photo_from_user(vendor.user)
    photo_hint = await world.tg.wait_for_message(vendor.user.id, since=mark)
    assert "I did not understand that." in photo_hint.content
    # Text that is not the next message after an offer is no name: only the hint.
    await vendor.type("5000")
    await vendor.type("/whatever")
    late = await vendor.type("Samosa")
    assert "I did not understand that." in late.content
    assert await posts(world) == []


async def test_a_form_answer_never_reaches_the_fallback(world: World, vendor: Vendor) -> None:
    await vendor.type("/new")
    await vendor.tap("Fixed amount")
    currency = await vendor.type("5000")  # a title that looks like an amount
    assert "RWF" in currency.button_texts
    await asyncio.sleep(0.3)
    texts = [m.content for m in world.tg.sent_to(vendor.user.id)]
    assert not any("Make a link for" in text for text in texts)
    # The same text once the form is over: the fallback offers a link.
    await vendor.type("/cancel")
    offer = await vendor.type("5000")
    assert "Make a link for RWF\xa05,000?" in offer.content


async def test_in_a_group_the_bot_is_quiet_unless_addressed(world: World) -> None:
    grace = world.user(931, "Grace")
    group = world.tg.group(-100931, "Market", {grace: "creator"})
    mark = world.tg.mark()
    await world.tg.add_bot_to_group(grace, group, status="administrator")
    greeting = await world.tg.wait_for_message(group.id, since=mark)
    before = len(world.tg.sent_to(group.id))
    await world.tg.send_text(grace, "hello everyone", chat=group)
    await world.tg.send_text(grace, "5000", chat=group)
    await asyncio.sleep(0.5)
    assert len(world.tg.sent_to(group.id)) == before
    mark = world.tg.mark()
    await world.tg.send_text(grace, "what can you do?", chat=group, reply_to=greeting)
    reply = await world.tg.wait_for_message(group.id, since=mark)
    assert "/new makes a link" in reply.content
    mark = world.tg.mark()
    await world.tg.send_text(grace, f"/nothing@{world.tg.bot_username}", chat=group)
    reply = await world.tg.wait_for_message(group.id, since=mark)
    assert "/new makes a link" in reply.content


# --- point 10: a form that bends -------------------------------------------------------------


async def test_the_last_currency_is_remembered_and_its_step_skipped(
    world: World, vendor: Vendor
) -> None:
    await vendor.type("/new")
    await vendor.tap("Fixed amount")
    await vendor.type("Tea")
    await vendor.tap("USD")
    await vendor.type("5")
    await vendor.tap("✖️ Cancel")
    await vendor.type("/new")
    await vendor.tap("Fixed amount")
    amount = await vendor.type("Coffee")  # no currency step: straight to the amount
    assert "USD" in amount.content and "USD" not in amount.button_texts
    summary = await vendor.type("3")
    assert "$3.00" in summary.content
    assert "💱 USD · Change" in summary.button_texts
    currency = await vendor.tap("💱 USD · Change")
    assert "RWF" in currency.button_texts
    await vendor.tap("RWF")
    summary = await vendor.type("2000")
    assert "RWF\xa02,000" in summary.content


async def test_quick_create_takes_the_title_first(world: World, vendor: Vendor) -> None:
    mark = world.tg.mark()
    await world.tg.send_text(vendor.user, "/new Samosa 5000")
    await _card(world, vendor, mark)
    (created,) = await posts(world)
    assert (created["body"]["title"], created["body"]["amount"]) == ("Samosa", 5000)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/help", "/notifications"),
        ("/links", "no payment links"),
        ("/language", "Choose your language"),
    ],
)
async def test_links_help_and_language_during_a_form_answer_and_keep_it(
    world: World, vendor: Vendor, command: str, expected: str
) -> None:
    await vendor.type("/new")
    await vendor.tap("Fixed amount")
    answer = await vendor.type(command)
    assert expected in answer.content
    assert "Finish it" not in answer.content
    step = await vendor.type("Tea")  # still the form: the title, then the currency
    assert "RWF" in step.button_texts


# --- point 11 (part): /help, /connect and the command menu -----------------------------------


async def test_help_lists_notifications_and_export_and_the_menu_lists_what_help_lists(
    world: World, vendor: Vendor
) -> None:
    help_text = (await vendor.type("/help")).content
    for command in ("/notifications", "/export"):
        assert command in help_text
    listed = {line.split(" ")[0].lstrip("/") for line in help_text.splitlines() if "–" in line}
    for call in world.tg.calls("setMyCommands"):
        menu = {entry["command"] for entry in call.params["commands"]}
        assert listed <= menu, (listed - menu, call.params.get("language_code"))


async def test_connect_says_where_a_vendor_gets_a_key(world: World, vendor: Vendor) -> None:
    ask = await vendor.type("/connect")
    assert "You get your key from DGS" in ask.content


async def test_csv_headers_are_in_the_vendors_language_and_the_caption_says_totals(
    world: World,
) -> None:
    claire = world.user(516, "Claire", language="fr")
    link = await make_link(world, claire, title="Marché", amount=Decimal(5000))
    await world.sandbox.add_charge(key_of(claire), link.id, "5000", payer_name="Ama")
    mark = world.tg.mark()
    await world.tg.send_text(claire, "/export")
    sent = await world.tg.wait_for_message(claire.id, lambda m: m.document is not None, since=mark)
    assert "total de ses paiements" in (sent.caption or "")
    assert sent.document is not None
    header, row = list(csv.reader(io.StringIO(sent.document.decode("utf-8"), newline="")))
    assert header[:2] == ["ID", "Titre"] and header[3] == "Lien"
    assert header[-1] == "Total encaissé" and row[-1] == "5000"
    card = await open_card(world, claire, link)
    charges = await document_after(world, claire, card, button(card, "dv:"))
    header, row = list(csv.reader(io.StringIO(charges.decode("utf-8"), newline="")))
    assert header == [
        "ID",
        "Créé le",
        "Montant",
        "Devise",
        "Statut",
        "Moyen",
        "Nom du payeur",
        "Téléphone du payeur",
    ]
    assert row[2] == "5000" and row[6] == "Ama"
