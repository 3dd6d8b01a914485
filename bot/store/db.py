"""The SQLite engine (the default; ``engine.py`` is the interface, ``postgres.py`` the other
engine): one connection (aiosqlite), its migrations, and the JSON codec of stored values.

One connection means one writer. Every use of it goes through an ``asyncio.Lock``, so a
caller never runs a statement inside someone else's transaction: ``async with
db.transaction() as conn`` holds the lock from ``BEGIN IMMEDIATE`` to ``COMMIT``; the
single-statement helpers (``db.fetchone`` …) take it for one statement. Keep transactions
short: everybody else queues behind them.

Times are stored as epoch seconds (REAL, UTC); money as TEXT decimal strings (see
``repo.py``). Commits are durable (WAL, ``synchronous=FULL``): a kill -9 or a power cut
after ``transaction()`` returned loses nothing of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiosqlite

# Connection, Database and the errors are imported from here by the parts of the store.
from bot.store.engine import (
    SQLITE,
    Connection,
    Database,
    DatabaseError,
    HeldConnection,
    NestedTransactionError,
    Params,
    Row,
)
from bot.store.migrations import MIGRATIONS, Migration, for_dialect

DB_FILENAME = "paylinks.sqlite3"
MEMORY = ":memory:"
# STRICT tables (typed columns: money stays TEXT, never silently becomes a REAL).
MIN_SQLITE = (3, 37, 0)


def database_path(data_dir: Path) -> Path:
    return data_dir / DB_FILENAME


class SQLiteConnection(HeldConnection[aiosqlite.Connection]):
    """The connection while one caller holds it (a transaction, a read, a migration)."""

    __slots__ = ()
    dialect = SQLITE

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        async with self._check().execute(sql, params) as cursor:
            return int(cursor.rowcount)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._check().executemany(sql, rows):
            pass

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self._check().execute(sql, params) as cursor:
            row: sqlite3.Row | None = await cursor.fetchone()
            return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        # One trip to SQLite's thread, not three (execute, fetch, close): under a burst each
        # trip waits its turn on a busy event loop, and a newcomer's reply waits for this.
        return list(await self._check().execute_fetchall(sql, params))


class SQLiteDatabase(Database):
    """The bot's SQLite database. ``await SQLiteDatabase.open(path)``, ``await db.close()``."""

    dialect = SQLITE
    integrity_errors = (sqlite3.IntegrityError,)

    def __init__(self, raw: aiosqlite.Connection, path: str, schema_version: int) -> None:
        self._raw = raw
        self._path = path
        self._schema_version = schema_version
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        self._closed = False
        # Write transactions begun (each is a commit, an fsync) and reads (each a hold of the
        # connection outside a transaction): for tests and benchmarks.
        self.write_transactions = 0
        self.reads = 0

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        busy_timeout_ms: int = 5000,
    ) -> SQLiteDatabase:
        """Open (creating if needed) the database and bring its schema up to date."""
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise DatabaseError(
                f"SQLite {sqlite3.sqlite_version} is too old; the bot needs "
                f"{'.'.join(map(str, MIN_SQLITE))} or newer"
            )
        target = str(path)
        if target != MEMORY:
            _make_private(Path(target))
        try:
            return await cls._open(target, migrations, busy_timeout_ms)
        except DatabaseError as exc:
            raise DatabaseError(f"the database {target} cannot be used: {exc}") from exc
        except sqlite3.Error as exc:
            # Garbage in the file, a disk image SQLite calls malformed, a file it cannot open.
            raise DatabaseError(f"the database {target} cannot be used: {exc}") from exc

    @classmethod
    async def _open(
        cls, target: str, migrations: Sequence[Migration], busy_timeout_ms: int
    ) -> SQLiteDatabase:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so the sqlite3 module never
        # opens or commits a transaction behind our back.
        raw = await aiosqlite.connect(target, isolation_level=None)
        try:
            raw.row_factory = sqlite3.Row
            await raw.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await raw.execute("PRAGMA foreign_keys = ON")
            if target != MEMORY:
                async with raw.execute("PRAGMA journal_mode = WAL") as cursor:
                    mode = await cursor.fetchone()
                if mode is None or str(mode[0]).lower() != "wal":
                    raise DatabaseError("cannot switch it to WAL journal mode")
            await raw.execute("PRAGMA synchronous = FULL")
            await _check_integrity(raw)
            version = await _migrate(raw, migrations)
        except BaseException:
            await raw.close()
            raise
        return cls(raw, target, version)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Wait for whoever holds the connection, so close never cuts a transaction in half.
        async with self._lock:
            await self._raw.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """Hold the connection for one atomic write: commit on exit, roll back on error."""
        async with self._hold() as raw:
            conn = SQLiteConnection(raw)
            await raw.execute("BEGIN IMMEDIATE")
            self.write_transactions += 1
            try:
                yield conn
                conn._end()
                await raw.execute("COMMIT")
            except BaseException:
                conn._end()
                # Shielded: a cancelled caller must not leave the transaction open.
                await asyncio.shield(_rollback(raw))
                raise

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Connection]:
        """Hold the connection for a few reads (no transaction needed: we are the only
        writer, and nobody else can write while we hold the lock)."""
        async with self._hold() as raw:
            self.reads += 1
            conn = SQLiteConnection(raw)
            try:
                yield conn
            finally:
                conn._end()

    @asynccontextmanager
    async def _hold(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._closed:
            raise RuntimeError("the database is closed")
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            # asyncio.Lock is not re-entrant: waiting here would wait for ourselves forever.
            raise NestedTransactionError(
                "this task already holds the database; pass its conn to the inner call"
            )
        async with self._lock:
            if self._closed:
                raise RuntimeError("the database is closed")
            self._holder = task
            try:
                yield self._raw
            finally:
                self._holder = None


def _make_private(path: Path) -> None:
    """The database and its -wal and -shm files are for the bot's user alone (0600), whoever
    made them: SQLite gives new -wal and -shm files the database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if stat.S_IMODE(name.stat().st_mode) != 0o600:
                name.chmod(0o600)


async def _check_integrity(raw: aiosqlite.Connection) -> None:
    # quick_check reads every page without the index cross-checks: a damaged file stops the
    # start here, not in the middle of a poll.
    async with raw.execute("PRAGMA quick_check(1)") as cursor:
        row = await cursor.fetchone()
    if row is None or str(row[0]) != "ok":
        raise DatabaseError(f"it is damaged ({row[0] if row else 'no answer'})")


async def _rollback(raw: aiosqlite.Connection) -> None:
    # A failed COMMIT may already have ended the transaction; a failed BEGIN never started it.
    if raw.in_transaction:
        await raw.execute("ROLLBACK")


async def _user_version(raw: aiosqlite.Connection) -> int:
    async with raw.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0


async def _migrate(raw: aiosqlite.Connection, migrations: Sequence[Migration]) -> int:
    """Apply the migrations the database lacks, each in its own transaction, in order.

    ``PRAGMA user_version`` is the number of migrations applied; it is written inside the
    migration's transaction, so a migration is either wholly applied and counted, or not at
    all. Forward only: a database newer than this code is refused, never touched.
    """
    current = await _user_version(raw)
    if current > len(migrations):
        raise DatabaseError(
            f"the database is at schema version {current} but this bot knows only "
            f"{len(migrations)}; run a newer version of the bot (downgrades are not supported)"
        )
    for version in range(current + 1, len(migrations) + 1):
        migration = for_dialect(migrations[version - 1], SQLITE)
        await raw.execute("BEGIN IMMEDIATE")
        conn = SQLiteConnection(raw)
        try:
            # Another process may have migrated while we waited for the write lock.
            if await _user_version(raw) < version:
                if isinstance(migration, str):
                    for statement in split_sql(migration):
                        await conn.execute(statement)
                else:
                    await migration(conn)
                await raw.execute(f"PRAGMA user_version = {version}")
            conn._end()
            await raw.execute("COMMIT")
        except BaseException as exc:
            conn._end()
            await asyncio.shield(_rollback(raw))
            if isinstance(exc, Exception):
                raise DatabaseError(f"migration {version} failed: {exc}") from exc
            raise
    return max(current, len(migrations))


def split_sql(script: str) -> list[str]:
    """Split a script into statements. ``executescript`` would COMMIT first, which would
    break a migration's single transaction, so we run the statements one by one."""
    statements: list[str] = []
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        # complete_statement knows about semicolons inside strings, comments and triggers.
        if sqlite3.complete_statement(buffer):
            text = buffer.strip()
            if text.strip(";").strip():
                statements.append(text)
            buffer = ""
    if buffer.strip(";").strip():
        raise ValueError("the SQL script ends with an incomplete statement")
    return statements


# --- JSON codec -------------------------------------------------------------------------
#
# Stored JSON (user/chat data, outbox payloads) holds JSON values plus three tagged types,
# each written as a one-key object: {"$decimal": "12.50"}, {"$datetime": "<ISO-8601>"},
# {"$date": "YYYY-MM-DD"}. Tuples come back as lists; str/int enums come back as their plain
# value. Anything else (sets, bytes, objects, non-string keys, NaN) is refused with a
# TypeError naming its place, never pickled and never silently changed.

_DECIMAL = "$decimal"
_DATETIME = "$datetime"
_DATE = "$date"
_TAGS = frozenset({_DECIMAL, _DATETIME, _DATE})


def _jsonable(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"cannot store a non-finite float at {where}")
        return value
    if isinstance(value, Decimal):
        return {_DECIMAL: str(value)}
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, date):
        return {_DATE: value.isoformat()}
    if isinstance(value, Mapping):
        if len(value) == 1 and next(iter(value)) in _TAGS:
            raise TypeError(f"cannot store a dict whose only key is a type tag at {where}")
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"cannot store a dict key of type {type(key).__name__} at {where}")
            out[key] = _jsonable(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise TypeError(
        f"cannot store a {type(value).__name__} at {where}: only JSON values, Decimal, "
        "datetime and date are allowed"
    )


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((key, text),) = obj.items()
        if key == _DECIMAL:
            return Decimal(text)
        if key == _DATETIME:
            return datetime.fromisoformat(text)
        if key == _DATE:
            return date.fromisoformat(text)
    return obj


def encode_json(value: Any) -> str:
    """Serialise a value for storage (see the rules above)."""
    return json.dumps(
        _jsonable(value, "$"), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def decode_json(text: str) -> Any:
    return json.loads(text, object_hook=_untag)


def conversation_key_text(key: Sequence[int | str]) -> str:
    """A ConversationHandler key as stored: one canonical compact JSON array."""
    return json.dumps(list(key), separators=(",", ":"))


def conversation_key(text: str) -> list[int | str]:
    parts = json.loads(text)
    if not isinstance(parts, list):
        raise ValueError("a stored conversation key is not a JSON array")
    return parts
