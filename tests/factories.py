"""Real ``telegram.Update`` objects for ``Application.process_update`` tests.

Built from the same Bot API JSON builders as the fake server (``tests/fakes/telegram.py``), then
parsed by PTB's own ``Update.de_json``, so handlers see exactly what polling would give them.
"""

from __future__ import annotations

import itertools
from typing import Any

from telegram import Bot, Update

from tests.fakes.telegram import (
    BOT_ID,
    BOT_USERNAME,
    JSON,
    bot_user_dict,
    callback_query_dict,
    chat_member_updated_dict,
    group_chat_dict,
    inline_query_dict,
    message_dict,
    private_chat_dict,
    update_dict,
    user_dict,
)

_update_ids = itertools.count(1)
_message_ids = itertools.count(1)
_query_ids = itertools.count(1)


def _bot_dict(bot: Bot) -> JSON:
    try:
        return bot.bot.to_dict()
    except RuntimeError:
        # Not initialised (no getMe yet): the token's numeric prefix is the bot's id.
        prefix = bot.token.partition(":")[0]
        return bot_user_dict(int(prefix) if prefix.isdigit() else BOT_ID, BOT_USERNAME)


def _chat(user: JSON, chat_id: int | None, chat_type: str, title: str) -> JSON:
    if chat_type == "private":
        chat = private_chat_dict(user)
        if chat_id is not None and chat_id != user["id"]:
            raise ValueError("a private chat's id is the user's id")
        return chat
    if chat_id is None or chat_id >= 0:
        raise ValueError(f"a {chat_type} needs a negative chat_id")
    return group_chat_dict(chat_id, title, chat_type)


def _parse(bot: Bot, update_id: int | None, **payload: Any) -> Update:
    return Update.de_json(update_dict(update_id or next(_update_ids), **payload), bot)


def message_update(
    bot: Bot,
    user_id: int,
    text: str,
    chat_id: int | None = None,
    chat_type: str = "private",
    language_code: str | None = "en",
    update_id: int | None = None,
    *,
    first_name: str = "Alice",
    username: str | None = None,
    message_id: int | None = None,
    title: str = "Test group",
) -> Update:
    """A user's text message; a leading ``/command`` gets its ``bot_command`` entity."""
    user = user_dict(user_id, first_name, language_code=language_code, username=username)
    message = message_dict(
        message_id or next(_message_ids), _chat(user, chat_id, chat_type, title), user, text=text
    )
    return _parse(bot, update_id, message=message)


def callback_update(
    bot: Bot,
    user_id: int,
    data: str,
    message_id: int,
    chat_id: int | None = None,
    *,
    chat_type: str = "private",
    message_text: str = "…",
    reply_markup: JSON | None = None,
    language_code: str | None = "en",
    first_name: str = "Alice",
    title: str = "Test group",
    update_id: int | None = None,
    query_id: str | None = None,
) -> Update:
    """The user presses a button carrying ``data`` on bot message ``message_id``."""
    user = user_dict(user_id, first_name, language_code=language_code)
    fields: JSON = {"reply_markup": reply_markup} if reply_markup else {}
    message = message_dict(
        message_id,
        _chat(user, chat_id, chat_type, title),
        _bot_dict(bot),
        text=message_text,
        entities=[],
        **fields,
    )
    query = callback_query_dict(query_id or f"cbq{next(_query_ids)}", user, data, message)
    return _parse(bot, update_id, callback_query=query)


def inline_query_update(
    bot: Bot,
    user_id: int,
    query: str,
    *,
    offset: str = "",
    chat_type: str | None = "sender",
    language_code: str | None = "en",
    first_name: str = "Alice",
    update_id: int | None = None,
    query_id: str | None = None,
) -> Update:
    user = user_dict(user_id, first_name, language_code=language_code)
    inline = inline_query_dict(
        query_id or f"iq{next(_query_ids)}", user, query, offset=offset, chat_type=chat_type
    )
    return _parse(bot, update_id, inline_query=inline)


def my_chat_member_update(
    bot: Bot,
    user_id: int,
    chat_id: int,
    old_status: str,
    new_status: str,
    *,
    chat_type: str = "group",
    title: str = "Test group",
    first_name: str = "Alice",
    language_code: str | None = "en",
    update_id: int | None = None,
) -> Update:
    """User ``user_id`` changes the bot's status in ``chat_id`` (e.g. "left" → "member")."""
    user = user_dict(user_id, first_name, language_code=language_code)
    changed = chat_member_updated_dict(
        _chat(user, chat_id, chat_type, title), user, _bot_dict(bot), old_status, new_status
    )
    return _parse(bot, update_id, my_chat_member=changed)
