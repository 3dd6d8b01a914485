"""``DGSClient``: the DGS Payment Links API over one shared ``httpx.AsyncClient``.

- One method per endpoint, returning the typed models of ``bot.dgs.models``; bodies are read
  with ``parse_float=Decimal`` so amounts stay exact.
- GET, PATCH and DELETE are retried on 429, 5xx and connection errors / timeouts, with
  exponential backoff and full jitter, honouring ``Retry-After`` (up to ``MAX_RETRY_AFTER``),
  bounded in count and time.
  An archive retried after a lost answer may meet its own earlier success as 410: that counts
  as archived (a 404 is still NotFoundError).
- A list page is read link by link: a link that does not fit the model is skipped (and logged
  once, by id), so one bad link never hides the others; reading it alone (``get_link``)
  raises ProviderUnavailableError ("unexpected response").
- A create is never retried blindly. It carries a client reference in ``metadata``
  (``CLIENT_REF_KEY``); when its outcome is unknown the reference is looked up among the
  newest links, and the POST is repeated (once, same reference) only when the lookup proved
  that no link was made. Otherwise ``CreateOutcomeUnknownError`` carries the reference, and a
  later call with the same ``client_ref`` looks it up first, so "Try again" never makes a
  second link. A 429 on a create proves nothing was made: it is raised, not retried.
- Pacing (``bot.dgs.pacing.ProviderPacer``): a token bucket per key whose rate is learned
  from 429s, calls people wait for ahead of background work (``mark_background``), plus a
  global bound on requests in flight of which background work never takes the last quarter.
  A pacing wait counts against the retry budget; one longer than the budget raises
  RateLimitedError at once. A create refused with 429 and a Retry-After is sent again (the
  429 proves nothing was made).
- The API key is never logged or put in an exception message; logs show ``key_hint(key)``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from bot.dgs.answers import (
    LINKS_PATH,
    Failure,
    decode_object,
    key_hint,
    match_ref,
    model_of,
    raw_id,
    shape_error,
    status_failure,
    transport_failure,
)
from bot.dgs.errors import (
    MAX_RETRY_AFTER,
    ArchivedError,
    AuthError,
    CreateOutcomeUnknownError,
    DGSError,
    ProviderUnavailableError,
    RateLimitedError,
    SlugTakenError,
)
from bot.dgs.models import (
    CLIENT_REF_KEY,
    Link,
    LinkCreate,
    LinkDetails,
    LinkPage,
    LinkUpdate,
    RawLinkPage,
    parse_link_page,
)
from bot.dgs.pacing import DEFAULT_BURST, Priority, ProviderPacer, current_priority

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://pay.digitalservicescenter.rw/generation/v2"
API_KEY_HEADER: Final = "X-DGS-API-Key"
MAX_PER_PAGE: Final = 100

_KEY_SHAPE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: a valid header value
_MESSAGE_LIMIT = 300
# Unreadable links already reported: each is logged once (the poller relists every few
# minutes), and the memory of them stays bounded.
_UNREADABLE_MEMORY = 1024
_SHOWN_ID_LIMIT = 64

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
_M = TypeVar("_M", bound=BaseModel)


class _LinkEnvelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    link: Link


class _Unknown:
    """Marker: a lookup could not tell whether the reference exists."""


_UNKNOWN: Final = _Unknown()


class DGSClient:
    """Async client of the DGS Payment Links API, shared by the whole bot.

    ``sleep`` and ``clock`` exist so tests can run backoff and pacing on a fake clock.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 15.0,
        connect_timeout: float = 5.0,
        max_retries: int = 3,
        retry_budget: float = 30.0,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        requests_per_second_per_key: float = 10.0,
        max_requests_per_second_per_key: float | None = None,
        burst_per_key: int = DEFAULT_BURST,
        max_concurrency: int = 64,
        reconcile_tries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if max_retries < 0 or retry_budget <= 0 or backoff_base < 0 or reconcile_tries < 1:
            raise ValueError("retry settings out of range")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._max_retries = max_retries
        self._retry_budget = retry_budget
        self._backoff_base = backoff_base
        self._backoff_max = max(backoff_max, backoff_base)
        self._reconcile_tries = reconcile_tries
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self.pacer = ProviderPacer(
            requests_per_second_per_key,
            burst=burst_per_key,
            ceiling=max_requests_per_second_per_key,
            clock=clock,
        )
        self._unreadable: OrderedDict[str | None, None] = OrderedDict()
        self._in_flight = asyncio.Semaphore(max_concurrency)
        # Background work never holds the last quarter of the connections: a person's call
        # finds one free however many polls or export fetches are under way.
        self._background_slots = asyncio.Semaphore(max(1, max_concurrency - max_concurrency // 4))
        self._http = httpx.AsyncClient(
            base_url=base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(connect_timeout, timeout)),
            # The semaphore already bounds requests in flight; a matching pool never makes a
            # request wait for a connection (which would look like a PoolTimeout).
            limits=httpx.Limits(
                max_connections=max_concurrency,
                max_keepalive_connections=min(max_concurrency, 32),
            ),
            headers={"Accept": "application/json", "User-Agent": "paylinks-bot"},
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> DGSClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def slow_down(self, api_key: str, seconds: float) -> None:
        """Make this key's next requests wait ``seconds`` (e.g. a 429's Retry-After), at most
        ``MAX_RETRY_AFTER``."""
        self.pacer.slow_down(api_key, min(seconds, MAX_RETRY_AFTER))

    # ----------------------------------------------------------------- endpoints

    async def create_link(
        self,
        api_key: str,
        body: LinkCreate,
        *,
        client_ref: str | None = None,
        first_attempt: bool = False,
    ) -> Link:
        """Create a link, at most once per ``client_ref`` (a fresh one when None).

        Pass the ``client_ref`` of a ``CreateOutcomeUnknownError`` to try again safely: the
        client first looks it up among the newest links. ``first_attempt=True`` says the
        caller chose this reference itself and never sent it before, so that look-up (up to
        three list calls) is skipped.
        """
        _check_key(api_key)
        ref = uuid.uuid4().hex if client_ref is None else client_ref
        if not ref:
            raise ValueError("client_ref must not be empty")
        payload = body.to_json()
        metadata = dict(payload.get("metadata") or {})
        metadata[CLIENT_REF_KEY] = ref
        payload["metadata"] = metadata

        if client_ref is not None and not first_attempt:
            # An earlier attempt with this reference may have made the link.
            try:
                existing = await self.find_by_client_ref(api_key, ref)
            except (ProviderUnavailableError, RateLimitedError) as exc:
                raise CreateOutcomeUnknownError(
                    f"POST {LINKS_PATH}: could not check for an earlier create: {exc.message}",
                    client_ref=ref,
                    status_code=exc.status_code,
                ) from exc
            if existing is not None:
                return existing

        for post in (1, 2):
            outcome = await self._send_create(api_key, payload)
            if isinstance(outcome, dict):
                try:
                    return _LinkEnvelope.model_validate(outcome).link
                except ValidationError as exc:
                    # A 2xx made the link, but we cannot read it: find it by reference.
                    outcome = Failure(
                        shape_error("POST", LINKS_PATH, exc), transient=False, maybe_processed=True
                    )
            failure = outcome
            # A resent create's 409 may be the first POST's own slug, landed late.
            slug_clash_on_resend = post == 2 and isinstance(failure.error, SlugTakenError)
            if not (failure.maybe_processed or slug_clash_on_resend):
                raise failure.error
            found = await self._reconcile(api_key, ref)
            if isinstance(found, Link):
                return found
            if slug_clash_on_resend:
                raise failure.error
            # Resend only after a transient failure (not after a 2xx we could not read, which
            # most likely made the link) and only when the lookup proved nothing was made.
            if found is None and post == 1 and failure.transient:
                logger.info("DGS create not made (ref %s); sending it once more", ref)
                continue
            raise CreateOutcomeUnknownError(
                f"POST {LINKS_PATH}: outcome unknown ({failure.error.message})",
                client_ref=ref,
                status_code=failure.error.status_code,
            ) from failure.error
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_create(
        self, api_key: str, payload: dict[str, Any]
    ) -> dict[str, Any] | Failure:
        """The POST, sent again after a 429 that says when to come back: a 429 proves nothing
        was made, and the key's pacer holds the resend until then."""
        deadline = self._clock() + self._retry_budget
        for _ in range(self._max_retries):
            outcome = await self._attempt(
                "POST", LINKS_PATH, LINKS_PATH, api_key, None, payload, deadline
            )
            if not (
                isinstance(outcome, Failure)
                and isinstance(outcome.error, RateLimitedError)
                and outcome.error.status_code == 429
                and outcome.retry_after is not None
                and self._clock() + outcome.retry_after <= deadline
            ):
                return outcome
            logger.info("DGS POST %s: 429; sent again in %.1f s", LINKS_PATH, outcome.retry_after)
        return await self._attempt(
            "POST", LINKS_PATH, LINKS_PATH, api_key, None, payload, deadline
        )

    async def list_links(self, api_key: str, *, page: int = 1, per_page: int = 100) -> LinkPage:
        """One page of the key's links (archived ones included)."""
        _check_key(api_key)
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"page must be ≥ 1 and per_page within 1..{MAX_PER_PAGE}")
        result, _ = await self._list_page(api_key, page, per_page)
        return result

    async def _list_page(
        self, api_key: str, page: int, per_page: int
    ) -> tuple[LinkPage, list[Any]]:
        """The page's readable links, and the raw items of those that are not (skipped, and
        logged once each: every caller of the list sees the other links)."""
        shown = f"{LINKS_PATH}?page={page}&per_page={per_page}"
        params = {"page": page, "per_page": per_page}
        data = await self._call("GET", LINKS_PATH, shown, api_key, params=params)
        try:
            result, unreadable = parse_link_page(data)
        except ValidationError as exc:
            raise shape_error("GET", shown, exc) from None
        if unreadable:
            self._report_unreadable([raw_id(item) for item in unreadable], shown)
        return result, unreadable

    async def iter_links(self, api_key: str, *, per_page: int = 100) -> AsyncIterator[Link]:
        """Every readable link of the key, page by page (``iter_link_pages``)."""
        async for items in self.iter_link_pages(api_key, per_page=per_page):
            for item in items:
                link = self.read_link(item)
                if link is not None:
                    yield link

    async def iter_link_pages(
        self, api_key: str, *, per_page: int = 100
    ) -> AsyncIterator[list[Any]]:
        """Every link of the key as the provider sent it, a page of raw items at a time: the
        notifier's sweep reads in full (``read_link``) only the links that changed.

        A link created meanwhile can push others onto the next page; ids already given are
        skipped, so no link is seen twice.
        """
        _check_key(api_key)
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be within 1..{MAX_PER_PAGE}")
        seen: set[str] = set()
        page = 1
        while True:
            shown = f"{LINKS_PATH}?page={page}&per_page={per_page}"
            params = {"page": page, "per_page": per_page}
            data = await self._call("GET", LINKS_PATH, shown, api_key, params=params)
            try:
                raw = RawLinkPage.model_validate(data)
            except ValidationError as exc:
                raise shape_error("GET", shown, exc) from None
            fresh: list[Any] = []
            for item in raw.links:
                link_id = raw_id(item)
                if link_id is None or link_id not in seen:
                    fresh.append(item)  # an item without an id is reported by read_link
                if link_id is not None:
                    seen.add(link_id)
            yield fresh
            total_pages = raw.pagination.total_pages
            if not raw.links:
                return
            if total_pages > 0 and page >= total_pages:
                return
            if total_pages <= 0 and len(raw.links) < per_page:
                return  # no pagination given: a short page is the last
            page += 1

    def read_link(self, item: Any) -> Link | None:
        """One link of a list page, or None (logged once, by id) when it cannot be read."""
        try:
            return Link.model_validate(item)
        except ValidationError:
            self._report_unreadable([raw_id(item)], LINKS_PATH)
            return None

    async def get_link(self, api_key: str, link_id: str) -> LinkDetails:
        """The link, its stats and its newest charges."""
        _check_key(api_key)
        path = _link_path(link_id)
        data = await self._call("GET", path, path, api_key)
        return model_of(LinkDetails, data, "GET", path)

    async def update_link(self, api_key: str, link_id: str, body: LinkUpdate) -> Link:
        """Change the fields given to ``body`` (and only those)."""
        _check_key(api_key)
        path = _link_path(link_id)
        data = await self._call("PATCH", path, path, api_key, body=body.to_json())
        return model_of(_LinkEnvelope, data, "PATCH", path).link

    async def archive_link(self, api_key: str, link_id: str) -> None:
        """Archive the link (permanent)."""
        _check_key(api_key)
        path = _link_path(link_id)
        await self._call("DELETE", path, path, api_key)

    async def find_by_client_ref(self, api_key: str, client_ref: str) -> Link | None:
        """The link whose metadata carries ``client_ref``, among the newest links, or None.

        Reads page 1 (100 links), then page 2 and the last page: whichever end of the list
        the provider puts new links at, a link made moments ago is there. An unreadable link
        that may be the one raises ProviderUnavailableError: it exists, so "not made" would
        be wrong, and a create resent on that word would make a second link.
        """
        _check_key(api_key)
        first, unreadable = await self._list_page(api_key, 1, MAX_PER_PAGE)
        found = match_ref(first, unreadable, client_ref)
        if found is not None:
            return found
        last = first.pagination.total_pages
        for page in sorted({2, last}):
            if not 2 <= page <= last:
                continue
            found = match_ref(
                *await self._list_page(api_key, page, MAX_PER_PAGE), client_ref=client_ref
            )
            if found is not None:
                return found
        return None

    # ----------------------------------------------------------------- machinery

    def _report_unreadable(self, link_ids: list[str | None], shown: str) -> None:
        """One line per unreadable link, the first time only; its id, never its data."""
        for link_id in link_ids:
            first = link_id not in self._unreadable
            self._unreadable[link_id] = None
            self._unreadable.move_to_end(link_id)
            while len(self._unreadable) > _UNREADABLE_MEMORY:
                self._unreadable.popitem(last=False)
            name = "without an id" if link_id is None else repr(link_id[:_SHOWN_ID_LIMIT])
            logger.log(
                logging.WARNING if first else logging.DEBUG,
                "DGS GET %s: skipped link %s, which does not fit the model",
                shown,
                name,
            )

    async def _reconcile(self, api_key: str, ref: str) -> Link | _Unknown | None:
        """Look the reference up a few times, spaced by backoff.

        Returns the link, None when the last lookup succeeded and found nothing, or _UNKNOWN.
        """
        result: Link | _Unknown | None = _UNKNOWN
        for attempt in range(self._reconcile_tries):
            # Give a request the provider may still be working on a moment to land.
            await self._sleep(min(self._backoff_max, self._backoff_base * 2**attempt))
            try:
                found = await self.find_by_client_ref(api_key, ref)
            except DGSError as exc:
                logger.info("DGS create lookup failed (ref %s): %s", ref, exc.message)
                result = _UNKNOWN
                continue
            if found is not None:
                return found
            result = None
        return result

    async def _call(
        self,
        method: str,
        path: str,
        shown: str,
        api_key: str,
        *,
        params: dict[str, int] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A retried request (GET, PATCH, DELETE); returns the decoded 2xx body."""
        deadline = self._clock() + self._retry_budget
        attempt = 0
        maybe_done = False
        while True:
            outcome = await self._attempt(method, path, shown, api_key, params, body, deadline)
            if isinstance(outcome, dict):
                return outcome
            if method == "DELETE" and maybe_done and isinstance(outcome.error, ArchivedError):
                # An earlier attempt archived it, only its answer was lost.
                return {}
            maybe_done = maybe_done or outcome.maybe_processed
            if not outcome.transient or attempt >= self._max_retries:
                raise outcome.error
            if outcome.retry_after is not None:
                delay = outcome.retry_after
            else:
                delay = self._rng.uniform(
                    0, min(self._backoff_max, self._backoff_base * 2**attempt)
                )
            if self._clock() + delay > deadline:
                raise outcome.error
            attempt += 1
            logger.info(
                "DGS %s %s failed (%s); retry %d in %.2f s",
                method,
                shown,
                type(outcome.error).__name__,
                attempt,
                delay,
            )
            await self._sleep(delay)

    async def _attempt(
        self,
        method: str,
        path: str,
        shown: str,
        api_key: str,
        params: dict[str, int] | None,
        body: dict[str, Any] | None,
        deadline: float,
    ) -> dict[str, Any] | Failure:
        """One paced request: the decoded 2xx body or a classified failure (never raised)."""
        background = current_priority() is Priority.BACKGROUND
        too_long = await self.pacer.take_turn(
            api_key, background=background, deadline=deadline, sleep=self._sleep
        )
        if too_long is not None:
            error: DGSError = RateLimitedError(
                f"{method} {shown}: this key must wait {too_long:.1f} s, beyond the retry budget",
                retry_after=too_long,
                status_code=None,
            )
            return Failure(error, transient=False, maybe_processed=False)
        started = time.perf_counter()
        sent_at = self._clock()
        try:
            if background:
                async with self._background_slots, self._in_flight:
                    response = await self._send(method, path, params, body, api_key)
            else:
                async with self._in_flight:
                    response = await self._send(method, path, params, body, api_key)
        except httpx.HTTPError as exc:
            return transport_failure(exc, method, shown, api_key)
        status = response.status_code
        if status < 500 and status != 429:
            self.pacer.answered(api_key)  # the provider took the pace: it may rise a little
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "DGS %s %s -> %d in %.0f ms (key %s)",
                method,
                shown,
                status,
                (time.perf_counter() - started) * 1000,
                key_hint(api_key),
            )
        if 200 <= status < 300:
            if method == "DELETE" and not response.content.strip():
                return {}
            data = decode_object(response)
            if data is None or data.get("status") == "error":
                what = "an error body" if data is not None else "a body that is not a JSON object"
                error = ProviderUnavailableError(
                    f"{method} {shown}: HTTP {status} with {what}", status_code=status
                )
                return Failure(error, transient=False, maybe_processed=True)
            return data
        failure = status_failure(response, method, shown, api_key)
        if isinstance(failure.error, RateLimitedError):
            self.pacer.refused(api_key, failure.retry_after, sent_at)
        return failure

    async def _send(
        self,
        method: str,
        path: str,
        params: dict[str, int] | None,
        body: dict[str, Any] | None,
        api_key: str,
    ) -> httpx.Response:
        return await self._http.request(
            method, path, params=params, json=body, headers={API_KEY_HEADER: api_key}
        )


def _check_key(api_key: str) -> None:
    # A key with spaces or control characters would make httpx fail with the header value
    # in its message; refuse it here with a message that does not quote it.
    if not isinstance(api_key, str) or not _KEY_SHAPE.fullmatch(api_key):
        raise AuthError("the API key is empty or malformed")


def _link_path(link_id: str) -> str:
    # "." and ".." would be read as path segments and hit another endpoint.
    if not link_id or link_id.strip(".") == "":
        raise ValueError("link_id must be a non-empty id")
    return f"{LINKS_PATH}/{quote(link_id, safe='')}"
