"""The ``meta`` table: small named values the bot keeps for itself (a key's first sight …)."""

from __future__ import annotations

from bot.store.base import Queries
from bot.store.db import (
    Connection,
)


class MetaQueries(Queries):
    """Named values."""

    async def get_meta(self, key: str, *, conn: Connection | None = None) -> str | None:
        async with self._reading(conn) as c:
            value = await c.fetchval("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    async def set_meta(self, key: str, value: str, *, conn: Connection | None = None) -> None:
        async with self._writing(conn) as c:
            await c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
