"""Small pieces every flow uses: building conversations, the key check, reply helpers."""

from __future__ import annotations

import warnings
from typing import Any

from telegram import Update
from telegram.ext import ConversationHandler
from telegram.warnings import PTBUserWarning

from bot.context import BotContext


def conversation(**kwargs: Any) -> ConversationHandler[BotContext]:
    """A ConversationHandler tracked per chat and user, not per message.

    PTB warns that with ``per_message=False`` a CallbackQueryHandler is not tracked for every
    message. That is the intent: a form's buttons belong to the user's conversation, and
    buttons of an old form are caught by their form id (``handlers/create.py``).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*per_message.*", category=PTBUserWarning)
        return ConversationHandler(**kwargs)


async def require_api_key(update: Update, context: BotContext) -> str | None:
    """The user's provider key, or None after telling them, in one line, to /connect."""
    user = update.effective_user
    if user is None:
        return None
    api_key = await context.services.accounts.api_key_for(user.id)
    if api_key is not None:
        return api_key
    text = context.tr("need-connect")
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(text)
    return None
