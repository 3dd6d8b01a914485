"""Bot API JSON builders and constants, shared by the local server and the tests' factories."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

JSON = dict[str, Any]

BOT_ID = 1000
BOT_USERNAME = "PayLinksTestBot"
BOT_FIRST_NAME = "PayLinks Test"
DEFAULT_TOKEN = f"{BOT_ID}:TEST-fake-bot-token"
# Telegram shows anonymous group admins as this bot, with the group as sender_chat.
ANONYMOUS_ADMIN_ID = 1087968824
ANONYMOUS_ADMIN_USERNAME = "GroupAnonymousBot"

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_INLINE_RESULTS = 50

MEMBER_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")
PRESENT_STATUSES = ("creator", "administrator", "member", "restricted")
ADMIN_STATUSES = ("creator", "administrator")


def now() -> int:
    """Unix time as Telegram stamps messages."""
    return int(time.time())


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def user_dict(
    user_id: int,
    first_name: str = "Alice",
    *,
    is_bot: bool = False,
    language_code: str | None = None,
    username: str | None = None,
    last_name: str | None = None,
) -> JSON:
    data: JSON = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
    if last_name:
        data["last_name"] = last_name
    if username:
        data["username"] = username
    if language_code:
        data["language_code"] = language_code
    return data


def bot_user_dict(
    bot_id: int = BOT_ID,
    username: str = BOT_USERNAME,
    first_name: str = BOT_FIRST_NAME,
    *,
    get_me: bool = False,
    privacy_mode: bool = True,
) -> JSON:
    """The bot as ``from`` of its messages, or (``get_me=True``) as getMe returns it."""
    data = user_dict(bot_id, first_name, is_bot=True, username=username)
    if get_me:
        data.update(
            can_join_groups=True,
            can_read_all_group_messages=not privacy_mode,
            supports_inline_queries=True,
            can_connect_to_business=False,
            has_main_web_app=False,
        )
    return data


def anonymous_admin_dict() -> JSON:
    return user_dict(ANONYMOUS_ADMIN_ID, "Group", is_bot=True, username=ANONYMOUS_ADMIN_USERNAME)


def private_chat_dict(user: Mapping[str, Any]) -> JSON:
    chat: JSON = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    for key in ("last_name", "username"):
        if key in user:
            chat[key] = user[key]
    return chat


def group_chat_dict(chat_id: int, title: str, chat_type: str = "group") -> JSON:
    return {"id": chat_id, "type": chat_type, "title": title}


COMMAND_RE = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]+))?")


def command_entities(text: str) -> list[JSON]:
    """The ``bot_command`` entity Telegram puts on ``/cmd`` or ``/cmd@BotName`` at offset 0."""
    match = COMMAND_RE.match(text)
    if match is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}]


def message_dict(
    message_id: int,
    chat: Mapping[str, Any],
    sender: Mapping[str, Any] | None,
    *,
    text: str | None = None,
    entities: list[JSON] | None = None,
    date: int | None = None,
    **fields: Any,
) -> JSON:
    """A Message; without explicit ``entities`` a leading ``/command`` gets its entity."""
    message: JSON = {"message_id": message_id, "date": date or now(), "chat": dict(chat)}
    if sender is not None:
        message["from"] = dict(sender)
    if text is not None:
        message["text"] = text
        found = command_entities(text) if entities is None else entities
        if found:
            message["entities"] = found
    message.update(fields)
    return message


def callback_query_dict(
    query_id: str,
    sender: Mapping[str, Any],
    data: str,
    message: Mapping[str, Any],
    *,
    chat_instance: str | None = None,
) -> JSON:
    return {
        "id": query_id,
        "from": dict(sender),
        "chat_instance": chat_instance or f"ci{abs(message['chat']['id'])}",
        "message": dict(message),
        "data": data,
    }


def inline_query_dict(
    query_id: str,
    sender: Mapping[str, Any],
    query: str,
    *,
    offset: str = "",
    chat_type: str | None = "sender",
) -> JSON:
    data: JSON = {"id": query_id, "from": dict(sender), "query": query, "offset": offset}
    if chat_type:
        data["chat_type"] = chat_type
    return data


def chosen_inline_result_dict(
    result_id: str,
    sender: Mapping[str, Any],
    query: str,
    *,
    inline_message_id: str | None = None,
) -> JSON:
    data: JSON = {"result_id": result_id, "from": dict(sender), "query": query}
    if inline_message_id:
        data["inline_message_id"] = inline_message_id
    return data


_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
)
_RESTRICTED_RIGHTS = (
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_send_messages",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_manage_topics",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_edit_tag",
    "can_react_to_messages",
)


def chat_member_dict(user: Mapping[str, Any], status: str, *, until_date: int = 0) -> JSON:
    """A ChatMember of the given status with every field PTB requires for it."""
    member: JSON = {"status": status, "user": dict(user)}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(dict.fromkeys(_ADMIN_RIGHTS, True), can_be_edited=False, is_anonymous=False)
    elif status == "restricted":
        member.update(dict.fromkeys(_RESTRICTED_RIGHTS, False), is_member=True)
        member["until_date"] = until_date
    elif status == "kicked":
        member["until_date"] = until_date
    elif status not in ("member", "left"):
        raise ValueError(f"unknown chat member status {status!r}; one of {MEMBER_STATUSES}")
    return member


def chat_member_updated_dict(
    chat: Mapping[str, Any],
    actor: Mapping[str, Any],
    member: Mapping[str, Any],
    old_status: str,
    new_status: str,
    *,
    date: int | None = None,
) -> JSON:
    return {
        "chat": dict(chat),
        "from": dict(actor),
        "date": date or now(),
        "old_chat_member": chat_member_dict(member, old_status),
        "new_chat_member": chat_member_dict(member, new_status),
    }


def update_dict(update_id: int, **payload: Any) -> JSON:
    """An Update: ``update_dict(7, message={...})``."""
    return {"update_id": update_id, **payload}
