"""The embedded DGS provider sandbox.

``create_app`` builds the Starlette app (see ``bot.devtools.sandbox.app`` for the choices it
makes where the contract is silent; ``api``, ``payer``, ``controls`` and ``state`` beside it).
``Sandbox`` serves it on 127.0.0.1 inside the current event loop and gives tests and benchmarks
in-process access to its test controls::

    async with Sandbox() as sb:
        client = httpx.AsyncClient(base_url=sb.api_base_url, headers={"X-DGS-API-Key": key})
        ...
        await sb.add_charge(key, link_id, "500", status="pending")
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.asgi_server import BackgroundServer, StartStop
from bot.devtools.sandbox.app import SandboxApp, create_app
from bot.devtools.sandbox.protocol import API_PREFIX, ControlError
from bot.devtools.sandbox.state import REMOVED, SandboxState
from bot.devtools.sandbox.store import SandboxStore


class Sandbox(StartStop):
    """The sandbox served in the current loop: ``async with Sandbox() as sb: sb.url``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        db_path: str = ":memory:",
        test_mode: bool = True,
        public_base_url: str | None = None,
    ) -> None:
        self.app: SandboxApp = create_app(
            db_path=db_path, test_mode=test_mode, public_base_url=public_base_url
        )
        self.state: SandboxState = self.app.sandbox
        self.store: SandboxStore = self.state.store
        self._server = BackgroundServer(self.app, host=host, port=port)

    @property
    def url(self) -> str:
        """The origin, such as ``http://127.0.0.1:54321``."""
        return self._server.url

    @property
    def api_base_url(self) -> str:
        return self.url + API_PREFIX

    async def start(self) -> None:
        try:
            await self._server.start()
        except BaseException:
            self.store.close()
            raise

    async def stop(self) -> None:
        self.state.shutdown()
        try:
            await self._server.stop()
        finally:
            self.store.close()

    # In-process test controls: the same operations as /_sandbox/…, raising ControlError
    # where those answer an error.

    async def add_charge(
        self,
        key: str,
        link_id: str,
        amount: Decimal | int | str,
        status: str = "success",
        **extra: Any,
    ) -> dict[str, Any]:
        """Record a charge on one of ``key``'s links; ``extra``: payment_type, payer_name,
        payer_phone. Returns the charge as ``recent_charges`` shows it."""
        return self.state.add_charge(link_id, amount, status, key=key, **extra)

    async def settle(self, charge_id: str, status: str) -> dict[str, Any]:
        """Move a pending charge to ``success`` or ``failed``."""
        return self.state.settle(charge_id, status)

    async def inject(self, **fault: Any) -> dict[str, Any]:
        """Add a fault (method, path, key, status, retry_after, delay, hang, drop, after,
        body, times); see ``POST /_sandbox/faults``."""
        return self.state.add_fault(fault)

    async def clear_faults(self) -> None:
        self.state.clear_faults()

    async def advance_clock(self, seconds: float | int | Decimal) -> str:
        """Move the sandbox clock forward; returns its new time (Kigali)."""
        if isinstance(seconds, float):
            seconds = Decimal(repr(seconds))
        return self.state.advance_clock(seconds)

    async def requests(self) -> list[dict[str, Any]]:
        """The API requests received so far, oldest first."""
        return self.state.requests()

    async def clear_requests(self) -> None:
        self.state.request_log.clear()

    async def set_key_delay(self, key: str, seconds: float) -> None:
        """Delay every API call made with ``key`` (0 removes the delay)."""
        self.state.set_key_delay(key, Decimal(repr(seconds)))

    def set_rate_limit(self, per_second: float | None) -> None:
        """Answer 429 (with Retry-After) to a key's requests beyond ``per_second`` a second,
        bursts of that many allowed (``bot.devtools.sandbox.ratelimit``); None: no limit."""
        self.state.rate_limit.set(per_second)

    async def corrupt_link(self, link_id: str, **fields: Any) -> None:
        """Serve the link with ``fields`` as given, whatever their type (``REMOVED`` leaves a
        field out): the unreadable data a provider might send. In-process only; ``reset``
        ends it."""
        self.state.corrupt_link(link_id, fields)

    async def reset(self) -> None:
        self.state.reset()

    def seed_links(self, key: str, count: int, **options: Any) -> list[str]:
        """Insert ``count`` fixed links for ``key`` at once (benchmarks); returns their ids.
        ``options``: title, currency, amount (see ``SandboxStore.seed_links``)."""
        return self.store.seed_links(key, count, created_at=self.state.now_text(), **options)


def in_data_dir(data_dir: Path, port: int) -> Sandbox:
    """The command line's sandbox (``--sandbox``, ``sandbox``): no test controls, its links kept
    in ``data_dir`` from one run to the next. ``async with`` it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return Sandbox(port=port, db_path=str(data_dir / "sandbox.sqlite3"), test_mode=False)


__all__ = [
    "REMOVED",
    "ControlError",
    "Sandbox",
    "SandboxApp",
    "SandboxStore",
    "create_app",
    "in_data_dir",
]
