"""Fixtures of the sandbox contract suite.

One sandbox serves the whole module (starting and stopping uvicorn costs ~0.1 s, too much per
test); every test gets it freshly reset, so no test sees another's links, faults or clock.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest_asyncio

from bot.devtools.sandbox import Sandbox

KEY = "sk_test_contract_alpha_1111"
OTHER_KEY = "sk_test_contract_beta_2222"
READONLY_KEY = "sk_test_readonly_gamma_3333"
JSON_HEADERS = {"Content-Type": "application/json"}

MakeLink = Callable[..., Awaitable[dict[str, Any]]]


def encode(body: Any) -> bytes:
    """JSON bytes in which a ``Decimal`` is written as the exact number it holds."""
    numbers: list[str] = []

    def swap(value: Any) -> Any:
        if isinstance(value, Decimal):
            numbers.append(str(value))
            return f"@@decimal{len(numbers) - 1}@@"
        if isinstance(value, dict):
            return {name: swap(item) for name, item in value.items()}
        if isinstance(value, list):
            return [swap(item) for item in value]
        return value

    text = json.dumps(swap(body))
    for index, number in enumerate(numbers):
        text = text.replace(f'"@@decimal{index}@@"', number)
    return text.encode()


def decode(response: httpx.Response) -> Any:
    """The response's JSON, non-integers as ``Decimal``."""
    return json.loads(response.content, parse_float=Decimal)


def api_client(sandbox: Sandbox, key: str | None, timeout: float = 5.0) -> httpx.AsyncClient:
    headers = {} if key is None else {"X-DGS-API-Key": key}
    return httpx.AsyncClient(base_url=sandbox.api_base_url, headers=headers, timeout=timeout)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox_server() -> AsyncIterator[Sandbox]:
    async with Sandbox(test_mode=True) as sandbox:
        yield sandbox


@pytest_asyncio.fixture(loop_scope="module")
async def sandbox(sandbox_server: Sandbox) -> Sandbox:
    await sandbox_server.reset()
    return sandbox_server


@pytest_asyncio.fixture(loop_scope="module")
async def client(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(sandbox, KEY) as http:
        yield http


@pytest_asyncio.fixture(loop_scope="module")
async def make_link(client: httpx.AsyncClient) -> MakeLink:
    """Create a link with ``client``: a fixed 5,000 RWF one, changed by ``fields``."""

    async def make(**fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "title": "Test link",
            "amount_type": "fixed",
            "amount": 5000,
            "currency": "RWF",
            **fields,
        }
        response = await client.post("/payment-links", content=encode(body), headers=JSON_HEADERS)
        assert response.status_code == 201, response.text
        link: dict[str, Any] = decode(response)["link"]
        return link

    return make
