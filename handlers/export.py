"""Files from the dashboard: ``/export`` (and **Export** on the list), a link's charges as CSV,
and its chart of money collected over time.

    dx:<user>   export <user>'s links       dv:<id>   the link's charges (CSV)
    dg:<id>     the link's chart (PNG)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from telegram import Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import charts
from bot.context import BotContext
from bot.dashboard import collected_total, known_charges
from bot.dgs.errors import DGSError
from bot.dgs.models import KIGALI, Charge, Link, LinkDetails
from bot.export import charges_csv, links_csv
from bot.money import format_amount
from bot.telegram_text import CAPTION_LIMIT, shorten, shorten_plain
from handlers.common import require_api_key
from handlers.links import (
    CHARGES_CSV,
    CHART,
    EXPORT,
    answer,
    link_press,
    lister,
    tell_trouble,
    trouble_text,
)

log = logging.getLogger(__name__)

# Stats are one get call per link; a few at a time (the client paces each key anyway).
PARALLEL_GETS: Final = 4


async def _all_details(
    api_key: str, links: Sequence[Link], context: BotContext
) -> list[LinkDetails]:
    """Every link's get call; the first failure stops the others and is raised."""
    gate = asyncio.Semaphore(PARALLEL_GETS)
    dgs = context.services.dgs

    async def one(link: Link) -> LinkDetails:
        async with gate:
            return await dgs.get_link(api_key, link.id)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(link)) for link in links]
    except* DGSError as failures:
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]


async def _export(context: BotContext, chat_id: int, user_id: int, api_key: str) -> None:
    """Sends the CSV of every link of the user with its stats (or says why not)."""
    tr = context.tr
    try:
        await context.bot.send_chat_action(chat_id, ChatAction.UPLOAD_DOCUMENT)
    except TelegramError:
        log.debug("chat action refused in %s", chat_id)
    try:
        links = await lister(context).links(api_key, user_id=user_id, fresh=True)
        if not links:
            await context.bot.send_message(chat_id, tr("dash-empty"))
            return
        details = await _all_details(api_key, links, context)
    except DGSError as error:
        log.info("export for user %s failed: %s", user_id, error)
        await context.bot.send_message(chat_id, trouble_text(error, tr))
        return
    today = datetime.now(KIGALI).date().isoformat()
    await context.bot.send_document(
        chat_id,
        links_csv(details),
        filename=f"paylinks-links-{today}.csv",
        caption=tr.plural("export-links-caption", len(details)),
    )


async def export_command(update: Update, context: BotContext) -> None:
    """``/export``: the CSV of the user's links."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    api_key = await require_api_key(update, context)
    if api_key is None:
        return
    await _export(context, chat.id, user.id, api_key)


async def export_button(update: Update, context: BotContext) -> None:
    """**Export** on the list: the same CSV, for the list's owner only."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    owner = (query.data or "").removeprefix(EXPORT)
    if owner != str(user.id):
        await answer(query, context.tr("not-your-link"), alert=True)
        return
    api_key = await context.services.accounts.api_key_for(user.id)
    if api_key is None:
        await answer(query, context.tr("need-connect"), alert=True)
        return
    await answer(query, context.tr("export-preparing"))
    chat_id = query.message.chat.id if query.message is not None else user.id
    await _export(context, chat_id, user.id, api_key)


async def _link_charges(
    context: BotContext, api_key: str, link_id: str
) -> tuple[Link, list[Charge]]:
    details = await context.services.dgs.get_link(api_key, link_id)
    seen = await context.services.repo.charges_of(link_id)
    return details.link, known_charges(details.recent_charges, seen)


async def charges_button(update: Update, context: BotContext) -> None:
    """**CSV** on the card: the link's charges, newest first."""
    press = await link_press(update, context, CHARGES_CSV)
    if press is None:
        return
    tr = context.tr
    try:
        link, charges = await _link_charges(context, press.api_key, press.link_id)
    except DGSError as error:
        await tell_trouble(press.query, context, error)
        return
    if not charges:
        await answer(press.query, tr("export-no-charges"), alert=True)
        return
    await answer(press.query)
    chat_id = press.query.message.chat.id if press.query.message else press.user_id
    caption = tr.plural(
        "export-charges-caption", len(charges), title=shorten_plain(link.title, 100)
    )
    await context.bot.send_document(
        chat_id,
        charges_csv(charges),
        filename=f"charges-{link.slug or link.id}.csv",
        caption=shorten(caption, CAPTION_LIMIT),
        parse_mode=ParseMode.HTML,
    )


async def chart_button(update: Update, context: BotContext) -> None:
    """**Chart** on the card: money collected over time, as a picture."""
    press = await link_press(update, context, CHART)
    if press is None:
        return
    tr = context.tr
    try:
        link, charges = await _link_charges(context, press.api_key, press.link_id)
    except DGSError as error:
        await tell_trouble(press.query, context, error)
        return
    points = charts.cumulative(charges)
    if not points:
        await answer(press.query, tr("chart-nothing"), alert=True)
        return
    await answer(press.query)
    chat_id = press.query.message.chat.id if press.query.message else press.user_id
    total = format_amount(collected_total(charges), link.currency, tr.language)
    subtitle = tr.plural("chart-subtitle", len(points), total=total)
    png = await charts.render_collected_chart_async(
        points,
        currency=link.currency,
        language=tr.language,
        title=link.title,
        subtitle=subtitle,
        start=link.created_at,
    )
    caption = tr("chart-caption", title=shorten_plain(link.title, 100), total=total)
    await context.bot.send_photo(
        chat_id, png, caption=shorten(caption, CAPTION_LIMIT), parse_mode=ParseMode.HTML
    )


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("export", export_command))
    app.add_handler(CallbackQueryHandler(export_button, pattern=f"^{EXPORT}"))
    app.add_handler(CallbackQueryHandler(charges_button, pattern=f"^{CHARGES_CSV}"))
    app.add_handler(CallbackQueryHandler(chart_button, pattern=f"^{CHART}"))
