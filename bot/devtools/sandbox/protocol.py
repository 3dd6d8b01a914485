"""What the sandbox's parts share: its paths, time format and limits, and its error answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.responses import Response

from bot.devtools.sandbox.store import json_dumps

API_PREFIX = "/generation/v2"
LINKS_PATH = f"{API_PREFIX}/payment-links"
PAY_PATH = "/generation/pay"
CONTROL_PREFIX = "/_sandbox"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
CHARGE_STATUSES = ("success", "pending", "failed")
MAX_AMOUNT = Decimal(10) ** 15
METADATA_LIMIT = 4096
REQUEST_LOG_SIZE = 50_000


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
