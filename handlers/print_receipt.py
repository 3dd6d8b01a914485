"""**Print** on a link's card or QR card, and **Receipt** on a payment alert (issue 17).

    dp:<link id>                      the link's A5 poster, as a PDF document
    rc:<link id>:<start of charge id> the payment's receipt, as a picture

Both open through the one gate (``handlers/press.py``: the presser must own the link, or
administer its group), so an old message, a forwarded one or a stranger's press acts only for
the link's owner. What a receipt says comes from the provider's answer and the charges the bot
stored (``LinkLister.charges``), never from the button beyond the ids: a receipt from an alert
weeks old still finds its payment. The picture and the PDF are drawn in a worker thread.

Pressed in a group, the file goes to the presser in private, like the chart and the CSV. When
Telegram refuses the upload, the presser is told on the button (an alert), never left waiting.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, CallbackQueryHandler

from bot import callbacks
from bot.cards import amount_line, methods_line
from bot.context import BotContext
from bot.dates import format_when
from bot.dgs.models import Charge, ChargeStatus, Link, LinkStatus
from bot.i18n import SOURCE_LANGUAGE, Translator
from bot.money import format_amount
from bot.poster import PosterText, render_poster_async
from bot.receipt import Receipt, ReceiptLine, render_receipt_async
from bot.telegram_text import CAPTION_LIMIT, shorten, shorten_plain
from handlers.press import answer, open_link
from handlers.private_reply import send_to_asker

log = logging.getLogger(__name__)


def poster_text(link: Link, tr: Translator, english: Translator) -> PosterText:
    return PosterText(
        url=link.url or "",
        title=link.title,
        amount=amount_line(link, tr),
        scan=tr.plain("qr-scan-to-pay"),
        scan_english=english.plain("qr-scan-to-pay"),
        methods=tr.plain("accepts", methods=methods_line(link.payment_types, tr)),
    )


async def print_button(update: Update, context: BotContext) -> None:
    """**Print**: the link's poster (A5, one page, black and white) as a PDF."""
    press = await open_link(update, context, callbacks.POSTER)
    if press is None:
        return
    link = press.details.link
    tr = context.tr
    if link.status == LinkStatus.ARCHIVED:
        await answer(press.query, tr("edit-archived"), alert=True)
        return
    english = context.services.catalogues.translator(SOURCE_LANGUAGE)
    try:
        pdf = await render_poster_async(poster_text(link, tr, english))
    except ValueError:
        log.warning("link %s: no poster for its URL", link.id)
        await answer(press.query, tr("poster-failed"), alert=True)
        return
    caption = tr("poster-caption", title=shorten_plain(link.title, 100))

    async def send(chat_id: int) -> None:
        await context.bot.send_document(
            chat_id,
            pdf,
            filename=f"poster-{link.slug or link.id}.pdf",
            caption=shorten(caption, CAPTION_LIMIT),
            parse_mode=ParseMode.HTML,
        )

    await _deliver(update, context, send, failed="poster-failed")


def _receipt(link: Link, charge: Charge, shop: str, tr: Translator) -> Receipt:
    """The receipt's lines: never the payer's name, phone or email."""
    lines = [
        ReceiptLine(tr.plain("receipt-for"), link.title),
        ReceiptLine(
            tr.plain("receipt-amount"),
            format_amount(charge.amount, charge.currency or link.currency, tr.language),
            big=True,
        ),
    ]
    if charge.payment_type:
        lines.append(
            ReceiptLine(tr.plain("receipt-method"), methods_line([charge.payment_type], tr))
        )
    if charge.created_at is not None:
        lines.append(
            ReceiptLine(tr.plain("receipt-time"), format_when(charge.created_at, tr.language))
        )
    lines.append(ReceiptLine(tr.plain("receipt-reference"), charge.id))
    return Receipt(heading=tr.plain("receipt-heading"), shop=shop, lines=tuple(lines))


def _the_charge(charges: list[Charge], start: str) -> Charge | None:
    """The charge whose id is ``start`` or begins with it, when only one does."""
    exact = [charge for charge in charges if charge.id == start]
    found = exact or [charge for charge in charges if start and charge.id.startswith(start)]
    return found[0] if len(found) == 1 else None


async def receipt_button(update: Update, context: BotContext) -> None:
    """**Receipt** under a payment alert: a picture of the payment to forward to the payer."""
    press = await open_link(update, context, callbacks.RECEIPT)
    if press is None:
        return
    tr = context.tr
    charges = await context.services.lister.charges(press.details)
    charge = _the_charge(charges, ":".join(press.args))
    if charge is None or charge.status != ChargeStatus.SUCCESS:
        await answer(press.query, tr("receipt-unknown"), alert=True)
        return
    link = press.details.link
    # The shop is the vendor as Telegram names them (the bot keeps no shop name); the link's
    # title, which the receipt shows as the item, when Telegram gives no name.
    user = update.effective_user
    shop = (user.full_name if user is not None else "") or link.title
    png = await render_receipt_async(_receipt(link, charge, shop, tr))
    amount = format_amount(charge.amount, charge.currency or link.currency, tr.language)
    caption = tr(
        "receipt-caption", title=shorten_plain(link.title, 100), amount=amount, reference=charge.id
    )

    async def send(chat_id: int) -> None:
        await context.bot.send_photo(
            chat_id, png, caption=shorten(caption, CAPTION_LIMIT), parse_mode=ParseMode.HTML
        )

    await _deliver(update, context, send, failed="receipt-failed")


async def _deliver(update: Update, context: BotContext, send: Any, *, failed: str) -> None:
    """Sends to the presser (in private when pressed in a group) and answers the press: an
    alert saying so when Telegram refused the file."""
    query = update.callback_query
    assert query is not None
    try:
        await send_to_asker(update, context, send)
    except Forbidden:
        raise  # the presser blocked the bot: nobody to tell (the error handler logs it)
    except TelegramError as error:
        log.warning("could not send a file to the presser: %s", error)
        await answer(query, context.tr(failed), alert=True)
        return
    await answer(query)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CallbackQueryHandler(print_button, pattern=f"^{callbacks.POSTER}"))
    app.add_handler(CallbackQueryHandler(receipt_button, pattern=f"^{callbacks.RECEIPT}"))
