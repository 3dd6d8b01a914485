"""The ``groups`` table: groups the bot is in, their settings, and a group's move to a
supergroup id."""

from __future__ import annotations

from bot.store.base import Queries, utc
from bot.store.db import (
    Connection,
    conversation_key,
    conversation_key_text,
)
from bot.store.engine import Row
from bot.store.models import (
    Group,
)


def _group(row: Row) -> Group:
    return Group(
        chat_id=row["chat_id"],
        title=row["title"],
        language=row["language"],
        active=bool(row["active"]),
        anonymous_totals=bool(row["anonymous_totals"]),
        added_by=row["added_by"],
        created_at=utc(row["created_at"]),
    )


class GroupQueries(Queries):
    """Groups and their settings."""

    async def upsert_group(
        self,
        chat_id: int,
        title: str,
        *,
        added_by: int | None = None,
        conn: Connection | None = None,
    ) -> Group:
        """The group, created or refreshed (title) and active again; settings are kept."""
        async with self._writing(conn) as c:
            await c.execute(
                "INSERT INTO groups (chat_id, title, added_by, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (chat_id) DO UPDATE SET title = excluded.title, active = 1, "
                "added_by = COALESCE(excluded.added_by, groups.added_by)",
                (chat_id, title, added_by, self._clock()),
            )
            row = await c.fetchone("SELECT * FROM groups WHERE chat_id = ?", (chat_id,))
        assert row is not None
        return _group(row)

    async def get_group(self, chat_id: int, *, conn: Connection | None = None) -> Group | None:
        async with self._reading(conn) as c:
            row = await c.fetchone("SELECT * FROM groups WHERE chat_id = ?", (chat_id,))
        return None if row is None else _group(row)

    async def deactivate_group(self, chat_id: int, *, conn: Connection | None = None) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute("UPDATE groups SET active = 0 WHERE chat_id = ?", (chat_id,))
        return changed > 0

    async def set_group_language(
        self, chat_id: int, language: str | None, *, conn: Connection | None = None
    ) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE groups SET language = ? WHERE chat_id = ?", (language, chat_id)
            )
        return changed > 0

    async def set_anonymous_totals(
        self, chat_id: int, anonymous: bool, *, conn: Connection | None = None
    ) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE groups SET anonymous_totals = ? WHERE chat_id = ?",
                (int(anonymous), chat_id),
            )
        return changed > 0

    async def migrate_chat(self, old_id: int, new_id: int) -> None:
        """A group became a supergroup: move ``old_id`` to ``new_id`` everywhere, atomically.

        Covers links (where made, group), the group row (the old row's settings win over a
        row the new id may already have), the outbox, and the Telegram persistence tables
        (chat_data, conversation keys). The running Application keeps its own copy of
        chat_data: callers go through ``bot.chat_migration.move_chat``, which moves both.
        """
        if old_id == new_id:
            return
        now = self._clock()
        async with self._db.transaction() as c:
            await c.execute("UPDATE links SET chat_id = ? WHERE chat_id = ?", (new_id, old_id))
            if await c.fetchval("SELECT 1 FROM groups WHERE chat_id = ?", (old_id,)):
                # Links already on the new id rejoin the old row before it takes the new id.
                await c.execute(
                    "UPDATE links SET group_chat_id = ? WHERE group_chat_id = ?", (old_id, new_id)
                )
                await c.execute("DELETE FROM groups WHERE chat_id = ?", (new_id,))
                # ON UPDATE CASCADE carries links.group_chat_id along.
                await c.execute(
                    "UPDATE groups SET chat_id = ? WHERE chat_id = ?", (new_id, old_id)
                )
            await c.execute("UPDATE outbox SET chat_id = ? WHERE chat_id = ?", (new_id, old_id))
            if await c.fetchval("SELECT 1 FROM persist_chat_data WHERE chat_id = ?", (old_id,)):
                await c.execute("DELETE FROM persist_chat_data WHERE chat_id = ?", (new_id,))
                await c.execute(
                    "UPDATE persist_chat_data SET chat_id = ?, updated_at = ? WHERE chat_id = ?",
                    (new_id, now, old_id),
                )
            rows = await c.fetchall("SELECT name, key, state FROM persist_conversations")
            for row in rows:
                key = conversation_key(row["key"])
                # A user id is never negative, a group id always is: only chat ids can match.
                if old_id not in key:
                    continue
                moved = [new_id if part == old_id else part for part in key]
                await c.execute(
                    "DELETE FROM persist_conversations WHERE name = ? AND key = ?",
                    (row["name"], row["key"]),
                )
                await c.execute(
                    "INSERT INTO persist_conversations (name, key, state, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (name, key) DO UPDATE SET "
                    "state = excluded.state, updated_at = excluded.updated_at",
                    (row["name"], conversation_key_text(moved), row["state"], now),
                )
