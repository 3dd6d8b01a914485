"""The create form, quick create and the QR card, over the fake Bot API and the sandbox."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from bot.accounts import SANDBOX_KEY_PREFIX
from bot.devtools.sandbox import Sandbox
from tests.conftest import World, make_settings, start_world
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser


class Vendor:
    """One user filling the form: type, press by label, read the bot's latest message."""

    def __init__(self, world: World, user: FakeUser) -> None:
        self.world = world
        self.user = user
        self.last: FakeMessage | None = None

    @property
    def key(self) -> str:
        return f"{SANDBOX_KEY_PREFIX}{self.user.id}"

    async def type(self, text: str) -> FakeMessage:
        self.last = await self.world.say(self.user, text)
        return self.last

    async def tap(
        self, label: str, message: FakeMessage | None = None, *, wait: float = 5.0
    ) -> FakeMessage:
        target = message or self.last
        assert target is not None
        tg = self.world.tg
        mark = tg.mark()
        await tg.press(self.user, target, text=label)
        self.last = await tg.wait_for_message(self.user.id, since=mark, timeout=wait)
        return self.last

    def labels(self) -> list[str]:
        assert self.last is not None
        return self.last.button_texts


async def posts(world: World) -> list[dict[str, Any]]:
    return [r for r in await world.sandbox.requests() if r["method"] == "POST"]


async def decode_qr(message: FakeMessage) -> str:
    assert message.photo is not None, message.describe()
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(message.photo)))
    assert results, "no QR code found in the photo"
    return str(results[0].text)


async def fill_minimal_fixed(vendor: Vendor, title: str = "Invoice #123") -> FakeMessage:
    await vendor.type("/new")
    await vendor.tap("Fixed amount")
    await vendor.type(title)
    await vendor.tap("RWF")
    return await vendor.type("50,000")


@pytest.fixture
def vendor(world: World) -> Vendor:
    return Vendor(world, world.user(501, "Aline"))


async def test_minimal_form_sends_only_what_it_needs_and_posts_a_scannable_card(
    world: World, vendor: Vendor
) -> None:
    summary = await fill_minimal_fixed(vendor)
    assert "RWF\xa050,000" in summary.content and "Invoice #123" in summary.content
    mark = world.tg.mark()
    await world.tg.press(vendor.user, summary, text="✅ Create link")
    card = await world.tg.wait_for_message(
        vendor.user.id, lambda m: m.photo is not None, since=mark
    )
    created = await posts(world)
    assert len(created) == 1
    body = created[0]["body"]
    assert set(body) == {"title", "amount_type", "currency", "amount", "metadata"}
    assert body["amount"] == 50000 and body["amount_type"] == "fixed"
    assert set(body["metadata"]) == {"paylinks_ref"}
    url = await decode_qr(card)
    assert url.endswith("/generation/pay/invoice-123")
    assert url in card.content
    assert "Invoice #123" in card.content
    assert card.button_texts[-1] == "📊 Details"
    # The bot knows the link and its owner, for alerts and buttons.
    stored = await world.services.repo.get_link(created_id(card))
    assert stored is not None and stored.owner_user_id == vendor.user.id


def created_id(card: FakeMessage) -> str:
    data = card.buttons[-1][0]["callback_data"]
    return str(data).removeprefix("lk:")


async def test_every_field_of_the_page_can_be_set(world: World, vendor: Vendor) -> None:
    await vendor.type("/new")
    await vendor.tap("Payer chooses")
    await vendor.type("Church roof")
    await vendor.tap("Other…")
    await vendor.type("usd")
    await vendor.type("5")
    summary = await vendor.type("1,000.50")
    assert "$5.00 – $1,000.50" in summary.content
    await vendor.tap("⚙️ More options")
    await vendor.tap("Methods: all")
    await vendor.tap("✅ USSD")
    await vendor.tap("✅ Bank transfer")
    await vendor.tap("✔️ Done")
    await vendor.tap("Max payments: unlimited")
    await vendor.type("250")
    await vendor.tap("Expires: never")
    menu = await vendor.type("31/12/2099 18:00")
    assert "Expires" in menu.content and "2099" in menu.content
    await vendor.tap("Description: —")
    await vendor.type("New iron sheets for the roof")
    await vendor.tap("End of web address: automatic")
    await vendor.tap("Use church-roof")
    await vendor.tap("After paying: —")
    await vendor.type("https://example.org/thanks")
    await vendor.tap("Logo: —")
    await vendor.type("https://example.org/logo.png")
    await vendor.tap("✅ Ask phone")
    await vendor.tap("⬜ Ask address")
    await vendor.tap("Your reference: —")
    await vendor.type("parish=St Michel\nfund=roof")
    summary = await vendor.tap("◀️ Back to summary")
    assert "church-roof" in summary.content
    await vendor.tap("✅ Create link")
    await world.tg.wait_for_message(vendor.user.id, lambda m: m.photo is not None)
    (post,) = await posts(world)
    body = post["body"]
    ref = body["metadata"].pop("paylinks_ref")
    assert ref
    assert body == {
        "title": "Church roof",
        "amount_type": "flexible",
        "currency": "USD",
        "min_amount": 5,
        "max_amount": 1000.5,
        "payment_types": ["card", "mobile_money"],
        "max_uses": 250,
        "expires_at": "2099-12-31 18:00:00",
        "description": "New iron sheets for the roof",
        "slug": "church-roof",
        "redirect_url": "https://example.org/thanks",
        "logo_url": "https://example.org/logo.png",
        "collect_phone": False,
        "collect_address": True,
        "metadata": {"parish": "St Michel", "fund": "roof"},
    }
    assert '"max_amount":1000.5' in post["raw_body"]


@pytest.mark.parametrize(
    ("step_inputs", "bad", "answer"),
    [
        ([], "x" * 101, "101 characters; the limit is 100"),
        (["Rent", "RWF"], "abc", "could not read that amount"),
        (["Rent", "RWF"], "500.5", "whole numbers"),
        (["Rent", "RWF"], "0", "more than zero"),
        (["Rent", "RWF"], "50 USD", "in RWF, not USD"),
    ],
)
async def test_bad_answers_get_their_answer_and_the_same_step(
    world: World, vendor: Vendor, step_inputs: list[str], bad: str, answer: str
) -> None:
    await vendor.type("/new")
    await vendor.tap("Fixed amount")
    for value in step_inputs:
        if value == "RWF":
            await vendor.tap("RWF")
        else:
            await vendor.type(value)
    reply = await vendor.type(bad)
    assert answer in reply.content, reply.content
    # The same step again: a good answer now moves on, and nothing reached the provider.
    assert not await posts(world)
    good = "Rent" if not step_inputs else "5000"
    nxt = await vendor.type(good)
    assert answer not in nxt.content


async def test_flexible_range_and_currency_and_option_errors(world: World, vendor: Vendor) -> None:
    await vendor.type("/new")
    await vendor.tap("Payer chooses")
    await vendor.type("Gifts")
    await vendor.tap("Other…")
    reply = await vendor.type("XYZ")
    assert "not a currency code" in reply.content
    await vendor.type("KES")
    await vendor.type("1000")
    reply = await vendor.type("10")
    assert "is above the largest" in reply.content and "KES" in reply.content
    await vendor.type("2000")
    await vendor.tap("⚙️ More options")
    await vendor.tap("Max payments: unlimited")
    assert "from 1 to" in (await vendor.type("0")).content
    await vendor.type("3")
    await vendor.tap("Expires: never")
    assert "already passed" in (await vendor.type("01/01/2020")).content
    assert "could not read that date" in (await vendor.type("someday")).content
    await vendor.tap("No expiry")
    await vendor.tap("End of web address: automatic")
    assert "small letters" in (await vendor.type("Bad Slug!")).content
    await vendor.tap("◀️ Back")
    await vendor.tap("After paying: —")
    assert "https://" in (await vendor.type("http://example.org")).content
    await vendor.tap("🗑 Remove")
    await vendor.tap("Your reference: —")
    assert "could not read" in (await vendor.type("{not json")).content
    await vendor.tap("🗑 Remove")
    await vendor.tap("Methods: all")
    for label in ("✅ Card", "✅ Mobile money", "✅ USSD"):
        await vendor.tap(label)
    reply = await vendor.tap("✅ Bank transfer")
    assert "at least one" in reply.content
    assert not await posts(world)


async def test_back_keeps_answers_and_cancel_ends(world: World, vendor: Vendor) -> None:
    await fill_minimal_fixed(vendor, "Tailoring")
    await vendor.tap("◀️ Back")  # to the amount
    await vendor.tap("◀️ Back")  # to the currency
    title_step = await vendor.tap("◀️ Back")
    assert "Keep: Tailoring" in title_step.button_texts
    await vendor.tap("Keep: Tailoring")
    await vendor.tap("USD")  # a new currency clears the amount typed for RWF
    summary = await vendor.type("25.50")
    assert "Tailoring" in summary.content and "$25.50" in summary.content
    done = await vendor.tap("✖️ Cancel")
    assert "No link was made" in done.content
    # Issue 14: no button of that finished form is left live anywhere in the chat.
    assert not [m for m in world.tg.sent_to(vendor.user.id) if m.buttons]
    # A button of a form left for a new one says it is closed and does nothing.
    first = await vendor.type("/new")
    await vendor.type("/new")
    await world.tg.press(vendor.user, first, text="Fixed amount")
    answer = await world.tg.wait_for_request(
        "answerCallbackQuery", lambda r: r.params.get("show_alert") is True
    )
    assert "closed" in answer.params["text"]
    assert not await posts(world)


async def test_unexpected_input_gets_a_hint_and_the_same_step(
    world: World, vendor: Vendor
) -> None:
    await vendor.type("/new")
    await vendor.tap("Fixed amount")
    mark = world.tg.mark()
    await world.tg.send_sticker(vendor.user)
    hint = await world.tg.wait_for_message(vendor.user.id, since=mark)
    assert "answer with text" in hint.content and "What is the payment for" in hint.content
    reply = await vendor.type("/export")  # another flow's command: finish or /cancel first
    assert "/cancel" in reply.content
    reply = await vendor.type("/links")  # answered, and the form keeps its step (issue 14)
    assert "no payment links" in reply.content
    reply = await vendor.type("Sewing")
    assert "Which currency" in reply.content
    reply = await vendor.type("RWF please")  # text where buttons are expected
    assert "tap one of the buttons" in reply.content
    gone = await vendor.type("/cancel")
    assert "Cancelled" in gone.content


async def test_provider_validation_error_returns_to_the_field(
    world: World, vendor: Vendor
) -> None:
    summary = await fill_minimal_fixed(vendor)
    body = json.dumps(
        {"status": "error", "message": "Validation failed", "errors": {"title": ["is rude"]}}
    )
    await world.sandbox.inject(method="POST", status=422, body=body)
    reply = await vendor.tap("✅ Create link", summary)
    assert "did not accept" in reply.content and "is rude" in reply.content
    assert "What is the payment for" in reply.content
    await vendor.tap("Keep: Invoice #123")
    await vendor.tap("RWF")
    await vendor.tap("Keep: RWF\xa050,000")
    await vendor.tap("✅ Create link")
    await world.tg.wait_for_message(vendor.user.id, lambda m: m.photo is not None)


async def test_slug_taken_asks_for_another(world: World, vendor: Vendor) -> None:
    other = await world.services.dgs.list_links("sk_test_someone_else")
    assert other.links == []
    from bot.dgs.models import LinkCreate

    await world.services.dgs.create_link(
        "sk_test_someone_else",
        LinkCreate(title="x", amount_type="fixed", currency="RWF", amount=Decimal(1), slug="rent"),
    )
    await fill_minimal_fixed(vendor, "Rent")
    await vendor.tap("⚙️ More options")
    await vendor.tap("End of web address: automatic")
    await vendor.tap("Use rent")
    await vendor.tap("◀️ Back to summary")
    reply = await vendor.tap("✅ Create link")
    assert "already taken" in reply.content
    await vendor.type("rent-march")
    await vendor.tap("◀️ Back to summary")
    await vendor.tap("✅ Create link")
    card = await world.tg.wait_for_message(vendor.user.id, lambda m: m.photo is not None)
    assert (await decode_qr(card)).endswith("/rent-march")


async def test_provider_down_then_try_again_makes_one_link(world: World, vendor: Vendor) -> None:
    summary = await fill_minimal_fixed(vendor)
    # Every request fails for a while: the create and the lookups that follow it.
    await world.sandbox.inject(status=503, times=0)
    # The POST fails, then the client looks for the link with backoff before it gives up
    # (about 5 s here): the answer comes after that.
    reply = await vendor.tap("✅ Create link", summary, wait=30)
    assert "not answering" in reply.content and "🔁 Try again" in reply.button_texts
    await world.sandbox.clear_faults()
    await vendor.tap("🔁 Try again")
    await world.tg.wait_for_message(vendor.user.id, lambda m: m.photo is not None)
    links = await world.services.dgs.list_links(vendor.key)
    assert len(links.links) == 1


async def test_a_create_whose_response_is_lost_makes_exactly_one_link(
    world: World, vendor: Vendor
) -> None:
    summary = await fill_minimal_fixed(vendor)
    await world.sandbox.inject(method="POST", drop=True, after=True)
    await world.tg.press(vendor.user, summary, text="✅ Create link")
    card = await world.tg.wait_for_message(
        vendor.user.id, lambda m: m.photo is not None, timeout=15
    )
    links = await world.services.dgs.list_links(vendor.key)
    assert len(links.links) == 1
    assert links.links[0].url == await decode_qr(card)


async def test_double_tap_on_create_makes_one_link(world: World, vendor: Vendor) -> None:
    summary = await fill_minimal_fixed(vendor)
    await world.tg.press(vendor.user, summary, text="✅ Create link")
    await world.tg.press(vendor.user, summary, text="✅ Create link")
    await world.tg.wait_for_message(vendor.user.id, lambda m: m.photo is not None)
    closed = await world.tg.wait_for_request(
        "answerCallbackQuery", lambda r: "closed" in str(r.params.get("text"))
    )
    assert closed is not None
    assert len(await posts(world)) == 1


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/new 50000 Invoice #123", {"amount_type": "fixed", "amount": 50000, "currency": "RWF"}),
        (
            "/new 25.50 USD Design work",
            {"amount_type": "fixed", "amount": 25.5, "currency": "USD"},
        ),
        (
            "/new 500-100000 Church roof",
            {"amount_type": "flexible", "min_amount": 500, "max_amount": 100000},
        ),
        ("/new any Donations", {"amount_type": "flexible", "currency": "RWF"}),
        ("/new 50k Rent", {"amount": 50000}),
    ],
)
async def test_quick_create(
    world: World, vendor: Vendor, command: str, expected: dict[str, Any]
) -> None:
    mark = world.tg.mark()
    await world.tg.send_text(vendor.user, command)
    card = await world.tg.wait_for_message(
        vendor.user.id, lambda m: m.photo is not None, since=mark
    )
    (post,) = await posts(world)
    assert expected.items() <= post["body"].items()
    assert (await decode_qr(card)).startswith(world.sandbox.url)


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("/new Invoice", "To make a link in one message"),
        ("/new 500.5 Rent", "whole numbers"),
        ("/new 900-100 Gifts", "is above the largest"),
        ("/new 5000 " + "x" * 120, "the limit is 100"),
    ],
)
async def test_quick_create_bad_arguments(
    world: World, vendor: Vendor, command: str, answer: str
) -> None:
    reply = await vendor.type(command)
    assert answer in reply.content
    assert not await posts(world)


async def test_the_same_card_is_uploaded_once(world: World, vendor: Vendor) -> None:
    from bot.context import BotContext
    from handlers.cards import send_qr_card

    mark = world.tg.mark()
    await world.tg.send_text(vendor.user, "/new 1500 Chapati")
    card = await world.tg.wait_for_message(
        vendor.user.id, lambda m: m.photo is not None, since=mark
    )
    details = await world.services.dgs.get_link(vendor.key, created_id(card))
    context = BotContext(world.app, chat_id=vendor.user.id, user_id=vendor.user.id)
    again = await send_qr_card(context, vendor.user.id, details.link)
    assert again.photo
    resent = world.tg.sent_to(vendor.user.id)[-1]
    assert resent.reused_file


async def test_duplicate_prefills_a_new_form_and_makes_a_second_link(
    world: World, vendor: Vendor
) -> None:
    mark = world.tg.mark()
    await world.tg.send_text(vendor.user, "/new 500-2000 USD School fees")
    card = await world.tg.wait_for_message(
        vendor.user.id, lambda m: m.photo is not None, since=mark
    )
    details = await vendor.tap("📊 Details", card)
    summary = await vendor.tap("📋 Duplicate", details)
    assert "School fees" in summary.content and "$500.00 – $2,000.00" in summary.content
    await vendor.tap("✅ Create link", summary)
    await world.tg.wait_for_message(vendor.user.id, lambda m: m.photo is not None)
    first, second = [r["body"] for r in await posts(world)]
    for body in (first, second):
        body["metadata"].pop("paylinks_ref")
    assert first == second
    links = await world.services.dgs.list_links(vendor.key)
    assert len({link.slug for link in links.links}) == 2


async def test_someone_elses_duplicate_button_does_nothing(world: World, vendor: Vendor) -> None:
    mark = world.tg.mark()
    await world.tg.send_text(vendor.user, "/new 700 Mandazi")
    card = await world.tg.wait_for_message(
        vendor.user.id, lambda m: m.photo is not None, since=mark
    )
    details = await vendor.tap("📊 Details", card)
    stranger = world.user(777, "Stranger")
    duplicate = next(
        b["callback_data"]
        for row in details.buttons
        for b in row
        if b.get("text") == "📋 Duplicate"
    )
    await world.tg.press(stranger, details, callback_data=duplicate)
    answer = await world.tg.wait_for_request(
        "answerCallbackQuery", lambda r: r.params.get("show_alert") is True
    )
    assert "not for you" in answer.params["text"]
    assert len(await posts(world)) == 1


async def test_a_form_idle_for_a_day_ends_quietly(world: World, vendor: Vendor) -> None:
    kind = await vendor.type("/new")
    await vendor.tap("Fixed amount", kind)
    # A day passes without an answer (the form keeps the time of its last step).
    world.app.user_data[vendor.user.id]["form"]["touched"] -= 25 * 3600
    mark = world.tg.mark()
    await world.tg.send_text(vendor.user, "Late title")
    await world.tg.press(vendor.user, kind, text="◀️ Back")
    answer = await world.tg.wait_for_request(
        "answerCallbackQuery", lambda r: r.params.get("show_alert") is True
    )
    assert "closed" in answer.params["text"]
    sent_after = [m for m in world.tg.history(vendor.user.id) if m.from_bot and m.revision > mark]
    assert not sent_after  # the typed title got no reply: the form ended quietly
    assert "form" not in world.app.user_data[vendor.user.id]


async def test_quick_create_shows_the_providers_refusal_as_written(
    world: World, vendor: Vendor
) -> None:
    body = json.dumps(
        {"status": "error", "message": "Validation failed", "errors": {"amount": ["must be < 10"]}}
    )
    await world.sandbox.inject(method="POST", status=422, body=body)
    reply = await vendor.type("/new 5000 Rent")
    # Sent as HTML, escaped: the payer-facing words arrive exactly, "<" included.
    assert "• Amount: must be < 10" in reply.content
    assert reply.parse_mode == "HTML"


async def test_a_refusal_names_the_fields_in_the_users_language(world: World) -> None:
    amina = Vendor(world, world.user(502, "Amina", language="fr"))
    errors = {"amount": ["must be < 10"], "currency": ["is not enabled"]}
    body = json.dumps({"status": "error", "message": "Validation failed", "errors": errors})
    await world.sandbox.inject(method="POST", status=422, body=body)
    reply = await amina.type("/new 5000 Loyer")
    # Our label in French with French spacing; the provider's words and unknown ids as sent.
    assert "• Montant\xa0: must be < 10" in reply.content
    assert "• currency\xa0: is not enabled" in reply.content


async def test_a_first_create_sends_just_the_post(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path
) -> None:
    # The notifier's sweep lists every key each poll interval, with the same request as a
    # look-up: at 30 s it runs at start and then not during the test.
    settings = make_settings(tg, sandbox, tmp_path / "data", poll_interval_seconds=30)
    world = await start_world(tg, sandbox, settings)
    try:
        vendor = Vendor(world, world.user(501, "Aline"))
        summary = await fill_minimal_fixed(vendor)
        await world.sandbox.clear_requests()
        await vendor.tap("✅ Create link", summary)
        await world.tg.wait_for_message(vendor.user.id, lambda m: m.photo is not None)
        # The reference was never sent before: no look-up, just the POST.
        assert [r["method"] for r in await world.sandbox.requests()] == ["POST"]
    finally:
        await world.stop()
