"""What the local Bot API keeps, and the helpers its three roles share.

``LocalBotApi`` (``server.py``) is this state with three roles on top, one module each: the Bot
API methods the bot calls (``methods.py``, with the message methods in ``messages.py``), the
people a test or the demo plays (``people.py``), and what a test reads back and the faults it
injects (``inspection.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from bot.devtools.botapi.builders import (
    BOT_FIRST_NAME,
    BOT_ID,
    BOT_USERNAME,
    DEFAULT_TOKEN,
    JSON,
    bot_user_dict,
)
from bot.devtools.botapi.model import (
    CallbackAnswer,
    ChatGroup,
    ChatMessage,
    ChatRef,
    ChatUser,
    Injection,
    InlineAnswer,
    RecordedRequest,
    StoredFile,
)
from bot.devtools.botapi.params import image_size

T = TypeVar("T")


class BotApiState:
    """Users, chats, messages, files, updates and records: one local Telegram's memory."""

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

    # The bot

    @property
    def bot_username(self) -> str:
        return self.bot_user.username or BOT_USERNAME

    def _bot_from(self) -> JSON:
        return bot_user_dict(BOT_ID, self.bot_username, self.bot_user.first_name)

    # Change notification

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

    # Messages and files

    def chat_id_of(self, chat: ChatRef) -> int:
        return chat if isinstance(chat, int) else chat.id

    def _new_message_id(self, chat_id: int) -> int:
        number = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = number + 1
        return number

    def _stored(self, message: ChatMessage | Mapping[str, Any]) -> ChatMessage:
        if isinstance(message, ChatMessage):
            chat_id, message_id = message.chat_id, message.message_id
        else:
            chat_id, message_id = message["chat"]["id"], message["message_id"]
        try:
            return self._messages[chat_id][message_id]
        except KeyError:
            raise LookupError(f"no message #{message_id} in chat {chat_id}") from None

    def _keep(self, message: ChatMessage) -> None:
        """Store a message the people wrote (or a service message); the bot's go by _log_event."""
        message.revision = self._next_seq()
        self._messages.setdefault(message.chat_id, {})[message.message_id] = message

    def _log_event(self, message: ChatMessage, *, says: bool = True) -> None:
        seq = self._next_seq()
        message.revision = seq
        if says:
            self._events.append((seq, message.chat_id, copy.deepcopy(message)))
            self._trim(self._events)
        self._notify()

    def _trim(self, records: list[Any]) -> None:
        if self.keep_records is not None and len(records) > 2 * self.keep_records:
            del records[: -self.keep_records]

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
