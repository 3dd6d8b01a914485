"""The test controls (``/_sandbox/…``, with ``test_mode`` only): charges, faults, the clock,
the request log, per-key delays and reset."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bot.devtools.sandbox.protocol import ControlError, JSONResponse
from bot.devtools.sandbox.state import SandboxState
from bot.devtools.sandbox.store import json_loads


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


class Controls:
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
