"""Users' rows for updates that arrive together: one read and one write for many updates.

Every update looks up its sender's row before it is answered, and a newcomer (or someone back
after blocking the bot) gets a row. Done one update at a time, 100 people sending ``/start``
at once made 100 reads queued on the database lock, then a transaction's worth of statements
each, every one a trip to SQLite's thread through a busy event loop, all before their
replies could go out.

Here the lookups asked for while a read is out are answered by the next read (one ``IN``
query), and arrivals are staged for the database's group commit, which writes each flush's
in one statement. The caller does not wait for that write before answering: the row it will
become is known without asking (``user_as_seen``), rows that refer to a user insert it first
(``ENSURE_USER``), and the update's turn waits for it at its end (``settle``, from
``handlers/gates.py:persist_now``), like the rest of what the update persisted.
"""

from __future__ import annotations

import asyncio

from bot.store.db import Connection
from bot.store.group_commit import fail, group_commit, succeed
from bot.store.models import User
from bot.store.repo import Repo
from bot.store.users import user_as_seen


class UserRows:
    """Looks up and writes users' rows in batches (``get``, ``arrive``, ``settle``)."""

    def __init__(self, repo: Repo) -> None:
        self._repo = repo
        self._committer = group_commit(repo.db)
        self._lookups: dict[int, asyncio.Future[User | None]] = {}
        self._reader: asyncio.Task[None] | None = None
        # Arrivals (user id → when) the next flush writes, and those the flush in progress
        # (at most one) is writing.
        self._staged: dict[int, float] = {}
        self._flying: dict[int, float] = {}

    async def get(self, user_id: int) -> User | None:
        """The user's row, or None: read with every other lookup waiting at that moment."""
        future = self._lookups.get(user_id)
        if future is None:
            future = self._lookups[user_id] = asyncio.get_running_loop().create_future()
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_until_idle(), name="user-rows")
        # Shielded: a caller cancelled while waiting leaves the read (and the others) alone.
        return await asyncio.shield(future)

    async def _read_until_idle(self) -> None:
        while self._lookups:
            batch, self._lookups = self._lookups, {}
            try:
                rows = await self._repo.get_users(list(batch))
            except Exception as exc:  # noqa: BLE001 - handed to the waiters, who raise it
                for future in batch.values():
                    fail(future, exc)
                continue
            for user_id, future in batch.items():
                succeed(future, rows.get(user_id))

    def arrive(self, user_id: int, before: User | None) -> User:
        """Create the user's row (``before`` is None) or make it active again: staged for the
        group commit's next flush, which starts now; the row it will be, at once."""
        at = self._repo.now()
        self._staged.setdefault(user_id, at)
        self._committer.ask(self)
        return user_as_seen(user_id, before, at)

    async def settle(self, user_id: int) -> None:
        """Return once the user's staged row has committed (at once when none is pending);
        raise when writing it failed."""
        if user_id in self._staged or user_id in self._flying:
            await self._committer.flush(self)

    # --- the group committer's side (bot/store/group_commit.Source) ---------------------

    def take(self) -> _Arrivals | None:
        if not self._staged:
            return None
        self._flying, self._staged = self._staged, {}
        return _Arrivals(self, self._flying)

    def _done(self, rows: dict[int, float], *, committed: bool) -> None:
        if self._flying is rows:
            self._flying = {}
        if not committed:
            # Written by a later flush: the next arrival's, or the next settle of one of them.
            for user_id, at in rows.items():
                self._staged.setdefault(user_id, at)


class _Arrivals:
    """The rows one flush writes, in one statement."""

    __slots__ = ("_owner", "_rows")

    def __init__(self, owner: UserRows, rows: dict[int, float]) -> None:
        self._owner = owner
        self._rows = rows

    async def write(self, conn: Connection) -> None:
        await self._owner._repo.write_users_seen(self._rows, conn=conn)

    def committed(self) -> None:
        self._owner._done(self._rows, committed=True)

    def rolled_back(self) -> None:
        self._owner._done(self._rows, committed=False)
