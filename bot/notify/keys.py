"""The notifier's view of each provider key: its secret, whether it may be used now, its health.

Faults are per key, whether a details poll or the sweep met them: 401 marks the key invalid
and tells its owners once (their links wait for ``/connect``; the operator's key is retried
later, as nobody can connect it); 429 pauses the key for Retry-After; 5xx and timeouts back it
off exponentially, with one log line when the provider stops answering and one when it is
back. Pauses are monotonic time: a wall clock set back never lengthens them.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.bounded import LRUDict
from bot.dgs.client import key_hint
from bot.dgs.errors import DGSError
from bot.notify.messages import KIND_KEY_INVALID
from bot.store.secrets import key_last4

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

# Decrypted API keys kept in memory by fingerprint; a key not in it is read from the store.
KEY_CACHE_SIZE = 4096


@dataclass(frozen=True)
class KeyRules:
    """How long a key waits after each kind of fault."""

    interval: float  # POLL_INTERVAL_SECONDS: the first backoff step
    backoff_max: float  # 5xx and timeouts back a key off to this at most
    operator_retry: float  # the operator's key refused (401): try it again after this
    jitter: float


@dataclass
class _Trouble:
    """A key whose calls fail with 5xx or timeouts."""

    failures: int
    until: float


class KeyHealth:
    """Every key the notifier uses: its secret, its pause, its faults."""

    def __init__(
        self,
        services: Services,
        rules: KeyRules,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self._services = services
        self.rules = rules
        self.monotonic = monotonic
        self._rng = rng or random.Random()
        self._on_enqueue = on_enqueue
        operator_key = services.settings.dgs_api_key
        self.operator_key = operator_key.get_secret_value() if operator_key else None
        self.operator_fp = services.accounts.operator_fingerprint
        self._keys: LRUDict[str, str] = LRUDict(KEY_CACHE_SIZE)  # fingerprint -> API key
        self._paused: dict[str, float] = {}  # fingerprint -> no calls before (monotonic)
        self._trouble: dict[str, _Trouble] = {}
        self._outage_since: float | None = None

    async def key_for(self, fingerprint: str) -> str | None:
        """The API key with this fingerprint, or None when the bot no longer holds it."""
        api_key = self._keys.get(fingerprint)
        if api_key is None:
            if fingerprint == self.operator_fp:
                api_key = self.operator_key
            else:
                api_key = await self._services.repo.api_key_for_fingerprint(fingerprint)
            if api_key is None:
                return None
            self._keys[fingerprint] = api_key
        return api_key

    # --- pauses ---------------------------------------------------------------------------

    def pause(self, fingerprint: str, seconds: float) -> None:
        until = self.monotonic() + seconds
        self._paused[fingerprint] = max(self._paused.get(fingerprint, 0.0), until)

    def paused_for(self, fingerprint: str) -> float:
        """Seconds the key still waits (0 or less: it may be used)."""
        return self._paused.get(fingerprint, 0.0) - self.monotonic()

    def paused_keys(self) -> set[str]:
        """The keys waiting now (and the ones whose wait is over are forgotten)."""
        now = self.monotonic()
        for fingerprint, until in list(self._paused.items()):
            if until <= now:
                del self._paused[fingerprint]
        return set(self._paused)

    # --- faults ---------------------------------------------------------------------------

    def rate_limited(self, fingerprint: str, api_key: str, wait: float) -> None:
        """429 (or the client's pace would make the call wait too long): the notifier leaves
        the key alone meanwhile. The client paces the key itself (``bot/dgs/pacing.py``): a
        pause there would hold back the people waiting on the same key too."""
        self.pause(fingerprint, wait)
        log.info("DGS asks key %s to slow down for %.1f s", key_hint(api_key), wait)

    async def refused(self, fingerprint: str, api_key: str) -> None:
        """401: the key is no good. Mark it invalid and tell its owners, once."""
        self._keys.pop(fingerprint, None)
        if fingerprint == self.operator_fp:
            # Nobody can /connect the operator's key: log it for the operator, retry later.
            if self.paused_for(fingerprint) <= 0:
                log.error(
                    "DGS refused the operator key DGS_API_KEY (%s); its links pause for %.0f s",
                    key_hint(api_key),
                    self.rules.operator_retry,
                )
            self.pause(fingerprint, self.rules.operator_retry)
            return
        repo = self._services.repo
        async with self._services.db.transaction() as conn:
            users = await repo.mark_fingerprint_invalid(fingerprint, conn=conn)
            for user_id in users:
                await repo.enqueue(
                    conn,
                    user_id,
                    KIND_KEY_INVALID,
                    {"last4": key_last4(api_key)},
                    user_id=user_id,
                )
        if users:
            log.warning(
                "DGS refused key %s: polling of its links waits for /connect (users %s)",
                key_hint(api_key),
                ", ".join(map(str, users)),
            )
            if self._on_enqueue is not None:
                self._on_enqueue()

    def failed(self, fingerprint: str, api_key: str, exc: DGSError) -> float:
        """5xx or timeout: back the key off; returns in how many seconds it may be tried."""
        rules = self.rules
        now = self.monotonic()
        trouble = self._trouble.get(fingerprint)
        if trouble is None:
            trouble = self._trouble[fingerprint] = _Trouble(failures=0, until=now)
            if self._outage_since is None:
                self._outage_since = now
                log.warning(
                    "DGS is not answering (%s, key %s); backing off", exc, key_hint(api_key)
                )
            else:
                log.debug("DGS is not answering for key %s either", key_hint(api_key))
        trouble.failures += 1
        step = min(rules.backoff_max, rules.interval * 2**trouble.failures)
        delay = step * self._rng.uniform(1 - rules.jitter, 1 + rules.jitter)
        trouble.until = max(trouble.until, now + delay)
        self._paused[fingerprint] = max(self._paused.get(fingerprint, 0.0), trouble.until)
        return trouble.until - now

    def answered(self, fingerprint: str) -> None:
        """The key's call succeeded: its trouble, if any, is over."""
        if not self._trouble or self._trouble.pop(fingerprint, None) is None:
            return
        if not self._trouble and self._outage_since is not None:
            log.info("DGS answers again, after %.0f s", self.monotonic() - self._outage_since)
            self._outage_since = None
