"""Making links: the provider call and the bot's own record of the link, together.

Once the provider made a link it is live: a payer can use it. So a failure to record it is
never the vendor's problem to retry (a second try would make a second link). The record is
written again in the background, with backoff, until it lands; writes that belong to the same
link (a drive's row, its card) wait behind it in order. The record is the plain one the create
flow always writes (no snapshot, no charges), so the first poll reports every charge the link
took meanwhile as news.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable

from bot.dgs.client import DGSClient
from bot.dgs.models import Link
from bot.links import LinkDraft
from bot.store.models import StoredLink
from bot.store.repo import Repo

log = logging.getLogger(__name__)

Write = Callable[[], Awaitable[object]]

RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0


class LinkService:
    def __init__(
        self,
        dgs: DGSClient,
        repo: Repo,
        *,
        retry_first: float = RETRY_FIRST_SECONDS,
        retry_max: float = RETRY_MAX_SECONDS,
    ) -> None:
        self._dgs = dgs
        self._repo = repo
        self._retry_first = retry_first
        self._retry_max = retry_max
        self._waiting: dict[str, deque[Write]] = {}  # link id -> writes not done yet, in order
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def unrecorded(self) -> frozenset[str]:
        """Links whose writes are still being retried."""
        return frozenset(self._waiting)

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

        Raises only the provider's errors: once the link exists a failed record is retried in
        the background (``record``), and the link is returned all the same.

        The caller keeps ``draft.client_ref`` (set before the first try) so that a retry after
        an unknown outcome finds the link the first try made instead of making a second one;
        ``first_attempt`` skips that look-up when the reference was never sent.
        """
        body = draft.to_create()
        link = await self._dgs.create_link(
            api_key, body, client_ref=draft.client_ref, first_attempt=first_attempt
        )
        await self.record(
            link.id,
            functools.partial(
                self.remember,
                link,
                api_key=api_key,
                owner_user_id=owner_user_id,
                chat_id=chat_id,
                group_chat_id=group_chat_id,
                client_ref=draft.client_ref,
            ),
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
            api_key_fingerprint=self._repo.key_fingerprint(api_key),
            chat_id=chat_id,
            group_chat_id=group_chat_id,
            client_ref=client_ref,
        )

    async def record(self, link_id: str, write: Write) -> bool:
        """Write something about a link the provider made: now, or, if the store refuses,
        again in the background until it lands. Writes for one link run in the order given,
        so a drive's row waits for its link's. True when written now."""
        waiting = self._waiting.get(link_id)
        if waiting is not None:
            waiting.append(write)
            return False
        try:
            await write()
        except Exception:
            log.exception("link %s: could not record it; retrying in the background", link_id)
            self._waiting[link_id] = deque([write])
            self._tasks[link_id] = asyncio.create_task(
                self._retry(link_id), name=f"record link {link_id}"
            )
            return False
        return True

    async def _retry(self, link_id: str) -> None:
        waiting = self._waiting[link_id]
        delay = self._retry_first
        attempts = 1
        try:
            while waiting:
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                attempts += 1
                try:
                    while waiting:
                        await waiting[0]()
                        waiting.popleft()
                except Exception as exc:  # noqa: BLE001 - whatever the store says, try later
                    log.warning(
                        "link %s: record failed again (%d tries): %s", link_id, attempts, exc
                    )
                    delay = min(delay * 2, self._retry_max)
            log.info("link %s: recorded after %d tries", link_id, attempts)
        finally:
            if not waiting:
                self._waiting.pop(link_id, None)
            self._tasks.pop(link_id, None)

    async def close(self) -> None:
        """At stop, while the database is still open: one last try for each waiting write."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link_id, waiting in list(self._waiting.items()):
            with contextlib.suppress(Exception):
                while waiting:
                    await waiting[0]()
                    waiting.popleft()
            if waiting:
                # The poller's sweep adopts it at the next start (made after its key was
                # connected: its charges are news), but without its chat: say so, with the id.
                log.error("link %s: stopped before its record could be written", link_id)
            else:
                del self._waiting[link_id]
