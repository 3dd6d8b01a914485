"""python-telegram-bot persistence on the bot's SQLite database.

What is kept: ``user_data``, ``chat_data`` and the states of persistent
``ConversationHandler``s (a half-filled form survives a restart). ``bot_data`` is not: it
holds live services. Callback data is not either (the bot does not use arbitrary callback
data). Values are stored as JSON through ``db.encode_json``: JSON values plus ``Decimal``,
``datetime`` and ``date`` (so ``model_dump()`` of our pydantic models fits); tuples come back
as lists; anything else is refused with a TypeError, never pickled. Conversation states
must be JSON values too (ints or strings).

When things are written (PTB 22): the Application calls ``update_*`` only from
``Application.update_persistence()``, which it runs every ``update_interval`` seconds while
running and once more in ``stop()``; each run hands over the data of the chats and users
that had updates since the previous run, and every conversation state that changed. Every
``update_*`` here commits before it returns (write-through, nothing buffered; ``flush`` has
nothing left to do). So a kill -9 loses at most the last ``update_interval`` seconds of
changes (default 0.5 s). To lose nothing that was answered, call
``application.update_persistence()`` right after each update is processed (the update
processor can): then only a kill between a handler's reply and that write loses its step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from typing import Any, TypeAlias

from telegram.ext import BasePersistence, PersistenceInput

from bot.store.db import (
    Database,
    conversation_key,
    conversation_key_text,
    decode_json,
    encode_json,
)

Data: TypeAlias = dict[str, Any]
# PTB's own aliases live in a private module; these are the same types.
ConversationKey: TypeAlias = tuple[int | str, ...]
ConversationDict: TypeAlias = MutableMapping[ConversationKey, object]
CDCData: TypeAlias = tuple[list[tuple[str, float, dict[str, Any]]], dict[str, str]]

DEFAULT_UPDATE_INTERVAL = 0.5


class SQLitePersistence(BasePersistence[Data, Data, Data]):
    """Stores user/chat data and conversations in the ``persist_*`` tables of ``db``.

    It does not own the database: closing it is the application's job, after PTB's
    final ``update_persistence`` in ``Application.stop``.
    """

    __slots__ = ("_clock", "_db")

    def __init__(
        self,
        db: Database,
        *,
        update_interval: float = DEFAULT_UPDATE_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, callback_data=False),
            update_interval=update_interval,
        )
        self._db = db
        self._clock = clock

    async def get_user_data(self) -> dict[int, Data]:
        rows = await self._db.fetchall("SELECT user_id, data FROM persist_user_data")
        return {int(row["user_id"]): decode_json(row["data"]) for row in rows}

    async def get_chat_data(self) -> dict[int, Data]:
        rows = await self._db.fetchall("SELECT chat_id, data FROM persist_chat_data")
        return {int(row["chat_id"]): decode_json(row["data"]) for row in rows}

    async def get_bot_data(self) -> Data:
        return {}

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def get_conversations(self, name: str) -> ConversationDict:
        rows = await self._db.fetchall(
            "SELECT key, state FROM persist_conversations WHERE name = ?", (name,)
        )
        return {tuple(conversation_key(row["key"])): decode_json(row["state"]) for row in rows}

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        if new_state is None:
            await self._db.execute(
                "DELETE FROM persist_conversations WHERE name = ? AND key = ?",
                (name, conversation_key_text(key)),
            )
            return
        await self._db.execute(
            "INSERT INTO persist_conversations (name, key, state, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (name, key) DO UPDATE SET "
            "state = excluded.state, updated_at = excluded.updated_at",
            (name, conversation_key_text(key), encode_json(new_state), self._clock()),
        )

    async def update_user_data(self, user_id: int, data: Data) -> None:
        if not data:
            # An empty dict is what PTB makes for a user it has never seen: no row needed.
            await self.drop_user_data(user_id)
            return
        await self._db.execute(
            "INSERT INTO persist_user_data (user_id, data, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET "
            "data = excluded.data, updated_at = excluded.updated_at",
            (user_id, encode_json(data), self._clock()),
        )

    async def update_chat_data(self, chat_id: int, data: Data) -> None:
        if not data:
            await self.drop_chat_data(chat_id)
            return
        await self._db.execute(
            "INSERT INTO persist_chat_data (chat_id, data, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (chat_id) DO UPDATE SET "
            "data = excluded.data, updated_at = excluded.updated_at",
            (chat_id, encode_json(data), self._clock()),
        )

    async def update_bot_data(self, data: Data) -> None:
        """Not stored (``store_data.bot_data`` is False): bot_data holds live services."""

    async def update_callback_data(self, data: CDCData) -> None:
        """Not stored (``store_data.callback_data`` is False)."""

    async def drop_chat_data(self, chat_id: int) -> None:
        await self._db.execute("DELETE FROM persist_chat_data WHERE chat_id = ?", (chat_id,))

    async def drop_user_data(self, user_id: int) -> None:
        await self._db.execute("DELETE FROM persist_user_data WHERE user_id = ?", (user_id,))

    async def refresh_user_data(self, user_id: int, user_data: Data) -> None:
        """Nothing to do: one process owns the data, and its memory is the newest copy."""

    async def refresh_chat_data(self, chat_id: int, chat_data: Data) -> None:
        """Nothing to do (see ``refresh_user_data``)."""

    async def refresh_bot_data(self, bot_data: Data) -> None:
        """Nothing to do: bot_data is not stored."""

    async def flush(self) -> None:
        """Nothing buffered: every ``update_*`` already committed."""
