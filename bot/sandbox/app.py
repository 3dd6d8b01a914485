"""The embedded DGS provider sandbox: the Payment Links API, a payer page and test controls.

It implements ``payment-links.txt`` and ``CONTRACT.md``. Where both leave a choice, the sandbox
decides as follows (tests and clients may rely on it):

- Unknown fields in a create or PATCH body: 422, with the error under the field's name.
- A POST or PATCH whose ``Content-Type`` is not ``application/json``: 400.
- A key ``sk_test_readonly_…`` may read (GET) but not write: 403 on POST, PATCH and DELETE.
  Every key is its own namespace, the read-only ones included.
- ``page``/``per_page`` that are not integers, ``page < 1``, ``per_page`` outside 1–100: 422
  (never clamped).
- A second DELETE of an archived link: 410, as a PATCH of one.
- On create, ``null`` for an optional field means "not given" (its default applies). On PATCH,
  ``null`` clears it (``max_uses``/``expires_at``: unlimited; ``payment_types`` and
  ``collect_*``: back to their defaults). ``title``, ``amount_type``, ``currency`` and, on
  PATCH, ``slug`` may not be null.
- PATCH validates the link as it would be after the change, so turning a fixed link flexible
  needs ``"amount": null`` in the same body. ``expires_at`` must be in the future only when
  it is sent.
- ``status`` is computed on read against the sandbox clock: archived, else completed
  (``use_count >= max_uses``), else expired (now past ``expires_at``), else active.
- Amounts must be below 10^15 (a sandbox limit) and be JSON numbers, not strings.
- An omitted slug comes from the title (``Invoice #123`` → ``invoice-123``); when that is
  taken, a random ``-xxxxxx`` hex suffix makes it unique. Slugs are unique across all keys.
- The payer page speaks the payer's language: ``?lang=`` (rw, en, fr, sw), else the browser's
  ``Accept-Language``, else English. Its texts are the bot's catalogues (``payer-…`` keys),
  its amounts are formatted, and typed amounts read, with that language's separators.

Test controls exist only when the app is built with ``test_mode=True`` (404 otherwise):

- ``POST /_sandbox/charges`` ``{link_id, amount, status?, payment_type?, payer_name?,
  payer_phone?, key?}`` records a charge whatever the link's state (``key``, if given, must
  own the link) and answers the charge as ``recent_charges`` shows it.
  ``POST /_sandbox/charges/{id}`` ``{status}`` settles a pending charge (409 if not pending).
- ``POST /_sandbox/faults`` ``{method?, path?, key?, status?, retry_after?, delay?, hang?,
  drop?, after?, body?, times?}``: the first fault matching an API request (``path`` is a
  regex searched in the URL path) acts on it, ``times`` times (default 1, 0 = until cleared).
  ``delay`` waits, then ``hang`` never answers (until the client leaves), ``drop`` closes the
  connection without a response, ``status``/``body`` answer instead (``retry_after`` sets
  ``Retry-After``; ``body`` is sent raw; ``status`` defaults to 500, or 429 with
  ``retry_after``). Only a ``delay`` lets the request go on. Faults act before
  authentication; delayed and hung requests answer 503 when the sandbox stops. With
  ``after`` the real operation runs first and the fault replaces its response; ``drop``
  implies ``after`` unless ``after`` is false. ``GET``/``DELETE /_sandbox/faults`` list/clear.
- ``POST /_sandbox/clock`` ``{advance_seconds}``, ``POST /_sandbox/reset``,
  ``GET``/``DELETE /_sandbox/requests`` (the API request log: method, path, query, the key's
  last 4 characters, content type, body, status sent), ``POST /_sandbox/keys/{key}/delay``
  ``{seconds}`` (0 removes it).
- In process only, ``SandboxState.corrupt_link``: a link served with fields the API would
  never write (an amount of ``"abc"``, a field left out), to test a client's tolerance.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import itertools
import math
import re
import secrets
import sqlite3
import string
import unicodedata
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from importlib import resources
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from babel.numbers import format_decimal, get_currency_precision, list_currencies
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.config import LANGUAGES
from bot.dgs.models import KIGALI
from bot.i18n import LANGUAGE_NAMES, SOURCE_LANGUAGE, Catalogues, Translator, match_language
from bot.money import AmountError, babel_locale, format_amount, parse_amount
from bot.sandbox.store import (
    ALL_PAYMENT_TYPES,
    ChargeRecord,
    LinkRecord,
    SandboxStore,
    amount_number,
    json_dumps,
    json_loads,
)

API_PREFIX = "/generation/v2"
LINKS_PATH = f"{API_PREFIX}/payment-links"
PAY_PATH = "/generation/pay"
CONTROL_PREFIX = "/_sandbox"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
CHARGE_STATUSES = ("success", "pending", "failed")
MAX_AMOUNT = Decimal(10) ** 15
METADATA_LIMIT = 4096
REQUEST_LOG_SIZE = 50_000

_CURRENCIES = frozenset(list_currencies())
_SLUG_RE = re.compile(r"[a-z0-9-]{3,64}")
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_PAGE = string.Template(
    resources.files("bot.sandbox").joinpath("payer.html").read_text(encoding="utf-8")
)
_HTML_HEADERS = {
    # The page holds user text: even if escaping ever failed, no script may run.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https:; form-action 'self'"
    ),
    "Cache-Control": "no-store",
}


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


# Errors


class ApiError(Exception):
    """An API error response: ``{"status":"error","message":…[,"errors":…]}``."""

    def __init__(
        self, status: int, message: str, errors: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"status": "error", "message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return JSONResponse(body, status_code=self.status)


class ControlError(Exception):
    """A test control refused its input (also raised by the in-process helpers)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class JSONResponse(Response):
    """JSON with exact ``Decimal`` numbers."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json_dumps(content).encode()


# Validation of create and PATCH bodies


class _FieldError(ValueError):
    pass


def _check_title(value: Any, now: datetime) -> str:
    if not isinstance(value, str):
        raise _FieldError("Must be a string.")
    if not value.strip():
        raise _FieldError("Must not be blank.")
    if len(value) > 100:
        raise _FieldError("Must be at most 100 characters.")
    return value


def _check_amount_type(value: Any, now: datetime) -> str:
    if value not in ("fixed", "flexible"):
        raise _FieldError("Must be 'fixed' or 'flexible'.")
    return str(value)


def _check_currency(value: Any, now: datetime) -> str:
    if not isinstance(value, str) or value not in _CURRENCIES:
        raise _FieldError("Must be an ISO 4217 currency code, such as RWF.")
    return value


def _check_amount(value: Any, now: datetime) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _FieldError("Must be a number.")
    amount = Decimal(value)
    if amount <= 0:
        raise _FieldError("Must be greater than zero.")
    if amount >= MAX_AMOUNT:
        raise _FieldError("Must be less than 1000000000000000.")
    return amount


def _check_payment_types(value: Any, now: datetime) -> list[str]:
    if not isinstance(value, list) or not value:
        raise _FieldError("Must be a non-empty list of payment methods.")
    for item in value:
        if item not in ALL_PAYMENT_TYPES:
            raise _FieldError(f"Each method must be one of: {', '.join(ALL_PAYMENT_TYPES)}.")
    if len(set(value)) != len(value):
        raise _FieldError("Must not list a method twice.")
    return [str(item) for item in value]


def _check_slug(value: Any, now: datetime) -> str:
    if not isinstance(value, str) or not _SLUG_RE.fullmatch(value):
        raise _FieldError("Must be 3 to 64 characters of a-z, 0-9 and '-'.")
    return value


def _check_text(value: Any, now: datetime) -> str:
    if not isinstance(value, str):
        raise _FieldError("Must be a string.")
    return value


def _check_https_url(value: Any, now: datetime) -> str:
    if not isinstance(value, str) or any(ch.isspace() for ch in value):
        raise _FieldError("Must be an absolute https:// URL.")
    try:
        parts = urlsplit(value)
        ok = parts.scheme == "https" and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise _FieldError("Must be an absolute https:// URL.")
    return value


def _check_max_uses(value: Any, now: datetime) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _FieldError("Must be an integer of at least 1, or null for unlimited.")
    return value


def _check_expires_at(value: Any, now: datetime) -> str:
    if not isinstance(value, str) or not _TIME_RE.fullmatch(value):
        raise _FieldError("Must be a date and time as YYYY-MM-DD HH:MM:SS (Kigali time).")
    try:
        moment = datetime.strptime(value, TIME_FORMAT).replace(tzinfo=KIGALI)
    except ValueError:
        raise _FieldError("Must be a real date and time.") from None
    if moment <= now:
        raise _FieldError("Must be in the future.")
    return value


def _check_bool(value: Any, now: datetime) -> bool:
    if not isinstance(value, bool):
        raise _FieldError("Must be true or false.")
    return value


def _check_metadata(value: Any, now: datetime) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _FieldError("Must be a JSON object.")
    if len(json_dumps(value, compact=True).encode()) > METADATA_LIMIT:
        raise _FieldError("Must be at most 4 KiB when serialized.")
    return value


_CHECKS: dict[str, Callable[[Any, datetime], Any]] = {
    "title": _check_title,
    "amount_type": _check_amount_type,
    "currency": _check_currency,
    "amount": _check_amount,
    "min_amount": _check_amount,
    "max_amount": _check_amount,
    "payment_types": _check_payment_types,
    "slug": _check_slug,
    "description": _check_text,
    "redirect_url": _check_https_url,
    "max_uses": _check_max_uses,
    "expires_at": _check_expires_at,
    "collect_phone": _check_bool,
    "collect_name": _check_bool,
    "collect_address": _check_bool,
    "logo_url": _check_https_url,
    "metadata": _check_metadata,
}
_NOT_NULL = ("title", "amount_type", "currency")
_AMOUNT_FIELDS = ("amount", "min_amount", "max_amount")


def _defaults() -> dict[str, Any]:
    return {
        "title": None,
        "amount_type": None,
        "currency": None,
        "amount": None,
        "min_amount": None,
        "max_amount": None,
        "payment_types": list(ALL_PAYMENT_TYPES),
        "description": None,
        "redirect_url": None,
        "max_uses": None,
        "expires_at": None,
        "collect_phone": True,
        "collect_name": True,
        "collect_address": False,
        "logo_url": None,
        "metadata": None,
    }


@dataclass
class _Checked:
    given: dict[str, Any]  # the fields of the body, checked and normalized
    merged: dict[str, Any]  # the whole link as it would be (slug aside)
    errors: dict[str, list[str]]


def validate_link(body: dict[str, Any], *, current: LinkRecord | None, now: datetime) -> _Checked:
    """Check a create body (``current`` is None) or a PATCH body against ``current``."""
    errors: dict[str, list[str]] = {}
    given: dict[str, Any] = {}
    defaults = _defaults()

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name, value in body.items():
        check = _CHECKS.get(name)
        if check is None:
            fail(name, "Unknown field.")
        elif value is None:
            if name in _NOT_NULL or (name == "slug" and current is not None):
                fail(name, "May not be null.")
            elif current is not None:
                given[name] = defaults[name]
        else:
            try:
                given[name] = check(value, now)
            except _FieldError as exc:
                fail(name, str(exc))
    if current is None:
        for name in _NOT_NULL:
            if name not in body:
                fail(name, "This field is required.")
        merged = defaults
    else:
        merged = {name: getattr(current, name) for name in defaults}
    merged.update({name: value for name, value in given.items() if name != "slug"})

    amount_type = merged["amount_type"]
    if amount_type is not None and "amount_type" not in errors:
        if amount_type == "fixed":
            if merged["amount"] is None and "amount" not in errors:
                fail("amount", "Required when amount_type is fixed.")
            for name in ("min_amount", "max_amount"):
                if merged[name] is not None:
                    fail(name, "Only allowed when amount_type is flexible.")
        else:
            if merged["amount"] is not None:
                fail("amount", "Not allowed when amount_type is flexible.")
            low, high = merged["min_amount"], merged["max_amount"]
            if low is not None and high is not None and low > high:
                fail("min_amount", "Must not be more than max_amount.")
    currency = merged["currency"]
    if currency is not None and "currency" not in errors:
        places = get_currency_precision(currency)
        for name in _AMOUNT_FIELDS:
            value = merged[name]
            if value is not None and name not in errors and _decimal_places(value) > places:
                if places == 0:
                    fail(name, f"{currency} has no minor unit: use a whole amount.")
                else:
                    fail(name, f"{currency} allows at most {places} decimal places.")
    return _Checked(given=given, merged=merged, errors=errors)


def _decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def slugify(title: str) -> str:
    """A slug from a title: ASCII letters and digits joined by dashes, 3–48 characters."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:48].strip("-")
    if len(slug) < 3:
        slug = f"{slug}-link".strip("-")
    return slug


# Faults


class _Removed:
    """Marker of ``corrupt_link``: the field is left out of the link's JSON."""

    def __repr__(self) -> str:
        return "REMOVED"


REMOVED: Final = _Removed()


@dataclass
class Fault:
    id: int
    method: str | None
    path: re.Pattern[str] | None
    key: str | None
    status: int | None
    retry_after: Decimal | None
    delay: float
    hang: bool
    drop: bool
    after: bool
    body: str | None
    times: int
    remaining: int | None

    def matches(self, method: str, path: str, key: str | None) -> bool:
        return (
            (self.method is None or self.method == method)
            and (self.path is None or self.path.search(path) is not None)
            and (self.key is None or self.key == key)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": None if self.path is None else self.path.pattern,
            "key": None if self.key is None else self.key[-4:],
            "status": self.status,
            "retry_after": self.retry_after,
            "delay": Decimal(repr(self.delay)),
            "hang": self.hang,
            "drop": self.drop,
            "after": self.after,
            "body": self.body,
            "times": self.times,
            "remaining": self.remaining,
        }


_FAULT_FIELDS = frozenset(
    {
        "method",
        "path",
        "key",
        "status",
        "retry_after",
        "delay",
        "hang",
        "drop",
        "after",
        "body",
        "times",
    }
)


def _seconds(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        raise ControlError(422, f"{name} must be a number of seconds")
    seconds = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not seconds.is_finite() or seconds < 0:
        raise ControlError(422, f"{name} must be zero or more")
    return seconds


def _flag(spec: dict[str, Any], name: str) -> bool:
    value = spec.get(name, False)
    if not isinstance(value, bool):
        raise ControlError(422, f"{name} must be true or false")
    return value


def parse_fault(fault_id: int, spec: dict[str, Any]) -> Fault:
    unknown = set(spec) - _FAULT_FIELDS
    if unknown:
        raise ControlError(422, f"unknown fault fields: {', '.join(sorted(unknown))}")
    method = spec.get("method")
    if method is not None and not isinstance(method, str):
        raise ControlError(422, "method must be a string")
    path = spec.get("path")
    if path is not None:
        if not isinstance(path, str):
            raise ControlError(422, "path must be a regular expression")
        try:
            pattern: re.Pattern[str] | None = re.compile(path)
        except re.error as exc:
            raise ControlError(422, f"path is not a valid regular expression: {exc}") from None
    else:
        pattern = None
    key = spec.get("key")
    if key is not None and not isinstance(key, str):
        raise ControlError(422, "key must be a string")
    status = spec.get("status")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599
    ):
        raise ControlError(422, "status must be an HTTP status from 200 to 599")
    retry_after = spec.get("retry_after")
    retry = None if retry_after is None else _seconds(retry_after, "retry_after")
    delay = spec.get("delay")
    delay_seconds = 0.0 if delay is None else float(_seconds(delay, "delay"))
    hang, drop = _flag(spec, "hang"), _flag(spec, "drop")
    after_value = spec.get("after")
    if after_value is not None and not isinstance(after_value, bool):
        raise ControlError(422, "after must be true or false")
    # A dropped response means the operation happened, unless after=false says otherwise.
    after = drop if after_value is None else after_value
    body = spec.get("body")
    if body is not None and not isinstance(body, str):
        raise ControlError(422, "body must be a string")
    times = spec.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 0:
        raise ControlError(422, "times must be an integer, 0 meaning until cleared")
    if hang and drop:
        raise ControlError(422, "a fault cannot both hang and drop")
    if not (hang or drop or delay_seconds or status is not None or body is not None or retry):
        raise ControlError(422, "the fault does nothing: give status, body, delay, hang or drop")
    if status is None and (body is not None or retry is not None):
        status = 429 if retry is not None else 500
    return Fault(
        id=fault_id,
        method=None if method is None else method.upper(),
        path=pattern,
        key=key,
        status=status,
        retry_after=retry,
        delay=delay_seconds,
        hang=hang,
        drop=drop,
        after=after,
        body=body,
        times=times,
        remaining=times or None,
    )


async def _send_raw(
    send: Send, status: int, body: bytes, content_type: str, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_fault(fault: Fault, send: Send) -> None:
    status = fault.status or 500
    extra = []
    if fault.retry_after is not None:
        extra.append((b"retry-after", str(amount_number(fault.retry_after)).encode()))
    if fault.body is not None:
        body = fault.body.encode()
        try:
            json_loads(body)
            content_type = "application/json"
        except ValueError:
            content_type = "text/html; charset=utf-8"
    else:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Injected fault"
        body = json_dumps({"status": "error", "message": phrase}).encode()
        content_type = "application/json"
    await _send_raw(send, status, body, content_type, extra)


async def _send_unavailable(send: Send) -> None:
    body = json_dumps({"status": "error", "message": "The sandbox is shutting down"}).encode()
    await _send_raw(send, 503, body, "application/json", [])


async def _drop_connection(send: Send) -> None:
    """Close the connection without a byte of response.

    ASGI has no way to say this; uvicorn's ``send`` is a method of its request cycle, which
    holds the transport. Elsewhere, start a response and fail, which makes the server close.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if isinstance(transport, asyncio.Transport):
        transport.close()
        # Let the server see the connection lost, so it doesn't try to answer in our place.
        for _ in range(100):
            if getattr(cycle, "disconnected", True):
                break
            await asyncio.sleep(0)
        return
    await send({"type": "http.response.start", "status": 500, "headers": []})
    raise ConnectionAbortedError("sandbox fault: connection dropped")


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


# State shared by the API, the test controls and the in-process helpers


class SandboxState:
    """The store plus the sandbox clock, faults, request log and per-key delays."""

    def __init__(
        self, store: SandboxStore, *, test_mode: bool, public_base_url: str | None
    ) -> None:
        self.store = store
        self.test_mode = test_mode
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.clock_offset = timedelta()
        self.faults: list[Fault] = []
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.key_delays: dict[str, float] = {}
        # Test control: fields forced into a link's JSON (bad data the API itself never makes).
        self.link_overrides: dict[str, dict[str, Any]] = {}
        self.closing = asyncio.Event()
        self._fault_ids = itertools.count(1)

    # Clock and derived values

    def now(self) -> datetime:
        moment = datetime.now(KIGALI) + self.clock_offset
        return moment.replace(microsecond=0)

    def now_text(self) -> str:
        return self.now().strftime(TIME_FORMAT)

    def link_status(self, link: LinkRecord) -> str:
        if link.archived:
            return "archived"
        if link.max_uses is not None and link.use_count >= link.max_uses:
            return "completed"
        if link.expires_at is not None:
            expires = datetime.strptime(link.expires_at, TIME_FORMAT).replace(tzinfo=KIGALI)
            if self.now() > expires:
                return "expired"
        return "active"

    def base_url(self, request: Request) -> str:
        if self.public_base_url:
            return self.public_base_url
        return f"{request.url.scheme}://{request.url.netloc}"

    def link_json(self, link: LinkRecord, base_url: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": link.id,
            "slug": link.slug,
            "url": f"{base_url}{PAY_PATH}/{link.slug}",
            "title": link.title,
            "amount_type": link.amount_type,
            "amount": None if link.amount is None else amount_number(link.amount),
            "currency": link.currency,
            "payment_types": list(link.payment_types),
            "use_count": link.use_count,
            "max_uses": link.max_uses,
            "status": self.link_status(link),
            "expires_at": link.expires_at,
            "created_at": link.created_at,
        }
        for name in ("min_amount", "max_amount"):
            value = getattr(link, name)
            if value is not None:
                body[name] = amount_number(value)
        for name in ("description", "redirect_url"):
            if getattr(link, name) is not None:
                body[name] = getattr(link, name)
        body["collect_phone"] = link.collect_phone
        body["collect_name"] = link.collect_name
        body["collect_address"] = link.collect_address
        for name in ("logo_url", "metadata"):
            if getattr(link, name) is not None:
                body[name] = getattr(link, name)
        for name, value in self.link_overrides.get(link.id, {}).items():
            if value is REMOVED:
                body.pop(name, None)
            else:
                body[name] = value
        return body

    def corrupt_link(self, link_id: str, fields: dict[str, Any]) -> None:
        """Serve ``fields`` in the link's JSON from now on (``REMOVED`` drops a field)."""
        self.link_overrides.setdefault(link_id, {}).update(fields)

    def unique_slug(self, title: str) -> str:
        base = slugify(title)
        slug = base
        while self.store.slug_taken(slug):
            slug = f"{base}-{secrets.token_hex(3)}"
        return slug

    # Charges

    def create_charge(
        self,
        link: LinkRecord,
        amount: Decimal,
        status: str,
        *,
        payment_type: str | None = None,
        payer_name: str | None = None,
        payer_phone: str | None = None,
        payer_address: str | None = None,
    ) -> ChargeRecord:
        charge = ChargeRecord(
            id=str(uuid.uuid4()),
            link_id=link.id,
            amount=amount,
            currency=link.currency,
            status=status,
            created_at=self.now_text(),
            payment_type=payment_type,
            payer_name=payer_name,
            payer_phone=payer_phone,
            payer_address=payer_address,
        )
        self.store.insert_charge(charge)
        return charge

    # Test controls (HTTP handlers and in-process helpers share these)

    def add_charge(
        self,
        link_id: Any,
        amount: Any,
        status: Any = "success",
        *,
        key: Any = None,
        payment_type: Any = None,
        payer_name: Any = None,
        payer_phone: Any = None,
    ) -> dict[str, Any]:
        """Record a charge on a link, whatever the link's state (tests need odd cases)."""
        link = self.store.get_link(link_id) if isinstance(link_id, str) else None
        if link is None or (key is not None and link.api_key != key):
            raise ControlError(404, "no such link")
        if isinstance(amount, bool) or not isinstance(amount, int | str | Decimal):
            raise ControlError(422, "amount must be a number or a decimal string")
        try:
            value = Decimal(str(amount).strip())
        except InvalidOperation:
            raise ControlError(422, "amount must be a number or a decimal string") from None
        if not value.is_finite() or value <= 0:
            raise ControlError(422, "amount must be positive")
        if status not in CHARGE_STATUSES:
            raise ControlError(422, f"status must be one of: {', '.join(CHARGE_STATUSES)}")
        if payment_type is not None and payment_type not in ALL_PAYMENT_TYPES:
            raise ControlError(422, "payment_type is not a payment method")
        for name, field in (("payer_name", payer_name), ("payer_phone", payer_phone)):
            if field is not None and not isinstance(field, str):
                raise ControlError(422, f"{name} must be a string")
        charge = self.create_charge(
            link,
            value,
            status,
            payment_type=payment_type,
            payer_name=payer_name,
            payer_phone=payer_phone,
        )
        return charge_json(charge)

    def settle(self, charge_id: Any, status: Any) -> dict[str, Any]:
        """Move a pending charge to success or failed."""
        charge = self.store.get_charge(charge_id) if isinstance(charge_id, str) else None
        if charge is None:
            raise ControlError(404, "no such charge")
        if status not in ("success", "failed"):
            raise ControlError(422, "status must be success or failed")
        if charge.status != "pending":
            raise ControlError(409, f"the charge is already {charge.status}")
        self.store.set_charge_status(charge.id, status)
        charge.status = status
        return charge_json(charge)

    def add_fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        fault = parse_fault(next(self._fault_ids), spec)
        self.faults.append(fault)
        return fault.to_json()

    def clear_faults(self) -> None:
        self.faults.clear()

    def advance_clock(self, seconds: Any) -> str:
        value = _seconds(seconds, "advance_seconds")
        self.clock_offset += timedelta(seconds=float(value))
        return self.now_text()

    def set_key_delay(self, key: str, seconds: Any) -> None:
        value = float(_seconds(seconds, "seconds"))
        if value:
            self.key_delays[key] = value
        else:
            self.key_delays.pop(key, None)

    def requests(self) -> list[dict[str, Any]]:
        return [dict(entry) for entry in self.request_log]

    def reset(self) -> None:
        """Back to a fresh sandbox: no links, charges, faults, log, delays; real time."""
        self.store.reset()
        self.faults.clear()
        self.request_log.clear()
        self.key_delays.clear()
        self.link_overrides.clear()
        self.clock_offset = timedelta()

    def shutdown(self) -> None:
        """Release hanging and delayed requests (they answer 503)."""
        self.closing.set()

    # The fault layer in front of the API

    def _take_fault(self, method: str, path: str, key: str | None) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path, key):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    async def _pause(self, seconds: float) -> bool:
        """Sleep; False when the sandbox began to shut down meanwhile."""
        try:
            await asyncio.wait_for(self.closing.wait(), timeout=seconds)
        except TimeoutError:
            return True
        return False

    async def _hang(self, receive: Receive) -> bool:
        """Wait for the client to give up; True when released by shutdown instead."""
        gone = asyncio.ensure_future(_wait_disconnect(receive))
        closing = asyncio.ensure_future(self.closing.wait())
        try:
            done, _ = await asyncio.wait({gone, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (gone, closing):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return closing in done

    async def _apply(self, fault: Fault, receive: Receive, send: Send, logged: Send) -> bool:
        """Act out a fault; False when the request should go on normally (a mere delay)."""
        if fault.delay and not await self._pause(fault.delay):
            await _send_unavailable(logged)
            return True
        if fault.hang:
            if await self._hang(receive):
                await _send_unavailable(logged)
            return True
        if fault.drop:
            await _drop_connection(send)
            return True
        if fault.status is not None:
            await _send_fault(fault, logged)
            return True
        return False

    async def serve_api(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        """Log an API request, apply key delays and faults, and let ``app`` answer it."""
        body = await _read_body(receive)
        if body is None:
            return
        headers = Headers(scope=scope)
        key = headers.get("x-dgs-api-key")
        method = scope["method"]
        path = scope["path"]
        try:
            parsed: Any = json_loads(body) if body else None
        except ValueError:
            parsed = None
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": dict(parse_qsl(scope["query_string"].decode("latin-1"))),
            "key": None if key is None else key[-4:],
            "content_type": headers.get("content-type"),
            "body": parsed,
            "raw_body": body.decode("utf-8", "replace"),
            "status": None,
        }
        self.request_log.append(entry)

        async def logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        delay = self.key_delays.get(key or "")
        if delay and not await self._pause(delay):
            await _send_unavailable(logged)
            return
        fault = self._take_fault(method, path, key)
        if fault is None:
            await app(scope, replay, logged)
        elif not fault.after:
            if not await self._apply(fault, receive, send, logged):
                await app(scope, replay, logged)
        else:
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await app(scope, replay, hold)
            if not await self._apply(fault, receive, send, logged):
                for message in held:
                    await logged(message)


def charge_json(charge: ChargeRecord) -> dict[str, Any]:
    """A charge as in ``recent_charges``: the amount a decimal string such as ``"500.00"``."""
    places = max(2, get_currency_precision(charge.currency))
    body: dict[str, Any] = {
        "id": charge.id,
        "amount": f"{charge.amount:.{places}f}",
        "currency": charge.currency,
        "status": charge.status,
        "created_at": charge.created_at,
    }
    for name in ("payment_type", "payer_name", "payer_phone"):
        value = getattr(charge, name)
        if value is not None:
            body[name] = value
    return body


# The API


def _authenticate(request: Request, *, write: bool) -> str:
    key = request.headers.get("x-dgs-api-key", "")
    if not key.startswith("sk_test_") or len(key) == len("sk_test_"):
        raise ApiError(401, "Missing or invalid API key")
    if write and key.startswith("sk_test_readonly_"):
        raise ApiError(403, "This API key may only read")
    return key


async def _json_object(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(400, "Content-Type must be application/json")
    try:
        body = json_loads(await request.body())
    except (ValueError, RecursionError):
        raise ApiError(400, "The body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object")
    return body


def _query_int(request: Request, name: str, default: int, errors: dict[str, list[str]]) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        errors.setdefault(name, []).append("Must be a whole number.")
        return default
    return int(raw)


class _Api:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.store = state.store

    def _owned(self, key: str, link_id: str) -> LinkRecord:
        link = self.store.get_link(link_id)
        if link is None or link.api_key != key:
            raise ApiError(404, "Payment link not found")
        return link

    async def create(self, request: Request) -> Response:
        key = _authenticate(request, write=True)
        body = await _json_object(request)
        checked = validate_link(body, current=None, now=self.state.now())
        if checked.errors:
            raise ApiError(422, "The given data was invalid", checked.errors)
        slug = checked.given.get("slug")
        if slug is not None and self.store.slug_taken(slug):
            raise ApiError(409, "The slug is already taken")
        values = checked.merged
        link = LinkRecord(
            id=str(uuid.uuid4()),
            api_key=key,
            slug=slug or self.state.unique_slug(values["title"]),
            created_at=self.state.now_text(),
            **values,
        )
        try:
            self.store.insert_link(link)
        except sqlite3.IntegrityError:
            raise ApiError(409, "The slug is already taken") from None
        return JSONResponse(
            {
                "status": "success",
                "message": "Payment link created",
                "link": self.state.link_json(link, self.state.base_url(request)),
            },
            status_code=201,
        )

    async def list(self, request: Request) -> Response:
        key = _authenticate(request, write=False)
        errors: dict[str, list[str]] = {}
        page = _query_int(request, "page", 1, errors)
        per_page = _query_int(request, "per_page", 20, errors)
        if "page" not in errors and page < 1:
            errors["page"] = ["Must be at least 1."]
        if "per_page" not in errors and not 1 <= per_page <= 100:
            errors["per_page"] = ["Must be from 1 to 100."]
        if errors:
            raise ApiError(422, "The given data was invalid", errors)
        total = self.store.count_links(key)
        offset = (page - 1) * per_page
        links = self.store.list_links(key, limit=per_page, offset=offset) if offset < total else []
        base = self.state.base_url(request)
        return JSONResponse(
            {
                "status": "success",
                "links": [self.state.link_json(link, base) for link in links],
                "pagination": {
                    "page": page,
                    "per_page": per_page,
                    "total": total,
                    "total_pages": math.ceil(total / per_page),
                },
            }
        )

    async def get(self, request: Request) -> Response:
        key = _authenticate(request, write=False)
        link = self._owned(key, request.path_params["link_id"])
        stats = self.store.charge_stats(link.id)
        return JSONResponse(
            {
                "status": "success",
                "link": self.state.link_json(link, self.state.base_url(request)),
                "stats": {
                    "total_charges": stats.total,
                    "successful_charges": stats.successful,
                    "pending_charges": stats.pending,
                    "failed_charges": stats.failed,
                    "total_collected": amount_number(stats.collected),
                    "currency": link.currency,
                },
                "recent_charges": [
                    charge_json(charge) for charge in self.store.recent_charges(link.id, 10)
                ],
            }
        )

    async def update(self, request: Request) -> Response:
        key = _authenticate(request, write=True)
        body = await _json_object(request)
        link = self._owned(key, request.path_params["link_id"])
        if link.archived:
            raise ApiError(410, "Payment link is archived")
        checked = validate_link(body, current=link, now=self.state.now())
        if checked.errors:
            raise ApiError(422, "The given data was invalid", checked.errors)
        slug = checked.given.get("slug")
        if slug is not None and slug != link.slug and self.store.slug_taken(slug):
            raise ApiError(409, "The slug is already taken")
        try:
            self.store.update_link(link.id, checked.given)
        except sqlite3.IntegrityError:
            raise ApiError(409, "The slug is already taken") from None
        updated = self._owned(key, link.id)
        return JSONResponse(
            {
                "status": "success",
                "message": "Payment link updated",
                "link": self.state.link_json(updated, self.state.base_url(request)),
            }
        )

    async def archive(self, request: Request) -> Response:
        key = _authenticate(request, write=True)
        link = self._owned(key, request.path_params["link_id"])
        if link.archived:
            raise ApiError(410, "Payment link is already archived")
        self.store.update_link(link.id, {"archived": True})
        return JSONResponse({"status": "success", "message": "Payment link archived"})


# The payer page

# Plain text of the page comes from the bot's catalogues (keys ``payer-…``), in the language
# the payer asked for (``?lang=``), else their browser's, else English.
PAYER_LANGUAGE_PARAM = "lang"
_OUTCOME_TEXTS = {
    "success": ("payer-button-success", "payer-result-success"),
    "pending": ("payer-button-pending", "payer-result-pending"),
    "failed": ("payer-button-failed", "payer-result-failed"),
}
_CLOSED_REASONS = {
    "expired": "payer-closed-expired",
    "completed": "payer-closed-completed",
    "archived": "payer-closed-archived",
}
_COLLECTED_FIELDS = (
    # (link flag, form field, input type, autocomplete, label key)
    ("collect_name", "payer_name", "text", "name", "payer-name"),
    ("collect_phone", "payer_phone", "tel", "tel", "payer-phone"),
    ("collect_address", "payer_address", "text", "street-address", "payer-address"),
)


@functools.lru_cache(maxsize=1)
def _catalogues() -> Catalogues:
    # Compiled once per process: every sandbox (tests start many) shares them.
    return Catalogues.load()


def accepted_languages(header: str) -> list[str]:
    """Our languages in an ``Accept-Language`` header, most wanted first (``q=0`` excluded)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        code, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = match_language(code.strip())
        if language and quality > 0:
            ranked.append((-quality, position, language))
    return [language for _, _, language in sorted(ranked)]


def payer_language(request: Request) -> str:
    """``?lang=`` when it names one of our languages, else the browser's choice, else English."""
    asked = match_language(request.query_params.get(PAYER_LANGUAGE_PARAM))
    if asked:
        return asked
    preferred = accepted_languages(request.headers.get("accept-language", ""))
    return preferred[0] if preferred else SOURCE_LANGUAGE


class _Page:
    """One payer page in one language: its texts (values HTML-escaped) and amounts."""

    def __init__(self, request: Request) -> None:
        self.language = payer_language(request)
        self.tr: Translator = _catalogues().translator(self.language)

    def money(self, amount: Decimal, currency: str) -> str:
        return format_amount(amount, currency, self.language)

    def method(self, method: str) -> str:
        label = self.tr(f"method-{method}") if method in ALL_PAYMENT_TYPES else _esc(method)
        return label[:1].upper() + label[1:]

    def switcher(self) -> str:
        """Links to the page in the other languages, each named in itself."""
        items = []
        for code in LANGUAGES:
            name = _esc(LANGUAGE_NAMES[code])
            if code == self.language:
                items.append(f'<strong aria-current="true" lang="{code}">{name}</strong>')
            else:
                items.append(
                    f'<a href="?{PAYER_LANGUAGE_PARAM}={code}" lang="{code}" hreflang="{code}">'
                    f"{name}</a>"
                )
        label = self.tr("payer-language")
        return f'<nav class="languages" aria-label="{_esc(label)}">{" · ".join(items)}</nav>'

    def response(self, status: int, title: str, content: str) -> HTMLResponse:
        page = _PAGE.substitute(
            lang=self.language,
            page_title=title,
            languages=self.switcher(),
            content=content,
            footer=self.tr("payer-footer"),
        )
        return HTMLResponse(page, status_code=status, headers=_HTML_HEADERS)


def _closed_page(page: _Page, link: LinkRecord, status: str) -> HTMLResponse:
    title = page.tr("payer-closed-title")
    reason = page.tr(_CLOSED_REASONS.get(status, "payer-closed-other"))
    content = (
        f"<h1>{_esc(link.title)}</h1>\n"
        f'<p class="error" role="alert"><strong>{title}</strong><br>{reason}</p>'
    )
    return page.response(410, title, content)


def _not_found_page(page: _Page) -> HTMLResponse:
    title = page.tr("payer-notfound-title")
    content = f"<h1>{title}</h1>\n<p>{page.tr('payer-notfound-body')}</p>"
    return page.response(404, title, content)


def _pay_form(page: _Page, link: LinkRecord, form: dict[str, str], error: str | None) -> str:
    parts = []
    if link.logo_url:
        parts.append(f'<img class="logo" src="{_esc(link.logo_url)}" alt="">')
    parts.append(f"<h1>{_esc(link.title)}</h1>")
    if link.description:
        parts.append(f'<p class="description">{_esc(link.description)}</p>')
    if error:
        parts.append(f'<p class="error" role="alert">{error}</p>')
    parts.append('<form method="post">')
    if link.amount_type == "fixed" and link.amount is not None:
        parts.append(
            f'<p class="hint">{page.tr("payer-amount")}</p>'
            f'<p class="amount">{_esc(page.money(link.amount, link.currency))}</p>'
        )
    else:
        label = page.tr("payer-amount-flexible", currency=link.currency)
        parts.append(
            f'<div class="field"><label for="amount">{label}</label>'
            '<input type="text" id="amount" name="amount" inputmode="decimal" '
            f'autocomplete="off" required value="{_esc(form.get("amount", ""))}">'
        )
        low, high = link.min_amount, link.max_amount
        if low is not None and high is not None:
            hint = page.tr(
                "payer-range-between",
                min=page.money(low, link.currency),
                max=page.money(high, link.currency),
            )
        elif low is not None:
            hint = page.tr("payer-range-min", min=page.money(low, link.currency))
        elif high is not None:
            hint = page.tr("payer-range-max", max=page.money(high, link.currency))
        else:
            hint = ""
        if hint:
            parts.append(f'<p class="hint">{hint}</p>')
        parts.append("</div>")
    chosen = form.get("payment_type") or link.payment_types[0]
    parts.append(f"<fieldset><legend>{page.tr('payer-methods')}</legend>")
    for method in link.payment_types:
        checked = " checked" if method == chosen else ""
        parts.append(
            f'<label class="method"><input type="radio" name="payment_type" '
            f'value="{_esc(method)}"{checked} required> {page.method(method)}</label>'
        )
    parts.append("</fieldset>")
    for flag, name, kind, autocomplete, label_key in _COLLECTED_FIELDS:
        if getattr(link, flag):
            parts.append(
                f'<div class="field"><label for="{name}">{page.tr(label_key)}</label>'
                f'<input type="{kind}" id="{name}" name="{name}" '
                f'autocomplete="{autocomplete}" maxlength="200" '
                f'value="{_esc(form.get(name, ""))}"></div>'
            )
    parts.append(f'<div class="buttons"><p>{page.tr("payer-simulate")}</p>')
    for outcome in CHARGE_STATUSES:
        parts.append(
            f'<button type="submit" class="{outcome}" name="outcome" value="{outcome}">'
            f"{page.tr(_OUTCOME_TEXTS[outcome][0])}</button>"
        )
    parts.append("</div></form>")
    return "\n".join(parts)


def _payer_amount(page: _Page, link: LinkRecord, raw: str) -> Decimal | str:
    """The amount the payer chose, read with the page language's separators (``12,30`` is
    twelve thirty in French), or the HTML of the reason it is refused."""
    if link.amount_type == "fixed" and link.amount is not None:
        return link.amount
    if not raw.strip():
        return page.tr("payer-error-amount-required")
    try:
        amount = parse_amount(raw, link.currency, page.language)
    except AmountError as refused:
        return _amount_refusal(page, refused)
    if amount >= MAX_AMOUNT:
        return page.tr("payer-error-amount-invalid", example="1500")
    if link.min_amount is not None and amount < link.min_amount:
        return page.tr("payer-error-amount-min", min=page.money(link.min_amount, link.currency))
    if link.max_amount is not None and amount > link.max_amount:
        return page.tr("payer-error-amount-max", max=page.money(link.max_amount, link.currency))
    return amount


def _amount_refusal(page: _Page, refused: AmountError) -> str:
    params = refused.params
    if refused.code == "amount-too-precise":
        digits = int(params.get("digits", 0))
        if digits == 0:
            return page.tr("amount-too-precise-none", currency=params.get("currency", ""))
        return page.tr.plural("amount-too-precise", digits, **params)
    if refused.code == "amount-too-large":
        limit = format_decimal(params["max"], locale=babel_locale(page.language))
        return page.tr("amount-too-large", max=limit)
    if refused.code in ("amount-not-positive", "amount-currency-mismatch"):
        return page.tr(refused.code, **params)
    return page.tr("payer-error-amount-invalid", example="1500")


class _PayerPage:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def _open_link(self, page: _Page, slug: str) -> LinkRecord | HTMLResponse:
        link = self.state.store.get_link_by_slug(slug)
        if link is None:
            return _not_found_page(page)
        status = self.state.link_status(link)
        if status != "active":
            return _closed_page(page, link, status)
        return link

    async def show(self, request: Request) -> Response:
        page = _Page(request)
        link = self._open_link(page, request.path_params["slug"])
        if isinstance(link, Response):
            return link
        title = page.tr("payer-page-title", title=link.title)
        return page.response(200, title, _pay_form(page, link, {}, None))

    async def pay(self, request: Request) -> Response:
        page = _Page(request)
        link = self._open_link(page, request.path_params["slug"])
        if isinstance(link, Response):
            return link
        raw = (await request.body()).decode("utf-8", "replace")
        form = dict(parse_qsl(raw, keep_blank_values=True))
        amount = _payer_amount(page, link, form.get("amount", ""))
        method = form.get("payment_type")
        outcome = form.get("outcome")
        error = None
        if isinstance(amount, str):
            error = amount
        elif method not in link.payment_types:
            error = page.tr("payer-error-method")
        elif outcome not in CHARGE_STATUSES:
            error = page.tr("payer-error-outcome")
        if error is not None or isinstance(amount, str) or outcome is None:
            title = page.tr("payer-page-title", title=link.title)
            return page.response(422, title, _pay_form(page, link, form, error))

        def payer_field(name: str, wanted: bool) -> str | None:
            value = form.get(name, "").strip()[:200]
            return value if wanted and value else None

        charge = self.state.create_charge(
            link,
            amount,
            outcome,
            payment_type=method,
            payer_name=payer_field("payer_name", link.collect_name),
            payer_phone=payer_field("payer_phone", link.collect_phone),
            payer_address=payer_field("payer_address", link.collect_address),
        )
        heading = page.tr(_OUTCOME_TEXTS[outcome][1])
        parts = [
            f"<h1>{heading}</h1>",
            f"<p>{_esc(link.title)}</p>",
            f'<p class="amount">{_esc(page.money(amount, link.currency))}</p>',
            f'<p class="reference">{page.tr("payer-reference", id=charge.id)}</p>',
        ]
        if outcome == "success" and link.redirect_url:
            parts.append(
                f'<a class="button success" href="{_esc(link.redirect_url)}">'
                f"{page.tr('payer-continue')}</a>"
            )
        else:
            back = f"{PAY_PATH}/{link.slug}?{PAYER_LANGUAGE_PARAM}={page.language}"
            parts.append(
                f'<a class="button neutral" href="{_esc(back)}">{page.tr("payer-back")}</a>'
            )
        return page.response(200, heading, "\n".join(parts))


# Test controls


async def _control_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json_loads(raw)
    except (ValueError, RecursionError):
        raise ControlError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ControlError(400, "the body must be a JSON object")
    return body


class _Controls:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    async def add_charge(self, request: Request) -> Response:
        body = await _control_body(request)
        allowed = {
            "link_id",
            "amount",
            "status",
            "key",
            "payment_type",
            "payer_name",
            "payer_phone",
        }
        unknown = set(body) - allowed
        if unknown:
            raise ControlError(422, f"unknown fields: {', '.join(sorted(unknown))}")
        if "link_id" not in body or "amount" not in body:
            raise ControlError(422, "link_id and amount are required")
        charge = self.state.add_charge(
            body["link_id"],
            body["amount"],
            body.get("status", "success"),
            key=body.get("key"),
            payment_type=body.get("payment_type"),
            payer_name=body.get("payer_name"),
            payer_phone=body.get("payer_phone"),
        )
        return JSONResponse(charge, status_code=201)

    async def settle(self, request: Request) -> Response:
        body = await _control_body(request)
        charge = self.state.settle(request.path_params["charge_id"], body.get("status"))
        return JSONResponse(charge)

    async def add_fault(self, request: Request) -> Response:
        fault = self.state.add_fault(await _control_body(request))
        return JSONResponse(fault, status_code=201)

    async def list_faults(self, request: Request) -> Response:
        return JSONResponse({"faults": [fault.to_json() for fault in self.state.faults]})

    async def clear_faults(self, request: Request) -> Response:
        self.state.clear_faults()
        return JSONResponse({"status": "success"})

    async def clock(self, request: Request) -> Response:
        body = await _control_body(request)
        now = self.state.advance_clock(body.get("advance_seconds", 0))
        return JSONResponse({"now": now})

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"status": "success"})

    async def requests(self, request: Request) -> Response:
        return JSONResponse({"requests": self.state.requests()})

    async def clear_requests(self, request: Request) -> Response:
        self.state.request_log.clear()
        return JSONResponse({"status": "success"})

    async def key_delay(self, request: Request) -> Response:
        body = await _control_body(request)
        self.state.set_key_delay(request.path_params["key"], body.get("seconds", 0))
        return JSONResponse({"status": "success"})


# The application


class SandboxApp(Starlette):
    """Starlette, with the request log, key delays and faults in front of the API."""

    def __init__(self, state: SandboxState, routes: list[Route]) -> None:
        super().__init__(
            routes=routes,
            exception_handlers={
                ApiError: _api_error,
                ControlError: _control_error,
                HTTPException: _http_error,
            },
        )
        self.sandbox = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await self.sandbox.serve_api(scope, receive, send, super().__call__)
        else:
            await super().__call__(scope, receive, send)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _control_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ControlError)
    return JSONResponse({"status": "error", "message": exc.message}, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if path.startswith(PAY_PATH + "/") and exc.status_code == 404:
        return _not_found_page(_Page(request))
    if path.startswith((API_PREFIX, CONTROL_PREFIX)):
        return JSONResponse(
            {"status": "error", "message": exc.detail},
            status_code=exc.status_code,
            headers=exc.headers,
        )
    return Response(exc.detail, status_code=exc.status_code, headers=exc.headers)


def create_app(
    *, db_path: str = ":memory:", test_mode: bool = False, public_base_url: str | None = None
) -> SandboxApp:
    """The sandbox as an ASGI app; ``app.sandbox`` is its state (store, clock, faults)."""
    state = SandboxState(
        SandboxStore(db_path), test_mode=test_mode, public_base_url=public_base_url
    )
    api = _Api(state)
    payer = _PayerPage(state)
    routes = [
        Route(LINKS_PATH, api.create, methods=["POST"]),
        Route(LINKS_PATH, api.list, methods=["GET"]),
        Route(LINKS_PATH + "/{link_id}", api.get, methods=["GET"]),
        Route(LINKS_PATH + "/{link_id}", api.update, methods=["PATCH"]),
        Route(LINKS_PATH + "/{link_id}", api.archive, methods=["DELETE"]),
        Route(PAY_PATH + "/{slug}", payer.show, methods=["GET"]),
        Route(PAY_PATH + "/{slug}", payer.pay, methods=["POST"]),
    ]
    if test_mode:
        controls = _Controls(state)
        routes += [
            Route(CONTROL_PREFIX + "/charges", controls.add_charge, methods=["POST"]),
            Route(CONTROL_PREFIX + "/charges/{charge_id}", controls.settle, methods=["POST"]),
            Route(CONTROL_PREFIX + "/faults", controls.add_fault, methods=["POST"]),
            Route(CONTROL_PREFIX + "/faults", controls.list_faults, methods=["GET"]),
            Route(CONTROL_PREFIX + "/faults", controls.clear_faults, methods=["DELETE"]),
            Route(CONTROL_PREFIX + "/clock", controls.clock, methods=["POST"]),
            Route(CONTROL_PREFIX + "/reset", controls.reset, methods=["POST"]),
            Route(CONTROL_PREFIX + "/requests", controls.requests, methods=["GET"]),
            Route(CONTROL_PREFIX + "/requests", controls.clear_requests, methods=["DELETE"]),
            Route(CONTROL_PREFIX + "/keys/{key}/delay", controls.key_delay, methods=["POST"]),
        ]
    return SandboxApp(state, routes)


__all__ = [
    "ApiError",
    "ControlError",
    "Fault",
    "SandboxApp",
    "SandboxState",
    "create_app",
    "slugify",
    "validate_link",
]
