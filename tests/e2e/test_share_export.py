"""Share (inline mode), the CSV exports and the chart, over the fake Bot API and the sandbox."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from bot.config import Settings
from bot.devtools.sandbox import Sandbox
from bot.dgs.models import PaymentType
from bot.export import CHARGE_COLUMNS, LINK_COLUMNS
from bot.i18n import Catalogues
from tests.conftest import World, make_settings, start_world
from tests.e2e.test_dashboard import (
    button,
    button_by_text,
    key_of,
    links_message,
    make_link,
    open_card,
)
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def settings(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> Settings:
    """The bot paces its provider calls per key; in these tests, not to the second."""
    return make_settings(tg, sandbox, tmp_path / "data", dgs_requests_per_second=1000.0)


@pytest.fixture
async def public_world(tg: FakeTelegram, tmp_path: Path) -> AsyncIterator[World]:
    """A sandbox whose payer pages have a public https address, as the real provider's do."""
    async with Sandbox(test_mode=True, public_base_url="https://pay.example.rw") as provider:
        settings = make_settings(tg, provider, tmp_path / "data", dgs_requests_per_second=1000.0)
        world = await start_world(tg, provider, settings)
        try:
            yield world
        finally:
            await world.stop()


async def inline(world: World, user: FakeUser, query: str) -> list[dict[str, object]]:
    query_id = await world.tg.inline_query(user, query)
    answer = await world.tg.wait_for_inline_answer(query_id)
    assert answer.is_personal
    return answer.results


async def document_after(world: World, user: FakeUser, message: FakeMessage, data: str) -> bytes:
    mark = world.tg.mark()
    await world.tg.press(user, message, callback_data=data)
    sent = await world.tg.wait_for_message(user.id, lambda m: m.document is not None, since=mark)
    assert sent.document is not None
    return sent.document


def rows_of(document: bytes, language: str = "en") -> list[dict[str, str]]:
    """The CSV's rows keyed by column name. The header row is in the vendor's language (issue
    14): it must be the catalogue's names of ``LINK_COLUMNS`` or ``CHARGE_COLUMNS``."""
    header, *rows = list(csv.reader(io.StringIO(document.decode("utf-8"), newline="")))
    tr = Catalogues.load().translator(language)
    for columns in (LINK_COLUMNS, CHARGE_COLUMNS):
        if header == [tr.plain(f"csv-{column}") for column in columns]:
            return [dict(zip(columns, row, strict=True)) for row in rows]
    raise AssertionError(f"a header row not in {language}: {header}")


# --- share -----------------------------------------------------------------------------------


async def test_inline_results_are_the_querying_users_active_links(world: World) -> None:
    ama, kofi = world.user(601, "Ama"), world.user(602, "Kofi")
    rent = await make_link(world, ama, title="Rent March", slug="rent-march-ama")
    soap = await make_link(world, ama, title="Soap order")
    closed = await make_link(world, ama, title="Rent February")
    await world.services.dgs.archive_link(key_of(ama), closed.id)
    theirs = await make_link(world, kofi, title="Rent Kofi")

    found = await inline(world, ama, "")
    assert {r["id"] for r in found} == {rent.id, soap.id}
    assert {r["id"] for r in await inline(world, ama, "rent")} == {rent.id}
    assert {r["id"] for r in await inline(world, ama, "march-ama")} == {rent.id}  # by slug
    assert {r["id"] for r in await inline(world, kofi, "rent")} == {theirs.id}

    result = next(r for r in found if r["id"] == rent.id)
    content = result["input_message_content"]
    assert isinstance(content, dict)
    text = str(content["message_text"])
    assert "<b>Rent March</b>" in text and "RWF\u00a05,000" in text
    # The sandbox's payer page is on 127.0.0.1, which Telegram refuses as a button: the
    # address goes in the text, and the card has no button at all.
    assert "Pay here: http://127.0.0.1" in text
    assert "reply_markup" not in result or not result["reply_markup"]


async def test_a_share_card_has_only_an_open_to_pay_button(public_world: World) -> None:
    world = public_world
    yaw = world.user(603, "Yaw")
    link = await make_link(world, yaw, title="Tailoring", payment_types=[PaymentType.MOBILE_MONEY])
    [result] = await inline(world, yaw, "tailor")
    markup = result["reply_markup"]
    assert isinstance(markup, dict)
    buttons = [b for row in markup["inline_keyboard"] for b in row]
    assert buttons == [{"text": "💳 Open to pay", "url": link.url}]
    assert str(link.url).startswith("https://pay.example.rw/")
    content = result["input_message_content"]
    assert isinstance(content, dict) and "Pay here" not in str(content["message_text"])
    assert "Accepts: mobile money" in str(content["message_text"])


async def test_the_card_share_button_searches_for_the_link(world: World) -> None:
    efua = world.user(604, "Efua")
    link = await make_link(world, efua, title="Kente cloth", slug="kente-cloth-efua")
    card = await open_card(world, efua, link)
    share = button_by_text(card, "Share")
    assert share["switch_inline_query"] == "kente-cloth-efua"
    assert [r["id"] for r in await inline(world, efua, str(share["switch_inline_query"]))] == [
        link.id
    ]


# --- export ----------------------------------------------------------------------------------


async def test_export_csv_parses_and_its_totals_match_the_stats(world: World) -> None:
    abena = world.user(605, "Abena")
    key = key_of(abena)
    usd = await make_link(
        world, abena, title='Design, "logo" work', currency="USD", amount=Decimal("25.50")
    )
    rwf = await make_link(world, abena, title="=SUM(A1:A9)", max_uses=5)
    for amount, status in (("25.50", "success"), ("25.50", "success"), ("10", "failed")):
        await world.sandbox.add_charge(key, usd.id, amount, status=status)
    await world.sandbox.add_charge(key, rwf.id, "5000", status="pending")

    mark = world.tg.mark()
    await world.tg.send_text(abena, "/export")
    sent = await world.tg.wait_for_message(abena.id, lambda m: m.document is not None, since=mark)
    assert sent.filename and sent.filename.endswith(".csv")
    assert "2 links" in (sent.caption or "")
    assert sent.document is not None
    rows = rows_of(sent.document)
    assert list(rows[0]) == list(LINK_COLUMNS)
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == {usd.id, rwf.id}
    for link in (usd, rwf):
        stats = (await world.services.dgs.get_link(key, link.id)).stats
        row = by_id[link.id]
        assert Decimal(row["total_collected"]) == stats.total_collected
        assert int(row["successful_charges"]) == stats.successful_charges
        assert int(row["pending_charges"]) == stats.pending_charges
        assert int(row["failed_charges"]) == stats.failed_charges
    assert by_id[usd.id]["total_collected"] == "51.00"  # plain decimal, the currency's digits
    assert by_id[usd.id]["amount"] == "25.50" and by_id[rwf.id]["amount"] == "5000"
    assert by_id[usd.id]["title"] == 'Design, "logo" work'  # quoted, read back whole
    assert by_id[rwf.id]["title"] == "'=SUM(A1:A9)"  # never run as a formula
    created = datetime.fromisoformat(by_id[usd.id]["created_at"])
    assert created.utcoffset() is not None and by_id[usd.id]["created_at"].endswith("+02:00")


async def test_export_from_the_list_and_an_empty_export(world: World) -> None:
    kwame = world.user(606, "Kwame")
    mark = world.tg.mark()
    await world.tg.send_text(kwame, "/export")
    # The export's progress line ends up saying why there is no file.
    empty = await world.tg.wait_for_message(kwame.id, lambda m: "/new" in m.content, since=mark)
    assert empty.document is None
    await make_link(world, kwame, title="Only one")
    listing = await links_message(world, kwame)
    rows = rows_of(await document_after(world, kwame, listing, button(listing, "dx:")))
    assert [row["title"] for row in rows] == ["Only one"]


async def test_a_links_charges_csv_from_its_card(world: World) -> None:
    adjoa = world.user(607, "Adjoa")
    key = key_of(adjoa)
    link = await make_link(world, adjoa, title="Catering", currency="USD", amount=Decimal("12.75"))
    await world.sandbox.add_charge(
        key, link.id, "12.75", payer_name="Ama Mensah", payer_phone="+250788123456"
    )
    await world.sandbox.add_charge(key, link.id, "12.75", payer_name="@evil")
    await world.sandbox.add_charge(key, link.id, "12.75", status="failed")
    card = await open_card(world, adjoa, link)
    rows = rows_of(await document_after(world, adjoa, card, button(card, "dv:")))
    assert list(rows[0]) == list(CHARGE_COLUMNS)
    assert len(rows) == 3
    stats = (await world.services.dgs.get_link(key, link.id)).stats
    paid = sum(Decimal(r["amount"]) for r in rows if r["status"] == "success")
    assert paid == stats.total_collected == Decimal("25.50")
    assert {r["payer_name"] for r in rows} == {"Ama Mensah", "'@evil", ""}
    assert all(r["amount"] == "12.75" and r["created_at"].endswith("+02:00") for r in rows)


async def test_the_chart_is_a_picture_of_the_money_collected(world: World) -> None:
    kojo = world.user(608, "Kojo")
    link = await make_link(world, kojo, title="Market stall")
    card = await open_card(world, kojo, link)
    query_id = await world.tg.press(kojo, card, callback_data=button(card, "dg:"))
    nothing = await world.tg.wait_for_callback_answer(query_id)
    assert nothing.show_alert and "nothing to draw" in (nothing.text or "")

    for amount in ("5000", "2500", "7500"):
        await world.sandbox.add_charge(key_of(kojo), link.id, amount)
    mark = world.tg.mark()
    await world.tg.press(kojo, card, callback_data=button(card, "dg:"))
    sent = await world.tg.wait_for_message(kojo.id, lambda m: m.photo is not None, since=mark)
    assert "Market stall" in (sent.caption or "") and "RWF\u00a015,000" in (sent.caption or "")
    assert sent.photo is not None
    with Image.open(io.BytesIO(sent.photo)) as picture:
        assert picture.width >= 800 and picture.height >= 500


async def test_an_export_that_cannot_read_every_link_says_so(world: World) -> None:
    esi = world.user(609, "Esi")
    await make_link(world, esi, title="Fine")
    # Made elsewhere: the bot holds no snapshot of it, so the export must read it.
    broken = await make_link(world, esi, title="Unreadable", remember=False)
    body = '{"status": "error", "message": "Payment link not found"}'
    await world.sandbox.inject(method="GET", path=f"{broken.id}$", status=404, body=body, times=0)
    mark = world.tg.mark()
    await world.tg.send_text(esi, "/export")
    reply = await world.tg.wait_for_message(
        esi.id, lambda m: "no longer knows this link" in m.content, since=mark
    )
    await world.sandbox.clear_faults()
    assert reply.document is None
    assert not [m for m in world.tg.sent_to(esi.id) if m.revision > mark and m.document]


async def test_a_link_made_a_moment_ago_is_in_the_inline_results(world: World) -> None:
    nana = world.user(610, "Nana")
    first = await make_link(world, nana, title="First sale")
    assert [r["id"] for r in await inline(world, nana, "")] == [first.id]
    # Made the way /new makes it (recorded by the bot), then shared at once.
    second = await make_link(world, nana, title="Second sale")
    assert {r["id"] for r in await inline(world, nana, "sale")} == {first.id, second.id}
