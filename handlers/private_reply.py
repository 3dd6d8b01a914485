"""Answers that may name payers go to the person in private, never to a group.

A link card, a chart, a CSV or a list asked for in a group is sent to the asker's private
chat; the group gets one line at most: "sent you the details in private", or, when Telegram
refuses (the person never started the bot), a line asking them to start it first, with a
t.me button. In a private chat the answer simply goes there.

Callers keep their own button answers (``answerCallbackQuery``): this module only decides
where the answer goes and what the group reads.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from enum import Enum

from telegram import (
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import Forbidden, TelegramError

from bot.context import BotContext

log = logging.getLogger(__name__)

# What the bot's private chat opens with when a group line points people to it.
START_PAYLOAD = "private"

Send = Callable[[int], Awaitable[object]]


class Delivery(Enum):
    HERE = "here"  # the chat was private: sent there
    PRIVATELY = "privately"  # asked in a group: sent in private, the group was told
    NOT_STARTED = "not_started"  # asked in a group by someone the bot may not write to
    NOBODY = "nobody"  # no person to send to (an anonymous admin, a channel post)


def in_group(chat: Chat | None) -> bool:
    return chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


async def send_to_asker(update: Update, context: BotContext, send: Send) -> Delivery:
    """``send(chat_id)`` for the update's sender: in their private chat when the update came
    from a group (one line in the group says so), else in the chat itself."""
    chat = update.effective_chat
    message = update.effective_message
    user = update.effective_user
    if chat is None:
        return Delivery.NOBODY
    if update.callback_query is None and message is not None and message.sender_chat is not None:
        # An anonymous admin writes as the group: there is no private chat to answer in.
        if in_group(chat):
            text = context.tr("group-anonymous-admin")
            await _post(context, chat.id, text, reply_to=message.message_id)
        return Delivery.NOBODY
    reply_to = message.message_id if message is not None else None
    return await send_privately(context, chat=chat, user=user, send=send, reply_to=reply_to)


async def send_privately(
    context: BotContext,
    *,
    chat: Chat,
    user: User | None,
    send: Send,
    reply_to: int | None = None,
) -> Delivery:
    """The same as ``send_to_asker`` for callers holding a chat and a user (a button press
    on a message): ``chat`` is where it was asked, ``user`` who asked."""
    if not in_group(chat):
        await send(chat.id)
        return Delivery.HERE
    if user is None or user.is_bot:
        return Delivery.NOBODY
    tr = context.tr
    try:
        await send(user.id)
    except Forbidden:
        # Telegram lets a bot write first to nobody: the person has to open the chat.
        url = f"https://t.me/{context.bot.username}?start={START_PAYLOAD}"
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton(tr("private-start-button"), url=url)]]
        )
        text = tr("private-start-first", name=user.first_name)
        await _post(context, chat.id, text, reply_to=reply_to, markup=markup)
        return Delivery.NOT_STARTED
    await _post(context, chat.id, tr("private-sent", name=user.first_name), reply_to=reply_to)
    return Delivery.PRIVATELY


async def _post(
    context: BotContext,
    chat_id: int,
    text: str,
    *,
    reply_to: int | None = None,
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    """The one line in the group; a group that will not take it (the bot muted or removed)
    loses nothing the asker needs."""
    reply = (
        None
        if reply_to is None
        else ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
    )
    try:
        await context.bot.send_message(
            chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup, reply_parameters=reply
        )
    except TelegramError as error:
        log.info("could not post the private-reply line in %s: %s", chat_id, error)
