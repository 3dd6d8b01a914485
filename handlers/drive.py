"""Donation drives in a group: the drive card (QR, progress bar, totals) and ``/progress``.

The form that makes a drive is the create form in drive mode (``handlers/create.py``), opened
from ``/drive`` in a group through a deep link to the admin's private chat. The card is edited
in place by the notifier as payments land (``bot/notify``), never more than once per 10 s.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot import qr
from bot.cards import amount_line
from bot.context import BotContext
from bot.dates import format_relative
from bot.dgs.errors import DGSError
from bot.dgs.models import KIGALI, LinkDetails
from bot.drive import DriveProgress
from bot.i18n import Translator, escape
from bot.money import format_amount
from bot.store.drives import Drive
from handlers.cards import url_button_allowed

log = logging.getLogger(__name__)


def drive_progress(details: LinkDetails, drive: Drive) -> DriveProgress:
    return DriveProgress(
        raised=details.stats.total_collected,
        goal=drive.goal,
        donors=details.stats.successful_charges,
    )


def drive_caption(
    details: LinkDetails, drive: Drive, tr: Translator, now: datetime | None = None
) -> str:
    """Title, bar, raised / goal, donors, time left, suggested amounts, URL (HTML)."""
    link = details.link
    progress = drive_progress(details, drive)
    currency = link.currency
    language = tr.language
    lines = [
        f"<b>{escape(link.title)}</b>",
        f"<code>{progress.bar}</code>",
        tr(
            "drive-raised",
            raised=format_amount(progress.raised, currency, language),
            goal=format_amount(progress.goal, currency, language),
        ),
        tr.plural("drive-donors", progress.donors),
    ]
    if link.expires_at is not None:
        now = now or datetime.now(KIGALI)
        if link.expires_at > now:
            lines.append(
                tr("drive-ends", relative=format_relative(link.expires_at, now, language))
            )
        else:
            lines.append(tr("drive-ended"))
    if progress.percent >= 100:
        lines.append(tr("drive-goal-reached"))
    if drive.suggested:
        amounts = " · ".join(format_amount(a, currency, language) for a in drive.suggested)
        lines.append(tr("drive-suggested", amounts=amounts))
    if link.url:
        lines.append(escape(link.url))
    return "\n".join(lines)


def drive_keyboard(
    details: LinkDetails, tr: Translator, *, demo_mode: bool
) -> InlineKeyboardMarkup:
    link = details.link
    row = []
    if url_button_allowed(link.url, demo_mode=demo_mode):
        row.append(InlineKeyboardButton(tr("drive-open-to-give"), url=link.url))
    row.append(
        InlineKeyboardButton(tr("button-share"), switch_inline_query=link.slug or link.title)
    )
    return InlineKeyboardMarkup([row])


async def post_drive_card(
    context: BotContext, details: LinkDetails, drive: Drive, tr: Translator
) -> Message:
    """Posts the card in the drive's group, pins it when allowed, remembers its message."""
    link = details.link
    png = await qr.render_qr_card_async(link.url or "", link.title, amount_line(link, tr))
    message = await context.bot.send_photo(
        drive.group_chat_id,
        png,
        caption=drive_caption(details, drive, tr),
        parse_mode=ParseMode.HTML,
        reply_markup=drive_keyboard(details, tr, demo_mode=context.services.settings.demo_mode),
    )
    await context.services.drives.set_card(link.id, message.message_id)
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
        details = await drive_details(context, drive)
        if details is not None:
            parts.append(drive_caption(details, drive, tr))
    text = "\n\n".join(parts) if parts else tr("drive-unavailable")
    await message.reply_text(text, parse_mode=ParseMode.HTML)


async def drive_details(context: BotContext, drive: Drive) -> LinkDetails | None:
    """The drive's link and stats: the poller's latest view, else one get call."""
    services = context.services
    stored = await services.repo.get_link(drive.link_id)
    if stored is None:
        return None
    if stored.snapshot is not None:
        return stored.snapshot
    api_key = await services.accounts.api_key_for(stored.owner_user_id)
    if api_key is None:
        return None
    try:
        return await services.dgs.get_link(api_key, drive.link_id)
    except DGSError as exc:
        log.info("progress of drive %s unavailable: %s", drive.link_id, exc)
        return None
