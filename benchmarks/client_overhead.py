"""What DGSClient costs over a bare httpx loop: ``python benchmarks/client_overhead.py``.

Starts the sandbox, creates one link, then times the same number of ``GET /payment-links/{id}``
through ``DGSClient.get_link`` (pacing, semaphore, retries wrapper, JSON decoding with
Decimal, pydantic models) and through a bare ``httpx.AsyncClient.get`` (no decoding), with the
same concurrency. Rounds alternate which side goes first; medians are compared.
Target: the client takes at most 1.3x the bare loop's time per request.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

import httpx

from bot.devtools.sandbox import Sandbox
from bot.dgs import API_KEY_HEADER, DGSClient
from bot.dgs.models import AmountType, LinkCreate

KEY = "sk_test_benchmark_key_0001"
TARGET = 1.3
# Far above what one loop can do, so pacing never waits: we measure its bookkeeping only.
UNLIMITED_RATE = 1e9


async def run(requests: int, concurrency: int, call: Callable[[], Awaitable[None]]) -> float:
    """Requests per second of ``call``, made ``requests`` times by ``concurrency`` workers."""
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


async def main(requests: int, concurrency: int, rounds: int) -> None:
    async with Sandbox(test_mode=False) as sandbox:
        client = DGSClient(
            sandbox.api_base_url,
            requests_per_second_per_key=UNLIMITED_RATE,
            max_concurrency=64,
        )
        bare = httpx.AsyncClient(
            base_url=sandbox.api_base_url,
            headers={API_KEY_HEADER: KEY},
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        try:
            link = await client.create_link(
                KEY,
                LinkCreate(
                    title="Benchmark",
                    amount_type=AmountType.FIXED,
                    amount=Decimal(5000),
                    currency="RWF",
                ),
            )
            path = f"/payment-links/{link.id}"

            async def via_client() -> None:
                await client.get_link(KEY, link.id)

            async def via_bare() -> None:
                response = await bare.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"bare GET answered {response.status_code}")

            # Warm up connections, caches and the sandbox's first-request paths.
            await run(200, concurrency, via_bare)
            await run(200, concurrency, via_client)

            client_rates: list[float] = []
            bare_rates: list[float] = []
            for index in range(rounds):
                order = [("bare", via_bare), ("client", via_client)]
                if index % 2:
                    order.reverse()
                for name, call in order:
                    rate = await run(requests, concurrency, call)
                    (bare_rates if name == "bare" else client_rates).append(rate)
        finally:
            await bare.aclose()
            await client.aclose()

    bare_rps = statistics.median(bare_rates)
    client_rps = statistics.median(client_rates)
    ratio = bare_rps / client_rps
    print(
        f"{requests} GETs x {rounds} interleaved rounds, concurrency {concurrency}, "
        f"sandbox on 127.0.0.1 in the same event loop"
    )
    print(f"pacing raised to {UNLIMITED_RATE:g} requests/s per key so it never waits")
    print(f"bare httpx.AsyncClient.get : {bare_rps:8.0f} req/s (median; no JSON decoding)")
    print(f"DGSClient.get_link         : {client_rps:8.0f} req/s (median; decoded to models)")
    print(f"time per request, client / bare: {ratio:.2f}x (target <= {TARGET}x)")
    print("within target" if ratio <= TARGET else "OVER TARGET")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency, args.rounds))
