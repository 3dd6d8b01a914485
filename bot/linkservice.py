"""Making links: the provider call and the bot's own record of the link, together."""

from __future__ import annotations

from bot.dgs.client import DGSClient
from bot.dgs.models import Link
from bot.links import LinkDraft
from bot.store.models import StoredLink
from bot.store.repo import Repo
from bot.store.secrets import key_fingerprint


class LinkService:
    def __init__(self, dgs: DGSClient, repo: Repo) -> None:
        self._dgs = dgs
        self._repo = repo

    async def create(
        self,
        draft: LinkDraft,
        *,
        api_key: str,
        owner_user_id: int,
        chat_id: int | None,
        group_chat_id: int | None = None,
        first_attempt: bool = False,
    ) -> Link:
        """Create the draft's link at most once per ``draft.client_ref`` and record it.

        The caller keeps ``draft.client_ref`` (set before the first try) so that a retry after
        an unknown outcome finds the link the first try made instead of making a second one;
        ``first_attempt`` skips that look-up when the reference was never sent.
        """
        body = draft.to_create()
        link = await self._dgs.create_link(
            api_key, body, client_ref=draft.client_ref, first_attempt=first_attempt
        )
        await self.remember(
            link,
            api_key=api_key,
            owner_user_id=owner_user_id,
            chat_id=chat_id,
            group_chat_id=group_chat_id,
            client_ref=draft.client_ref,
        )
        return link

    async def remember(
        self,
        link: Link,
        *,
        api_key: str,
        owner_user_id: int,
        chat_id: int | None = None,
        group_chat_id: int | None = None,
        client_ref: str | None = None,
    ) -> StoredLink:
        """Record (or refresh) a link so alerts and buttons know its owner."""
        return await self._repo.upsert_link(
            link,
            owner_user_id=owner_user_id,
            api_key_fingerprint=key_fingerprint(api_key),
            chat_id=chat_id,
            group_chat_id=group_chat_id,
            client_ref=client_ref,
        )
