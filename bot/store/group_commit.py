"""Group commit: many writers share one SQLite transaction (one fsync) instead of queueing.

A writer hands over a write (``run``) or says that its own buffer has something to write
(``flush``), then waits for the next flush that *starts* after its call. Flushes run back to
back in one task; each takes everything asked for before it started, writes it all in one
transaction, and answers every waiter once that transaction has committed. So when 100
updates finish at once they cost a handful of transactions, not 100 queued on the database
lock, and each caller's write is as durable on return as if it had had its own.

Each write runs in a savepoint: a write that fails is undone alone and its caller gets the
error; the rest still commit. A flush with nothing to write opens no transaction.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from bot.store.db import Connection, Database

log = logging.getLogger(__name__)

T = TypeVar("T")
Write = Callable[[Connection], Awaitable[T]]


class Batch(Protocol):
    """What a source took out of its buffer for one flush."""

    async def write(self, conn: Connection) -> None: ...

    def committed(self) -> None:
        """What was taken is on disk."""

    def rolled_back(self) -> None:
        """The write or its transaction failed: put what was taken back, so that a later
        flush writes it."""


class Source(Protocol):
    """A buffer of writes kept elsewhere (the PTB persistence), emptied by each flush."""

    def take(self) -> Batch | None:
        """Everything buffered now (out of the buffer), or None when there is nothing."""


class _Job:
    __slots__ = ("future", "write")

    def __init__(self, write: Write[Any], future: asyncio.Future[Any]) -> None:
        self.write = write
        self.future = future


class GroupCommit:
    """The group committer of one database; get it with ``group_commit(db)``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._jobs: list[_Job] = []
        # A source asked for by several callers is taken once; they share one future.
        self._sources: dict[Source, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0  # flushes that wrote something (one transaction each)

    async def run(self, write: Write[T]) -> T:
        """Run ``write(conn)`` in the next flush's transaction; its result once committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.append(_Job(write, future))
        self._start()
        # Shielded: a caller cancelled while waiting leaves the flush (and others) alone.
        return await asyncio.shield(future)

    async def flush(self, source: Source) -> None:
        """Wait until what ``source`` holds now is committed (by the next flush to start)."""
        await asyncio.shield(self.ask(source))

    def ask(self, source: Source) -> asyncio.Future[None]:
        """Have the next flush to start take what ``source`` holds now, without waiting for
        it: the future is done once that has committed (``flush`` awaits it)."""
        future = self._sources.get(source)
        if future is None:
            future = self._sources[source] = asyncio.get_running_loop().create_future()
        self._start()
        return future

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush_until_idle(), name="group-commit")

    async def _flush_until_idle(self) -> None:
        while self._jobs or self._sources:
            jobs, self._jobs = self._jobs, []
            sources, self._sources = self._sources, {}
            try:
                await self._flush(jobs, sources)
            except Exception:  # pragma: no cover - _flush hands every error to its waiters
                log.exception("group commit: a flush failed")

    async def _flush(self, jobs: list[_Job], sources: dict[Source, asyncio.Future[None]]) -> None:
        batches: list[tuple[Batch, asyncio.Future[None]]] = []
        for source, future in sources.items():
            try:
                batch = source.take()
            except Exception as exc:  # noqa: BLE001 - handed to the waiter, who raises it
                fail(future, exc)
                continue
            if batch is None:
                succeed(future, None)  # nothing buffered: the caller's data is on disk
            else:
                batches.append((batch, future))
        if not jobs and not batches:
            return
        self.flushes += 1
        outcomes: list[tuple[asyncio.Future[Any], Any, Exception | None]] = []
        try:
            async with self._db.transaction() as conn:
                for job in jobs:
                    result, error = await _in_savepoint(conn, job.write)
                    outcomes.append((job.future, result, error))
                for batch, future in batches:
                    _, error = await _in_savepoint(conn, batch.write)
                    outcomes.append((future, None, error))
        except BaseException as exc:
            for batch, _ in batches:
                batch.rolled_back()
            for future in [job.future for job in jobs] + [future for _, future in batches]:
                fail(future, exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            if not isinstance(exc, Exception):
                raise
            return
        failed = {future for future, _, error in outcomes if error is not None}
        for batch, future in batches:
            if future in failed:
                batch.rolled_back()
            else:
                batch.committed()
        for future, result, error in outcomes:
            if error is None:
                succeed(future, result)
            else:
                fail(future, error)


async def _in_savepoint(
    conn: Connection, write: Callable[[Connection], Awaitable[T]]
) -> tuple[T | None, Exception | None]:
    await conn.execute("SAVEPOINT group_write")
    try:
        result = await write(conn)
    except Exception as exc:  # noqa: BLE001 - handed to the write's caller, who raises it
        await conn.execute("ROLLBACK TO group_write")
        await conn.execute("RELEASE group_write")
        return None, exc
    await conn.execute("RELEASE group_write")
    return result, None


def succeed(future: asyncio.Future[T], result: T) -> None:
    if not future.done():
        future.set_result(result)


def fail(future: asyncio.Future[Any], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
        # Retrieved here so a waiter that was cancelled meanwhile leaves no "never retrieved"
        # warning behind; the waiters that are still there get the error all the same.
        future.exception()


_COMMITTERS: weakref.WeakKeyDictionary[Database, GroupCommit] = weakref.WeakKeyDictionary()


def group_commit(db: Database) -> GroupCommit:
    """The one group committer of ``db`` (every writer of a database must share it)."""
    committer = _COMMITTERS.get(db)
    if committer is None:
        committer = _COMMITTERS[db] = GroupCommit(db)
    return committer
