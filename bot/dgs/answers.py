"""What the provider's answers mean: an error status or a lost request as a ``Failure``
(the error, worth another attempt or not, maybe acted on or not), ``Retry-After`` read and
capped, a body read into a model, and a list page searched for a create's reference.
The API key never appears in a message: it is replaced by ``key_hint``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from bot.dgs.errors import (
    MAX_RETRY_AFTER,
    ArchivedError,
    AuthError,
    BadRequestError,
    DGSError,
    ForbiddenError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitedError,
    SlugTakenError,
    ValidationFailedError,
)
from bot.dgs.models import CLIENT_REF_KEY, Link, LinkPage

logger = logging.getLogger("bot.dgs.client")

LINKS_PATH = "/payment-links"
_MESSAGE_LIMIT = 300
_M = TypeVar("_M", bound=BaseModel)

_STATUS_ERRORS: dict[int, type[DGSError]] = {
    400: BadRequestError,
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    409: SlugTakenError,
    410: ArchivedError,
}

# Failures raised before a byte of the request could reach the provider.
NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)
TRANSIENT: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
)


def key_hint(api_key: str) -> str:
    """The key as it may appear in logs: its last 4 characters, and only for a long key."""
    if len(api_key) < 12:
        return "…"
    return "…" + api_key[-4:]


@dataclass(slots=True)
class Failure:
    error: DGSError
    transient: bool  # worth another attempt
    maybe_processed: bool  # the provider may have acted on the request
    retry_after: float | None = None


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def redact(text: str, api_key: str) -> str:
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
        result[str(field)] = [redact(str(item), api_key) for item in items]
    return result


def decode_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is anything else (HTML, a list, garbage)."""
    try:
        data = json.loads(response.text, parse_float=Decimal, parse_constant=reject_constant)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def status_failure(response: httpx.Response, method: str, shown: str, api_key: str) -> Failure:
    """What an error status means: the error, whether to try again, whether it may have
    been acted on."""
    status = response.status_code
    data = decode_object(response)
    raw_message = data.get("message") if data is not None else None
    message = redact(str(raw_message), api_key) if raw_message else response.reason_phrase
    text = f"{method} {shown}: HTTP {status}: {message}"
    if status == 429:
        retry_after = _parse_retry_after(response.headers.get("Retry-After"))
        error: DGSError = RateLimitedError(text, retry_after=retry_after, status_code=status)
        return Failure(error, transient=True, maybe_processed=False, retry_after=retry_after)
    if status >= 500:
        error = ProviderUnavailableError(text, status_code=status)
        return Failure(error, transient=True, maybe_processed=True)
    if not 400 <= status < 500:
        # Redirects and the like: not an answer of the API.
        error = ProviderUnavailableError(text, status_code=status)
        return Failure(error, transient=False, maybe_processed=False)
    if data is None:
        # A stray proxy or wrong base URL page: never conclude "bad key" or "link gone".
        error = ProviderUnavailableError(
            f"{method} {shown}: HTTP {status} without the provider's JSON error body",
            status_code=status,
        )
        return Failure(error, transient=False, maybe_processed=False)
    if status == 422:
        error = ValidationFailedError(
            text, field_errors=_field_errors(data.get("errors"), api_key), status_code=status
        )
    else:
        error = _STATUS_ERRORS.get(status, BadRequestError)(text, status_code=status)
    return Failure(error, transient=False, maybe_processed=False)


def transport_failure(exc: httpx.HTTPError, method: str, shown: str, api_key: str) -> Failure:
    """A request that got no answer: whether it may have reached the provider."""
    detail = redact(str(exc), api_key)
    text = f"{method} {shown}: {type(exc).__name__}" + (f": {detail}" if detail else "")
    error = ProviderUnavailableError(text)
    error.__cause__ = exc
    logger.debug("DGS %s %s -> %s (key %s)", method, shown, type(exc).__name__, key_hint(api_key))
    return Failure(
        error,
        transient=isinstance(exc, TRANSIENT),
        maybe_processed=not isinstance(exc, NOT_SENT),
    )


def shape_error(method: str, shown: str, exc: ValidationError) -> ProviderUnavailableError:
    # Locations only: the input values are the provider's data, not worth a log line each.
    where = ", ".join(".".join(str(part) for part in err["loc"]) or "body" for err in exc.errors())
    return ProviderUnavailableError(f"{method} {shown}: unexpected response ({where})")


def model_of(cls: type[_M], data: dict[str, Any], method: str, shown: str) -> _M:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise shape_error(method, shown, exc) from None


def match_ref(page: LinkPage, unreadable: list[Any], client_ref: str) -> Link | None:
    for link in page.links:
        if link.metadata and link.metadata.get(CLIENT_REF_KEY) == client_ref:
            return link
    for item in unreadable:
        if _may_carry(item, client_ref):
            raise ProviderUnavailableError(
                f"GET {LINKS_PATH}: unexpected response (link {raw_id(item)!r} cannot be read)"
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


def raw_id(item: Any) -> str | None:
    link_id = item.get("id") if isinstance(item, dict) else None
    return link_id if isinstance(link_id, str) else None
