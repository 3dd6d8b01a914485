"""Sending a link's QR card: the picture once, its Telegram ``file_id`` ever after."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot import callbacks, qr
from bot.cards import amount_line, qr_caption, whatsapp_url
from bot.context import BotContext
from bot.dgs.models import Link
from bot.i18n import Translator
from bot.urls import url_button_allowed

log = logging.getLogger(__name__)


def share_row(link: Link, tr: Translator, query: str) -> list[InlineKeyboardButton]:
    """Telegram's **Share** (inline mode, ``query``) and, beside it, **WhatsApp** (issue 17),
    when the link has an address to send."""
    row = [
        InlineKeyboardButton(tr("button-share"), switch_inline_query=query),
        InlineKeyboardButton(tr("card-whatsapp"), url=whatsapp_url(link, tr)),
    ]
    return row if link.url else row[:1]


def qr_card_keyboard(
    link: Link, tr: Translator, *, demo_mode: bool = False
) -> InlineKeyboardMarkup:
    """**Open** (when the URL is one the Bot API accepts) and **Print**; **Share** and
    **WhatsApp**; **Details** (last: the create flow's tests and the demo find the link there)."""
    first_row = []
    if url_button_allowed(link.url, demo_mode=demo_mode):
        first_row.append(InlineKeyboardButton(tr("button-open"), url=link.url))
    first_row.append(
        InlineKeyboardButton(
            tr("card-print"), callback_data=callbacks.data(callbacks.POSTER, link.id)
        )
    )
    return InlineKeyboardMarkup(
        [
            first_row,
            share_row(link, tr, link.slug or link.title),
            [
                InlineKeyboardButton(
                    tr("button-details"),
                    callback_data=callbacks.data(callbacks.LINK_CARD, link.id),
                )
            ],
        ]
    )


async def send_qr_card(
    context: BotContext, chat_id: int, link: Link, *, tr: Translator | None = None
) -> Message:
    """Posts the QR card; renders and uploads it only the first time for this content."""
    tr = tr or context.tr
    links = context.services.links
    url = link.url or ""
    line = amount_line(link, tr)
    scan = tr.plain("qr-scan-to-pay")
    content_hash = qr.card_content_hash(url, link.title, line, scan_text=scan)
    caption = qr_caption(link, tr)
    keyboard = qr_card_keyboard(link, tr, demo_mode=context.services.settings.demo_mode)
    file_id = await links.qr_file_id(link.id, content_hash)
    if file_id is not None:
        return await context.bot.send_photo(
            chat_id, file_id, caption=caption, parse_mode=ParseMode.HTML, reply_markup=keyboard
        )
    png = await qr.render_qr_card_async(url, link.title, line, scan_text=scan)
    message = await context.bot.send_photo(
        chat_id, png, caption=caption, parse_mode=ParseMode.HTML, reply_markup=keyboard
    )
    if message.photo:
        try:
            await links.keep_qr_file_id(link.id, content_hash, message.photo[-1].file_id)
        except Exception:
            # Only a cache: the card is out; next time the picture is uploaded again.
            log.warning("link %s: could not keep the card's file id", link.id, exc_info=True)
    return message


async def send_link_card(
    context: BotContext, chat_id: int, link: Link, *, tr: Translator | None = None
) -> Message | None:
    """A link that exists reaches the chat: its QR card, or, when the picture cannot be made
    or sent, the same card as text (title, amount, URL, the same buttons). Never raises: the
    caller must not turn this into "try again", which would make a second link. None when
    Telegram took neither."""
    try:
        return await send_qr_card(context, chat_id, link, tr=tr)
    except Exception:
        log.warning(
            "link %s: QR card not sent to %s; sending it as text", link.id, chat_id, exc_info=True
        )
    tr = tr or context.tr
    try:
        return await context.bot.send_message(
            chat_id,
            qr_caption(link, tr),
            parse_mode=ParseMode.HTML,
            reply_markup=qr_card_keyboard(link, tr, demo_mode=context.services.settings.demo_mode),
        )
    except TelegramError:
        log.warning("link %s: text card not sent to %s either", link.id, chat_id, exc_info=True)
        return None
