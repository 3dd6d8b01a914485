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
running, once more in ``stop()``, and whenever we call it (``handlers/gates.py:persist_now``,
after every update). Each run hands over the data of the chats and users that had updates,
and every conversation state that was set. Two things keep that cheap under a burst:

- Only what changed is written: the persistence remembers a digest of what the database
  holds for each user, private chat and private conversation, and an ``update_*`` that hands
  over the same data again writes nothing. (Group chats are not remembered: a supergroup
  move rewrites their rows behind our back, in ``Repo.migrate_chat``.)
- What did change is staged and written by the database's group committer
  (``bot/store/group_commit.py``): the ``update_*`` calls of many runs share one transaction.
  Each ``update_*`` still returns only once its data has committed, so when
  ``update_persistence()`` returns, what it handed over is on disk (a kill -9 after that
  loses nothing of it).

Replicas (``bot/replicas.py``): PTB reads the persistence once, in ``initialize()``, and then
trusts its memory; so does ``ConversationHandler`` (its state table is loaded once). With
several replicas a chat's previous step may have been handled by another one, so before each
update it claims, a replica calls ``reload_for`` here: the user's and the chat's data and the
conversation states of that chat and user are read from the database into the Application's
own dicts, in place (the digests follow, so a write of the same data is still skipped). One
process never calls it: its memory is the newest copy.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, TypeAlias

from telegram.ext import BasePersistence, ConversationHandler, PersistenceInput

from bot.store.db import (
    Connection,
    Database,
    conversation_key,
    conversation_key_text,
    decode_json,
    encode_json,
)
from bot.store.engine import json_values
from bot.store.group_commit import group_commit

Data: TypeAlias = dict[str, Any]
# PTB's own aliases live in a private module; these are the same types.
ConversationKey: TypeAlias = tuple[int | str, ...]
ConversationDict: TypeAlias = MutableMapping[ConversationKey, object]
CDCData: TypeAlias = tuple[list[tuple[str, float, dict[str, Any]]], dict[str, str]]

DEFAULT_UPDATE_INTERVAL = 0.5

# A row as staged: (table, name, key) → its JSON text, or None to delete it.
# The name is the conversation's ("" for user and chat data); the key is the id as text.
RowKey: TypeAlias = tuple[str, str, str]
USERS, CHATS, CONVERSATIONS = "user", "chat", "conversation"
_UNKNOWN = object()


def _digest(text: str | None) -> bytes | None:
    # 16 bytes of BLAKE2b per row: what is remembered of it, never the data itself.
    return None if text is None else hashlib.blake2b(text.encode(), digest_size=16).digest()


class SQLitePersistence(BasePersistence[Data, Data, Data]):
    """Stores user/chat data and conversations in the ``persist_*`` tables of ``db``.

    It does not own the database: closing it is the application's job, after PTB's
    final ``update_persistence`` in ``Application.stop``.
    """

    __slots__ = ("_clock", "_committer", "_db", "_flying", "_known", "_staged")

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
        self._committer = group_commit(db)
        # Staged rows, not yet taken by a flush.
        self._staged: dict[RowKey, str | None] = {}
        # Rows taken by the flush in progress (there is at most one), until it commits.
        self._flying: dict[RowKey, str | None] = {}
        # What the database holds, or will once the flush in progress commits: a digest,
        # None for "no row". A row missing here is unknown and always written.
        self._known: dict[RowKey, bytes | None] = {}

    # --- loading (once, in Application.initialize) --------------------------------------

    async def get_user_data(self) -> dict[int, Data]:
        rows = await self._db.fetchall("SELECT user_id, data FROM persist_user_data")
        for row in rows:
            self._remember((USERS, "", str(row["user_id"])), row["data"])
        return {int(row["user_id"]): decode_json(row["data"]) for row in rows}

    async def get_chat_data(self) -> dict[int, Data]:
        rows = await self._db.fetchall("SELECT chat_id, data FROM persist_chat_data")
        for row in rows:
            self._remember((CHATS, "", str(row["chat_id"])), row["data"])
        return {int(row["chat_id"]): decode_json(row["data"]) for row in rows}

    async def get_bot_data(self) -> Data:
        return {}

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def get_conversations(self, name: str) -> ConversationDict:
        rows = await self._db.fetchall(
            "SELECT key, state FROM persist_conversations WHERE name = ?", (name,)
        )
        for row in rows:
            self._remember((CONVERSATIONS, name, row["key"]), row["state"])
        return {tuple(conversation_key(row["key"])): decode_json(row["state"]) for row in rows}

    # --- reloading one update's data (replicas) ----------------------------------------

    async def reload_for(
        self,
        user_data: Mapping[int, Data],
        chat_data: Mapping[int, Data],
        conversations: Mapping[str, MutableMapping[ConversationKey, object]],
        *,
        user_id: int | None,
        chat_id: int | None,
    ) -> None:
        """Replace what memory holds for ``user_id``, ``chat_id`` and their conversation keys
        by what the database holds. ``user_data`` and ``chat_data`` are the Application's
        (a row's dict is refilled in place: handlers may hold it); ``conversations`` maps
        each persistent ConversationHandler's name to its state table, which is changed
        without being marked for writing (PTB's ``TrackingDict.data``; nothing to write
        back). A row this process has staged or is writing is newer than the database's and
        is left alone."""
        keys = _conversation_keys(chat_id, user_id)
        async with self._db.reading() as c:
            user_row = chat_row = None
            if user_id is not None:
                user_row = await c.fetchval(
                    "SELECT data FROM persist_user_data WHERE user_id = ?", (user_id,)
                )
            if chat_id is not None:
                chat_row = await c.fetchval(
                    "SELECT data FROM persist_chat_data WHERE chat_id = ?", (chat_id,)
                )
            rows = await c.fetchall(
                "SELECT name, key, state FROM persist_conversations "  # noqa: S608 - fixed
                f"WHERE key IN ({json_values(c.dialect, '?')})",
                (encode_json([conversation_key_text(key) for key in keys]),),
            )
        if user_id is not None:
            self._reload_row((USERS, "", str(user_id)), user_row, user_data, user_id)
        if chat_id is not None:
            self._reload_row((CHATS, "", str(chat_id)), chat_row, chat_data, chat_id)
        stored = {(row["name"], row["key"]): row["state"] for row in rows}
        for name, states in conversations.items():
            table = getattr(states, "data", states)  # TrackingDict: change it untracked
            for key in keys:
                row_key = (CONVERSATIONS, name, conversation_key_text(key))
                if self._busy(row_key):
                    continue
                text = stored.get((name, row_key[2]))
                self._remember(row_key, text)
                state = None if text is None else decode_json(text)
                if state is None or state == ConversationHandler.END:
                    table.pop(key, None)
                else:
                    table[key] = state

    def _reload_row(
        self, key: RowKey, text: str | None, mapping: Mapping[int, Data], ident: int
    ) -> None:
        if self._busy(key):
            return
        self._remember(key, text)
        data = mapping[ident]  # PTB's defaultdict makes the dict of a newcomer
        data.clear()
        if text is not None:
            data.update(decode_json(text))

    def _busy(self, key: RowKey) -> bool:
        return key in self._staged or key in self._flying

    # --- writing ------------------------------------------------------------------------

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        text = None if new_state is None else encode_json(new_state)
        await self._write((CONVERSATIONS, name, conversation_key_text(key)), text)

    async def update_user_data(self, user_id: int, data: Data) -> None:
        # An empty dict is what PTB makes for a user it has never seen: no row needed.
        await self._write((USERS, "", str(user_id)), encode_json(data) if data else None)

    async def update_chat_data(self, chat_id: int, data: Data) -> None:
        await self._write((CHATS, "", str(chat_id)), encode_json(data) if data else None)

    async def update_bot_data(self, data: Data) -> None:
        """Not stored (``store_data.bot_data`` is False): bot_data holds live services."""

    async def update_callback_data(self, data: CDCData) -> None:
        """Not stored (``store_data.callback_data`` is False)."""

    async def drop_chat_data(self, chat_id: int) -> None:
        await self._write((CHATS, "", str(chat_id)), None)

    async def drop_user_data(self, user_id: int) -> None:
        await self._write((USERS, "", str(user_id)), None)

    async def refresh_user_data(self, user_id: int, user_data: Data) -> None:
        """Nothing to do: one process owns the data, and its memory is the newest copy."""

    async def refresh_chat_data(self, chat_id: int, chat_data: Data) -> None:
        """Nothing to do (see ``refresh_user_data``)."""

    async def refresh_bot_data(self, bot_data: Data) -> None:
        """Nothing to do: bot_data is not stored."""

    async def flush(self) -> None:
        """Write anything still staged (left by a failed flush); every ``update_*`` waits for
        its own data already."""
        await self._committer.flush(self)

    async def _write(self, key: RowKey, text: str | None) -> None:
        """Stage the row and wait until it has committed; return at once when the database
        holds it already."""
        if self._known.get(key, _UNKNOWN) == _digest(text):
            # The same as stored (or being stored): a newer value staged meanwhile is void.
            self._staged.pop(key, None)
            if key not in self._flying:
                return
        else:
            self._staged[key] = text
        await self._committer.flush(self)

    def _remember(self, key: RowKey, text: str | None) -> None:
        if _rememberable(key):
            self._known[key] = _digest(text)

    # --- the group committer's side (bot/store/group_commit.Source) ---------------------

    def take(self) -> _Taken | None:
        if not self._staged:
            return None
        rows, self._staged = self._staged, {}
        self._flying = rows
        for key, text in rows.items():
            self._remember(key, text)
        return _Taken(self, rows)

    def _committed(self, rows: dict[RowKey, str | None]) -> None:
        if self._flying is rows:
            self._flying = {}

    def _rolled_back(self, rows: dict[RowKey, str | None]) -> None:
        self._committed(rows)
        for key, text in rows.items():
            # Unknown again; a value staged since is newer than the one that failed.
            self._known.pop(key, None)
            self._staged.setdefault(key, text)


def _conversation_keys(chat_id: int | None, user_id: int | None) -> list[ConversationKey]:
    """The keys a ConversationHandler may file this chat and user under (per chat and user,
    the bot's; per chat; per user)."""
    keys: list[ConversationKey] = []
    if chat_id is not None and user_id is not None:
        keys.append((chat_id, user_id))
    if chat_id is not None:
        keys.append((chat_id,))
    if user_id is not None:
        keys.append((user_id,))
    return keys


def _rememberable(key: RowKey) -> bool:
    """Rows of group chats (negative ids) are never remembered: a supergroup move
    (``Repo.migrate_chat``) moves them in the database without telling us."""
    table, _, ident = key
    if table == CONVERSATIONS:
        return all(not isinstance(part, int) or part >= 0 for part in conversation_key(ident))
    return not ident.startswith("-")


class _Taken:
    """The rows one flush writes, in a few statements."""

    __slots__ = ("_owner", "_rows")

    def __init__(self, owner: SQLitePersistence, rows: dict[RowKey, str | None]) -> None:
        self._owner = owner
        self._rows = rows

    async def write(self, conn: Connection) -> None:
        now = self._owner._clock()
        upserts: dict[str, list[tuple[Any, ...]]] = {USERS: [], CHATS: [], CONVERSATIONS: []}
        deletes: dict[str, list[tuple[Any, ...]]] = {USERS: [], CHATS: [], CONVERSATIONS: []}
        for (table, name, ident), text in self._rows.items():
            row_id: tuple[Any, ...] = (name, ident) if table == CONVERSATIONS else (int(ident),)
            if text is None:
                deletes[table].append(row_id)
            else:
                upserts[table].append((*row_id, text, now))
        for table, sql in _UPSERT.items():
            if upserts[table]:
                await conn.executemany(sql, upserts[table])
        for table, sql in _DELETE.items():
            if deletes[table]:
                await conn.executemany(sql, deletes[table])

    def committed(self) -> None:
        self._owner._committed(self._rows)

    def rolled_back(self) -> None:
        self._owner._rolled_back(self._rows)


_UPSERT = {
    USERS: "INSERT INTO persist_user_data (user_id, data, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (user_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
    CHATS: "INSERT INTO persist_chat_data (chat_id, data, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (chat_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
    CONVERSATIONS: "INSERT INTO persist_conversations (name, key, state, updated_at) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (name, key) DO UPDATE SET "
    "state = excluded.state, updated_at = excluded.updated_at",
}
_DELETE = {
    USERS: "DELETE FROM persist_user_data WHERE user_id = ?",
    CHATS: "DELETE FROM persist_chat_data WHERE chat_id = ?",
    CONVERSATIONS: "DELETE FROM persist_conversations WHERE name = ? AND key = ?",
}
