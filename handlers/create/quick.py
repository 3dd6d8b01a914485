"""Quick create: ``/new 50000 Invoice #123``, one message, one link, its QR card."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType, ParseMode

from bot.cleaners import DraftError
from bot.context import BotContext
from bot.dgs.errors import AuthError, DGSError, ValidationFailedError
from bot.links import LinkDraft
from bot.quick import QuickUsageError, parse_quick
from handlers.cards import send_link_card
from handlers.common import provider_refusal_text, require_api_key
from handlers.create.form import Form
from handlers.create.prompts import error_text

log = logging.getLogger(__name__)


async def quick_create(update: Update, context: BotContext, arguments: str) -> None:
    """``/new 50000 Invoice #123``: one message, one link, its QR card."""
    message = update.effective_message
    user = update.effective_user
    chat = update.effective_chat
    if message is None or user is None or chat is None:
        return
    tr = context.tr
    users = context.services.users
    currency = users.currency_of(await users.seen(user.id))
    try:
        draft = parse_quick(arguments, currency, tr.language)
        draft.validate_complete()
    except QuickUsageError:
        await message.reply_text(tr("quick-usage"))
        return
    except DraftError as error:
        form = Form.new(LinkDraft(currency=currency))
        await message.reply_text(f"{error_text(error, form, tr)}\n\n{tr('quick-usage')}")
        return
    await make_link(update, context, draft)


async def make_link(update: Update, context: BotContext, draft: LinkDraft) -> None:
    """Makes a complete draft's link at once and sends its card (quick create, and the
    fallback's "Make a link for RWF 5,000?"); a refusal or outage said in one line."""
    message = update.effective_message
    user = update.effective_user
    chat = update.effective_chat
    if message is None or user is None or chat is None:
        return
    tr = context.tr
    api_key = await require_api_key(update, context)
    if api_key is None:
        return
    try:
        link = await context.services.links.create(
            draft,
            api_key=api_key,
            owner_user_id=user.id,
            chat_id=chat.id,
            group_chat_id=None if chat.type == ChatType.PRIVATE else chat.id,
        )
    except ValidationFailedError as error:
        await message.reply_text(provider_refusal_text(error, tr), parse_mode=ParseMode.HTML)
        return
    except AuthError:
        await message.reply_text(tr("form-key-refused"))
        return
    except DGSError as error:
        log.warning("quick create failed for user %s: %s", user.id, error)
        await message.reply_text(tr("quick-provider-down"))
        return
    # The link exists: its card (or the text card) goes out, and nothing says "try again".
    if await send_link_card(context, chat.id, link) is None and chat.id != user.id:
        await send_link_card(context, user.id, link)  # the group took neither: in private
