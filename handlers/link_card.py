"""The link card and how a dashboard answer reaches the chat.

- The callback prefixes of the dashboard's buttons, named here so the card can show them.
- ``put``: the answer to a press, in place of the pressed message or in a new one; pressed in
  a group, in private (cards and lists name payers).
- ``card_parts`` / ``show_card``: the card's text and buttons, and showing it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot import callbacks
from bot.context import BotContext
from bot.dashboard import card_text
from bot.dgs.models import LinkDetails, LinkStatus
from bot.i18n import Translator
from bot.linkservice import reopen_step
from bot.reminders import is_invoice
from bot.store.models import StoredLink
from bot.telegram_text import MESSAGE_LIMIT, shorten
from handlers.cards import share_row
from handlers.press import Press, View, data
from handlers.private_reply import in_group, send_privately

log = logging.getLogger(__name__)

LIST: Final = callbacks.LIST
QR: Final = callbacks.QR
EDIT: Final = callbacks.EDIT
ARCHIVE: Final = callbacks.ARCHIVE
CHART: Final = callbacks.CHART
CHARGES_CSV: Final = callbacks.CHARGES_CSV
EXPORT: Final = callbacks.EXPORT

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def html_sender(
    context: BotContext, text: str, markup: InlineKeyboardMarkup | None
) -> Callable[[int], Awaitable[object]]:
    """Sends ``text`` (HTML, no preview) with ``markup`` to the chat it is given."""

    async def send(chat_id: int) -> None:
        await context.bot.send_message(
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            link_preview_options=NO_PREVIEW,
        )

    return send


async def put(
    context: BotContext,
    query: CallbackQuery,
    text: str,
    markup: InlineKeyboardMarkup | None,
    *,
    in_place: bool,
) -> bool:
    """Shows ``text`` by editing the pressed message, or in a new message; pressed in a
    group, in a new message to the presser in private (cards and lists name payers).

    Returns False when the edit changed nothing (the message already showed it).
    """
    text = shorten(text, MESSAGE_LIMIT)
    message = query.message

    send = html_sender(context, text, markup)

    if message is not None and in_group(message.chat):
        await send_privately(
            context,
            chat=message.chat,
            user=query.from_user,
            send=send,
            reply_to=message.message_id,
        )
        return True
    if in_place and isinstance(message, Message) and message.text is not None:
        try:
            await query.edit_message_text(
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=NO_PREVIEW,
            )
        except BadRequest as error:
            if "not modified" in error.message.lower():
                return False
            log.info("could not edit the dashboard message, sending anew: %s", error.message)
        else:
            return True
    await send(message.chat.id if message is not None else query.from_user.id)
    return True


def card_keyboard(
    details: LinkDetails, *, muted: bool, view: View, user_id: int, tr: Translator
) -> InlineKeyboardMarkup:
    link = details.link
    back = InlineKeyboardButton(tr("card-back"), callback_data=f"{LIST}{user_id}:{view.code}")
    duplicate = InlineKeyboardButton(
        tr("card-duplicate"), callback_data=callbacks.data(callbacks.DUPLICATE, link.id)
    )
    if link.status == LinkStatus.ARCHIVED:
        return InlineKeyboardMarkup([[duplicate], [back]])
    v = view.code
    # Issue 17: rows by what they are for, two a row: look and change; show it to a payer
    # (the QR code, the printed poster); send it (Telegram, WhatsApp); the numbers.
    rows = [
        [
            InlineKeyboardButton(
                tr("card-refresh"), callback_data=data(callbacks.LINK_CARD, link.id, v)
            ),
            InlineKeyboardButton(tr("card-edit"), callback_data=data(EDIT, link.id, v)),
        ],
        [
            InlineKeyboardButton(tr("card-qr"), callback_data=data(QR, link.id)),
            InlineKeyboardButton(tr("card-print"), callback_data=data(callbacks.POSTER, link.id)),
        ],
        share_row(link, tr, link.slug or link.title[:64]),
        [
            InlineKeyboardButton(tr("card-chart"), callback_data=data(CHART, link.id)),
            InlineKeyboardButton(tr("card-csv"), callback_data=data(CHARGES_CSV, link.id)),
        ],
    ]
    if link.status == LinkStatus.EXPIRED:
        rows.append(
            [
                InlineKeyboardButton(
                    tr("card-extend"), callback_data=data(callbacks.EXTEND, link.id, v)
                )
            ]
        )
    if link.status == LinkStatus.COMPLETED:
        label = tr.plural("card-reopen", reopen_step(link))
        rows.append(
            [InlineKeyboardButton(label, callback_data=data(callbacks.REOPEN, link.id, v))]
        )
    mute = (
        InlineKeyboardButton(
            tr("card-unmute"), callback_data=data(callbacks.MUTE, link.id, v, "0")
        )
        if muted
        else InlineKeyboardButton(
            tr("card-mute"), callback_data=data(callbacks.MUTE, link.id, v, "1")
        )
    )
    if is_invoice(link):  # issue 17: an unpaid invoice can remind its vendor
        remind = InlineKeyboardButton(
            tr("card-remind"), callback_data=data(callbacks.REMIND, link.id)
        )
        rows.append([remind])
    rows.append([mute, duplicate])
    rows.append(
        [InlineKeyboardButton(tr("card-archive"), callback_data=data(ARCHIVE, link.id, v)), back]
    )
    return InlineKeyboardMarkup(rows)


def card_parts(
    context: BotContext,
    details: LinkDetails,
    *,
    stored: StoredLink,
    user_id: int,
    view: View | None,
    notice: str | None = None,
) -> tuple[str, InlineKeyboardMarkup]:
    """The card's text and buttons."""
    tr = context.tr
    text = card_text(details, tr, muted=stored.muted, notice=notice)
    markup = card_keyboard(
        details, muted=stored.muted, view=view or View(), user_id=user_id, tr=tr
    )
    return text, markup


async def show_card(
    context: BotContext,
    press: Press,
    details: LinkDetails,
    *,
    notice: str | None = None,
    in_place: bool | None = None,
    view: View | None = None,
) -> bool:
    """The card of ``details`` (the link service already recorded what they say); in place
    when the press came from the dashboard."""
    text, markup = card_parts(
        context,
        details,
        stored=press.stored,
        user_id=press.user_id,
        view=view or press.view,
        notice=notice,
    )
    where = press.view is not None if in_place is None else in_place
    return await put(context, press.query, text, markup, in_place=where)
