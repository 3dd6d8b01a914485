"""A link by its id, for a button press or a drive: the bot's record of it, else the
provider's answer to the key that acts for the person asking."""

from __future__ import annotations

import logging

from bot.accounts import Accounts
from bot.dgs.client import DGSClient
from bot.dgs.errors import DGSError
from bot.dgs.models import LinkDetails
from bot.linkservice import LinkService
from bot.store.models import StoredLink
from bot.store.repo import Repo

log = logging.getLogger(__name__)


class LinkFinder:
    def __init__(self, dgs: DGSClient, repo: Repo, accounts: Accounts, links: LinkService) -> None:
        self._dgs = dgs
        self._repo = repo
        self._accounts = accounts
        self._links = links

    async def stored(self, link_id: str) -> StoredLink | None:
        """The bot's record of the link, if it has one."""
        return await self._repo.get_link(link_id)

    async def learn(self, user_id: int, link_id: str) -> StoredLink | None:
        """A link the bot has no record of (its database is newer than the button), looked
        up with the user's key: when the provider shows it to them, it is theirs and is
        recorded now. None when it does not (or cannot) say."""
        api_key = await self._accounts.api_key_for(user_id)
        if api_key is None or not link_id:
            return None
        try:
            details = await self._dgs.get_link(api_key, link_id)
        except (DGSError, ValueError):
            return None
        return await self._links.remember(
            details.link, api_key=api_key, owner_user_id=user_id, chat_id=user_id
        )

    async def details(self, link_id: str) -> LinkDetails | None:
        """The link and its stats: the poller's latest view, else one get call with its
        owner's key. None when the bot does not know the link or the provider cannot say."""
        stored = await self._repo.get_link(link_id)
        if stored is None:
            return None
        if stored.snapshot is not None:
            return stored.snapshot
        api_key = await self._accounts.api_key_for(stored.owner_user_id)
        if api_key is None:
            return None
        try:
            return await self._dgs.get_link(api_key, link_id)
        except DGSError as exc:
            log.info("details of link %s unavailable: %s", link_id, exc)
            return None
