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
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from bot.dgs.client import DGSClient
from bot.dgs.errors import ArchivedError
from bot.dgs.models import KIGALI, Link, LinkDetails, LinkStatus, LinkUpdate
from bot.drive import GOAL_KEY, SUGGESTED_KEY
from bot.links import LinkDraft, update_for
from bot.store.drives import Drive, DriveRepo
from bot.store.models import StoredLink
from bot.store.repo import Repo

log = logging.getLogger(__name__)

Write = Callable[[], Awaitable[object]]

RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0
# **Extend expiry** on an expired link's card.
EXTEND_BY = timedelta(days=7)


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
        self._on_change: list[Callable[[str], None]] = []  # list caches to forget

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

    # --- the create form (issue 13) --------------------------------------------------------

    async def create_from_form(
        self,
        draft: LinkDraft,
        *,
        save: Callable[[], Awaitable[None]],
        api_key: str,
        owner_user_id: int,
        chat_id: int,
        group_chat_id: int | None = None,
        drive: bool = False,
        suggested: Sequence[str] = (),
    ) -> Link:
        """The form's **Create link** / **Try again**: ``create``, made safe to press twice.

        The client reference is set and ``save``d (the form, persisted) before the first call:
        a retry, even after a crash, reuses it and never makes a second link (a retry looks it
        up first; the first try need not). A drive's goal and suggested amounts travel in the
        link's metadata, so the provider's dashboard shows them too.
        """
        if drive and draft.goal is not None:
            draft.metadata = {
                **(draft.metadata or {}),
                GOAL_KEY: str(draft.goal),
                **({SUGGESTED_KEY: ",".join(suggested)} if suggested else {}),
            }
        first_attempt = draft.client_ref is None
        if first_attempt:
            draft.client_ref = uuid.uuid4().hex
            await save()
        return await self.create(
            draft,
            api_key=api_key,
            owner_user_id=owner_user_id,
            chat_id=chat_id,
            group_chat_id=group_chat_id,
            first_attempt=first_attempt,
        )

    async def record_drive(
        self,
        drives: DriveRepo,
        link_id: str,
        group_chat_id: int,
        goal: Decimal,
        suggested: list[Decimal],
    ) -> Drive:
        """A new drive's row, written behind its link's record (retried in the background when
        the store refuses, like the link's); the drive as written, or as it will be."""
        written: list[Drive] = []

        async def write() -> None:
            written.append(await drives.create(link_id, group_chat_id, goal, suggested))

        if await self.record(link_id, write):
            return written[0]
        return Drive(
            link_id=link_id,
            group_chat_id=group_chat_id,
            goal=goal,
            suggested=suggested,
            card_message_id=None,
            milestone=0,
            card_edited_at=0.0,
            created_at=time.time(),
        )

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

    # --- the dashboard's operations on a link (issue 13) -----------------------------------
    # Each owns the provider call, the bot's record of the link (kept in step with what the
    # provider said) and the list caches (told that the key's links changed).

    def on_change(self, forget: Callable[[str], None]) -> None:
        """``forget(api_key)`` runs whenever a link of that key changes (a list cache)."""
        self._on_change.append(forget)

    def _changed(self, api_key: str) -> None:
        for forget in self._on_change:
            forget(api_key)

    async def stored(self, link_id: str) -> StoredLink | None:
        """The bot's record of the link (owner, group, muted), if it has one."""
        return await self._repo.get_link(link_id)

    async def details(self, api_key: str, stored: StoredLink) -> LinkDetails:
        """The link as the provider has it now; the record follows what it says."""
        details = await self._dgs.get_link(api_key, stored.link_id)
        await self.sync(stored, api_key, details.link)
        return details

    async def sync(self, stored: StoredLink, api_key: str, link: Link) -> StoredLink:
        """Keeps the bot's record of the link in step with what the provider just said (and
        the list caches: a list that still shows the old status is read afresh)."""
        if not out_of_step(stored, link):
            return stored
        self._changed(api_key)
        return await self.remember(link, api_key=api_key, owner_user_id=stored.owner_user_id)

    async def update(
        self, api_key: str, stored: StoredLink, before: LinkDetails, body: LinkUpdate
    ) -> LinkDetails:
        """One PATCH. The details are the link as the PATCH answered it with the stats of
        ``before`` (a get call just made), which a PATCH does not change."""
        changed = await self._dgs.update_link(api_key, stored.link_id, body)
        self._changed(api_key)
        await self.sync(stored, api_key, changed)
        return before.model_copy(update={"link": changed})

    async def extend(
        self, api_key: str, stored: StoredLink, before: LinkDetails, *, now: datetime | None = None
    ) -> LinkDetails:
        """An expired link takes payments for ``EXTEND_BY`` more (from now, or from its expiry
        if that is later)."""
        now = now or datetime.now(KIGALI)
        draft = LinkDraft.for_edit(before.link)
        draft.expires_at = max(before.link.expires_at or now, now) + EXTEND_BY
        return await self.update(api_key, stored, before, update_for("expires_at", draft, now=now))

    async def reopen(self, api_key: str, stored: StoredLink, before: LinkDetails) -> LinkDetails:
        """A completed link takes ``reopen_step`` more payments."""
        link = before.link
        draft = LinkDraft.for_edit(link)
        draft.max_uses = max(link.use_count, link.max_uses or 0) + reopen_step(link)
        return await self.update(api_key, stored, before, update_for("max_uses", draft))

    async def archive(self, api_key: str, stored: StoredLink, before: LinkDetails) -> LinkDetails:
        """One DELETE (the caller saw the link open in ``before``); a link archived meanwhile
        (an earlier try whose answer was lost) is archived all the same."""
        try:
            await self._dgs.archive_link(api_key, stored.link_id)
        except ArchivedError:
            log.info("link %s was archived meanwhile", stored.link_id)
        self._changed(api_key)
        link = before.link.model_copy(update={"status": LinkStatus.ARCHIVED})
        await self.sync(stored, api_key, link)
        return before.model_copy(update={"link": link})

    async def duplicate(self, api_key: str, link_id: str) -> LinkDraft:
        """A new link's draft, prefilled from this one (nothing is made yet)."""
        details = await self._dgs.get_link(api_key, link_id)
        return LinkDraft.from_link(details.link)

    async def set_muted(self, stored: StoredLink, muted: bool) -> StoredLink:
        """Only this bot's alerts for the link; the link itself is untouched."""
        await self._repo.set_muted(stored.link_id, muted)
        return await self._repo.get_link(stored.link_id) or stored

    async def qr_file_id(self, link_id: str, content_hash: str) -> str | None:
        """Telegram's id of the link's QR card picture, if this content was sent before."""
        return await self._repo.get_qr_file_id(link_id, content_hash)

    async def keep_qr_file_id(self, link_id: str, content_hash: str, file_id: str) -> None:
        await self._repo.set_qr_file_id(link_id, content_hash, file_id)


def reopen_step(link: Link) -> int:
    """How many more payments **Reopen** allows: as many again as the link allowed."""
    return max(1, link.max_uses or 1)


def out_of_step(stored: StoredLink, link: Link) -> bool:
    """Whether the record no longer says what the provider says of the link."""
    return (stored.title, stored.slug, stored.url, stored.currency, stored.status) != (
        link.title,
        link.slug,
        link.url,
        link.currency,
        link.status,
    )
