"""How updates run: in order per conversation, concurrently across people, with a bound.

python-telegram-bot either handles one update at a time (one slow provider call freezes the bot
for everybody) or, with plain concurrent updates, lets two taps of the same user race inside one
conversation. ``OrderedUpdateProcessor`` does neither: updates that share a key (the chat and
the user) queue behind each other in arrival order, and at most ``max_active`` updates run at
once across all keys.

PTB's base class takes its own semaphore *before* calling us, so a user who sends 300 updates
while their first one hangs would hold 300 of its slots and starve everyone else. We therefore
give the base class a wide backlog bound and apply the real bound ourselves, after the per-key
lock: waiting in a key's queue costs no slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# How many updates may be accepted and waiting at once (PTB's own semaphore).
BACKLOG_BOUND = 100_000


def update_key(update: object) -> tuple[int | None, int | None] | None:
    """The conversation an update belongs to: (chat id, user id); None runs it unordered.

    Inline queries have no chat but do have a user, so they queue per user; updates with
    neither (poll answers of anonymous polls) have no order to keep.
    """
    if not isinstance(update, Update):
        return None
    chat = update.effective_chat
    user = update.effective_user
    if chat is None and user is None:
        return None
    return (chat.id if chat else None, user.id if user else None)


class _KeyLock:
    """A lock with a count of interested updates, so idle keys can be forgotten."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class OrderedUpdateProcessor(BaseUpdateProcessor):
    """Per-(chat, user) order, globally bounded concurrency."""

    def __init__(self, max_active: int = 256) -> None:
        super().__init__(max_concurrent_updates=BACKLOG_BOUND)
        if max_active < 1:
            raise ValueError("max_active must be a positive integer")
        self.max_active = max_active
        self._active = asyncio.BoundedSemaphore(max_active)
        self._locks: dict[tuple[int | None, int | None], _KeyLock] = {}

    @property
    def waiting_keys(self) -> int:
        """How many conversations have an update running or queued (for tests and metrics)."""
        return len(self._locks)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = update_key(update)
        if key is None:
            async with self._active:
                await coroutine
            return
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = _KeyLock()
        entry.users += 1
        started = False
        try:
            # asyncio.Lock wakes waiters first-in first-out, and tasks reach this line in the
            # order PTB created them, so a key's updates run in arrival order.
            async with entry.lock, self._active:
                started = True
                await coroutine
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[key]
            if not started and isinstance(coroutine, Coroutine):
                # Cancelled while queued (shutdown): close it so it is not reported unawaited.
                coroutine.close()

    async def initialize(self) -> None:
        """Nothing to open: locks are made on demand."""

    async def shutdown(self) -> None:
        """Nothing to close: PTB awaits the running updates before calling this."""
