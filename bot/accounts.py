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
from bot.dgs.client import DGSClient
from bot.store.models import Credential
from bot.store.repo import Repo

SANDBOX_KEY_PREFIX = "sk_test_tg_"

log = logging.getLogger(__name__)


class Accounts:
    def __init__(
        self, settings: Settings, repo: Repo, dgs: DGSClient, *, sandbox: bool = False
    ) -> None:
        self._settings = settings
        self._repo = repo
        self._dgs = dgs
        self.sandbox = sandbox
        operator_key = settings.dgs_api_key
        self.operator_fingerprint: str | None = (
            repo.key_fingerprint(operator_key.get_secret_value()) if operator_key else None
        )

    def sandbox_key(self, user_id: int) -> str:
        return f"{SANDBOX_KEY_PREFIX}{user_id}"

    async def api_key_for(self, user_id: int) -> str | None:
        """The key to act with for this user, or None when they must ``/connect``.

        A cashier (``bot/staff.py``) acts with their shop's key, whatever key of their own
        they have; none when the owner has no key now, or another one than the cashier
        joined (the owner invites them again)."""
        shop = await self._repo.shop_of(user_id)
        if shop is not None:
            key = await self._own_key_for(shop.owner_user_id)
            if key is None or self._repo.key_fingerprint(key) != shop.shop_fingerprint:
                return None
            return key
        return await self._own_key_for(user_id)

    async def _own_key_for(self, user_id: int) -> str | None:
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

    async def check_key(self, api_key: str) -> None:
        """Ask the provider whether it takes this key (one list call). Raises ``AuthError`` or
        ``ForbiddenError`` when it refuses the key, another ``DGSError`` when it cannot say."""
        await self._dgs.list_links(api_key, page=1, per_page=1)

    async def connect(self, user_id: int, api_key: str) -> Credential:
        """Store the user's own key (encrypted); it acts for them from now on."""
        return await self._repo.save_credential(user_id, api_key)

    async def credential(self, user_id: int) -> Credential | None:
        """The user's stored key (its last 4 characters, its status), if they connected one."""
        return await self._repo.get_credential(user_id)

    async def disconnect(self, user_id: int) -> bool:
        """Forget the user's stored key; False when there was none."""
        return await self._repo.delete_credential(user_id)

    async def holds_key(self, user_id: int, fingerprint: str) -> bool:
        """Whether the key that acts for this user is the one with this fingerprint."""
        api_key = await self.api_key_for(user_id)
        return api_key is not None and self._repo.key_fingerprint(api_key) == fingerprint

    async def key_for_link(self, user_id: int, fingerprint: str) -> str | None:
        """The key to act on a link of key ``fingerprint`` with: the user's own when it is
        that key, else a stored key of the link's account (the owner changed keys, or a group
        admin acts on the group's link), else the user's own."""
        own = await self.api_key_for(user_id)
        if own is not None and self._repo.key_fingerprint(own) == fingerprint:
            return own
        other = await self._repo.api_key_for_fingerprint(fingerprint)
        return other or own

    def lost_operator_key(self, user_id: int, fingerprint: str) -> bool:
        """Whether ``fingerprint`` is the operator's key and the user may no longer use it:
        a link of theirs made with it is no longer theirs to act on or be alerted about."""
        return (
            self.operator_fingerprint is not None
            and fingerprint == self.operator_fingerprint
            and self._settings.operator_key_for(user_id) is None
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
