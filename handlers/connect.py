"""``/connect`` and ``/disconnect``: a vendor's own provider key, kept encrypted.

/connect ──► ASK_KEY ──(key pasted: deleted at once, checked with one list call)──► END
/disconnect ──► CONFIRM_DISCONNECT ──(Yes / No)──► END
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Final

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import BotContext
from bot.dgs.errors import AuthError, DGSError, ForbiddenError
from bot.store.secrets import key_last4
from handlers.common import conversation

log = logging.getLogger(__name__)

ASK_KEY: Final = "connect:ask_key"
CONFIRM_DISCONNECT: Final = "connect:confirm_disconnect"
DISCONNECT_YES = "disconnect:yes"
DISCONNECT_NO = "disconnect:no"

# What a pasted provider key looks like (live or test); used to spot keys pasted in groups.
KEY_PATTERN = re.compile(r"\bsk_[A-Za-z0-9_\-]{8,}")


async def connect(update: Update, context: BotContext) -> str | int:
    """Asks for the API key (private chats only); next: ASK_KEY."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return ConversationHandler.END
    if chat.type != ChatType.PRIVATE:
        await message.reply_text(context.tr("connect-private-only"))
        return ConversationHandler.END
    await message.reply_text(context.tr("connect-ask"), parse_mode=ParseMode.HTML)
    return ASK_KEY


async def receive_key(update: Update, context: BotContext) -> str | int:
    """Deletes the pasted key at once, checks it with one list call, stores it; ends."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or not message.text:
        return ASK_KEY
    api_key = message.text.strip()
    # The key must not sit in the chat history, whatever happens next.
    with contextlib.suppress(TelegramError):
        await message.delete()
    tr = context.tr
    if not api_key or any(ch.isspace() for ch in api_key) or len(api_key) > 200:
        await context.bot.send_message(message.chat.id, tr("connect-not-a-key"))
        return ASK_KEY
    services = context.services
    try:
        await services.dgs.list_links(api_key, page=1, per_page=1)
    except (AuthError, ForbiddenError):
        await context.bot.send_message(message.chat.id, tr("connect-refused"))
        return ASK_KEY
    except DGSError:
        await context.bot.send_message(message.chat.id, tr("connect-provider-down"))
        return ConversationHandler.END
    await services.repo.save_credential(user.id, api_key)
    log.info("user %s connected a key ending %s", user.id, key_last4(api_key))
    await context.bot.send_message(
        message.chat.id,
        tr("connect-done", last4=key_last4(api_key)),
        parse_mode=ParseMode.HTML,
    )
    return ConversationHandler.END


async def cancel(update: Update, context: BotContext) -> int:
    """Stops asking for a key; nothing is stored."""
    message = update.effective_message
    if message is not None:
        await message.reply_text(context.tr("connect-cancelled"))
    return ConversationHandler.END


async def not_text(update: Update, context: BotContext) -> str:
    """Anything but text while waiting for a key: say what is expected; same step."""
    message = update.effective_message
    if message is not None:
        await message.reply_text(context.tr("connect-not-a-key"))
    return ASK_KEY


async def disconnect(update: Update, context: BotContext) -> str | int:
    """Asks to confirm forgetting the stored key; next: CONFIRM_DISCONNECT."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return ConversationHandler.END
    credential = await context.services.repo.get_credential(user.id)
    if credential is None:
        await message.reply_text(context.tr("disconnect-nothing"))
        return ConversationHandler.END
    tr = context.tr
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(tr("disconnect-yes"), callback_data=DISCONNECT_YES),
                InlineKeyboardButton(tr("button-no"), callback_data=DISCONNECT_NO),
            ]
        ]
    )
    await message.reply_text(
        tr("disconnect-confirm", last4=credential.key_last4),
        reply_markup=keyboard,
        parse_mode=ParseMode.HTML,
    )
    return CONFIRM_DISCONNECT


async def disconnect_answer(update: Update, context: BotContext) -> int:
    """Forgets the key on Yes, keeps it on No; ends."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return ConversationHandler.END
    await query.answer()
    tr = context.tr
    if query.data == DISCONNECT_YES:
        await context.services.repo.delete_credential(user.id)
        await query.edit_message_text(tr("disconnect-done"))
    else:
        await query.edit_message_text(tr("disconnect-kept"))
    return ConversationHandler.END


async def key_in_group(update: Update, context: BotContext) -> None:
    """A key pasted in a group: delete it if we can, and tell the sender to revoke it."""
    message = update.effective_message
    if message is None:
        return
    deleted = False
    with contextlib.suppress(TelegramError):
        deleted = await message.delete()
    name = update.effective_user.first_name if update.effective_user else ""
    key = "key-in-group-deleted" if deleted else "key-in-group-not-deleted"
    await context.bot.send_message(message.chat.id, context.tr(key, name=name))


def connect_conversation() -> ConversationHandler[BotContext]:
    private = filters.ChatType.PRIVATE
    return conversation(
        entry_points=[CommandHandler("connect", connect)],
        states={
            ASK_KEY: [
                MessageHandler(private & filters.TEXT & ~filters.COMMAND, receive_key),
                MessageHandler(private & ~filters.COMMAND, not_text),
            ],
        },
        fallbacks=[CommandHandler("cancel", cancel)],
        name="connect",
        persistent=True,
        allow_reentry=True,
        conversation_timeout=None,
    )


def disconnect_conversation() -> ConversationHandler[BotContext]:
    pattern = f"^({DISCONNECT_YES}|{DISCONNECT_NO})$"
    return conversation(
        entry_points=[CommandHandler("disconnect", disconnect, filters.ChatType.PRIVATE)],
        states={CONFIRM_DISCONNECT: [CallbackQueryHandler(disconnect_answer, pattern=pattern)]},
        fallbacks=[CommandHandler("cancel", cancel)],
        name="disconnect",
        persistent=True,
        allow_reentry=True,
    )


GROUP_KEY_FILTER: Final = filters.ChatType.GROUPS & filters.Regex(KEY_PATTERN)
