"""``/links`` and the link card: the list, the card with its stats, and the card's quick actions.

Callback data is a short prefix, the provider's link id and short arguments, so it stays far
below Telegram's 64 bytes whatever the title, and a button keeps working after a restart::

    dl:<user>:<view>          a page of <user>'s list       lk:<id>[:<view>]    the card
    dq:<id>                   resend the QR card             lx:<id>[:<view>]    extend expiry
    lr:<id>[:<view>]          reopen uses                    lm:<id>[:<view>:<0|1>]  (un)mute

A *view* says where on the list the card was opened from: ``a2`` is Active, page 3 (pages
count from 0), ``A0`` is All, page 1. A card pressed without a view (on a QR card or an alert)
is sent as a new message, so the message pressed stays as it was; with a view, navigation
edits the message in place. Every press on a link opens through ``handlers/press.py`` (the
owner checked by ``gates.owned_link``); the card itself is ``handlers/link_card.py``.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import callbacks
from bot.context import BotContext
from bot.dashboard import list_label, status_label
from bot.dates import format_when
from bot.dgs.errors import DGSError
from bot.dgs.models import KIGALI, Link, LinkStatus
from bot.i18n import Translator
from bot.linkservice import reopen_step
from handlers import start
from handlers.cards import send_qr_card
from handlers.common import require_api_key
from handlers.link_card import EXPORT, LIST, QR, html_sender, put, show_card
from handlers.press import (
    Opened,
    View,
    answer,
    data,
    fetch,
    link_press,
    open_link,
    owner_press,
    tell_trouble,
    trouble_text,
)
from handlers.private_reply import send_to_asker

log = logging.getLogger(__name__)

PAGE_SIZE = 8

# --- the list --------------------------------------------------------------------------------


def list_view(
    links: list[Link],
    view: View,
    owner_id: int,
    tr: Translator,
    collected: dict[str, Decimal] | None = None,
) -> tuple[str, InlineKeyboardMarkup]:
    """The text and buttons of one page of the list."""
    shown = links if view.all else [link for link in links if link.status == LinkStatus.ACTIVE]
    pages = max(1, math.ceil(len(shown) / PAGE_SIZE))
    page = min(view.page, pages - 1)
    view = View(view.all, page)
    rows: list[list[InlineKeyboardButton]] = []
    if not links:
        text = tr("dash-empty")
        rows.append([InlineKeyboardButton(tr("button-new-link"), callback_data=start.NEW_LINK)])
        return text, InlineKeyboardMarkup(rows)
    if not shown:
        text = tr.plural("dash-no-active", len(links))
    else:
        heading = "dash-heading-all" if view.all else "dash-heading-active"
        lines = [tr.plural(heading, len(shown))]
        if pages > 1:
            lines.append(tr("dash-page", page=page + 1, pages=pages))
        lines.append(tr("dash-hint"))
        text = "\n".join(lines)
    titles = Counter(" ".join(link.title.split()).casefold() for link in links)
    for link in shown[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]:
        twin = titles[" ".join(link.title.split()).casefold()] > 1
        label = list_label(link, tr, collected=(collected or {}).get(link.id), twin=twin)
        rows.append(
            [
                InlineKeyboardButton(
                    label, callback_data=data(callbacks.LINK_CARD, link.id, view.code)
                )
            ]
        )
    owner = str(owner_id)
    nav = []
    if page > 0:
        target = View(view.all, page - 1).code
        nav.append(InlineKeyboardButton(tr("dash-prev"), callback_data=f"{LIST}{owner}:{target}"))
    if page < pages - 1:
        target = View(view.all, page + 1).code
        nav.append(InlineKeyboardButton(tr("dash-next"), callback_data=f"{LIST}{owner}:{target}"))
    if nav:
        rows.append(nav)
    marks = ("✓ ", "") if not view.all else ("", "✓ ")
    rows.append(
        [
            InlineKeyboardButton(
                marks[0] + tr("dash-filter-active"), callback_data=f"{LIST}{owner}:a0"
            ),
            InlineKeyboardButton(
                marks[1] + tr("dash-filter-all"), callback_data=f"{LIST}{owner}:A0"
            ),
        ]
    )
    rows.append([InlineKeyboardButton(tr("dash-export"), callback_data=f"{EXPORT}{owner}")])
    return text, InlineKeyboardMarkup(rows)


async def links_command(update: Update, context: BotContext) -> None:
    """``/links`` (and **My links** on /start): page 1 of the active links, in a new message
    (in private when asked in a group)."""
    user = update.effective_user
    chat = update.effective_chat
    query = update.callback_query
    if user is None or chat is None:
        return
    api_key = await require_api_key(update, context)
    if api_key is None:
        return
    tr = context.tr
    try:
        # A cashier's list holds the links they made (bot/staff.py).
        links = await context.services.staff.links_for(api_key, user.id, fresh=True)
    except DGSError as error:
        if query is not None:
            await tell_trouble(query, context, error)
        else:
            await context.bot.send_message(chat.id, trouble_text(error, tr))
        return
    if query is not None:
        await answer(query)
    collected = await context.services.lister.collected(user.id, links)
    text, markup = list_view(links, View(), user.id, tr, collected)

    send = html_sender(context, text, markup)

    await send_to_asker(update, context, send)


async def list_page(update: Update, context: BotContext) -> None:
    """**‹ Prev**, **Next ›**, **Active**, **All**, **Back to list**: the list, in place."""
    press = await owner_press(update, context, LIST)
    if press is None:
        return
    view = View.parse(press.rest)
    if view is None:
        await answer(press.query, context.tr("card-expired"), alert=True)
        return
    try:
        links = await context.services.staff.links_for(press.api_key, press.user_id)
    except DGSError as error:
        await tell_trouble(press.query, context, error)
        return
    collected = await context.services.lister.collected(press.user_id, links)
    text, markup = list_view(links, view, press.user_id, context.tr, collected)
    await put(context, press.query, text, markup, in_place=True)
    await answer(press.query)


# --- the card --------------------------------------------------------------------------------


async def card_button(update: Update, context: BotContext) -> None:
    """A link on the list, **Details** on a QR card or an alert, **Refresh**: the card."""
    press = await open_link(update, context, callbacks.LINK_CARD)
    if press is None:
        return
    changed = await show_card(context, press, press.details)
    await answer(press.query, None if changed else context.tr("card-up-to-date"))


async def qr_button(update: Update, context: BotContext) -> None:
    """**QR code**: the link's QR card again, as a new photo."""
    press = await open_link(update, context, QR)
    if press is None:
        return
    if press.details.link.status == LinkStatus.ARCHIVED:
        await answer(press.query, context.tr("edit-archived"), alert=True)
        return
    chat_id = press.query.message.chat.id if press.query.message else press.user_id
    await answer(press.query)
    await send_qr_card(context, chat_id, press.details.link)


# --- quick actions ---------------------------------------------------------------------------


async def _needing(
    update: Update, context: BotContext, prefix: str, status: LinkStatus
) -> Opened | None:
    """The press of Extend or Reopen while the link is still ``status``; else None, once the
    presser saw the card as it is now and why nothing was done (a double tap, an old button
    must not extend twice)."""
    press = await open_link(update, context, prefix, fresh=True)
    if press is None:
        return None
    if press.details.link.status == status:
        return press
    tr = context.tr
    link = press.details.link
    await show_card(context, press, press.details)
    archived = link.status == LinkStatus.ARCHIVED
    text = (
        tr("edit-archived")
        if archived
        else tr("card-no-need", status=status_label(link.status, tr))
    )
    await answer(press.query, text, alert=archived)
    return None


async def extend(update: Update, context: BotContext) -> None:
    """**Extend expiry**: an expired link takes payments for 7 more days."""
    press = await _needing(update, context, callbacks.EXTEND, LinkStatus.EXPIRED)
    if press is None:
        return
    tr = context.tr
    try:
        details = await context.services.links.extend(
            press.api_key, press.stored, press.details, now=datetime.now(KIGALI)
        )
    except DGSError as error:
        await tell_trouble(press.query, context, error)
        return
    expiry = details.link.expires_at
    notice = tr("card-extended", when=format_when(expiry, tr.language)) if expiry else None
    await show_card(context, press, details, notice=notice)
    await answer(press.query)


async def reopen(update: Update, context: BotContext) -> None:
    """**Reopen uses**: a completed link takes as many payments again."""
    press = await _needing(update, context, callbacks.REOPEN, LinkStatus.COMPLETED)
    if press is None:
        return
    step = reopen_step(press.details.link)
    try:
        details = await context.services.links.reopen(press.api_key, press.stored, press.details)
    except DGSError as error:
        await tell_trouble(press.query, context, error)
        return
    await show_card(context, press, details, notice=context.tr.plural("card-reopened", step))
    await answer(press.query)


async def mute(update: Update, context: BotContext) -> None:
    """**Mute alerts** / **Unmute**: only this bot's alerts for the link; the link is untouched.

    ``lm:<id>`` (an alert's button) mutes; the card's buttons say which way.
    """
    press = await link_press(update, context, callbacks.MUTE, fresh=True)
    if press is None:
        return
    tr = context.tr
    muted = press.args[1:2] != ["0"]
    press.stored = await context.services.links.set_muted(press.stored, muted)
    note = tr("card-muted") if muted else tr("card-unmuted")
    if press.view is None:
        await answer(press.query, note)
        return
    details = await fetch(context, press)
    if details is None:
        return
    await show_card(context, press, details)
    await answer(press.query, note)


# --- registration ----------------------------------------------------------------------------


def _pattern(prefix: str) -> str:
    return f"^{re.escape(prefix)}"


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("links", links_command))
    app.add_handler(CallbackQueryHandler(links_command, pattern=f"^{re.escape(start.MY_LINKS)}$"))
    app.add_handler(CallbackQueryHandler(list_page, pattern=_pattern(LIST)))
    app.add_handler(CallbackQueryHandler(card_button, pattern=_pattern(callbacks.LINK_CARD)))
    app.add_handler(CallbackQueryHandler(qr_button, pattern=_pattern(QR)))
    app.add_handler(CallbackQueryHandler(extend, pattern=_pattern(callbacks.EXTEND)))
    app.add_handler(CallbackQueryHandler(reopen, pattern=_pattern(callbacks.REOPEN)))
    app.add_handler(CallbackQueryHandler(mute, pattern=_pattern(callbacks.MUTE)))
