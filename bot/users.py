"""Who is talking and in which language, without a database write on every update."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from bot.bounded import LRUDict
from bot.config import Settings
from bot.i18n import match_language
from bot.store.arrivals import UserRows
from bot.store.models import NotifyLevel, User
from bot.store.repo import Repo

# Users whose rows stay in memory; one not seen for a while costs one read when they return.
USER_CACHE_SIZE = 10_000


class UserDirectory:
    """Caches user rows; writes only when a user is new, comes back, or changes a setting."""

    def __init__(self, repo: Repo, settings: Settings, *, max_size: int = USER_CACHE_SIZE) -> None:
        self._repo = repo
        self._settings = settings
        self._known: LRUDict[int, User] = LRUDict(max_size)
        self._rows = UserRows(repo)

    async def seen(self, user_id: int) -> User:
        """The user's row; a newcomer's (or one back after blocking the bot) is written.

        A known, active user costs no write: a read when they are not in memory, else
        nothing, and the reads of users whose updates arrive together are one. A newcomer's
        row goes into the database's next group commit without holding up the answer: the
        update's turn waits for it at its end (``settle``), and rows that refer to a user
        insert it first (``bot/store/arrivals.py``).
        """
        user = self._known.get(user_id)
        if user is None:
            user = await self._rows.get(user_id)
        if user is None or not user.active:
            user = self._rows.arrive(user_id, user)
        self._known[user_id] = user
        return user

    async def settle(self, user_id: int) -> None:
        """Return once the user's row, if one is being written, is on disk."""
        await self._rows.settle(user_id)

    def language_of(self, user: User | None, telegram_code: str | None) -> str:
        """Their choice, else Telegram's ``language_code`` when it is ours, else the default."""
        if user is not None and user.language:
            return user.language
        return match_language(telegram_code) or self._settings.bot_default_language

    def currency_of(self, user: User | None) -> str:
        if user is not None and user.default_currency:
            return user.default_currency
        return self._settings.bot_default_currency

    async def set_language(self, user_id: int, language: str) -> None:
        await self._repo.set_language(user_id, language)
        self._known.pop(user_id, None)

    async def set_default_currency(self, user_id: int, currency: str) -> None:
        await self._repo.set_default_currency(user_id, currency)
        self._known.pop(user_id, None)

    async def set_notify_level(self, user_id: int, level: NotifyLevel) -> None:
        await self._repo.set_notify_level(user_id, level)
        self._known.pop(user_id, None)

    def forget(self, user_id: int) -> None:
        """Drop the cached row (another component changed it, e.g. marked it inactive)."""
        self._known.pop(user_id, None)


# The language of the user's Telegram app, kept in their (persisted) PTB ``user_data``:
# alerts are sent outside any update, and for a user who never chose a language it is theirs.
TELEGRAM_LANGUAGE = "telegram_language"


def remember_telegram_language(user_data: MutableMapping[str, Any], code: str | None) -> None:
    """Keep the language Telegram reports for the user, when it is one of ours (an update
    without a code changes nothing: Telegram does not always send it)."""
    if not code:
        return
    language = match_language(code)
    if language is None:
        user_data.pop(TELEGRAM_LANGUAGE, None)
    elif user_data.get(TELEGRAM_LANGUAGE) != language:
        user_data[TELEGRAM_LANGUAGE] = language


def telegram_language(user_data: Mapping[str, Any] | None) -> str | None:
    """The language last remembered by ``remember_telegram_language``, if any."""
    value = (user_data or {}).get(TELEGRAM_LANGUAGE)
    return value if isinstance(value, str) else None
