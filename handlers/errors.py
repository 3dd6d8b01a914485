"""The last resort: log an unexpected error and tell the user something went wrong."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, TelegramError

from bot.context import BotContext

log = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    """Logs the failure (no secrets: the log filter redacts) and apologises once."""
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(error, Forbidden):
        log.info("update %s: the user blocked the bot", update_id)
        return
    log.error("update %s failed", update_id, exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(context.tr("error-generic"), show_alert=True)
        else:
            await context.bot.send_message(update.effective_chat.id, context.tr("error-generic"))
    except TelegramError:
        log.warning("update %s: could not tell the user about the failure", update_id)
