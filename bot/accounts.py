"""Which provider key acts for a Telegram user.

In order: under ``--sandbox`` every user has a sandbox key of their own, connected on first
sight; the operator's shared ``DGS_API_KEY`` for users in ``DGS_ALLOWED_USERS``; else the key
the user gave with ``/connect`` (stored encrypted, and only while it is valid).
"""

from __future__ import annotations

from bot.config import Settings
from bot.store.repo import Repo

SANDBOX_KEY_PREFIX = "sk_test_tg_"


class Accounts:
    def __init__(self, settings: Settings, repo: Repo, *, sandbox: bool = False) -> None:
        self._settings = settings
        self._repo = repo
        self.sandbox = sandbox

    def sandbox_key(self, user_id: int) -> str:
        return f"{SANDBOX_KEY_PREFIX}{user_id}"

    async def api_key_for(self, user_id: int) -> str | None:
        """The key to act with for this user, or None when they must ``/connect``."""
        if self.sandbox:
            credential = await self._repo.get_credential(user_id)
            if credential is None:
                await self._repo.upsert_user_seen(user_id)
                await self._repo.save_credential(user_id, self.sandbox_key(user_id))
                return self.sandbox_key(user_id)
        operator_key = self._settings.operator_key_for(user_id)
        if operator_key is not None:
            return operator_key
        credential = await self._repo.get_credential(user_id)
        if credential is None or not credential.is_valid:
            return None
        return await self._repo.get_api_key(user_id)

    def is_operator_user(self, user_id: int) -> bool:
        return self._settings.operator_key_for(user_id) is not None
