"""What every part of the store shares: the database, the key vault, the clock, and the
conventions of stored values.

Methods that write take an optional ``conn`` (the first argument for ``enqueue`` and
``upsert_charges``, a keyword elsewhere): given, they run inside that caller's transaction;
absent, each runs in a short transaction of its own. Read methods take ``conn`` the same way.
Money goes in as ``Decimal`` and is stored as its exact decimal string. Times are stored as
epoch seconds; aware datetimes go in and UTC datetimes come out (see ``models.py``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal

from bot.store.db import Connection, Database
from bot.store.secrets import KeyVault

# A row that refers to a user needs the user's row first (foreign key).
ENSURE_USER = (
    "INSERT INTO users (user_id, created_at, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (user_id) DO NOTHING"
)


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def utc_or_none(epoch: float | None) -> datetime | None:
    return None if epoch is None else utc(epoch)


def epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("a stored time must be timezone-aware")
    return moment.timestamp()


def money_text(amount: Decimal) -> str:
    if not amount.is_finite():
        raise ValueError("an amount must be a finite decimal")
    # str(Decimal) keeps sign, digits and exponent, so Decimal(text) gives the same value back.
    return str(amount)


class Queries:
    """The base of each part of ``Repo``. ``clock`` gives epoch seconds (tests pass a fake
    one); it is one attribute of the one ``Repo``, so every part reads the same clock."""

    def __init__(
        self, db: Database, vault: KeyVault, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._vault = vault
        self._clock = clock

    @property
    def db(self) -> Database:
        return self._db

    def now(self) -> float:
        """The time stored rows are stamped with, in epoch seconds."""
        return self._clock()

    @asynccontextmanager
    async def _writing(self, conn: Connection | None) -> AsyncIterator[Connection]:
        if conn is not None:
            yield conn
        else:
            async with self._db.transaction() as own:
                yield own

    @asynccontextmanager
    async def _reading(self, conn: Connection | None) -> AsyncIterator[Connection]:
        if conn is not None:
            yield conn
        else:
            async with self._db.reading() as own:
                yield own
