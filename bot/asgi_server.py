"""Run a small ASGI app (the webhook, the sandbox, the local Bot API) inside the current loop.

uvicorn's ``Server.serve`` is a coroutine, so the app shares the loop of whoever starts it: the
bot (its webhook, or the sandbox under ``--sandbox``), or a test. Port 0 asks the OS for a free
port; the real one is read back from the bound socket once the server is up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp


class StartStop:
    """``async with thing:`` for anything with ``start()`` and ``stop()`` coroutines (the
    servers the sandbox, the local Bot API and the demo run)."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: whoever owns the loop handles SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class BackgroundServer(StartStop):
    """``async with BackgroundServer(app) as server: server.url`` serves ``app`` until exit."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # Tests close connections abruptly on purpose; don't wait for them at shutdown.
            timeout_graceful_shutdown=1,
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # re-raise a failure to bind
                raise RuntimeError("server stopped before it started")
            await asyncio.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
