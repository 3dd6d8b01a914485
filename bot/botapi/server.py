"""A local Telegram Bot API, served over real HTTP: the demo's Telegram and the tests' fake.

The bot talks to it through python-telegram-bot's own HTTP layer (``base_url`` and
``base_file_url``), so requests are encoded, sent and parsed exactly as with Telegram. The other
side plays the people (``api.send_text``, ``api.press`` ...): a test, or the demo's web chat.
What the bot did is read back with ``api.sent_to``, ``api.history``, ``api.changes_since`` and
the ``wait_for_*`` methods. Telegram's cheap validations (HTML entities, text and caption length,
callback_data size, "message is not modified") are applied so that callers catch what the real
server would reject; faults are injected at the HTTP boundary with ``api.inject``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import io
import itertools
import re
import time
import traceback
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.asgi_server import BackgroundServer, StartStop
from bot.botapi.builders import (
    ADMIN_STATUSES,
    BOT_FIRST_NAME,
    BOT_ID,
    BOT_USERNAME,
    COMMAND_RE,
    DEFAULT_TOKEN,
    JSON,
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_CAPTION_LENGTH,
    MAX_INLINE_RESULTS,
    MAX_TEXT_LENGTH,
    MEMBER_STATUSES,
    PRESENT_STATUSES,
    anonymous_admin_dict,
    bot_user_dict,
    callback_query_dict,
    chat_member_dict,
    chat_member_updated_dict,
    chosen_inline_result_dict,
    command_entities,
    inline_query_dict,
    message_dict,
    now,
    private_chat_dict,
    update_dict,
)
from bot.botapi.html import HTMLParseError, parse_html
from bot.botapi.model import (
    ApiError,
    CallbackAnswer,
    ChatGroup,
    ChatMessage,
    ChatRef,
    ChatUser,
    Fault,
    Injection,
    InlineAnswer,
    RecordedRequest,
    StoredFile,
    Timeout,
    UploadedFile,
    WaitTimeoutError,
    fault_error,
    migrated_error,
)
from bot.botapi.params import (
    bool_param,
    image_size,
    int_param,
    read_params,
    validate_inline_keyboard,
)

T = TypeVar("T")

_QUERY_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)

_Handler = Callable[[JSON, dict[str, UploadedFile]], Any]


class LocalBotApi(StartStop):
    """``async with LocalBotApi() as api:`` serves the Bot API at ``api.base_url``."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        privacy_mode: bool = True,
        bot_username: str = BOT_USERNAME,
        bot_first_name: str = BOT_FIRST_NAME,
        keep_records: int | None = None,
    ) -> None:
        self.token = token
        # Tests read every request and event; a long-running demo keeps only the latest ones.
        self.keep_records = keep_records
        # Telegram's default for bots: in groups they see commands, replies to them and service
        # messages only, unless they are administrators.
        self.privacy_mode = privacy_mode
        self.bot_user = ChatUser(
            BOT_ID, bot_first_name, language_code=None, username=bot_username, is_bot=True
        )
        self.requests: list[RecordedRequest] = []
        self.callback_answers: dict[str, CallbackAnswer] = {}
        self.inline_answers: dict[str, InlineAnswer] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.files: dict[str, StoredFile] = {}
        self.withheld: list[JSON] = []  # group messages the bot did not get (privacy mode)
        self.internal_errors: list[str] = []  # tracebacks of this server's own failures

        self._users: dict[int, ChatUser] = {}
        self._groups: dict[int, ChatGroup] = {}
        self._migrated: dict[int, int] = {}
        self._blocked: set[int] = set()
        self._started: set[int] = set()
        self._messages: defaultdict[int, dict[int, ChatMessage]] = defaultdict(dict)
        self._next_message_id: dict[int, int] = {}
        self._pinned: dict[int, list[int]] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_numbers = itertools.count(1)
        self._query_numbers = itertools.count(1)

        self._updates: list[JSON] = []
        self._next_update_id = 1
        self._poll_generation = 0

        self._seq = 0
        self._last_input_seq = 0
        self._events: list[tuple[int, int, ChatMessage]] = []
        self._message_cursor: dict[int, int] = {}
        self._consumed_requests: set[int] = set()
        # Telegram accepts one answer per query. Ids this server never issued (tests/factories.py
        # builds updates without it) are accepted once too.
        self._answered_queries: set[str] = set()

        self._injections: list[Injection] = []
        self._expected_token: str | None = None
        self._group_limit: int | None = None
        self._group_sends: dict[int, deque[float]] = {}

        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._server: BackgroundServer | None = None
        self._url: str | None = None
        self._handlers: dict[str, tuple[str, _Handler]] = {}
        self._register_handlers()
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._handle_api, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._handle_file, methods=["GET"]),
            ]
        )

    # Lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host:port`` (0: any free port) inside the current event loop."""
        self._server = BackgroundServer(self.app, host=host, port=port)
        await self._server.start()
        self._url = self._server.url

    def attach(self, url: str) -> None:
        """``self.app`` is served by someone else (mounted in a bigger app) at ``url``."""
        self._url = url.rstrip("/")

    async def stop(self) -> None:
        # Long polls and delayed (Timeout) answers end now instead of holding up the shutdown.
        self._closing.set()
        self._notify()
        if self._server is not None:
            await self._server.stop()
            self._server = None
        self._url = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("LocalBotApi is not running; use `async with LocalBotApi()`")
        return self._url

    @property
    def base_url(self) -> str:
        """For PTB's ``base_url``: PTB appends the token and the method."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @property
    def bot_username(self) -> str:
        return self.bot_user.username or BOT_USERNAME

    def _bot_from(self) -> JSON:
        return bot_user_dict(BOT_ID, self.bot_username, self.bot_user.first_name)

    def expect_token(self, token: str) -> None:
        """Answer 401 Unauthorized to calls made with any other token."""
        self._expected_token = token

    # Change notification ------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def _wait_change(self, seconds: float) -> None:
        event = self._changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()

    async def _wait_until(self, find: Callable[[], T | None], seconds: float) -> T | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            found = find()
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            await self._wait_change(remaining)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closing.wait()

    # People and chats ---------------------------------------------------------------------

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

    def chat_id_of(self, chat: ChatRef) -> int:
        return chat if isinstance(chat, int) else chat.id

    # Playing people: updates --------------------------------------------------------------

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

    def _new_message_id(self, chat_id: int) -> int:
        number = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = number + 1
        return number

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

    # Reading what the bot did -------------------------------------------------------------

    def _stored(self, message: ChatMessage | Mapping[str, Any]) -> ChatMessage:
        if isinstance(message, ChatMessage):
            chat_id, message_id = message.chat_id, message.message_id
        else:
            chat_id, message_id = message["chat"]["id"], message["message_id"]
        try:
            return self._messages[chat_id][message_id]
        except KeyError:
            raise LookupError(f"no message #{message_id} in chat {chat_id}") from None

    def sent_to(self, chat: ChatRef) -> list[ChatMessage]:
        """The bot's messages in ``chat`` as they are now (edits applied, deleted ones gone)."""
        chat_id = self.chat_id_of(chat)
        return [
            copy.deepcopy(m)
            for m in self._messages.get(chat_id, {}).values()
            if m.from_bot and not m.deleted
        ]

    def history(self, chat: ChatRef, *, include_deleted: bool = False) -> list[ChatMessage]:
        """Every message in ``chat``, the users' too."""
        return [
            copy.deepcopy(m)
            for m in self._messages.get(self.chat_id_of(chat), {}).values()
            if include_deleted or not m.deleted
        ]

    def message(self, chat: ChatRef, message_id: int) -> ChatMessage:
        """One message of ``chat`` as it is now (``LookupError`` if there is none)."""
        return copy.deepcopy(
            self._stored({"chat": {"id": self.chat_id_of(chat)}, "message_id": message_id})
        )

    @property
    def revision(self) -> int:
        """The latest change so far; pass it to ``changes_since`` to get only newer ones."""
        return self._seq

    def changes_since(self, revision: int) -> list[ChatMessage]:
        """Every message of every chat sent, edited or deleted after ``revision``, oldest first.

        Deleted messages are included (``deleted=True``) so that a viewer can remove them.
        """
        changed = [
            copy.deepcopy(m)
            for chat in self._messages.values()
            for m in chat.values()
            if m.revision > revision
        ]
        return sorted(changed, key=lambda m: m.revision)

    def groups(self) -> list[ChatGroup]:
        return list(self._groups.values())

    def pinned(self, chat: ChatRef) -> list[int]:
        return list(self._pinned.get(self.chat_id_of(chat), []))

    def calls(self, method: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method.lower() == method.lower()]

    def mark(self) -> int:
        """A point in time for ``wait_for_message(since=...)``."""
        return self._seq

    async def wait_for_message(
        self,
        chat: ChatRef,
        predicate: Callable[[ChatMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        since: int | None = None,
    ) -> ChatMessage:
        """The next bot message sent or edited in ``chat`` that matches ``predicate``.

        "Next" means after the latest of: the last update the test produced, the message this
        method last returned for the chat, or ``since`` (from ``mark()``) when given. So repeated
        calls walk through the bot's replies in order. Returns the message as of that event.
        """
        chat_id = self.chat_id_of(chat)
        cursor = (
            since
            if since is not None
            else max(self._last_input_seq, self._message_cursor.get(chat_id, 0))
        )

        def find() -> ChatMessage | None:
            for seq, event_chat, snapshot in self._events:
                if (
                    seq > cursor
                    and event_chat == chat_id
                    and (predicate is None or predicate(snapshot))
                ):
                    self._message_cursor[chat_id] = seq
                    return copy.deepcopy(snapshot)
            return None

        found = await self._wait_until(find, timeout)
        if found is None:
            raise WaitTimeoutError(
                f"no matching bot message in chat {chat_id} within {timeout}s\n"
                f"{self.dump(chat_id)}"
            )
        return found

    async def wait_for_request(
        self,
        method: str,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> RecordedRequest:
        """The first handled ``method`` call matching ``predicate`` not returned before."""

        def find() -> RecordedRequest | None:
            for record in self.requests:
                if (
                    record.status is not None
                    and record.seq not in self._consumed_requests
                    and record.method.lower() == method.lower()
                    and (predicate is None or predicate(record))
                ):
                    self._consumed_requests.add(record.seq)
                    return record
            return None

        found = await self._wait_until(find, timeout)
        if found is None:
            raise WaitTimeoutError(
                f"no matching {method} call within {timeout}s\n{self.dump_requests()}"
            )
        return found

    async def wait_for_callback_answer(
        self,
        query_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        found = await self._wait_until(lambda: self.callback_answers.get(query_id), timeout)
        if found is None:
            raise WaitTimeoutError(
                f"callback query {query_id} was not answered within {timeout}s\n"
                f"{self.dump_requests()}"
            )
        return found

    async def wait_for_inline_answer(
        self,
        query_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> InlineAnswer:
        found = await self._wait_until(lambda: self.inline_answers.get(query_id), timeout)
        if found is None:
            raise WaitTimeoutError(
                f"inline query {query_id} was not answered within {timeout}s\n"
                f"{self.dump_requests()}"
            )
        return found

    def dump(self, chat: ChatRef) -> str:
        """A readable account of ``chat`` and of recent failed calls, for assertion messages."""
        chat_id = self.chat_id_of(chat)
        lines = [f"chat {chat_id}:"]
        lines += [m.describe() for m in self._messages.get(chat_id, {}).values()] or ["  (empty)"]
        withheld = [m for m in self.withheld if m["chat"]["id"] == chat_id]
        if withheld:
            lines.append(f"  ({len(withheld)} group message(s) withheld by privacy mode)")
        lines.append(self.dump_requests())
        return "\n".join(lines)

    def dump_requests(self, last: int = 15) -> str:
        recent = [r for r in self.requests if r.method != "getUpdates"][-last:]
        lines = ["recent calls (getUpdates omitted):"]
        for record in recent:
            outcome = "pending" if record.status is None else (record.error or "ok")
            params = {k: v for k, v in record.params.items() if k != "reply_markup"}
            lines.append(f"  {record.method} {params} -> {outcome}")
        return "\n".join(lines if recent else [*lines, "  (none)"])

    # Fault injection ----------------------------------------------------------------------

    def inject(
        self, method: str, fault: Fault, times: int | None = 1, chat_id: int | None = None
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (to ``chat_id``) with ``fault``.

        ``times=None`` keeps the fault until ``clear_faults()``.
        """
        self._injections.append(Injection(method.lower(), fault, times, chat_id))

    def clear_faults(self) -> None:
        self._injections.clear()

    def enforce_group_limit(self, per_minute: int = 20) -> None:
        """429 when the bot sends more than ``per_minute`` messages to one group in a minute."""
        self._group_limit = per_minute

    def _take_fault(self, method: str, params: Mapping[str, Any]) -> Fault | None:
        for injection in self._injections:
            if injection.method != method.lower():
                continue
            if injection.chat_id is not None and str(params.get("chat_id")) != str(
                injection.chat_id
            ):
                continue
            if injection.times is not None:
                injection.times -= 1
                if injection.times <= 0:
                    self._injections.remove(injection)
            return injection.fault
        return None

    # HTTP ---------------------------------------------------------------------------------

    async def _handle_api(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        name = str(request.path_params["method"])
        canonical, handler = self._handlers.get(
            name.lower(), (name, functools.partial(self._unknown_method, name))
        )
        record = RecordedRequest(self._next_seq(), canonical, {}, {}, token, time.time())
        self.requests.append(record)
        self._trim(self.requests)
        fault: Fault | None = None
        try:
            record.params, record.files = await read_params(request)
            if self._expected_token is not None and token != self._expected_token:
                raise ApiError(401, "Unauthorized")
            fault = self._take_fault(canonical, record.params)
            if fault is not None and not isinstance(fault, Timeout):
                raise fault_error(fault)
            result = handler(record.params, record.files)
            if asyncio.iscoroutine(result):
                result = await result
            status, body = 200, {"ok": True, "result": result}
        except ApiError as error:
            status, body = error.status, error.body()
        except Exception as exc:  # noqa: BLE001
            # A bug in this server, not a Telegram answer: make it loud in the caller's output.
            self.internal_errors.append(traceback.format_exc())
            status, body = 500, ApiError(500, f"local Bot API bug: {exc!r}").body()
        record.status, record.response = status, body
        self._notify()
        if isinstance(fault, Timeout):
            await self._sleep(fault.seconds)
        return JSONResponse(body, status_code=status)

    async def _handle_file(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        if self._expected_token is not None and token != self._expected_token:
            return Response(status_code=401)
        stored = self._files_by_path.get(str(request.path_params["path"]))
        if stored is None:
            return Response(status_code=404)
        return Response(stored.content, media_type=stored.mime_type or "application/octet-stream")

    def _register_handlers(self) -> None:
        handlers: dict[str, _Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": lambda p, f: True,
            "setWebhook": lambda p, f: True,
            "getWebhookInfo": lambda p, f: {
                "url": "",
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            },
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "answerCallbackQuery": self._answer_callback_query,
            "answerInlineQuery": self._answer_inline_query,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getChatMemberCount": self._get_chat_member_count,
            "pinChatMessage": self._pin_chat_message,
            "unpinChatMessage": self._unpin_chat_message,
            "getFile": self._get_file,
            "sendChatAction": self._send_chat_action,
        }
        self._handlers = {name.lower(): (name, handler) for name, handler in handlers.items()}

    # Bot API methods ----------------------------------------------------------------------

    def _get_me(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return bot_user_dict(
            BOT_ID,
            self.bot_username,
            self.bot_user.first_name,
            get_me=True,
            privacy_mode=self.privacy_mode,
        )

    async def _get_updates(self, params: JSON, files: dict[str, UploadedFile]) -> list[JSON]:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        # An offset confirms every update below it; a negative one keeps only the last ones.
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._updates and not self._closing.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self._wait_change(remaining)
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
        return copy.deepcopy(self._updates[:limit])

    def _scope_key(self, params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        parts = [str(scope.get("type", "default"))]
        parts += [str(scope[key]) for key in ("chat_id", "user_id") if key in scope]
        return ":".join(parts), str(params.get("language_code") or "")

    def _set_my_commands(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be an array of at most 100 commands")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._scope_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, params: JSON, files: dict[str, UploadedFile]) -> list[JSON]:
        return list(self.commands.get(self._scope_key(params), []))

    def _delete_my_commands(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        self.commands.pop(self._scope_key(params), None)
        return True

    # Chats the bot may write to

    def _known_chat(self, params: JSON) -> int:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if chat_id in self._migrated:
            raise migrated_error(self._migrated[chat_id])
        if chat_id not in self._users and chat_id not in self._groups:
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _writable_chat(self, params: JSON) -> int:
        chat_id = self._known_chat(params)
        if chat_id in self._users:
            if chat_id in self._blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if chat_id not in self._started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            return chat_id
        group = self._groups[chat_id]
        kind = "supergroup" if group.type == "supergroup" else "group"
        if group.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        if group.bot_status not in PRESENT_STATUSES:
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        return chat_id

    def _check_group_rate(self, chat_id: int) -> None:
        if self._group_limit is None or chat_id >= 0:
            return
        clock = time.monotonic()
        sent = self._group_sends.setdefault(chat_id, deque())
        while sent and clock - sent[0] >= 60:
            sent.popleft()
        if len(sent) >= self._group_limit:
            wait = max(1, int(60 - (clock - sent[0]) + 0.999))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        sent.append(clock)

    def _chat_data(self, chat_id: int) -> JSON:
        if chat_id in self._users:
            return private_chat_dict(self._users[chat_id].to_dict())
        return self._groups[chat_id].to_chat()

    # Message content

    def _formatted(
        self, params: JSON, key: str, entities_key: str, limit: int, *, required: bool
    ) -> tuple[str | None, list[JSON]]:
        """Plain text and entities of ``params[key]`` as Telegram would store them."""
        raw = params.get(key)
        if raw is None or raw == "":
            if required:
                raise ApiError(400, "Bad Request: message text is empty")
            return None, []
        source = str(raw)
        mode = str(params.get("parse_mode") or "").lower()
        if mode == "html":
            try:
                plain, entities = parse_html(source)
            except HTMLParseError as error:
                raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
        else:
            # Markdown modes are passed through unchecked.
            plain, entities = source, list(params.get(entities_key) or [])
        if required and not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(plain) > limit:
            what = "message caption is too long" if key == "caption" else "message is too long"
            raise ApiError(400, f"Bad Request: {what}")
        return plain, entities

    @staticmethod
    def _markup(params: JSON) -> tuple[JSON | None, JSON | None]:
        """(markup as sent, the inline keyboard a Message shows)."""
        markup = params.get("reply_markup")
        if markup is None:
            return None, None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            validate_inline_keyboard(markup)
            return markup, {"inline_keyboard": markup["inline_keyboard"]}
        return markup, None

    def _reply_fields(self, chat_id: int, params: JSON) -> JSON:
        reply = params.get("reply_parameters")
        message_id = reply.get("message_id") if isinstance(reply, dict) else None
        message_id = message_id or params.get("reply_to_message_id")
        if not message_id:
            return {}
        target = self._messages[chat_id].get(int(message_id))
        if target is None or target.deleted:
            allowed = isinstance(reply, dict) and reply.get("allow_sending_without_reply")
            if allowed or bool_param(params, "allow_sending_without_reply"):
                return {}
            raise ApiError(400, "Bad Request: message to be replied not found")
        original = {k: v for k, v in target.data.items() if k != "reply_to_message"}
        return {"reply_to_message": copy.deepcopy(original)}

    def _store_bot_message(
        self,
        chat_id: int,
        params: JSON,
        fields: JSON,
        *,
        source: str | None,
        markup: JSON | None,
        inline: JSON | None,
        file: StoredFile | None = None,
        reused: bool = False,
    ) -> JSON:
        self._check_group_rate(chat_id)
        reply = self._reply_fields(chat_id, params)
        message_id = self._new_message_id(chat_id)
        data = message_dict(
            message_id, self._chat_data(chat_id), self._bot_from(), **reply, **fields
        )
        if inline is not None:
            data["reply_markup"] = inline
        message = ChatMessage(
            chat_id,
            message_id,
            True,
            data,
            source_text=source,
            parse_mode=params.get("parse_mode"),
            reply_markup=markup,
            file=file,
            reused_file=reused,
        )
        self._messages[chat_id][message_id] = message
        self._log_event(message)
        return copy.deepcopy(data)

    def _log_event(self, message: ChatMessage) -> None:
        seq = self._next_seq()
        message.revision = seq
        self._events.append((seq, message.chat_id, copy.deepcopy(message)))
        self._trim(self._events)
        self._notify()

    def _trim(self, records: list[Any]) -> None:
        if self.keep_records is not None and len(records) > 2 * self.keep_records:
            del records[: -self.keep_records]

    def _keep(self, message: ChatMessage) -> None:
        """Store a message the people wrote (or a service message); the bot's go by _log_event."""
        message.revision = self._next_seq()
        self._messages.setdefault(message.chat_id, {})[message.message_id] = message

    def _send_message(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat_id = self._writable_chat(params)
        text, entities = self._formatted(
            params, "text", "entities", MAX_TEXT_LENGTH, required=True
        )
        markup, inline = self._markup(params)
        fields: JSON = {"text": text}
        if entities:
            fields["entities"] = entities
        return self._store_bot_message(
            chat_id, params, fields, source=params.get("text"), markup=markup, inline=inline
        )

    def _send_media(self, params: JSON, files: dict[str, UploadedFile], kind: str) -> JSON:
        chat_id = self._writable_chat(params)
        caption, entities = self._formatted(
            params, "caption", "caption_entities", MAX_CAPTION_LENGTH, required=False
        )
        markup, inline = self._markup(params)
        stored, reused = self._media_file(params, files, kind)
        fields: JSON = {}
        if kind == "photo":
            fields["photo"] = [self._photo_size(stored)]
        else:
            fields["document"] = self._document(stored)
        if caption is not None:
            fields["caption"] = caption
        if entities:
            fields["caption_entities"] = entities
        return self._store_bot_message(
            chat_id,
            params,
            fields,
            source=params.get("caption"),
            markup=markup,
            inline=inline,
            file=stored,
            reused=reused,
        )

    def _send_photo(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return self._send_media(params, files, "photo")

    def _send_document(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return self._send_media(params, files, "document")

    def _media_file(
        self, params: JSON, files: dict[str, UploadedFile], kind: str
    ) -> tuple[StoredFile, bool]:
        upload = files.get(kind)
        value = params.get(kind)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
        if upload is not None:
            if kind == "photo":
                size = image_size(upload.content)
                if size is None:
                    raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
                if sum(size) > 10_000 or max(size) > 20 * min(size):
                    raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
            stored = self._register_file(
                upload.content, kind, filename=upload.filename, mime_type=upload.content_type
            )
            return stored, False
        if not isinstance(value, str) or not value:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        known = self.files.get(value)
        if known is not None:
            if known.kind != kind:
                raise ApiError(
                    400,
                    f"Bad Request: can't use file of type {known.kind.title()} as {kind.title()}",
                )
            return known, True
        if value.startswith(("http://", "https://")):
            # Telegram would fetch the URL; this server keeps an empty placeholder (offline).
            return self._register_file(b"", kind, filename=value.rsplit("/", 1)[-1]), False
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _register_file(
        self,
        content: bytes,
        kind: str,
        *,
        filename: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        number = next(self._file_numbers)
        prefix = {"photo": "AgACAgQ", "document": "BQACAgQ", "sticker": "CAACAgQ"}.get(kind, "X")
        size = image_size(content) if kind == "photo" else None
        # Telegram stores photos as JPEG and stickers as WebP whatever was uploaded.
        extension = {"photo": "jpg", "sticker": "webp"}.get(kind) or (
            filename.rpartition(".")[2] if filename and "." in filename else "bin"
        )
        stored = StoredFile(
            file_id=f"{prefix}-fake-{number:06d}",
            file_unique_id=f"AQAD{number:06d}",
            kind=kind,
            content=content,
            file_path=f"{kind}s/file_{number}.{extension}",
            filename=filename,
            mime_type=mime_type,
            width=size[0] if size else 0,
            height=size[1] if size else 0,
        )
        self.files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    @staticmethod
    def _photo_size(stored: StoredFile) -> JSON:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": stored.width or 1,
            "height": stored.height or 1,
            "file_size": len(stored.content),
        }

    @staticmethod
    def _document(stored: StoredFile) -> JSON:
        document: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
        }
        if stored.filename:
            document["file_name"] = stored.filename
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        return document

    # Edits and deletes

    def _editable(self, params: JSON) -> ChatMessage:
        chat_id = self._writable_chat(params)
        message = self._messages[chat_id].get(int_param(params, "message_id"))
        if message is None or message.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not message.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _apply_edit(self, message: ChatMessage, changes: JSON, inline: JSON | None) -> JSON:
        before = {k: message.data.get(k) for k in changes} | {
            "reply_markup": message.data.get("reply_markup")
        }
        after = {k: v or None for k, v in changes.items()} | {"reply_markup": inline}
        if {k: v or None for k, v in before.items()} == after:
            raise ApiError(400, _NOT_MODIFIED)
        for key, value in after.items():
            if value:
                message.data[key] = value
            else:
                message.data.pop(key, None)
        message.data["edit_date"] = now()
        message.edits += 1
        self._log_event(message)
        return copy.deepcopy(message.data)

    def _edit_message_text(self, params: JSON, files: dict[str, UploadedFile]) -> JSON | bool:
        if params.get("inline_message_id"):
            return True
        message = self._editable(params)
        if "text" not in message.data:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text, entities = self._formatted(
            params, "text", "entities", MAX_TEXT_LENGTH, required=True
        )
        markup, inline = self._markup(params)
        result = self._apply_edit(message, {"text": text, "entities": entities}, inline)
        message.source_text, message.parse_mode = params.get("text"), params.get("parse_mode")
        message.reply_markup = markup
        return result

    def _edit_message_caption(self, params: JSON, files: dict[str, UploadedFile]) -> JSON | bool:
        if params.get("inline_message_id"):
            return True
        message = self._editable(params)
        if message.file is None:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption, entities = self._formatted(
            params, "caption", "caption_entities", MAX_CAPTION_LENGTH, required=False
        )
        markup, inline = self._markup(params)
        result = self._apply_edit(
            message, {"caption": caption, "caption_entities": entities}, inline
        )
        message.source_text, message.parse_mode = params.get("caption"), params.get("parse_mode")
        message.reply_markup = markup
        return result

    def _edit_message_reply_markup(
        self, params: JSON, files: dict[str, UploadedFile]
    ) -> JSON | bool:
        if params.get("inline_message_id"):
            return True
        message = self._editable(params)
        markup, inline = self._markup(params)
        result = self._apply_edit(message, {}, inline)
        message.reply_markup = markup
        return result

    def _delete_message(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        chat_id = self._writable_chat(params)
        message = self._messages[chat_id].get(int_param(params, "message_id"))
        if message is None or message.deleted:
            raise ApiError(400, "Bad Request: message to delete not found")
        message.deleted = True
        message.revision = self._next_seq()
        self._notify()
        return True

    def _delete_messages(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        chat_id = self._writable_chat(params)
        for message_id in params.get("message_ids") or []:
            message = self._messages[chat_id].get(int(message_id))
            if message is not None and not message.deleted:
                message.deleted = True
                message.revision = self._next_seq()
        self._notify()
        return True

    # Queries

    def _answer_callback_query(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if not query_id or query_id in self._answered_queries:
            raise ApiError(400, _QUERY_INVALID)
        text = params.get("text")
        if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._answered_queries.add(query_id)
        cache_time = params.get("cache_time")
        self.callback_answers[query_id] = CallbackAnswer(
            query_id,
            None if text is None else str(text),
            bool_param(params, "show_alert"),
            params.get("url"),
            None if cache_time is None else int(cache_time),
        )
        return True

    def _answer_inline_query(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        query_id = str(params.get("inline_query_id") or "")
        if not query_id or query_id in self._answered_queries:
            raise ApiError(400, _QUERY_INVALID)
        results = params.get("results")
        if not isinstance(results, list):
            raise ApiError(400, "Bad Request: results must be an array")
        if len(results) > MAX_INLINE_RESULTS:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            result_id = str(result.get("id", ""))
            if not 1 <= len(result_id.encode()) <= 64:
                raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
            if result_id in seen:
                raise ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
            seen.add(result_id)
            if isinstance(result.get("reply_markup"), dict):
                validate_inline_keyboard(result["reply_markup"])
            content = result.get("input_message_content")
            if isinstance(content, dict) and "message_text" in content:
                self._formatted(
                    content, "message_text", "entities", MAX_TEXT_LENGTH, required=True
                )
        self._answered_queries.add(query_id)
        cache_time = params.get("cache_time")
        self.inline_answers[query_id] = InlineAnswer(
            query_id,
            results,
            None if cache_time is None else int(cache_time),
            bool_param(params, "is_personal"),
            params.get("next_offset"),
            params.get("button"),
        )
        return True

    # Chats and members

    def _get_chat(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat_id = self._known_chat(params)
        info = self._chat_data(chat_id) | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        pinned = self._pinned.get(chat_id)
        if pinned:
            info["pinned_message"] = copy.deepcopy(self._messages[chat_id][pinned[-1]].data)
        return info

    def _member_user(self, user_id: int) -> ChatUser:
        if user_id == BOT_ID:
            return self.bot_user
        if user_id not in self._users:
            raise ApiError(400, "Bad Request: user not found")
        return self._users[user_id]

    def _get_chat_member(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat_id = self._known_chat(params)
        member = self._member_user(int_param(params, "user_id"))
        if chat_id in self._users:
            status = "member" if member.id in (chat_id, BOT_ID) else "left"
        else:
            status = self._groups[chat_id].status_of(member)
        return chat_member_dict(member.to_dict(), status)

    def _get_chat_administrators(self, params: JSON, files: dict[str, UploadedFile]) -> list[JSON]:
        chat_id = self._known_chat(params)
        if chat_id in self._users:
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        group = self._groups[chat_id]
        admins = [
            chat_member_dict(member.to_dict(), status)
            for member, status in group.members.items()
            if status in ADMIN_STATUSES
        ]
        if group.bot_status in ADMIN_STATUSES:
            admins.append(chat_member_dict(self.bot_user.to_dict(), group.bot_status))
        return admins

    def _get_chat_member_count(self, params: JSON, files: dict[str, UploadedFile]) -> int:
        chat_id = self._known_chat(params)
        if chat_id in self._users:
            return 2
        group = self._groups[chat_id]
        present = sum(1 for status in group.members.values() if status in PRESENT_STATUSES)
        return present + (1 if group.bot_status in PRESENT_STATUSES else 0)

    def _pin_chat_message(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        chat_id = self._writable_chat(params)
        message_id = int_param(params, "message_id")
        message = self._messages[chat_id].get(message_id)
        if message is None or message.deleted:
            raise ApiError(400, "Bad Request: message to pin not found")
        group = self._groups.get(chat_id)
        if (
            group is not None
            and group.type == "supergroup"
            and group.bot_status not in ADMIN_STATUSES
        ):
            raise ApiError(
                400, "Bad Request: not enough rights to manage pinned messages in the chat"
            )
        pinned = self._pinned.setdefault(chat_id, [])
        if message_id in pinned:
            pinned.remove(message_id)
        pinned.append(message_id)
        return True

    def _unpin_chat_message(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        chat_id = self._writable_chat(params)
        pinned = self._pinned.get(chat_id, [])
        message_id = params.get("message_id")
        if message_id is None:
            if pinned:
                pinned.pop()
        elif int(message_id) in pinned:
            pinned.remove(int(message_id))
        else:
            raise ApiError(400, "Bad Request: message to unpin not found")
        return True

    def _get_file(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        stored = self.files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return stored.as_file()

    def _send_chat_action(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        self._writable_chat(params)
        return True

    def _unknown_method(self, name: str, params: JSON, files: dict[str, UploadedFile]) -> Any:
        lowered = name.lower()
        if lowered.startswith("send") and "chat_id" in params:
            # PTB parses what a send* method returns as a Message (a list for media groups).
            chat_id = self._writable_chat(params)
            markup, inline = self._markup(params)
            caption = params.get("caption")
            fields = {"caption": caption} if isinstance(caption, str) and caption else {}
            message = self._store_bot_message(
                chat_id, params, fields, source=caption, markup=markup, inline=inline
            )
            return [message] if lowered == "sendmediagroup" else message
        return True


def _tiny_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()
