"""Which provider key acts for a Telegram user.

In order: under ``--sandbox`` every user has a sandbox key of their own, connected on first
sight; the operator's shared ``DGS_API_KEY`` for users in ``DGS_ALLOWED_USERS``; else the key
the user gave with ``/connect`` (stored encrypted, and only while it is valid).

A user taken out of ``DGS_ALLOWED_USERS`` loses the operator's key at the next start, and
with it the links they made with it: those stay in the store, but their buttons refuse them
and nobody is alerted about them (``lost_operator_key``).
"""

from __future__ import annotations

import logging

from bot.config import Settings
from bot.store.repo import Repo

SANDBOX_KEY_PREFIX = "sk_test_tg_"

log = logging.getLogger(__name__)


class Accounts:
    def __init__(self, settings: Settings, repo: Repo, *, sandbox: bool = False) -> None:
        self._settings = settings
        self._repo = repo
        self.sandbox = sandbox
        operator_key = settings.dgs_api_key
        self.operator_fingerprint: str | None = (
            repo.key_fingerprint(operator_key.get_secret_value()) if operator_key else None
        )

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

    async def holds_key(self, user_id: int, fingerprint: str) -> bool:
        """Whether the key that acts for this user is the one with this fingerprint."""
        api_key = await self.api_key_for(user_id)
        return api_key is not None and self._repo.key_fingerprint(api_key) == fingerprint

    def lost_operator_key(self, user_id: int, fingerprint: str) -> bool:
        """Whether ``fingerprint`` is the operator's key and the user may no longer use it:
        a link of theirs made with it is no longer theirs to act on or be alerted about."""
        return (
            self.operator_fingerprint is not None
            and fingerprint == self.operator_fingerprint
            and not self.is_operator_user(user_id)
        )

    async def log_lost_operator_links(self) -> None:
        """At start: one line for the links left on the operator's key by users no longer in
        ``DGS_ALLOWED_USERS`` (how many, whose; never the key)."""
        if self.operator_fingerprint is None:
            return
        counts = await self._repo.links_on_key_by_owner(
            self.operator_fingerprint, excluding=sorted(self._settings.dgs_allowed_users)
        )
        if counts:
            log.warning(
                "%d links made with DGS_API_KEY belong to users no longer in "
                "DGS_ALLOWED_USERS (%s): they get no alerts and no buttons for them",
                sum(counts.values()),
                ", ".join(map(str, counts)),
            )
