"""The ``users`` table: who talks to the bot, their settings, whether they blocked it."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import replace

from bot.store.base import Queries, utc
from bot.store.db import (
    Connection,
)
from bot.store.engine import Row
from bot.store.models import (
    NotifyLevel,
    User,
)


def _user(row: Row) -> User:
    return User(
        user_id=row["user_id"],
        language=row["language"],
        default_currency=row["default_currency"],
        notify_level=NotifyLevel(row["notify_level"]),
        active=bool(row["active"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


# Ids per ``IN (...)``: far below SQLite's limit on bound parameters.
_CHUNK = 500


def _chunks(user_ids: Collection[int]) -> Iterator[list[int]]:
    ids = list(user_ids)
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def user_as_seen(user_id: int, before: User | None, at: float) -> User:
    """The row ``upsert_user_seen`` at ``at`` makes of ``before`` (None: there is no row),
    known without asking the database: a newcomer gets the table's defaults."""
    if before is None:
        moment = utc(at)
        return User(
            user_id=user_id,
            language=None,
            default_currency=None,
            notify_level=NotifyLevel.ALL,
            active=True,
            created_at=moment,
            updated_at=moment,
        )
    if before.active:
        return before
    return replace(before, active=True, updated_at=utc(at))


class UserQueries(Queries):
    """Users and their settings."""

    async def get_user(self, user_id: int, *, conn: Connection | None = None) -> User | None:
        async with self._reading(conn) as c:
            row = await c.fetchone("SELECT * FROM users WHERE user_id = ?", (user_id,))
        return None if row is None else _user(row)

    async def get_users(
        self, user_ids: Collection[int], *, conn: Connection | None = None
    ) -> dict[int, User]:
        """The rows of those of ``user_ids`` that have one, in a read per 500 ids."""
        found: dict[int, User] = {}
        async with self._reading(conn) as c:
            for chunk in _chunks(user_ids):
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT * FROM users WHERE user_id IN ({marks})"  # noqa: S608 - marks
                for row in await c.fetchall(sql, chunk):
                    found[row["user_id"]] = _user(row)
        return found

    async def upsert_user_seen(self, user_id: int, *, conn: Connection | None = None) -> User:
        """The user, created if new and made active again if they had blocked the bot."""
        now = self._clock()
        async with self._writing(conn) as c:
            await self.write_users_seen({user_id: now}, conn=c)
            row = await c.fetchone("SELECT * FROM users WHERE user_id = ?", (user_id,))
        assert row is not None
        return _user(row)

    async def write_users_seen(
        self, seen: Mapping[int, float], *, conn: Connection | None = None
    ) -> None:
        """``upsert_user_seen`` for many users in one statement, each at its own time (epoch
        seconds); what each row becomes is ``user_as_seen``."""
        async with self._writing(conn) as c:
            # The WHERE makes the common case (a known, active user) write nothing.
            await c.executemany(
                "INSERT INTO users (user_id, created_at, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET active = 1, updated_at = excluded.updated_at "
                "WHERE users.active = 0",
                [(user_id, at, at) for user_id, at in seen.items()],
            )

    async def set_language(
        self, user_id: int, language: str | None, *, conn: Connection | None = None
    ) -> None:
        now = self._clock()
        async with self._writing(conn) as c:
            await c.execute(
                "INSERT INTO users (user_id, language, created_at, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
                "language = excluded.language, updated_at = excluded.updated_at",
                (user_id, language, now, now),
            )

    async def set_default_currency(
        self, user_id: int, currency: str | None, *, conn: Connection | None = None
    ) -> None:
        now = self._clock()
        async with self._writing(conn) as c:
            await c.execute(
                "INSERT INTO users (user_id, default_currency, created_at, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
                "default_currency = excluded.default_currency, "
                "updated_at = excluded.updated_at",
                (user_id, currency, now, now),
            )

    async def set_notify_level(
        self, user_id: int, level: NotifyLevel, *, conn: Connection | None = None
    ) -> None:
        now = self._clock()
        async with self._writing(conn) as c:
            await c.execute(
                "INSERT INTO users (user_id, notify_level, created_at, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
                "notify_level = excluded.notify_level, updated_at = excluded.updated_at",
                (user_id, NotifyLevel(level).value, now, now),
            )

    async def mark_inactive(self, user_id: int, *, conn: Connection | None = None) -> bool:
        """The user blocked the bot. False when the user is unknown."""
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE users SET active = 0, updated_at = ? WHERE user_id = ?",
                (self._clock(), user_id),
            )
        return changed > 0
