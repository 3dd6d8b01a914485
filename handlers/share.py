"""**Share**: inline mode. ``@bot`` in any chat lists the user's active links; picking one
posts a share card (title, amount, **Open to pay**) with no button that acts on the link.

Results come from the querying user's own key, so nobody sees another vendor's links. The
list is the dashboard's (kept a few seconds), so typing a search does not re-read every page.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Update,
)
from telegram.constants import InlineQueryLimit, ParseMode
from telegram.ext import Application, InlineQueryHandler

from bot.cards import amount_line, expiry_line, methods_line
from bot.context import BotContext
from bot.dgs.errors import DGSError
from bot.dgs.models import Link, LinkStatus
from bot.i18n import Translator, escape
from bot.telegram_text import MESSAGE_LIMIT, shorten, shorten_plain
from bot.urls import is_public_url
from handlers.link_card import NO_PREVIEW

log = logging.getLogger(__name__)

PAGE = InlineQueryLimit.RESULTS  # 50, Telegram's most per answer
CACHE_SECONDS = 10
DESCRIPTION_MAX = 300


def matches(link: Link, query: str) -> bool:
    """Every word of the query is in the title or the slug (case and accents as typed)."""
    haystack = f"{link.title} {link.slug or ''}".casefold()
    return all(word in haystack for word in query.casefold().split())


def share_text(link: Link, tr: Translator) -> str:
    """The posted card (HTML): title, amount, what it is for, how to pay."""
    lines = [f"<b>{escape(link.title)}</b>", escape(amount_line(link, tr))]
    if link.description:
        lines.append(escape(shorten_plain(link.description, DESCRIPTION_MAX)))
    lines.append(tr("accepts", methods=methods_line(link.payment_types, tr)))
    expiry = expiry_line(link, tr)
    if expiry:
        lines.append(expiry)
    if link.url and not is_public_url(link.url):
        # No button for an address Telegram refuses (a local sandbox): the address itself.
        lines.append(tr("share-pay-at", url=link.url))
    return shorten("\n".join(lines), MESSAGE_LIMIT)


def share_result(link: Link, tr: Translator) -> InlineQueryResultArticle:
    markup = None
    if link.url and is_public_url(link.url):
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(tr("share-open"), url=link.url)]])
    return InlineQueryResultArticle(
        id=link.id,
        title=shorten_plain(link.title or "—", 100),
        description=amount_line(link, tr),
        input_message_content=InputTextMessageContent(
            share_text(link, tr), parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
        ),
        reply_markup=markup,
    )


async def inline_query(update: Update, context: BotContext) -> None:
    """``@bot <words>``: the user's active links whose title or slug hold the words."""
    query = update.inline_query
    if query is None:
        return
    tr = context.tr
    user = query.from_user
    api_key = await context.services.accounts.api_key_for(user.id)
    if api_key is None:
        button = InlineQueryResultsButton(text=tr("share-connect"), start_parameter="connect")
        await query.answer([], cache_time=0, is_personal=True, button=button)
        return
    try:
        links = await context.services.lister.links(api_key, user_id=user.id)
    except DGSError as error:
        log.info("inline query of user %s: provider call failed: %s", user.id, error)
        await query.answer([], cache_time=0, is_personal=True)
        return
    found = [
        link for link in links if link.status == LinkStatus.ACTIVE and matches(link, query.query)
    ]
    start = int(query.offset) if query.offset.isdigit() else 0
    page = found[start : start + PAGE]
    more = start + PAGE < len(found)
    await query.answer(
        [share_result(link, tr) for link in page],
        cache_time=CACHE_SECONDS,
        is_personal=True,
        next_offset=str(start + PAGE) if more else "",
    )


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(InlineQueryHandler(inline_query))
