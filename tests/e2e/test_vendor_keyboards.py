"""A vendor on a phone (issue 14): one live keyboard at the bottom of the chat, buttons
that fit a phone's width in every language."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.devtools.sandbox import Sandbox
from tests.conftest import World, eventually, make_settings
from tests.e2e.test_alerts import make_link as make_recorded_link
from tests.e2e.test_create import Vendor, fill_minimal_fixed
from tests.e2e.test_dashboard import (
    button,
    button_by_text,
    links_message,
    make_link,
    open_card,
    tap,
)
from tests.e2e.test_edit_archive import answer_prompt, choose
from tests.e2e.test_groups import Parish, start_drive
from tests.e2e.test_groups import parish as parish  # noqa: PLC0414 - the fixture, by name
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def settings(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> Settings:
    return make_settings(tg, sandbox, tmp_path / "data", dgs_requests_per_second=1000.0)


def with_buttons(world: World, chat_id: int) -> list[int]:
    """The ids of the bot's messages in the chat that still carry buttons."""
    return [m.message_id for m in world.tg.sent_to(chat_id) if m.buttons]


async def only_live(world: World, chat_id: int, message_id: int) -> None:
    """Soon (the old keyboard goes once the new question is out) only ``message_id`` has
    buttons."""

    async def only_newest() -> bool:
        return with_buttons(world, chat_id) == [message_id]

    try:
        await eventually(only_newest, timeout=3)
    except AssertionError:
        raise AssertionError(world.tg.dump(chat_id)) from None


async def test_only_the_newest_question_of_the_form_has_buttons(world: World) -> None:
    vendor = Vendor(world, world.user(601, "Aline"))
    summary = await fill_minimal_fixed(vendor)  # kind, title, currency, amount answered
    assert len(world.tg.sent_to(vendor.user.id)) >= 3  # typed answers made new messages
    await only_live(world, vendor.user.id, summary.message_id)

    # A refused answer asks again below: the question above it goes dead too.
    await vendor.tap("⚙️ More options")
    await vendor.tap(next(label for label in vendor.labels() if "Description" in label))
    again = await vendor.type("x" * 3000)
    assert again.buttons
    await only_live(world, vendor.user.id, again.message_id)


async def test_an_answered_edit_prompt_loses_its_buttons(world: World) -> None:
    ana = world.user(602, "Ana")
    link = await make_link(world, ana, title="Fish stall")
    card = await open_card(world, ana, link)
    prompt = await choose(world, ana, card, "title")
    assert prompt.buttons
    new_card = await answer_prompt(world, ana, "Fresh fish stall")
    await only_live(world, ana.id, new_card.message_id)


async def test_the_archived_card_says_archived_once(world: World) -> None:
    gia = world.user(603, "Gia")
    link = await make_link(world, gia, title="Raffle tickets")
    card = await open_card(world, gia, link)
    ask = await tap(world, gia, card, button(card, "da:"))
    done = await tap(world, gia, ask, button_by_text(ask, "Yes, archive")["callback_data"])
    assert (done.text or "").lower().count("archived") == 1, done.text
    again = await open_card(world, gia, link)  # opened afresh: no notice
    assert (again.text or "").lower().count("archived") == 1, again.text


async def test_the_drive_card_calls_its_amounts_ideas_not_choices(
    world: World, parish: Parish
) -> None:
    await parish.join(status="administrator")
    card = await start_drive(world, parish)  # a French group, 5,000 and 10,000 suggested
    assert "Idées (tout montant est bienvenu)" in card.content, card.content
    assert "Suggérés" not in card.content


async def test_the_list_shows_the_money_and_tells_twins_apart(world: World) -> None:
    dan = world.user(604, "Dan")
    juice, key = await make_recorded_link(world, dan, title="Juice")
    other, _ = await make_recorded_link(world, dan, title="Juice")
    for _ in range(3):
        await world.sandbox.add_charge(key, juice.id, "5000")

    async def recorded() -> bool:  # the notifier has stored what the provider says
        stored = await world.services.repo.get_link(juice.id)
        return (
            stored is not None
            and stored.snapshot is not None
            and (stored.snapshot.stats.successful_charges == 3)
        )

    await eventually(recorded, timeout=10)
    listing = await links_message(world, dan)
    labels = {
        b["callback_data"].split(":")[1]: b["text"]
        for row in listing.buttons
        for b in row
        if b["callback_data"].startswith("lk:")
    }
    assert "3 paid · RWF\xa015,000" in labels[juice.id], labels
    assert labels[juice.id].startswith("Juice ") and labels[other.id].startswith("Juice ")
    assert labels[juice.id] != labels[other.id]
    assert all(len(label) <= 30 for label in labels.values()), labels
