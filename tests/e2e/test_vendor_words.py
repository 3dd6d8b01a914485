"""Issue 14: what a vendor reads on a phone. Plain words (no developer terms), failure alerts
that fit the method, the number rule only when it helps, one message per milestone jump."""

from __future__ import annotations

import asyncio

from tests.conftest import World
from tests.e2e.test_alerts import INTERVAL, make_link, rwf
from tests.e2e.test_create import Vendor
from tests.e2e.test_groups import GROUP_ID, Parish, drive_link_id, start_drive

RULE_EN = "separates thousands"


async def test_a_failed_bank_transfer_says_no_money_moved_and_no_mobile_money_hint(
    world: World,
) -> None:
    alice = world.user(611, "Alice")
    link, key = await make_link(world, alice, title="Rent")
    await world.sandbox.add_charge(
        key, link.id, 2500, status="failed", payment_type="bank_transfer"
    )
    note = await world.tg.wait_for_message(alice.id, lambda m: "⚠️" in m.content)
    assert note.content.startswith(f"⚠️ A payment of {rwf(2500)} for Rent failed.")
    assert "No money moved." in note.content
    assert "Mobile money" not in note.content and "try again" not in note.content
    # A mobile money failure keeps its own advice, and says no money moved too.
    mark = world.tg.mark()
    await world.sandbox.add_charge(
        key, link.id, 3000, status="failed", payment_type="mobile_money"
    )
    note = await world.tg.wait_for_message(alice.id, lambda m: "⚠️" in m.content, since=mark)
    assert "No money moved." in note.content
    assert note.content.endswith("Mobile money payers often try again.")


async def test_the_number_rule_shows_only_when_an_amount_reads_two_ways_or_is_refused(
    world: World,
) -> None:
    vendor = Vendor(world, world.user(612, "Aline"))
    await vendor.type("/new")
    await vendor.tap("Fixed amount")
    await vendor.type("Design work")
    question = await vendor.tap("USD")
    assert RULE_EN not in question.content  # not on every question
    refused = await vendor.type("twelve")
    assert RULE_EN in refused.content  # refused: the rule helps
    summary = await vendor.type("1.500")  # 1.5 in English, 1 500 in French
    assert "In English, “,” separates thousands and “.” marks decimals." in summary.content
    assert "$1.50" in summary.content


async def test_a_clear_amount_goes_to_the_summary_without_the_rule(world: World) -> None:
    vendor = Vendor(world, world.user(613, "Aline"))
    await vendor.type("/new")
    await vendor.tap("Fixed amount")
    await vendor.type("Invoice")
    await vendor.tap("RWF")
    summary = await vendor.type("50,000")
    assert "Check your link" in summary.content or "RWF\xa050,000" in summary.content
    assert RULE_EN not in summary.content


async def test_french_names_the_space_and_the_any_word_is_french(world: World) -> None:
    vendor = Vendor(world, world.user(614, "Aline", language="fr"))
    await vendor.type("/new")
    await vendor.tap("Montant fixe")
    await vendor.type("Travail")
    await vendor.tap("USD")
    refused = await vendor.type("douze")
    assert "une espace ou le point pour les milliers" in refused.content
    assert "«\xa0\xa0»" not in refused.content and "« »" not in refused.content
    await vendor.type("/cancel")
    usage = await vendor.type("/new")
    help_text = await vendor.type("/help")
    shown = usage.content + help_text.content
    assert "/new any" not in shown
    made = await world.say(vendor.user, "/new libre Dons")
    assert "Dons" in made.content or made.photo is not None


async def test_one_gift_over_two_milestones_is_one_message_and_no_metadata_words(
    world: World,
) -> None:
    parish = Parish(world)
    await parish.join()
    await start_drive(world, parish, goal="100000")
    # The form's summary became a record of the drive: no "Métadonnées : 2 clés".
    record = [m.content for m in world.tg.sent_to(parish.grace.id) if "Objectif" in m.content]
    assert record and all("Métadonnées" not in t and "clés" not in t for t in record)
    link_id = await drive_link_id(world)
    await world.sandbox.add_charge(f"sk_test_tg_{parish.grace.id}", link_id, 60000)
    told = await world.tg.wait_for_message(GROUP_ID, lambda m: "de l'objectif" in m.content)
    assert "50" in told.content
    await asyncio.sleep(10 * INTERVAL)
    milestones = [m for m in world.tg.sent_to(GROUP_ID) if "de l'objectif" in m.content]
    assert milestones == [told]
