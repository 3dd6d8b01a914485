"""The sandbox's state, shared by the API, the payer page, the test controls and the in-process
helpers: the store, the sandbox clock, faults, the request log and per-key delays."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import uuid
from collections import deque
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import parse_qsl

from babel.numbers import get_currency_precision
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.devtools.sandbox.faults import (
    Fault,
    drop_connection,
    parse_fault,
    parse_seconds,
    read_body,
    send_fault,
    send_unavailable,
    wait_disconnect,
)
from bot.devtools.sandbox.protocol import (
    CHARGE_STATUSES,
    PAY_PATH,
    REQUEST_LOG_SIZE,
    TIME_FORMAT,
    ControlError,
)
from bot.devtools.sandbox.ratelimit import RateLimit, send_rate_limited
from bot.devtools.sandbox.store import (
    ALL_PAYMENT_TYPES,
    ChargeRecord,
    LinkRecord,
    SandboxStore,
    amount_number,
    json_loads,
)
from bot.devtools.sandbox.validation import slugify
from bot.dgs.models import KIGALI


class _Removed:
    """Marker of ``corrupt_link``: the field is left out of the link's JSON."""

    def __repr__(self) -> str:
        return "REMOVED"


REMOVED: Final = _Removed()


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
        self.rate_limit = RateLimit()
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
        value = parse_seconds(seconds, "advance_seconds")
        self.clock_offset += timedelta(seconds=float(value))
        return self.now_text()

    def set_key_delay(self, key: str, seconds: Any) -> None:
        value = float(parse_seconds(seconds, "seconds"))
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
        self.rate_limit.set(None)
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
        gone = asyncio.ensure_future(wait_disconnect(receive))
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
            await send_unavailable(logged)
            return True
        if fault.hang:
            if await self._hang(receive):
                await send_unavailable(logged)
            return True
        if fault.drop:
            await drop_connection(send)
            return True
        if fault.status is not None:
            await send_fault(fault, logged)
            return True
        return False

    async def serve_api(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        """Log an API request, apply key delays and faults, and let ``app`` answer it."""
        body = await read_body(receive)
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
            await send_unavailable(logged)
            return
        retry_after = self.rate_limit.refuse(key)
        if retry_after is not None:
            await send_rate_limited(logged, retry_after)
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
