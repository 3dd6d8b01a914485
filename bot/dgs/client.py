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
- Pacing: per-key spacing (``requests_per_second_per_key``) plus a global bound on requests
  in flight. The slot is reserved without awaiting, then the wait happens outside any lock.
  A pacing wait counts against the retry budget; one longer than the budget raises
  RateLimitedError at once.
- The API key is never logged or put in an exception message; logs show ``key_hint(key)``.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import random
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from bot.dgs.errors import (
    MAX_RETRY_AFTER,
    ArchivedError,
    AuthError,
    BadRequestError,
    CreateOutcomeUnknownError,
    DGSError,
    ForbiddenError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitedError,
    SlugTakenError,
    ValidationFailedError,
)
from bot.dgs.models import Link, LinkCreate, LinkDetails, LinkPage, LinkUpdate, parse_link_page
from bot.dgs.pacing import KeyPacer, PacingWaitTooLong

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://pay.digitalservicescenter.rw/generation/v2"
API_KEY_HEADER: Final = "X-DGS-API-Key"
CLIENT_REF_KEY: Final = "paylinks_ref"
MAX_PER_PAGE: Final = 100

_LINKS = "/payment-links"
_KEY_SHAPE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: a valid header value
_MESSAGE_LIMIT = 300
# Unreadable links already reported: each is logged once (the poller relists every few
# minutes), and the memory of them stays bounded.
_UNREADABLE_MEMORY = 1024
_SHOWN_ID_LIMIT = 64

_STATUS_ERRORS: dict[int, type[DGSError]] = {
    400: BadRequestError,
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    409: SlugTakenError,
    410: ArchivedError,
}

# Failures raised before a byte of the request could reach the provider.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)
_TRANSIENT: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
_M = TypeVar("_M", bound=BaseModel)


def key_hint(api_key: str) -> str:
    """The key as it may appear in logs: its last 4 characters, and only for a long key."""
    if len(api_key) < 12:
        return "…"
    return "…" + api_key[-4:]


class _LinkEnvelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    link: Link


@dataclass(slots=True)
class _Failure:
    error: DGSError
    transient: bool  # worth another attempt
    maybe_processed: bool  # the provider may have acted on the request
    retry_after: float | None = None


class _Unknown:
    """Marker: a lookup could not tell whether the reference exists."""


_UNKNOWN: Final = _Unknown()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _redact(text: str, api_key: str) -> str:
    if api_key and api_key in text:
        text = text.replace(api_key, key_hint(api_key))
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT] + "…"
    return text


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP date), at most
    ``MAX_RETRY_AFTER``: one odd header must not pause a key for a day. None if absent or
    unreadable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        try:
            seconds = (when - datetime.now(UTC)).total_seconds()
        except OverflowError:
            return MAX_RETRY_AFTER
    if math.isnan(seconds):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def _field_errors(raw: Any, api_key: str) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        return {}
    result: dict[str, list[str]] = {}
    for field, messages in raw.items():
        items = messages if isinstance(messages, list) else [messages]
        result[str(field)] = [_redact(str(item), api_key) for item in items]
    return result


def _decode_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is anything else (HTML, a list, garbage)."""
    try:
        data = json.loads(response.text, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


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
        burst_per_key: int = 1,
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
        self._pacer = KeyPacer(requests_per_second_per_key, burst=burst_per_key, clock=clock)
        self._unreadable: OrderedDict[str | None, None] = OrderedDict()
        self._in_flight = asyncio.Semaphore(max_concurrency)
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
        self._pacer.slow_down(api_key, min(seconds, MAX_RETRY_AFTER))

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
                    f"POST {_LINKS}: could not check for an earlier create: {exc.message}",
                    client_ref=ref,
                    status_code=exc.status_code,
                ) from exc
            if existing is not None:
                return existing

        for post in (1, 2):
            deadline = self._clock() + self._retry_budget
            outcome = await self._attempt("POST", _LINKS, _LINKS, api_key, None, payload, deadline)
            if isinstance(outcome, dict):
                try:
                    return _LinkEnvelope.model_validate(outcome).link
                except ValidationError as exc:
                    # A 2xx made the link, but we cannot read it: find it by reference.
                    outcome = _Failure(
                        _shape_error("POST", _LINKS, exc), transient=False, maybe_processed=True
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
                f"POST {_LINKS}: outcome unknown ({failure.error.message})",
                client_ref=ref,
                status_code=failure.error.status_code,
            ) from failure.error
        raise AssertionError("unreachable")  # pragma: no cover

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
        shown = f"{_LINKS}?page={page}&per_page={per_page}"
        params = {"page": page, "per_page": per_page}
        data = await self._call("GET", _LINKS, shown, api_key, params=params)
        try:
            result, unreadable = parse_link_page(data)
        except ValidationError as exc:
            raise _shape_error("GET", shown, exc) from None
        if unreadable:
            self._report_unreadable([_raw_id(item) for item in unreadable], shown)
        return result, unreadable

    async def iter_links(self, api_key: str, *, per_page: int = 100) -> AsyncIterator[Link]:
        """Every link of the key, page by page.

        A link created meanwhile can push others onto the next page; ids already yielded are
        skipped, so no link is seen twice.
        """
        seen: set[str] = set()
        page = 1
        while True:
            result = await self.list_links(api_key, page=page, per_page=per_page)
            for link in result.links:
                if link.id not in seen:
                    seen.add(link.id)
                    yield link
            total_pages = result.pagination.total_pages
            if not result.links:
                return
            if total_pages > 0 and page >= total_pages:
                return
            if total_pages <= 0 and len(result.links) < per_page:
                return  # no pagination given: a short page is the last
            page += 1

    async def get_link(self, api_key: str, link_id: str) -> LinkDetails:
        """The link, its stats and its newest charges."""
        _check_key(api_key)
        path = _link_path(link_id)
        data = await self._call("GET", path, path, api_key)
        return _model(LinkDetails, data, "GET", path)

    async def update_link(self, api_key: str, link_id: str, body: LinkUpdate) -> Link:
        """Change the fields given to ``body`` (and only those)."""
        _check_key(api_key)
        path = _link_path(link_id)
        data = await self._call("PATCH", path, path, api_key, body=body.to_json())
        return _model(_LinkEnvelope, data, "PATCH", path).link

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
        found = _match_ref(first, unreadable, client_ref)
        if found is not None:
            return found
        last = first.pagination.total_pages
        for page in sorted({2, last}):
            if not 2 <= page <= last:
                continue
            found = _match_ref(
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
    ) -> dict[str, Any] | _Failure:
        """One paced request: the decoded 2xx body or a classified failure (never raised)."""
        try:
            wait = self._pacer.reserve(api_key, max_wait=max(0.0, deadline - self._clock()))
        except PacingWaitTooLong as exc:
            error: DGSError = RateLimitedError(
                f"{method} {shown}: this key must wait {exc.wait:.1f} s, beyond the retry budget",
                retry_after=exc.wait,
                status_code=None,
            )
            return _Failure(error, transient=False, maybe_processed=False)
        if wait > 0:
            await self._sleep(wait)
        started = time.perf_counter()
        try:
            async with self._in_flight:
                response = await self._http.request(
                    method, path, params=params, json=body, headers={API_KEY_HEADER: api_key}
                )
        except httpx.HTTPError as exc:
            return self._transport_failure(exc, method, shown, api_key)
        status = response.status_code
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
            data = _decode_object(response)
            if data is None or data.get("status") == "error":
                what = "an error body" if data is not None else "a body that is not a JSON object"
                error = ProviderUnavailableError(
                    f"{method} {shown}: HTTP {status} with {what}", status_code=status
                )
                return _Failure(error, transient=False, maybe_processed=True)
            return data
        return self._status_failure(response, method, shown, api_key)

    def _status_failure(
        self, response: httpx.Response, method: str, shown: str, api_key: str
    ) -> _Failure:
        status = response.status_code
        data = _decode_object(response)
        raw_message = data.get("message") if data is not None else None
        message = _redact(str(raw_message), api_key) if raw_message else response.reason_phrase
        text = f"{method} {shown}: HTTP {status}: {message}"
        if status == 429:
            retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                self._pacer.slow_down(api_key, retry_after)
            error: DGSError = RateLimitedError(text, retry_after=retry_after, status_code=status)
            return _Failure(error, transient=True, maybe_processed=False, retry_after=retry_after)
        if status >= 500:
            error = ProviderUnavailableError(text, status_code=status)
            return _Failure(error, transient=True, maybe_processed=True)
        if not 400 <= status < 500:
            # Redirects and the like: not an answer of the API.
            error = ProviderUnavailableError(text, status_code=status)
            return _Failure(error, transient=False, maybe_processed=False)
        if data is None:
            # A stray proxy or wrong base URL page: never conclude "bad key" or "link gone".
            error = ProviderUnavailableError(
                f"{method} {shown}: HTTP {status} without the provider's JSON error body",
                status_code=status,
            )
            return _Failure(error, transient=False, maybe_processed=False)
        if status == 422:
            error = ValidationFailedError(
                text, field_errors=_field_errors(data.get("errors"), api_key), status_code=status
            )
        else:
            error = _STATUS_ERRORS.get(status, BadRequestError)(text, status_code=status)
        return _Failure(error, transient=False, maybe_processed=False)

    @staticmethod
    def _transport_failure(
        exc: httpx.HTTPError, method: str, shown: str, api_key: str
    ) -> _Failure:
        detail = _redact(str(exc), api_key)
        text = f"{method} {shown}: {type(exc).__name__}" + (f": {detail}" if detail else "")
        error = ProviderUnavailableError(text)
        error.__cause__ = exc
        logger.debug(
            "DGS %s %s -> %s (key %s)", method, shown, type(exc).__name__, key_hint(api_key)
        )
        return _Failure(
            error,
            transient=isinstance(exc, _TRANSIENT),
            maybe_processed=not isinstance(exc, _NOT_SENT),
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
    return f"{_LINKS}/{quote(link_id, safe='')}"


def _shape_error(method: str, shown: str, exc: ValidationError) -> ProviderUnavailableError:
    # Locations only: the input values are the provider's data, not worth a log line each.
    where = ", ".join(".".join(str(part) for part in err["loc"]) or "body" for err in exc.errors())
    return ProviderUnavailableError(f"{method} {shown}: unexpected response ({where})")


def _model(cls: type[_M], data: dict[str, Any], method: str, shown: str) -> _M:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise _shape_error(method, shown, exc) from None


def _match_ref(page: LinkPage, unreadable: list[Any], client_ref: str) -> Link | None:
    for link in page.links:
        if link.metadata and link.metadata.get(CLIENT_REF_KEY) == client_ref:
            return link
    for item in unreadable:
        if _may_carry(item, client_ref):
            raise ProviderUnavailableError(
                f"GET {_LINKS}: unexpected response (link {_raw_id(item)!r} cannot be read)"
            )
    return None


def _may_carry(item: Any, client_ref: str) -> bool:
    """Whether an unreadable link may be the one made by the create holding ``client_ref``."""
    if not isinstance(item, dict):
        return True
    metadata = item.get("metadata")
    if metadata is None:
        return False  # every create of ours sends its reference
    if not isinstance(metadata, dict):
        return True
    return bool(metadata.get(CLIENT_REF_KEY) == client_ref)


def _raw_id(item: Any) -> str | None:
    link_id = item.get("id") if isinstance(item, dict) else None
    return link_id if isinstance(link_id, str) else None
