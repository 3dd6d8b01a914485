"""Sending a link's QR card: the picture once, its Telegram ``file_id`` ever after."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode

from bot import callbacks, qr
from bot.cards import amount_line, qr_caption
from bot.context import BotContext
from bot.dgs.models import Link
from bot.i18n import Translator
from bot.urls import url_button_allowed


def qr_card_keyboard(
    link: Link, tr: Translator, *, demo_mode: bool = False
) -> InlineKeyboardMarkup:
    """**Open** (when the URL is one the Bot API accepts), **Share**, **Details**."""
    first_row = []
    if url_button_allowed(link.url, demo_mode=demo_mode):
        first_row.append(InlineKeyboardButton(tr("button-open"), url=link.url))
    first_row.append(
        InlineKeyboardButton(tr("button-share"), switch_inline_query=link.slug or link.title)
    )
    return InlineKeyboardMarkup(
        [
            first_row,
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
    repo = context.services.repo
    url = link.url or ""
    line = amount_line(link, tr)
    content_hash = qr.card_content_hash(url, link.title, line)
    caption = qr_caption(link, tr)
    keyboard = qr_card_keyboard(link, tr, demo_mode=context.services.settings.demo_mode)
    file_id = await repo.get_qr_file_id(link.id, content_hash)
    if file_id is not None:
        return await context.bot.send_photo(
            chat_id, file_id, caption=caption, parse_mode=ParseMode.HTML, reply_markup=keyboard
        )
    png = await qr.render_qr_card_async(url, link.title, line)
    message = await context.bot.send_photo(
        chat_id, png, caption=caption, parse_mode=ParseMode.HTML, reply_markup=keyboard
    )
    if message.photo:
        await repo.set_qr_file_id(link.id, content_hash, message.photo[-1].file_id)
    return message
