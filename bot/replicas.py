"""N replicas on one PostgreSQL: every replica the same program, any one may take any update.

Replica mode is ``Settings.replicated``: the webhook (``WEBHOOK_URL``) on PostgreSQL
(``DATABASE_URL=postgresql://…``). There is no switch of its own: only there can several
processes serve one bot, and there it is always safe. Alone (long polling, or SQLite) nothing
here runs and the bot is today's.

- Updates: the webhook keeps each update in the ``inbox`` table (a repeat of an ``update_id``
  is dropped) and answers 200 (``bot/webhook.py``). Here, one dispatcher per replica claims
  the next update of a chat nobody holds (``bot/store/inbox.py``: ``FOR UPDATE SKIP LOCKED``
  and a lease, renewed while the update is in hand), runs it through the Application's update
  processor and ``process_update``, writes the persistence, and marks it done: a chat's
  updates run in order, one at a time, on whichever replica is free; different chats run in
  parallel. The replica Telegram posted an update to takes it itself when its chat is free
  (``add_and_claim``), and the replica finishing a chat's update takes the chat's next one
  (``finish_and_take_next``): the others are woken (``LISTEN``/``NOTIFY`` on a held
  connection) only for updates nobody holds, and a slow poll besides catches a lost listener
  connection or a lease run out.
- Conversation state: before each update, the persistence reloads the chat's and the user's
  data and their ConversationHandler states from the database (``reload_for``), so the step
  another replica handled last is the one this replica sees.
- A heartbeat row per replica: each takes ``1/N`` of Telegram's per-bot send rate for alerts,
  N the replicas seen in the last ``LIVE_WITHIN_SECONDS`` (``Sender.share_rate``).
- Polls, outbox rows and once-only jobs are claimed in the store (``claim_for_poll``,
  ``claim_due``, ``take_job``); nothing of theirs runs here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from telegram import Update

from bot.notify import notifier_of
from bot.store.inbox import INBOX_CHANNEL, Claimed

if TYPE_CHECKING:
    from telegram.ext import Application

    from bot.services import Services
    from bot.store.persistence import SQLitePersistence

log = logging.getLogger(__name__)

# A replica holds a chat this long past its last renewal; renewed every third of it while the
# update is in hand, so only a dead (or frozen) replica loses one.
UPDATE_LEASE_SECONDS = 30.0
# The dispatcher looks at the inbox this often when no NOTIFY woke it.
FALLBACK_POLL_SECONDS = 2.0
# Updates in hand at once per replica (each holds its chat).
MAX_WORKERS = 64
# An update whose handling failed before PTB took it (the database away) is tried again
# after its lease; past this many tries it is given up, logged, so its chat moves on.
MAX_ATTEMPTS = 5
BEAT_SECONDS = 5.0
LIVE_WITHIN_SECONDS = 3 * BEAT_SECONDS
# What a replica finishing at stop waits for the updates in hand, at most.
STOP_GRACE_SECONDS = 20.0


def chat_key(update: Update) -> int:
    """The queue an update waits in: its chat, else its user (inline queries), else 0."""
    chat, user = update.effective_chat, update.effective_user
    if chat is not None:
        return chat.id
    return user.id if user is not None else 0


class Replica:
    """The inbox side of one replica: ``take`` (the webhook's), the dispatcher, the heartbeat.
    Use as ``async with Replica(app, note):`` around the time the webhook serves."""

    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        note: Callable[[object], None],
        *,
        workers: int = MAX_WORKERS,
        lease: float = UPDATE_LEASE_SECONDS,
        poll_every: float = FALLBACK_POLL_SECONDS,
    ) -> None:
        services: Services | None = app.bot_data.services
        if services is None:
            raise RuntimeError("the services must be open before the replica starts")
        self._app = app
        self._services = services
        self._note = note
        self._workers = max(1, min(workers, services.settings.max_concurrent_updates))
        self._lease = lease
        self._poll_every = poll_every
        # The notifier's name for this process: its once-only jobs and this heartbeat agree.
        self.id = notifier_of(app).replica
        self._wake = asyncio.Event()
        self._stopping = False
        self._in_hand: set[asyncio.Task[None]] = set()
        self._stack = contextlib.AsyncExitStack()
        self._loops: list[asyncio.Task[None]] = []
        self.handled = 0
        self.live = 1

    # --- the webhook's side -----------------------------------------------------------

    async def take(self, data: dict[str, Any], update: Update) -> bool:
        """Keep a posted update; False for a repeat. This replica handles it at once when it
        has a worker free and the chat has nothing older waiting; otherwise whichever replica
        is free takes it in the chat's turn. (Waking every replica for every update made
        three replicas slower than one: each woke, claimed, and mostly found nothing.)"""
        repo = self._services.repo
        body = json.dumps(data, separators=(",", ":"))
        key = chat_key(update)
        if self._stopping or len(self._in_hand) >= self._workers:
            return await repo.add_update(update.update_id, key, body)
        added, claimed = await repo.add_and_claim(
            update.update_id, key, body, self.id, self._lease
        )
        if claimed is not None:
            self._start(claimed)
        return added

    # --- life -------------------------------------------------------------------------

    async def __aenter__(self) -> Replica:
        db = self._services.db
        listening = getattr(db, "listening", None)
        if listening is not None:  # PostgreSQL: woken at each commit of an update
            await self._stack.enter_async_context(listening(INBOX_CHANNEL, self._wake.set))
        await self._beat_once()
        self._loops = [
            asyncio.create_task(self._dispatch(), name="replica:dispatch"),
            asyncio.create_task(self._beat(), name="replica:beat"),
        ]
        log.info("replica %s: taking updates from the inbox", self.id)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stopping = True
        self._wake.set()
        dispatcher, beat = self._loops
        await dispatcher
        if self._in_hand:  # finish what is in hand; a cut one is taken again after its lease
            await asyncio.wait(set(self._in_hand), timeout=STOP_GRACE_SECONDS)
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)
        with contextlib.suppress(Exception):  # the others take this one's share at once
            await self._services.repo.replica_gone(self.id)
        await self._stack.aclose()

    # --- the dispatcher ---------------------------------------------------------------

    async def _dispatch(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                while len(self._in_hand) < self._workers and not self._stopping:
                    claimed = await self._services.repo.claim_update(self.id, self._lease)
                    if claimed is None:
                        break
                    self._start(claimed)
            except Exception:
                log.exception("replica %s: claiming from the inbox failed", self.id)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_every):
                    await self._wake.wait()

    def _start(self, claimed: Claimed) -> None:
        task = asyncio.create_task(self._handle(claimed), name=f"replica:{claimed.update_id}")
        self._in_hand.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._in_hand.discard(finished)
            self._wake.set()  # the chat's next update may be claimed now

        task.add_done_callback(done)

    async def _handle(self, claimed: Claimed) -> None:
        repo = self._services.repo
        renewing = asyncio.create_task(self._renew(claimed.update_id))
        try:
            ready = await self._run(claimed)
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
        if ready or claimed.attempts >= MAX_ATTEMPTS:
            if not ready:
                log.error("replica: update %d given up after %d tries", *_tries(claimed))
            following = None
            with contextlib.suppress(Exception):
                if self._stopping:
                    finished = await repo.finish_update(claimed.update_id, self.id)
                else:
                    # The chat's next update, when one came meanwhile, stays here.
                    finished, following = await repo.finish_and_take_next(
                        claimed.update_id, claimed.chat_key, self.id, self._lease
                    )
                if not finished:
                    log.warning("replica: update %d was taken over meanwhile", claimed.update_id)
            self.handled += 1
            if following is not None:
                self._start(following)

    async def _run(self, claimed: Claimed) -> bool:
        """Handle the update; False when it must be tried again (PTB never saw it)."""
        app = self._app
        try:
            data = json.loads(claimed.body)
            update = Update.de_json(data, app.bot)
            await self._reload(update)
        except Exception:
            log.exception("replica: update %d could not be prepared", claimed.update_id)
            return False
        self._note(data)
        try:
            # The update processor keeps the bound on updates in hand and the count the
            # poller reads; PTB's handlers catch their own errors (the error handler).
            await app.update_processor.process_update(update, app.process_update(update))
            # On disk before the chat is released: the replica taking its next step reads it.
            await app.update_persistence()
        except Exception:
            # Handled, or partly: never run twice (its replies may be out already).
            log.exception("replica: update %d failed", claimed.update_id)
        return True

    async def _reload(self, update: Update) -> None:
        app = self._app
        persistence: SQLitePersistence = app.persistence  # type: ignore[assignment]
        chat, user = update.effective_chat, update.effective_user
        await persistence.reload_for(
            app.user_data,
            app.chat_data,
            # PTB keeps each persistent ConversationHandler's state table here (by name); it
            # reads them from the persistence only in initialize(), so they are refreshed here.
            app._conversation_handler_conversations,
            user_id=None if user is None else user.id,
            chat_id=None if chat is None else chat.id,
        )

    async def _renew(self, update_id: int) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await self._services.repo.renew_update_lease(update_id, self.id, self._lease)
            except Exception:  # noqa: BLE001 - the next renewal tries again
                log.warning("replica: renewing the lease of update %d failed", update_id)

    # --- the heartbeat ----------------------------------------------------------------

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(BEAT_SECONDS)
            await self._beat_once()

    async def _beat_once(self) -> None:
        repo = self._services.repo
        try:
            await repo.replica_beat(self.id)
            self.live = await repo.live_replicas(LIVE_WITHIN_SECONDS)
        except Exception:  # noqa: BLE001 - the share stays as it was until the next beat
            log.warning("replica %s: the heartbeat could not be written", self.id)
            return
        notifier_of(self._app).sender.share_rate(self.live)


def _tries(claimed: Claimed) -> tuple[int, int]:
    return claimed.update_id, claimed.attempts


@contextlib.asynccontextmanager
async def serving_replica(
    app: Application[Any, Any, Any, Any, Any, Any], note: Callable[[object], None]
) -> AsyncIterator[Replica]:
    """The replica's inbox workers and heartbeat for the block (the webhook inside it)."""
    async with Replica(app, note) as replica:
        yield replica
