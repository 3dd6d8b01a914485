"""Issue 17, points 6-8 through the real bot: the WhatsApp button on every link card, the
printable A5 poster (**Print**) and the payment receipt (**Receipt** on an alert).

The poster is checked the way a printer sees it: the PDF is opened and rasterised by PDFium
(pypdfium2, Chrome's PDF engine, independent of how the bot drew the page), then the QR code
is read back from those pixels with zxing-cpp.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image, ImageChops

from bot import callbacks
from bot.config import Settings
from bot.devtools.sandbox import Sandbox
from tests.conftest import World, make_settings
from tests.e2e.test_dashboard import button, key_of
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser, ServerError

pytestmark = pytest.mark.timeout(60)

RWF_5000 = "RWF\u00a05,000"
A5_POINTS = (420, 595)  # 148 × 210 mm


@pytest.fixture
def settings(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> Settings:
    """The bot paces its provider calls per key; in these tests, not to the second."""
    return make_settings(tg, sandbox, tmp_path / "data", dgs_requests_per_second=1000.0)


def is_qr_card(message: FakeMessage) -> bool:
    return message.photo is not None and any(
        str(b.get("callback_data", "")).startswith(callbacks.LINK_CARD)
        for row in message.buttons
        for b in row
    )


async def new_link(world: World, user: FakeUser, command: str = "/new 5000 Rent") -> FakeMessage:
    """``user`` makes a link the quick way; returns its QR card."""
    mark = world.tg.mark()
    await world.tg.send_text(user, command)
    return await world.tg.wait_for_message(user.id, is_qr_card, since=mark)


def link_id_of(card: FakeMessage) -> str:
    return callbacks.link_id_of(callbacks.LINK_CARD, str(card.buttons[-1][0]["callback_data"]))


def url_buttons(message: FakeMessage) -> list[str]:
    return [str(b["url"]) for row in message.buttons for b in row if "url" in b]


def whatsapp_text(message: FakeMessage) -> str:
    """The text a WhatsApp button hands to WhatsApp, decoded."""
    (url,) = [u for u in url_buttons(message) if u.startswith("https://wa.me/")]
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "wa.me", "/")
    (text,) = parse_qs(parts.query, strict_parsing=True)["text"]
    return text


async def link_url(world: World, user: FakeUser, link_id: str) -> str:
    details = await world.services.dgs.get_link(key_of(user), link_id)
    assert details.link.url
    return details.link.url


# --- 7. share everywhere -----------------------------------------------------------------------


async def test_the_qr_card_and_the_link_card_have_a_whatsapp_button(world: World) -> None:
    aline = world.user(1701, "Aline")
    card = await new_link(world, aline)
    url = await link_url(world, aline, link_id_of(card))
    assert whatsapp_text(card) == f"Rent — {RWF_5000}\nPay here: {url}"
    # Beside Telegram's own share, on the same row.
    share_row = next(row for row in card.buttons if any("switch_inline_query" in b for b in row))
    assert any(str(b.get("url", "")).startswith("https://wa.me/") for b in share_row)

    listing = await world.say(aline, "/links")
    details = await world.press(aline, listing, button(listing, callbacks.LINK_CARD))
    assert whatsapp_text(details) == f"Rent — {RWF_5000}\nPay here: {url}"
    share_row = next(
        row for row in details.buttons if any("switch_inline_query" in b for b in row)
    )
    assert any(str(b.get("url", "")).startswith("https://wa.me/") for b in share_row)


async def test_the_whatsapp_text_is_in_the_vendors_language(world: World) -> None:
    amani = world.user(1702, "Amani", language="fr")
    card = await new_link(world, amani, "/new 5000 Loyer & eau")
    url = await link_url(world, amani, link_id_of(card))
    assert whatsapp_text(card) == f"Loyer & eau — 5\u202f000\u00a0RWF\nPayez ici\u00a0: {url}"


# --- 8. the poster -------------------------------------------------------------------------------


async def press_for_document(world: World, user: FakeUser, message: FakeMessage) -> FakeMessage:
    mark = world.tg.mark()
    await world.tg.press(user, message, callback_data=button(message, callbacks.POSTER))
    return await world.tg.wait_for_message(user.id, lambda m: m.document is not None, since=mark)


async def test_print_sends_an_a5_pdf_whose_qr_code_scans(world: World) -> None:
    aline = world.user(1703, "Aline")
    card = await new_link(world, aline)
    url = await link_url(world, aline, link_id_of(card))
    sent = await press_for_document(world, aline, card)
    assert sent.filename is not None and sent.filename.endswith(".pdf")
    assert sent.document is not None and sent.document.startswith(b"%PDF-")
    assert "Rent" in (sent.caption or "")

    pdf = pdfium.PdfDocument(sent.document)
    try:
        assert len(pdf) == 1
        page = pdf[0]
        assert tuple(round(side) for side in page.get_size()) == A5_POINTS
        picture = page.render(scale=2).to_pil()  # 144 dpi, as a phone photo of a print
    finally:
        pdf.close()
    found = zxingcpp.read_barcodes(picture)
    assert [result.text for result in found] == [url]
    # Printed in black and white: no pixel has a colour, and there is real black and white.
    red, green, blue = picture.convert("RGB").split()
    assert ImageChops.difference(red, green).getbbox() is None, "a coloured pixel"
    assert ImageChops.difference(green, blue).getbbox() is None, "a coloured pixel"
    assert red.getextrema() == (0, 255)


async def test_print_from_the_link_card_too(world: World) -> None:
    kofi = world.user(1704, "Kofi")
    await new_link(world, kofi, "/new 2500 Choir robes")
    listing = await world.say(kofi, "/links")
    details = await world.press(kofi, listing, button(listing, callbacks.LINK_CARD))
    sent = await press_for_document(world, kofi, details)
    assert sent.document is not None
    assert len(pdfium.PdfDocument(sent.document)) == 1


async def test_a_failed_upload_of_the_poster_is_told(world: World) -> None:
    aline = world.user(1705, "Aline")
    card = await new_link(world, aline)
    world.tg.inject("sendDocument", ServerError(), chat_id=aline.id)
    query_id = await world.tg.press(aline, card, callback_data=button(card, callbacks.POSTER))
    told = await world.tg.wait_for_callback_answer(query_id, timeout=10)
    assert told.show_alert and "could not send the poster" in (told.text or "").lower()
    assert not [m for m in world.tg.sent_to(aline.id) if m.document is not None]


# --- 6. receipts ---------------------------------------------------------------------------------


def receipt_button(alert: FakeMessage) -> str:
    return button(alert, callbacks.RECEIPT)


async def test_receipt_from_an_alert_is_a_picture_without_the_payers_contact(
    world: World,
) -> None:
    aline = world.user(1706, "Aline")
    card = await new_link(world, aline)
    link_id = link_id_of(card)
    charge = await world.sandbox.add_charge(
        key_of(aline),
        link_id,
        5000,
        payment_type="mobile_money",
        payer_name="jean@example.rw",
        payer_phone="+250788123456",
    )
    alert = await world.tg.wait_for_message(aline.id, lambda m: "Payment received" in m.content)
    data = receipt_button(alert)
    assert len(data.encode()) <= 64
    assert "🧾" in " ".join(alert.button_texts)

    mark = world.tg.mark()
    await world.tg.press(aline, alert, callback_data=data)
    sent = await world.tg.wait_for_message(aline.id, lambda m: m.photo is not None, since=mark)
    assert sent.photo is not None
    with Image.open(io.BytesIO(sent.photo)) as picture:
        assert picture.format == "PNG" and picture.width >= 600
    caption = sent.caption or ""
    assert "Rent" in caption and RWF_5000 in caption and charge["id"] in caption
    assert "788123456" not in caption and "example.rw" not in caption


async def test_receipt_works_from_an_old_alert(world: World) -> None:
    aline = world.user(1707, "Aline")
    card = await new_link(world, aline)
    link_id = link_id_of(card)
    first = await world.sandbox.add_charge(key_of(aline), link_id, 5000, payer_name="Jean")
    old = await world.tg.wait_for_message(aline.id, lambda m: "Payment received" in m.content)
    mark = world.tg.mark()
    await world.sandbox.add_charge(key_of(aline), link_id, 5000, payer_name="Marie")
    await world.tg.wait_for_message(
        aline.id, lambda m: "Payment received" in m.content, since=mark
    )

    mark = world.tg.mark()
    await world.tg.press(aline, old, callback_data=receipt_button(old))
    sent = await world.tg.wait_for_message(aline.id, lambda m: m.photo is not None, since=mark)
    assert first["id"] in (sent.caption or "")


async def test_a_stranger_cannot_print_or_get_a_receipt(world: World) -> None:
    aline, bosco = world.user(1708, "Aline"), world.user(1709, "Bosco")
    await world.say(bosco, "/start")
    card = await new_link(world, aline)
    await world.sandbox.add_charge(key_of(aline), link_id_of(card), 5000)
    alert = await world.tg.wait_for_message(aline.id, lambda m: "Payment received" in m.content)
    mark = world.tg.mark()
    for message, data in ((card, button(card, callbacks.POSTER)), (alert, receipt_button(alert))):
        query_id = await world.tg.press(bosco, message, callback_data=data)
        reply = await world.tg.wait_for_callback_answer(query_id)
        assert reply.show_alert and "not for you" in (reply.text or ""), (data, reply)
    assert not [m for m in world.tg.changes_since(mark) if m.photo or m.document]
