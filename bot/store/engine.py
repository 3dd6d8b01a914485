"""The store's database interface, which both engines implement: SQLite (``db.py``, the
default: one file in the data folder) and PostgreSQL (``postgres.py``, for a managed server).

``open_database(target)`` picks one: a ``postgresql://`` (or ``postgres://``) URL opens
PostgreSQL; anything else, or a ``sqlite:///path`` URL, is an SQLite file (``:memory:`` for
tests). The parts of the store (``base.py`` and the modules over it) only see ``Database``
and ``Connection``; the few statements that must differ between the engines keep their two
forms side by side (``json_values`` here, ``Connection.dialect`` elsewhere).

SQL is written once, with ``?`` (or ``:name``) placeholders; PostgreSQL's connection turns
them into ``$n`` once per statement text. Values keep the store's conventions on both: times
are epoch seconds (a double), money exact decimal text, booleans 0/1 integers with CHECKs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from bot.store.migrations import MIGRATIONS, Migration

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

Params = Sequence[Any] | Mapping[str, Any]

# Far above any row count, and a valid LIMIT on both engines (SQLite has no ``LIMIT ALL``,
# PostgreSQL refuses SQLite's ``LIMIT -1``).
NO_LIMIT = 2**63 - 1


class DatabaseError(Exception):
    """The database cannot be used as it is (too new a schema, a failed migration …)."""


class NestedTransactionError(RuntimeError):
    """A task that holds the connection asked for it again; pass its ``conn`` instead."""


class Row(Protocol):
    """A result row: by column name (``row["x"]``) or position (``row[0]``)."""

    def __getitem__(self, key: int | str, /) -> Any: ...


class Connection(ABC):
    """A connection while one caller holds it (a transaction, a read, a migration)."""

    dialect: ClassVar[str]

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    @abstractmethod
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]


RawT = TypeVar("RawT")


class HeldConnection(Connection, Generic[RawT]):
    """An engine's driver connection held by one caller. It refuses work once its block has
    ended (``_end``), so a ``conn`` kept past its transaction fails loudly instead of writing
    outside any transaction."""

    __slots__ = ("_active", "_raw")

    def __init__(self, raw: RawT) -> None:
        self._raw = raw
        self._active = True

    def _check(self) -> RawT:
        if not self._active:
            raise RuntimeError("this conn was used after its transaction ended")
        return self._raw

    def _end(self) -> None:
        self._active = False


class Database(ABC):
    """The bot's database: ``await open_database(target)``, ``await db.close()``.

    ``transaction()`` holds a connection for one atomic write (commit on exit, roll back on
    error); ``reading()`` holds one for a few reads. A task that holds one and asks again gets
    ``NestedTransactionError`` (it must pass its ``conn`` on) on both engines.
    """

    dialect: ClassVar[str]
    # The engine's exceptions for a broken constraint (unique, foreign key, CHECK).
    integrity_errors: ClassVar[tuple[type[BaseException], ...]]
    # Write transactions begun (each a commit) and reads: for tests and benchmarks.
    write_transactions: int
    reads: int

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        busy_timeout_ms: int = 5000,
    ) -> Database:
        """Open the database at ``path`` (a file, ``:memory:`` or a URL), migrated."""
        return await open_database(path, migrations=migrations, busy_timeout_ms=busy_timeout_ms)

    # Set by each engine when it opens.
    _path: str
    _schema_version: int

    @property
    def path(self) -> str:
        """Where the data is (a file, or a URL without its password): for messages."""
        return self._path

    @property
    def schema_version(self) -> int:
        return self._schema_version

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    @abstractmethod
    def reading(self) -> AbstractAsyncContextManager[Connection]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self.reading() as conn:
            return await conn.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self.reading() as conn:
            return await conn.fetchall(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One write statement in its own transaction; returns the rows changed."""
        async with self.transaction() as conn:
            return await conn.execute(sql, params)


def is_postgresql_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def sqlite_path(target: str | Path) -> str | Path:
    """An SQLite URL as a path, as SQLAlchemy reads one: ``sqlite:///data/x.sqlite3`` is
    relative, ``sqlite:////srv/x.sqlite3`` absolute, ``sqlite:///:memory:`` in memory. A path
    is returned as it is."""
    if isinstance(target, str) and target.startswith("sqlite:"):
        if not target.startswith("sqlite:///") or target == "sqlite:///":
            raise DatabaseError(f"an SQLite URL must be sqlite:///path, not {target!r}")
        rest = target.removeprefix("sqlite:///")
        return rest if rest == ":memory:" else Path(rest)
    return target


async def open_database(
    target: str | Path,
    *,
    migrations: Sequence[Migration] = MIGRATIONS,
    busy_timeout_ms: int = 5000,
) -> Database:
    """The database ``target`` names (see the module's docstring), migrated."""
    if is_postgresql_url(target):
        # Imported here: the default (SQLite) path never loads the PostgreSQL driver.
        from bot.store.postgres import PostgresDatabase

        return await PostgresDatabase.open(
            str(target), migrations=migrations, busy_timeout_ms=busy_timeout_ms
        )
    from bot.store.db import SQLiteDatabase

    return await SQLiteDatabase.open(
        sqlite_path(target), migrations=migrations, busy_timeout_ms=busy_timeout_ms
    )


def json_values(dialect: str, marker: str, sql_type: str = "TEXT") -> str:
    """A subquery of the elements of a JSON array bound at ``marker`` (``?`` or ``:name``),
    as ``sql_type``: ``x IN (<this>)`` takes any number of values in one parameter."""
    if dialect == POSTGRESQL:
        return (
            f"SELECT CAST(value AS {sql_type}) "  # noqa: S608 - our fragments, no values
            f"FROM json_array_elements_text(CAST({marker} AS json))"
        )
    return f"SELECT value FROM json_each({marker})"  # noqa: S608 - a placeholder, no value
