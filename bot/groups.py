"""Groups the bot is in: their settings (cached) and who administers them (cached briefly)."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.bounded import LRUDict
from bot.store.models import Group
from bot.store.repo import Repo

ADMIN_CACHE_SECONDS = 300  # the issue allows at most 5 minutes
# Groups and (group, user) admin answers kept in memory; the least recently used go first.
GROUP_CACHE_SIZE = 10_000
ADMIN_CACHE_SIZE = 10_000


class GroupDirectory:
    def __init__(
        self,
        repo: Repo,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_groups: int = GROUP_CACHE_SIZE,
        max_admins: int = ADMIN_CACHE_SIZE,
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._groups: LRUDict[int, Group | None] = LRUDict(max_groups)
        self._admins: LRUDict[tuple[int, int], tuple[bool, float]] = LRUDict(max_admins)

    async def get(self, chat_id: int) -> Group | None:
        if chat_id not in self._groups:
            self._groups[chat_id] = await self._repo.get_group(chat_id)
        return self._groups[chat_id]

    def forget(self, chat_id: int) -> None:
        """Drop cached rows of a group that changed (language, membership, migration)."""
        self._groups.pop(chat_id, None)
        for key in [key for key in self._admins if key[0] == chat_id]:
            del self._admins[key]

    def cached_admin(self, chat_id: int, user_id: int) -> bool | None:
        """The last answer to "is this user an admin here?", if younger than 5 minutes."""
        entry = self._admins.get((chat_id, user_id))
        if entry is None:
            return None
        if self._clock() - entry[1] > ADMIN_CACHE_SECONDS:
            del self._admins[(chat_id, user_id)]
            return None
        return entry[0]

    def remember_admin(self, chat_id: int, user_id: int, is_admin: bool) -> None:
        self._admins[(chat_id, user_id)] = (is_admin, self._clock())
