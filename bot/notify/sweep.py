"""The sweep: every key's list of links, every poll interval (and at once for a key just
connected).

The list holds 100 links a request with each link's status and ``use_count`` (its successful
payments), so ⌈links/100⌉ requests a key show everything that changed: a link whose status or
``use_count`` moved is made due now, and only those links (and the active ones) need a details
call.

A link the bot has no record of is adopted by the baseline rule:
- made after its key was connected (elsewhere, or while the bot was down): it has no history;
  every charge on it is news, even one made before the bot saw it. Its first poll is now.
- made before: its charges so far are history. It is stored from the list alone, with its
  ``use_count`` as the baseline (``bot/store/baselines.py``): finding 2,000 such links costs 20
  requests, not 2,000 details calls. Its first details poll, when the list shows it changed,
  tells only what came after.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.dgs.client import key_hint
from bot.dgs.errors import AuthError, DGSError, ProviderUnavailableError, RateLimitedError
from bot.dgs.models import CLIENT_REF_KEY, Link
from bot.notify.keys import KeyHealth
from bot.notify.running import Running, always
from bot.notify.schedule import Schedule
from bot.store.baselines import set_baseline
from bot.store.models import LinkState

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

OPERATOR_SINCE_META = "operator-key-since"  # + ":" + the key's fingerprint
PAGE = 100  # links a list request returns, at most
# A link the bot made carries its reference (CLIENT_REF_KEY); its maker records it a moment
# after the provider has it, and the list may show it in between (another replica's sweep, or
# this one's). Adopted then from the operator's shared key, it would go to the key's first
# user, not its maker, and its payments would be told to the wrong vendor. Until this long
# after its creation it is left to its maker (a maker that died before recording it leaves it
# to the sweep after that). A user's own key has one owner, the maker: adopted at once.
MAKER_GRACE_SECONDS = 60.0
# A page the store matched in full is compared with the store again after this long even if
# the provider shows it unchanged: a bound on trusting what the sweep remembers.
RECHECK_AFTER = 600.0

Shown = tuple[tuple[Any, Any, Any], ...]  # (id, status, use_count) of each item of a page


def _unchanged(item: dict[str, Any], state: LinkState, fingerprint: str) -> bool:
    """The list shows a known link as it was: same key, status and use_count (compared raw:
    reading every link of every key in full each interval would cost more than the rest of
    the notifier)."""
    return (
        state.api_key_fingerprint == fingerprint
        and item.get("status") == state.status
        and (state.use_count is None or item.get("use_count") == state.use_count)
    )


def _shown(items: Sequence[Any]) -> Shown | None:
    """What the sweep compares of a page, or None when an item is not an object."""
    shown = []
    for item in items:
        if not isinstance(item, dict):
            return None
        shown.append((item.get("id"), item.get("status"), item.get("use_count")))
    return tuple(shown)


@dataclass(frozen=True, slots=True)
class _QuietPage:
    """A page whose every link matched the store when it was last read in full."""

    shown: Shown
    owner: int | None
    valid: frozenset[str]
    at: float

    def still(self, shown: Shown, owner: int | None, valid: frozenset[str], now: float) -> bool:
        return (
            shown == self.shown
            and owner == self.owner
            and valid == self.valid
            and 0.0 <= now - self.at <= RECHECK_AFTER
        )


def malformed(exc: ProviderUnavailableError) -> bool:
    """The client reports an answer that does not fit the model this way (no status code):
    that link's data, not the key's health."""
    return exc.status_code is None and "unexpected response" in exc.message


@dataclass(frozen=True)
class Account:
    """A key the sweep lists."""

    fingerprint: str
    api_key: str
    owner: int | None  # who gets the links found on it (None: nobody to tell yet)
    since: float  # epoch seconds when the key was connected
    shared: bool = False  # the operator's key: many vendors' links, one owner for the found

    def made_after_connect(self, link: Link) -> bool:
        """The baseline rule: a link made after its key was connected has no history.
        Provider times have whole seconds: a link of the connect's own second counts as
        made after it (better one old payment told than one new payment lost)."""
        if link.created_at is None:
            return False
        return link.created_at.timestamp() > self.since - 1.0


class Sweep:
    def __init__(
        self,
        services: Services,
        keys: KeyHealth,
        schedule: Schedule,
        *,
        clock: Callable[[], float],
        concurrency: int,
        on_due: Callable[[], None] | None = None,
    ) -> None:
        self._services = services
        self._keys = keys
        self._schedule = schedule
        self.clock = clock
        self._concurrency = concurrency
        self._on_due = on_due
        self._running = False
        self._operator_since_at: float | None = None
        # (key fingerprint, page number) -> the page as it was when it matched the store in
        # full. The provider shows the same again: nothing of it changed since (links are never
        # deleted from the store, and the bot's own writes follow the provider's changes), so
        # the store need not be read for it (one query a page, most of the sweep's CPU).
        self._quiet: dict[tuple[str, int], _QuietPage] = {}
        self.requests = 0  # list pages fetched (benchmarks)
        self.pages_read = 0  # pages compared with the store (benchmarks, tests)

    async def run(self, running: Running = always) -> None:
        """List every valid key's links; a second call while one runs returns at once."""
        if self._running:
            return
        self._running = True
        try:
            accounts = await self._accounts()
            valid = {account.fingerprint for account in accounts}
            gate = asyncio.Semaphore(self._concurrency)

            async def one(account: Account) -> None:
                async with gate:
                    if running() and self._keys.paused_for(account.fingerprint) <= 0:
                        await self._list_key(account, valid, running)

            await asyncio.gather(*(one(account) for account in accounts))
        finally:
            self._running = False

    async def watch_key(self, api_key: str, running: Running = always) -> None:
        """A key was just connected: list its links now rather than at the next sweep, so a
        payment made in between is told (or is history, by the baseline rule)."""
        accounts = await self._accounts()
        valid = {account.fingerprint for account in accounts}
        for account in accounts:
            if account.api_key == api_key:
                await self._list_key(account, valid, running)

    def _due_now(self) -> None:
        if self._on_due is not None:
            self._on_due()

    async def _accounts(self) -> list[Account]:
        """Every valid key: whom its links found belong to, and since when it is watched."""
        repo = self._services.repo
        owners: dict[str, int] = {}
        since: dict[str, float] = {}
        for credential in await repo.list_valid_credentials():  # by user id: lowest first
            fp = credential.key_fingerprint
            owners.setdefault(fp, credential.user_id)
            connected = credential.created_at.timestamp()
            since[fp] = min(since.get(fp, connected), connected)
        accounts: list[Account] = []
        for fp, owner in owners.items():
            api_key = await self._keys.key_for(fp)
            if api_key is not None:
                accounts.append(Account(fp, api_key, owner, since[fp]))
        operator_key, operator_fp = self._keys.operator_key, self._keys.operator_fp
        if operator_key is not None and operator_fp is not None:
            operator_owner = None
            # A shared key has no single owner: links made elsewhere go to the first allowed
            # user who has talked to the bot (nobody else can be written to).
            for user_id in sorted(self._services.settings.dgs_allowed_users):
                user = await repo.get_user(user_id)
                if user is not None and user.active:
                    operator_owner = user_id
                    break
            since_at = await self._operator_since(operator_fp)
            accounts.append(
                Account(operator_fp, operator_key, operator_owner, since_at, shared=True)
            )
        return accounts

    async def _operator_since(self, fingerprint: str) -> float:
        """When this bot first used the operator's key (its "connect" time), kept in the
        store so that a restart does not move it."""
        if self._operator_since_at is None:
            repo = self._services.repo
            name = f"{OPERATOR_SINCE_META}:{fingerprint}"
            stored = await repo.get_meta(name)
            if stored is None:
                stored = repr(self.clock())
                await repo.set_meta(name, stored)
            self._operator_since_at = float(stored)
        return self._operator_since_at

    async def _list_key(self, account: Account, valid: set[str], running: Running) -> None:
        api_key, fp = account.api_key, account.fingerprint
        pages = 0
        try:
            async for items in self._services.dgs.iter_link_pages(api_key, per_page=PAGE):
                pages += 1
                await self._absorb(items, account, valid, pages)
                if not running():
                    return
        except AuthError:
            await self._keys.refused(fp, api_key)
        except RateLimitedError as exc:
            # The key's pace and health are one, whether a poll or the sweep learnt of it.
            wait = (
                exc.retry_after if exc.retry_after is not None else self._schedule.rules.interval
            )
            self._keys.rate_limited(fp, api_key, wait)
        except ProviderUnavailableError as exc:
            if malformed(exc):
                log.info("sweep of key %s failed: %s", key_hint(api_key), exc.message)
            else:
                self._keys.failed(fp, api_key, exc)
        except DGSError as exc:
            log.info("sweep of key %s failed: %s", key_hint(api_key), exc.message)
        else:
            self._keys.answered(fp)
        finally:
            self.requests += pages

    async def _absorb(
        self, items: Sequence[Any], account: Account, valid: set[str], page: int = 0
    ) -> None:
        """One page of the key's list, as the provider sent it. Most links did not change: they
        are compared in their raw form, and only the others are read in full. A page shown
        exactly as when it last matched the store in full is not compared again."""
        repo = self._services.repo
        now = self.clock()
        where = (account.fingerprint, page)
        shown = _shown(items)
        frozen_valid = frozenset(valid)
        quiet = self._quiet.pop(where, None)
        if (
            quiet is not None
            and shown is not None
            and quiet.still(shown, account.owner, frozen_valid, now)
        ):
            self._quiet[where] = quiet
            return
        self.pages_read += 1
        ids = [item.get("id") for item in items if isinstance(item, dict)]
        states = await repo.link_states([i for i in ids if isinstance(i, str)])
        changed: list[str] = []
        found = 0
        matched = 0
        for item in items:
            link_id = item.get("id") if isinstance(item, dict) else None
            state = states.get(link_id) if isinstance(link_id, str) else None
            if state is not None and _unchanged(item, state, account.fingerprint):
                matched += 1
                continue
            link = self._services.dgs.read_link(item)
            if link is None:
                continue  # unreadable: logged once by the client, the others go on
            if state is None:
                if account.owner is not None and not (
                    account.shared and _left_to_maker(link, now)
                ):
                    found += await self._adopt(link, account, account.owner)
                continue
            if state.api_key_fingerprint != account.fingerprint and (
                state.api_key_fingerprint not in valid
            ):
                # Its old key is gone; this one sees the link: poll it with this one.
                await repo.upsert_link(
                    link,
                    owner_user_id=state.owner_user_id,
                    api_key_fingerprint=account.fingerprint,
                )
                continue
            if link.status == state.status:
                if state.use_count is not None and link.use_count != state.use_count:
                    # A successful payment since the last poll (pending and failed charges do
                    # not move use_count): poll it now, however quiet it had been.
                    changed.append(link.id)
                continue
            if link.is_final:
                if not state.final_polled:
                    changed.append(link.id)  # its poll reports the change
            else:
                # Taking payments again (reopened elsewhere): watch it again.
                await repo.upsert_link(
                    link,
                    owner_user_id=state.owner_user_id,
                    api_key_fingerprint=state.api_key_fingerprint,
                )
        if changed:
            await repo.poll_soon(changed, now)
        if changed or found:
            self._due_now()
        if shown is not None and matched == len(items):
            self._quiet[where] = _QuietPage(shown, account.owner, frozen_valid, now)

    async def _adopt(self, link: Link, account: Account, owner: int) -> int:
        """A link the bot has no record of; returns 1 when it is due now."""
        services = self._services
        repo = services.repo
        fp = account.fingerprint
        now = self.clock()
        if account.made_after_connect(link):
            # No history: every charge on it is news. Its first poll (now) tells them all.
            await repo.upsert_link(
                link, owner_user_id=owner, api_key_fingerprint=fp, next_poll_at=now
            )
            log.info(
                "watching link %s, made after its key was connected (user %s)", link.id, owner
            )
            return 1
        # It existed when the key was connected: its charges so far are history.
        async with services.db.transaction() as conn:
            if link.is_final:
                await repo.upsert_link(
                    link, owner_user_id=owner, api_key_fingerprint=fp, conn=conn
                )
                await repo.stop_polling(link.id, conn=conn)
                return 0
            await repo.upsert_link(
                link,
                owner_user_id=owner,
                api_key_fingerprint=fp,
                next_poll_at=self._schedule.quiet_from(now),
                conn=conn,
            )
            await set_baseline(conn, link.id, link.use_count, now)
        log.info("watching link %s, made outside the bot (user %s)", link.id, owner)
        return 0


def _left_to_maker(link: Link, now: float) -> bool:
    """Made by the bot (its reference in the metadata) so recently that its maker may not
    have recorded it yet (``MAKER_GRACE_SECONDS``)."""
    made = link.created_at
    return (
        CLIENT_REF_KEY in (link.metadata or {})
        and made is not None
        and made.timestamp() > now - MAKER_GRACE_SECONDS
    )
