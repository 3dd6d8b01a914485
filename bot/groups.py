"""Groups the bot is in: their settings (cached) and who administers them (cached briefly)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.bounded import LRUDict
from bot.chat_migration import move_chat
from bot.store.models import Group
from bot.store.repo import Repo

if TYPE_CHECKING:
    from telegram.ext import Application

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

    async def remember(self, chat_id: int, title: str, *, added_by: int | None) -> Group:
        """The group's row, made (or refreshed and active again) now; settings are kept."""
        group = await self._repo.upsert_group(chat_id, title, added_by=added_by)
        self.forget(chat_id)
        return group

    async def left(self, chat_id: int) -> None:
        """The bot is out of the group: it is inactive and nothing queued is posted there."""
        await self._repo.deactivate_group(chat_id)
        await self._repo.drop_for_chat(chat_id)
        self.forget(chat_id)

    async def set_language(self, chat_id: int, language: str) -> None:
        await self._repo.set_group_language(chat_id, language)
        self.forget(chat_id)

    async def set_anonymous_totals(self, chat_id: int, anonymous: bool) -> None:
        await self._repo.set_anonymous_totals(chat_id, anonymous)
        self.forget(chat_id)

    async def migrate(
        self, app: Application[Any, Any, Any, Any, Any, Any], old_id: int, new_id: int
    ) -> None:
        """The group became a supergroup: its rows and chat_data move to ``new_id``."""
        await move_chat(app, self._repo, old_id, new_id)
        self.forget(old_id)
        self.forget(new_id)

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
