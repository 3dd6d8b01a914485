"""**Archive** on a link card: a confirmation that says it is for good, then one DELETE.

    da:<id>:<view>   the question, in place of the card (Yes, archive / No)
    dy:<id>:<view>   Yes: DELETE, then the archived card

At most one DELETE per link, whatever the taps: a user's updates are handled one after the
other, so a second **Yes** runs after the first finished and finds the link archived in the
bot's record; and before deleting, the provider is asked whether the link is still open
(an earlier try whose answer was lost may have archived it already).
"""

from __future__ import annotations

import logging
from typing import Any, Final

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler

from bot import callbacks
from bot.context import BotContext
from bot.dgs.errors import DGSError
from bot.dgs.models import LinkStatus
from bot.i18n import Markup, escape
from bot.telegram_text import shorten_plain
from handlers.link_card import ARCHIVE, put, show_card
from handlers.press import Press, View, answer, data, fetch, link_press, tell_trouble

log = logging.getLogger(__name__)

CONFIRM: Final = callbacks.ARCHIVE_CONFIRM


async def ask(update: Update, context: BotContext) -> None:
    """**Archive**: the permanent-and-final question, in place of the card."""
    press = await link_press(update, context, ARCHIVE)
    if press is None:
        return
    tr = context.tr
    view = press.view or View()
    if press.stored.status == LinkStatus.ARCHIVED:
        await _show_archived(context, press, tr("archive-already"))
        return
    title = escape(shorten_plain(press.stored.title, 100))
    text = tr("archive-confirm", title=_bold(title))
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    tr("archive-yes"), callback_data=data(CONFIRM, press.link_id, view.code)
                ),
                InlineKeyboardButton(
                    tr("button-no"),
                    callback_data=data(callbacks.LINK_CARD, press.link_id, view.code),
                ),
            ]
        ]
    )
    await put(context, press.query, text, markup, in_place=True)
    await answer(press.query)


def _bold(escaped: str) -> Markup:
    return Markup(f"<b>{escaped}</b>")


async def confirm(update: Update, context: BotContext) -> None:
    """**Yes, archive**: DELETE once, then the card says the link is archived."""
    press = await link_press(update, context, CONFIRM, fresh=True)
    if press is None:
        return
    tr = context.tr
    if press.stored.status == LinkStatus.ARCHIVED:
        await _show_archived(context, press, tr("archive-already"))
        return
    before = await fetch(context, press)
    if before is None:
        return
    if before.link.status == LinkStatus.ARCHIVED:
        details, notice = before, tr("archive-already")
    else:
        try:
            details = await context.services.links.archive(press.api_key, press.stored, before)
        except DGSError as error:
            await tell_trouble(press.query, context, error)
            return
        notice = tr("archive-done")
    await show_card(context, press, details, notice=notice, in_place=True)
    await answer(press.query)


async def _show_archived(context: BotContext, press: Press, notice: str) -> None:
    """The archived card (no DELETE): from the provider, or the alert alone if it is down."""
    try:
        details = await context.services.links.details(press.api_key, press.stored)
    except DGSError:
        await answer(press.query, notice, alert=True)
        return
    await show_card(context, press, details, notice=notice, in_place=True)
    await answer(press.query, notice)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CallbackQueryHandler(ask, pattern=f"^{ARCHIVE}"))
    app.add_handler(CallbackQueryHandler(confirm, pattern=f"^{CONFIRM}"))
