"""Faults the tests inject in front of the API: their specs, and how each is acted out."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from starlette.types import Receive, Send

from bot.devtools.sandbox.protocol import ControlError
from bot.devtools.sandbox.store import amount_number, json_dumps, json_loads


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


def parse_seconds(value: Any, name: str) -> Decimal:
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
    retry = None if retry_after is None else parse_seconds(retry_after, "retry_after")
    delay = spec.get("delay")
    delay_seconds = 0.0 if delay is None else float(parse_seconds(delay, "delay"))
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


async def send_fault(fault: Fault, send: Send) -> None:
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


async def send_unavailable(send: Send) -> None:
    body = json_dumps({"status": "error", "message": "The sandbox is shutting down"}).encode()
    await _send_raw(send, 503, body, "application/json", [])


async def drop_connection(send: Send) -> None:
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


async def read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
