"""The PostgreSQL engine (``DATABASE_URL=postgresql://…``): the store's ``Database`` on an
asyncpg pool.

asyncpg rather than psycopg 3: its pool is built in (psycopg's is a second package), its
``Record`` is read by name and by position like ``sqlite3.Row`` (the parts read rows both
ways), it prepares and caches each statement per connection by itself, and it speaks the
binary protocol; and the advisory locks and ``LISTEN`` that the replicas will need are plain
calls on a connection. Its price is that PostgreSQL types every parameter when it prepares
a statement, so the few SQL places where a parameter has no column to take its type from
carry a ``CAST``.

One process writes one transaction at a time, as on SQLite (``transaction()`` takes a lock
before it takes a pooled connection): the parts keep the semantics they were written for,
and the group commit keeps batching. Reads run beside it on other pooled connections, each
statement on its own snapshot (READ COMMITTED, no transaction). Placeholders: ``?`` and
``:name`` become ``$n`` once per statement text (``_compile``, cached); nothing else in a
statement is rewritten. Migrations: the same list as SQLite's, the DDL types mapped
(``_pg_ddl``), the version in ``schema_version``, applied under an advisory lock so that
replicas starting together migrate once.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.store.db import split_sql
from bot.store.engine import (
    POSTGRESQL,
    Connection,
    Database,
    DatabaseError,
    HeldConnection,
    NestedTransactionError,
    Params,
    Row,
)
from bot.store.migrations import MIGRATIONS, Migration, for_dialect

POOL_SIZE = 10
# Distinct statement texts the bot runs (a few hundred, with the IN lists of many sizes).
STATEMENT_CACHE = 512
# pg_advisory_xact_lock key of the migrations ("paylinks" in ASCII, as one bigint).
MIGRATION_LOCK = int.from_bytes(b"paylinks", "big") & 0x7FFF_FFFF_FFFF_FFFF

# Quoted text and comments are copied through untouched; ``::`` is a cast, not a parameter.
_TOKENS = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|::|\?|:[A-Za-z_][A-Za-z0-9_]*""",
    re.DOTALL,
)


@functools.lru_cache(maxsize=2048)
def _compile(sql: str) -> tuple[str, tuple[str, ...] | None, int]:
    """``sql`` with ``$n`` placeholders; the names in order (None when positional); the
    number of parameters. Mixing ``?`` and ``:name`` in one statement is refused."""
    names: dict[str, int] = {}
    positional = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal positional
        piece = match.group()
        if piece == "?":
            positional += 1
            return f"${positional}"
        if piece.startswith(":") and piece != "::":
            index = names.setdefault(piece[1:], len(names) + 1)
            return f"${index}"
        return piece

    text = _TOKENS.sub(replace, sql)
    if names and positional:
        raise ValueError("a statement uses both ? and :name placeholders")
    if names:
        return text, tuple(names), len(names)
    return text, None, positional


def _args(sql: str, params: Params) -> tuple[str, list[Any]]:
    text, names, count = _compile(sql)
    if isinstance(params, Mapping):
        if names is None and count:
            raise ValueError("named parameters given to a statement with ? placeholders")
        return text, [params[name] for name in names or ()]
    if names is not None:
        raise ValueError("positional parameters given to a statement with :name placeholders")
    if len(params) != count:
        raise ValueError(f"the statement takes {count} parameters, {len(params)} given")
    return text, list(params)


def _rowcount(status: str) -> int:
    # "UPDATE 3", "INSERT 0 1", "DELETE 0"; statements without a count ("SAVEPOINT") give 0.
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresConnection(HeldConnection[asyncpg.Connection]):
    """A pooled connection while one caller holds it; refuses work once its block ended."""

    __slots__ = ()
    dialect = POSTGRESQL

    async def execute(self, sql: str, params: Params = ()) -> int:
        raw = self._check()
        text, args = _args(sql, params)
        status: str = await (raw.execute(text, *args) if args else raw.execute(text))
        return _rowcount(status)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        raw = self._check()
        batch = [_args(sql, params)[1] for params in rows]
        if batch:
            await raw.executemany(_compile(sql)[0], batch)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        text, args = _args(sql, params)
        row: Row | None = await self._check().fetchrow(text, *args)
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        text, args = _args(sql, params)
        return list(await self._check().fetch(text, *args))


def _pg_ddl(statement: str) -> str:
    """A CREATE/ALTER TABLE of the migrations (SQLite's words) in PostgreSQL's types."""
    if not re.match(r"\s*(?:--[^\n]*\n\s*)*(CREATE|ALTER)\s+TABLE\b", statement, re.I):
        return statement
    text = re.sub(
        r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b",
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        statement,
    )
    text = re.sub(r"\bINTEGER\b", "BIGINT", text)  # chat ids pass 2**31
    text = re.sub(r"\bREAL\b", "DOUBLE PRECISION", text)  # SQLite's REAL is 8 bytes
    text = re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', text)  # byte order, as SQLite sorts
    text = re.sub(r"\bBLOB\b", "BYTEA", text)
    return re.sub(r"\)\s*STRICT\s*(?:,\s*WITHOUT\s+ROWID\s*)?;\s*$", ");", text)


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresDatabase(Database):
    """The store on PostgreSQL: ``await PostgresDatabase.open(url)``, ``await db.close()``."""

    dialect = POSTGRESQL
    integrity_errors = (asyncpg.IntegrityConstraintViolationError,)

    def __init__(self, pool: asyncpg.Pool, url: str, schema_version: int) -> None:
        self._pool = pool
        self._path = _safe_url(url)
        self._schema_version = schema_version
        self._write_lock = asyncio.Lock()
        self._holders: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.write_transactions = 0
        self.reads = 0

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        busy_timeout_ms: int = 5000,
    ) -> PostgresDatabase:
        """Connect to the server at the URL ``path`` and bring its schema up to date.
        ``busy_timeout_ms`` bounds the wait for a lock held by another process."""
        url = str(path)
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=POOL_SIZE,
                statement_cache_size=STATEMENT_CACHE,
                server_settings={"lock_timeout": str(int(busy_timeout_ms))},
                reset=_keep_session,
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise DatabaseError(f"the database {_safe_url(url)} cannot be used: {exc}") from exc
        try:
            async with pool.acquire() as raw:
                version = await _migrate(raw, migrations)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, DatabaseError | asyncpg.PostgresError):
                raise DatabaseError(
                    f"the database {_safe_url(url)} cannot be used: {exc}"
                ) from exc
            raise
        return cls(pool, url, version)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Wait for the writer, so close never cuts a transaction in half; the pool waits
        # for the connections still lent out.
        async with self._write_lock:
            await self._pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """Hold a connection for one atomic write: commit on exit, roll back on error."""
        async with self._mine(), self._write_lock, self._acquire() as raw:
            conn = PostgresConnection(raw)
            await raw.execute("BEGIN")
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
        """Hold a connection for a few reads (each statement sees what was committed)."""
        async with self._mine(), self._acquire() as raw:
            self.reads += 1
            conn = PostgresConnection(raw)
            try:
                yield conn
            finally:
                conn._end()

    @asynccontextmanager
    async def listening(self, channel: str, wake: Callable[[], None]) -> AsyncIterator[None]:
        """For the block, ``wake()`` on each ``NOTIFY channel`` (any process's): a pooled
        connection is held for it, LISTENing (replicas: ``bot/replicas.py``). A lost
        connection loses wake-ups, never data: the listener's owner also polls, slowly."""

        def notified(_conn: object, _pid: int, _channel: str, _payload: str) -> None:
            wake()

        async with self._acquire() as raw:
            await raw.add_listener(channel, notified)
            try:
                yield
            finally:
                if not raw.is_closed():
                    # UNLISTENs: the connection goes back to the pool as it came.
                    await raw.remove_listener(channel, notified)

    @asynccontextmanager
    async def _mine(self) -> AsyncIterator[None]:
        if self._closed:
            raise RuntimeError("the database is closed")
        task = asyncio.current_task()
        if task is not None and task in self._holders:
            # The same rule as SQLite's: an inner call would wait for the outer (the write
            # lock) or run outside its transaction; it must be handed the conn instead.
            raise NestedTransactionError(
                "this task already holds the database; pass its conn to the inner call"
            )
        if task is not None:
            self._holders.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._holders.discard(task)

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[asyncpg.Connection]:
        if self._closed:
            raise RuntimeError("the database is closed")
        async with self._pool.acquire() as raw:
            yield raw


async def _keep_session(raw: asyncpg.Connection) -> None:
    """Nothing to undo when a connection goes back to the pool (asyncpg still ends any open
    transaction): the store sets no session state, takes only transaction-level advisory
    locks, and ``listening`` UNLISTENs before it gives its connection back. The default reset
    is a round trip on every release."""


async def _rollback(raw: asyncpg.Connection) -> None:
    # A failed COMMIT has already ended the transaction; a failed BEGIN never started it.
    if raw.is_in_transaction():
        await raw.execute("ROLLBACK")


async def _migrate(raw: asyncpg.Connection, migrations: Sequence[Migration]) -> int:
    """Apply the migrations the database lacks, each in its own transaction, in order, under
    an advisory lock (another replica waits, then finds them applied). Forward only, as on
    SQLite: a database newer than this code is refused, never touched."""
    async with raw.transaction():
        await raw.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await raw.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        current = await raw.fetchval("SELECT max(version) FROM schema_version")
        if current is None:
            await raw.execute("INSERT INTO schema_version (version) VALUES (0)")
            current = 0
    if current > len(migrations):
        raise DatabaseError(
            f"the database is at schema version {current} but this bot knows only "
            f"{len(migrations)}; run a newer version of the bot (downgrades are not supported)"
        )
    for version in range(current + 1, len(migrations) + 1):
        step = for_dialect(migrations[version - 1], POSTGRESQL)
        conn = PostgresConnection(raw)
        try:
            async with raw.transaction():
                await raw.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                if await raw.fetchval("SELECT max(version) FROM schema_version") < version:
                    if isinstance(step, str):
                        for statement in split_sql(step):
                            await raw.execute(_pg_ddl(statement))
                    else:
                        await step(conn)
                    await raw.execute("UPDATE schema_version SET version = $1", version)
        except Exception as exc:
            raise DatabaseError(f"migration {version} failed: {exc}") from exc
        finally:
            conn._end()
    return max(current, len(migrations))
