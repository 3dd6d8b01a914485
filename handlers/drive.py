"""Donation drives in a group: the drive card (QR, progress bar, totals) and ``/progress``.

The form that makes a drive is the create form in drive mode (``handlers/create/``), opened
from ``/drive`` in a group through a deep link to the admin's private chat. The card is edited
in place by the notifier as payments land (``bot/notify``), never more than once per 10 s.
"""

from __future__ import annotations

import contextlib
import functools
import logging

from telegram import Message, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot import qr
from bot.cards import amount_line
from bot.context import BotContext
from bot.dgs.models import LinkDetails
from bot.drive_card import drive_caption, drive_keyboard
from bot.i18n import Translator
from bot.store.drives import Drive

log = logging.getLogger(__name__)


async def post_drive_card(
    context: BotContext, details: LinkDetails, drive: Drive, tr: Translator
) -> Message | None:
    """Posts the card in the drive's group, pins it when allowed, remembers its message.

    The link exists already, so this never raises: when the picture cannot be made or sent
    the card goes as text (same caption and buttons); None when Telegram took neither.
    """
    link = details.link
    services = context.services
    caption = drive_caption(details, drive, tr)
    keyboard = drive_keyboard(details, tr, demo_mode=services.settings.demo_mode)
    try:
        png = await qr.render_qr_card_async(
            link.url or "", link.title, amount_line(link, tr), scan_text=tr.plain("qr-scan-to-pay")
        )
        message = await context.bot.send_photo(
            drive.group_chat_id,
            png,
            caption=caption,
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard,
        )
    except Exception:
        log.warning(
            "drive %s: card picture not posted; posting it as text", link.id, exc_info=True
        )
        try:
            message = await context.bot.send_message(
                drive.group_chat_id, caption, parse_mode=ParseMode.HTML, reply_markup=keyboard
            )
        except TelegramError:
            log.warning("drive %s: text card not posted either", link.id, exc_info=True)
            return None
    else:
        # Only a photo is kept as the card: the notifier redraws it by editing its caption,
        # which a text message has none of (/progress still reads the drive).
        await services.links.record(
            link.id, functools.partial(services.drives.set_card, link.id, message.message_id)
        )
    with contextlib.suppress(TelegramError):
        # Pinning needs the admin right to pin; without it the card simply stays unpinned.
        await context.bot.pin_chat_message(
            drive.group_chat_id, message.message_id, disable_notification=True
        )
    return message


async def progress(update: Update, context: BotContext) -> None:
    """``/progress`` (anyone in the group): the group's drives, as their cards say."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return
    services = context.services
    tr = context.tr
    drives = await services.drives.of_group(chat.id)
    if not drives:
        await message.reply_text(tr("drive-none"))
        return
    parts = []
    for drive in drives[:3]:
        details = await services.finder.details(drive.link_id)
        if details is not None:
            parts.append(drive_caption(details, drive, tr))
    text = "\n\n".join(parts) if parts else tr("drive-unavailable")
    await message.reply_text(text, parse_mode=ParseMode.HTML)
