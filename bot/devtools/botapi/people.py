"""The people on the other side of the local Bot API: what a test, or the demo's web chat,
makes them do (write, edit, press, join, block ...), each turned into the updates Telegram
would send the bot."""

from __future__ import annotations

import copy
import io
from collections.abc import Mapping
from typing import Any

from bot.devtools.botapi.builders import (
    ADMIN_STATUSES,
    BOT_ID,
    COMMAND_RE,
    JSON,
    MEMBER_STATUSES,
    PRESENT_STATUSES,
    anonymous_admin_dict,
    callback_query_dict,
    chat_member_updated_dict,
    chosen_inline_result_dict,
    command_entities,
    inline_query_dict,
    message_dict,
    now,
    private_chat_dict,
    update_dict,
)
from bot.devtools.botapi.model import ChatGroup, ChatMessage, ChatUser, StoredFile
from bot.devtools.botapi.state import BotApiState


class People(BotApiState):
    """The people and their chats; every act becomes an update the bot's getUpdates brings."""

    # People and chats

    def user(
        self,
        user_id: int,
        first_name: str = "Alice",
        language_code: str | None = "en",
        username: str | None = None,
        *,
        last_name: str | None = None,
        started: bool = True,
    ) -> ChatUser:
        """A person; ``started=False`` models one who never opened the bot (sends get 403)."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        person = ChatUser(user_id, first_name, language_code, username, last_name)
        self._users[user_id] = person
        if started:
            self._started.add(user_id)
        self._messages.setdefault(user_id, {})
        return person

    def group(
        self,
        chat_id: int,
        title: str,
        members: Mapping[ChatUser, str],
        *,
        bot_status: str = "left",
        supergroup: bool = False,
    ) -> ChatGroup:
        """A group of known users; the bot is not in it until ``add_bot_to_group``."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        for member, status in members.items():
            if status not in MEMBER_STATUSES:
                raise ValueError(f"unknown status {status!r} for {member.first_name}")
            self._users.setdefault(member.id, member)
        chat = ChatGroup(
            chat_id,
            title,
            dict(members),
            "supergroup" if supergroup else "group",
            bot_status,
        )
        self._groups[chat_id] = chat
        self._messages.setdefault(chat_id, {})
        return chat

    def block(self, user: ChatUser, *, notify: bool = True) -> None:
        """The user blocks the bot: sends to them get 403; the bot gets a my_chat_member update."""
        self._blocked.add(user.id)
        if notify:
            self._queue_my_chat_member(private_chat_dict(user.to_dict()), user, "member", "kicked")

    def unblock(self, user: ChatUser, *, notify: bool = True) -> None:
        self._blocked.discard(user.id)
        self._started.add(user.id)
        if notify:
            self._queue_my_chat_member(private_chat_dict(user.to_dict()), user, "kicked", "member")

    def set_member_status(self, group: ChatGroup, user: ChatUser, status: str) -> None:
        """Change someone's status; for the bot itself this also sends my_chat_member."""
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {MEMBER_STATUSES}")
        if user.id == BOT_ID:
            old, group.bot_status = group.bot_status, status
            self._queue_my_chat_member(group.to_chat(), group.owner(), old, status)
            return
        for member in list(group.members):
            if member.id == user.id:
                del group.members[member]
        group.members[user] = status
        self._users.setdefault(user.id, user)

    # Updates

    def _queue_update(self, **payload: Any) -> JSON:
        update = update_dict(self._next_update_id, **payload)
        self._next_update_id += 1
        self._updates.append(update)
        self._last_input_seq = self._next_seq()
        self._notify()
        return update

    def _queue_my_chat_member(
        self, chat: JSON, actor: ChatUser, old_status: str, new_status: str
    ) -> None:
        self._queue_update(
            my_chat_member=chat_member_updated_dict(
                chat, actor.to_dict(), self.bot_user.to_dict(), old_status, new_status
            )
        )

    def _sender_chat(
        self, user: ChatUser, chat: ChatGroup | None, anonymous: bool = False
    ) -> tuple[int, JSON, JSON, JSON]:
        """(chat id, chat, from, extra fields) of a message ``user`` writes, after checks."""
        if chat is None:
            if user.id in self._blocked:
                raise RuntimeError(
                    f"{user.first_name} has blocked the bot; tg.unblock(user) first"
                )
            self._users.setdefault(user.id, user)
            self._messages.setdefault(user.id, {})
            self._started.add(user.id)
            return user.id, private_chat_dict(user.to_dict()), user.to_dict(), {}
        status = chat.status_of(user)
        if status not in PRESENT_STATUSES:
            raise RuntimeError(f"{user.first_name} is not a member of {chat.title!r} ({status})")
        if chat.bot_status not in PRESENT_STATUSES:
            raise RuntimeError(
                f"the bot is not in {chat.title!r}; call tg.add_bot_to_group(...) first"
            )
        if anonymous:
            if status not in ADMIN_STATUSES:
                raise RuntimeError(f"only admins post anonymously; {user.first_name} is {status}")
            return chat.id, chat.to_chat(), anonymous_admin_dict(), {"sender_chat": chat.to_chat()}
        return chat.id, chat.to_chat(), user.to_dict(), {}

    def _incoming(
        self,
        user: ChatUser,
        chat: ChatGroup | None,
        *,
        text: str | None = None,
        reply_to: ChatMessage | None = None,
        anonymous: bool = False,
        file: StoredFile | None = None,
        **fields: Any,
    ) -> JSON:
        chat_id, chat_data, sender, extra = self._sender_chat(user, chat, anonymous)
        if reply_to is not None:
            extra["reply_to_message"] = self._stored(reply_to).data
        message_id = self._new_message_id(chat_id)
        data = message_dict(message_id, chat_data, sender, text=text, **extra, **fields)
        self._keep(ChatMessage(chat_id, message_id, False, data, source_text=text, file=file))
        if chat is None or self._bot_sees(chat, text, reply_to):
            self._queue_update(message=data)
        else:
            self.withheld.append(data)
        return copy.deepcopy(data)

    def _bot_sees(self, group: ChatGroup, text: str | None, reply_to: ChatMessage | None) -> bool:
        if not self.privacy_mode or group.bot_status in ADMIN_STATUSES:
            return True
        if reply_to is not None and self._stored(reply_to).from_bot:
            return True
        command = COMMAND_RE.match(text or "")
        return command is not None and (
            command.group(2) is None or command.group(2).lower() == self.bot_username.lower()
        )

    # What they do

    async def send_text(
        self,
        user: ChatUser,
        text: str,
        chat: ChatGroup | None = None,
        *,
        reply_to: ChatMessage | None = None,
        anonymous: bool = False,
    ) -> JSON:
        """``user`` writes ``text`` in a private chat, or in ``chat``; returns the Message.

        ``anonymous=True`` posts as an anonymous group admin (from GroupAnonymousBot).
        """
        return self._incoming(user, chat, text=text, reply_to=reply_to, anonymous=anonymous)

    async def edit_text(
        self, user: ChatUser, message: ChatMessage | Mapping[str, Any], text: str
    ) -> JSON:
        """``user`` edits a text message they wrote to read ``text``; returns the Message.

        The bot gets an ``edited_message`` update when it got the message itself (a group
        message withheld by privacy mode stays withheld when edited).
        """
        stored = self._stored(message)
        if stored.from_bot or (stored.sender or {}).get("id") != user.id or stored.deleted:
            raise RuntimeError(f"{user.first_name} can only edit a message of their own")
        if "text" not in stored.data:
            raise RuntimeError("only a text message can be edited to other text")
        data = stored.data
        data["text"] = text
        data.pop("entities", None)
        entities = command_entities(text)
        if entities:
            data["entities"] = entities
        data["edit_date"] = now()
        stored.source_text = text
        stored.edits += 1
        stored.revision = self._next_seq()
        withheld = any(
            m["chat"]["id"] == stored.chat_id and m["message_id"] == stored.message_id
            for m in self.withheld
        )
        if not withheld:
            self._queue_update(edited_message=copy.deepcopy(data))
        return copy.deepcopy(data)

    async def send_sticker(self, user: ChatUser, chat: ChatGroup | None = None) -> JSON:
        stored = self._register_file(b"RIFF-sticker", "sticker", filename="sticker.webp")
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
            "emoji": "👍",
        }
        return self._incoming(user, chat, file=stored, sticker=sticker)

    async def send_photo_from_user(
        self,
        user: ChatUser,
        content: bytes | None = None,
        *,
        caption: str | None = None,
        chat: ChatGroup | None = None,
    ) -> JSON:
        """``user`` sends a photo (a small real PNG by default) the bot can getFile."""
        stored = self._register_file(content or _tiny_png(), "photo", filename="photo.jpg")
        fields: JSON = {"photo": [self._photo_size(stored)]}
        if caption is not None:
            fields["caption"] = caption
        return self._incoming(user, chat, file=stored, **fields)

    async def send_document_from_user(
        self,
        user: ChatUser,
        content: bytes,
        filename: str,
        *,
        mime_type: str = "application/octet-stream",
        chat: ChatGroup | None = None,
    ) -> JSON:
        stored = self._register_file(content, "document", filename=filename, mime_type=mime_type)
        return self._incoming(user, chat, file=stored, document=self._document(stored))

    async def press(
        self,
        user: ChatUser,
        message: ChatMessage | Mapping[str, Any],
        callback_data: str | None = None,
        *,
        text: str | None = None,
    ) -> str:
        """Press the inline button with ``callback_data`` (or labelled ``text``) of a bot message.

        Uses the message as it is now (after edits). Returns the callback query id.
        """
        if (callback_data is None) == (text is None):
            raise ValueError("press() needs exactly one of callback_data or text")
        stored = self._stored(message)
        if stored.deleted:
            raise LookupError(f"message #{stored.message_id} was deleted; it can't be pressed")
        if not stored.from_bot:
            raise LookupError(f"message #{stored.message_id} was not sent by the bot")
        for button in (b for row in stored.buttons for b in row):
            if (text is not None and button.get("text") == text) or (
                callback_data is not None and button.get("callback_data") == callback_data
            ):
                if "callback_data" not in button:
                    raise LookupError(f"button {button} is not a callback button")
                break
        else:
            wanted = f"text={text!r}" if text is not None else f"callback_data={callback_data!r}"
            raise LookupError(
                f"no button with {wanted} on message #{stored.message_id}; "
                f"it has {stored.buttons or 'no inline keyboard'}"
            )
        query_id = str(4_000_000_000 + next(self._query_numbers))
        self._queue_update(
            callback_query=callback_query_dict(
                query_id, user.to_dict(), button["callback_data"], copy.deepcopy(stored.data)
            )
        )
        return query_id

    async def inline_query(
        self, user: ChatUser, query: str, *, offset: str = "", chat_type: str | None = "sender"
    ) -> str:
        """``user`` types ``@bot query``; returns the inline query id."""
        query_id = str(8_000_000_000 + next(self._query_numbers))
        self._queue_update(
            inline_query=inline_query_dict(
                query_id, user.to_dict(), query, offset=offset, chat_type=chat_type
            )
        )
        return query_id

    async def chosen_inline_result(
        self,
        user: ChatUser,
        result_id: str,
        query: str = "",
        *,
        inline_message_id: str | None = None,
    ) -> None:
        self._queue_update(
            chosen_inline_result=chosen_inline_result_dict(
                result_id, user.to_dict(), query, inline_message_id=inline_message_id
            )
        )

    async def add_bot_to_group(
        self, adder: ChatUser, group: ChatGroup, *, status: str = "member"
    ) -> None:
        """``adder`` adds the bot: my_chat_member (left → status) and the service message."""
        old = group.bot_status
        if old in PRESENT_STATUSES:
            raise RuntimeError(f"the bot is already in {group.title!r} ({old})")
        if group.status_of(adder) not in PRESENT_STATUSES:
            raise RuntimeError(f"{adder.first_name} is not a member of {group.title!r}")
        group.bot_status = status
        self._queue_my_chat_member(group.to_chat(), adder, old, status)
        message_id = self._new_message_id(group.id)
        service = message_dict(
            message_id,
            group.to_chat(),
            adder.to_dict(),
            new_chat_members=[self.bot_user.to_dict()],
            new_chat_member=self.bot_user.to_dict(),
            new_chat_participant=self.bot_user.to_dict(),
        )
        self._keep(ChatMessage(group.id, message_id, False, service))
        self._queue_update(message=service)

    async def remove_bot_from_group(
        self, remover: ChatUser, group: ChatGroup, *, status: str = "left"
    ) -> None:
        old = group.bot_status
        group.bot_status = status
        self._queue_my_chat_member(group.to_chat(), remover, old, status)

    async def migrate_group(self, group: ChatGroup, new_chat_id: int) -> None:
        """Upgrade to a supergroup: service messages in both chats, old id answers 400."""
        old_id, owner = group.id, group.owner()
        old_chat = group.to_chat()
        group.id, group.type = new_chat_id, "supergroup"
        self._groups[new_chat_id] = self._groups.pop(old_id)
        self._migrated[old_id] = new_chat_id
        self._messages.setdefault(new_chat_id, {})
        for chat_id, chat, key, value in (
            (old_id, old_chat, "migrate_to_chat_id", new_chat_id),
            (new_chat_id, group.to_chat(), "migrate_from_chat_id", old_id),
        ):
            message_id = self._new_message_id(chat_id)
            service: JSON = {key: value}
            data = message_dict(message_id, chat, owner.to_dict(), **service)
            self._keep(ChatMessage(chat_id, message_id, False, data))
            self._queue_update(message=data)


def _tiny_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()
