"""``/connect`` and ``/disconnect``: a vendor's own provider key, kept encrypted.

/connect ──► a key is awaited ──(the next private text: deleted at once, checked with one list
             call: stored, or refused)──► over
/disconnect ──► CONFIRM_DISCONNECT ──(Yes / No)──► END

Waiting for a key is not a ConversationHandler state but a mark in ``user_data`` (persisted)
with the time /connect was sent, because it must end on things a conversation in group 0
never sees: any other command or any button (``end_key_wait``, a gate before every flow),
10 minutes idle (checked on every message, so a restart does not revive it). While it lasts,
the user's private text is the key: ``AwaitingKey`` lets the key handler take it first, and
``bot.updates_request`` has the log redactor know that text before PTB logs the update.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Mapping
from typing import Any, Final

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    JobQueue,
    MessageHandler,
    filters,
)

from bot.callbacks import DISCONNECT
from bot.context import BotContext
from bot.dgs.errors import AuthError, DGSError, ForbiddenError
from bot.logs import SECRETS
from bot.notify import watch_key
from bot.store.secrets import key_last4
from handlers.common import conversation

log = logging.getLogger(__name__)

CONFIRM_DISCONNECT: Final = "connect:confirm_disconnect"  # a conversation state
DISCONNECT_YES = f"{DISCONNECT}yes"
DISCONNECT_NO = f"{DISCONNECT}no"

# What a pasted provider key looks like (live or test); used to spot keys pasted in groups.
KEY_PATTERN = re.compile(r"\bsk_[A-Za-z0-9_\-]{8,}")

# user_data: {"since": when /connect was sent (epoch s), "language": to say it timed out}.
KEY_WAIT: Final = "connect_wait"
# How long a /connect waits for the key (module-level so a test can shorten it).
KEY_WAIT_SECONDS: float = 600
# Commands that do not end the wait: /connect starts it again, /cancel ends it in words.
_OWN_COMMANDS: Final = frozenset({"connect", "cancel"})
_COMMAND: Final = re.compile(r"/([A-Za-z0-9_]+)")


def awaits_key(user_data: Mapping[str, Any] | None, now: float | None = None) -> bool:
    """Whether the next private text of this user is the key they were asked for."""
    wait = (user_data or {}).get(KEY_WAIT)
    since = wait.get("since") if isinstance(wait, dict) else None
    if not isinstance(since, (int, float)):
        return False
    return (time.time() if now is None else now) - since < KEY_WAIT_SECONDS


class AwaitingKey(filters.MessageFilter):
    """A private message from someone a key is awaited from (their ``user_data`` mark)."""

    def __init__(self, user_data: Mapping[int, Mapping[str, Any]]) -> None:
        super().__init__(name="awaiting_key")
        self._user_data = user_data

    def filter(self, message: Message) -> bool:
        user = message.from_user
        return (
            user is not None
            and message.chat.type == ChatType.PRIVATE
            and awaits_key(self._user_data.get(user.id))
        )


def _stop_waiting(context: BotContext) -> bool:
    """Ends the wait for a key; whether one was awaited."""
    if context.user_data is None:
        return False
    return context.user_data.pop(KEY_WAIT, None) is not None


async def end_key_wait(update: object, context: BotContext) -> None:
    """Gate before every flow: any other command, or any button, ends a pending /connect, so
    the text that follows (a form title, an editor value) is never read as a key."""
    if not isinstance(update, Update) or KEY_WAIT not in (context.user_data or {}):
        return
    if update.callback_query is not None:
        _stop_waiting(context)
        return
    message = update.message  # an edited message is acted on by nobody (handlers/edits.py)
    command = _COMMAND.match(message.text or "") if message is not None else None
    if command is not None and command.group(1).lower() not in _OWN_COMMANDS:
        _stop_waiting(context)


async def connect(update: Update, context: BotContext) -> None:
    """Asks for the API key (private chats only) and waits for it."""
    message = update.effective_message
    chat = update.effective_chat
    user = update.effective_user
    if message is None or chat is None or user is None:
        return
    if chat.type != ChatType.PRIVATE:
        await message.reply_text(context.tr("connect-private-only"))
        return
    since = time.time()
    if context.user_data is not None:
        context.user_data[KEY_WAIT] = {"since": since, "language": context.language}
    jobs: JobQueue[Any] | None = context.job_queue
    if jobs is not None:
        jobs.run_once(
            _wait_over,
            KEY_WAIT_SECONDS,
            data=since,
            chat_id=chat.id,
            user_id=user.id,
            name=f"connect-wait:{user.id}",
        )
    await message.reply_text(context.tr("connect-ask"), parse_mode=ParseMode.HTML)


async def _wait_over(context: BotContext) -> None:
    """10 minutes after /connect with no key: say the wait is over (unless it already was)."""
    job = context.job
    wait = (context.user_data or {}).get(KEY_WAIT)
    if job is None or job.chat_id is None or not isinstance(wait, dict):
        return
    if wait.get("since") != job.data:
        return  # a later /connect waits on its own; this one ended already
    _stop_waiting(context)
    language = wait.get("language")
    context.language = language if isinstance(language, str) else None
    with contextlib.suppress(TelegramError):
        await context.bot.send_message(job.chat_id, context.tr("connect-timed-out"))


async def receive_key(update: Update, context: BotContext) -> None:
    """The text sent after /connect: deleted at once, checked with one list call, stored or
    refused. Either way the wait is over: /connect again to try again."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or not message.text:
        return
    _stop_waiting(context)
    api_key = message.text.strip()
    SECRETS.add(api_key)  # before anything below can log it
    # The key must not sit in the chat history, whatever happens next.
    with contextlib.suppress(TelegramError):
        await message.delete()
    tr = context.tr
    if not api_key or any(ch.isspace() for ch in api_key) or len(api_key) > 200:
        await context.bot.send_message(message.chat.id, tr("connect-not-a-key-retry"))
        return
    try:
        await context.services.accounts.check_key(api_key)
    except (AuthError, ForbiddenError):
        await context.bot.send_message(message.chat.id, tr("connect-refused-retry"))
        return
    except DGSError:
        await context.bot.send_message(message.chat.id, tr("connect-provider-down"))
        return
    await accept_key(context, user.id, message.chat.id, api_key)


async def accept_key(context: BotContext, user_id: int, chat_id: int, api_key: str) -> None:
    """The provider accepted the key: store it (encrypted) and say so."""
    await context.services.accounts.connect(user_id, api_key)
    log.info("user %s connected a key ending %s", user_id, key_last4(api_key))
    # Its links are watched now, not at the next sweep: a payment in between is told.
    watch_key(context.application, api_key)
    await context.bot.send_message(
        chat_id,
        context.tr("connect-done", last4=key_last4(api_key)),
        parse_mode=ParseMode.HTML,
    )


async def cancel(update: Update, context: BotContext) -> int:
    """Stops waiting for a key (or ends /disconnect's question); nothing is stored."""
    _stop_waiting(context)
    message = update.effective_message
    if message is not None:
        await message.reply_text(context.tr("connect-cancelled"))
    return ConversationHandler.END


async def not_text(update: Update, context: BotContext) -> None:
    """Anything but text while waiting for a key: say what is expected; still waiting."""
    message = update.effective_message
    if message is not None:
        await message.reply_text(context.tr("connect-not-a-key"))


def connect_handlers(
    app: Application[Any, Any, Any, Any, Any, Any],
) -> list[BaseHandler[Update, BotContext, Any]]:
    """/connect, then the key, a non-text answer and /cancel while a key is awaited: at the
    head of the flows, so the key is never taken for a form's answer."""
    private = filters.ChatType.PRIVATE
    awaiting = AwaitingKey(app.user_data)
    return [
        CommandHandler("connect", connect),
        CommandHandler("cancel", cancel, private & awaiting),
        MessageHandler(awaiting & filters.TEXT & ~filters.COMMAND, receive_key),
        MessageHandler(awaiting & ~filters.COMMAND, not_text),
    ]


async def disconnect(update: Update, context: BotContext) -> str | int:
    """Asks to confirm forgetting the stored key; next: CONFIRM_DISCONNECT."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return ConversationHandler.END
    credential = await context.services.accounts.credential(user.id)
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
        await context.services.accounts.disconnect(user.id)
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


def disconnect_conversation() -> ConversationHandler[BotContext]:
    pattern = f"^{DISCONNECT}(yes|no)$"
    return conversation(
        entry_points=[CommandHandler("disconnect", disconnect, filters.ChatType.PRIVATE)],
        states={CONFIRM_DISCONNECT: [CallbackQueryHandler(disconnect_answer, pattern=pattern)]},
        fallbacks=[CommandHandler("cancel", cancel)],
        name="disconnect",
        persistent=True,
        allow_reentry=True,
    )


GROUP_KEY_FILTER: Final = filters.ChatType.GROUPS & filters.Regex(KEY_PATTERN)
