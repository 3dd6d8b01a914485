"""``paylinks-bot demo``: the whole product on one machine, offline, in a browser.

One process runs the sandbox provider, a local Telegram Bot API, the unmodified bot pointed at
both, and a web chat that looks like Telegram on a phone (``bot.devtools.demo.world``,
``bot.devtools.demo.web``).
``run_demo`` is what the command line runs; tests call it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bot.devtools.demo.world import (
    DEFAULT_PORT,
    DEMO_POLL_INTERVAL_SECONDS,
    MEMBER,
    OWNER,
    Demo,
    DemoError,
    ReadyCallback,
    check_host,
    is_loopback,
)
from bot.i18n import Catalogues, Markup


@contextlib.contextmanager
def _data_dir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        yield path
        return
    # A fresh demo each time: the chats live in memory, so the bot's memory must not outlive them.
    with tempfile.TemporaryDirectory(prefix="paylinks-demo-") as directory:
        yield Path(directory)


async def run_demo(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    allow_remote: bool = False,
    language: str = "en",
    data_dir: Path | None = None,
    stop: asyncio.Event | None = None,
    on_ready: ReadyCallback | None = None,
    out: Callable[[str], Any] = print,
    poll_interval_seconds: float = DEMO_POLL_INTERVAL_SECONDS,
    catalogues: Catalogues | None = None,
    settings_overrides: dict[str, Any] | None = None,
) -> None:
    """Run the demo until ``stop`` is set or the bot stops (SIGINT/SIGTERM).

    ``language`` is that of the lines written to ``out``; the page picks its own. Raises
    ``DemoError`` (a catalogue message) when it cannot start as asked.
    """
    catalogues = catalogues or Catalogues.load()
    tr = catalogues.translator(language)
    check_host(host, allow_remote=allow_remote)
    with _data_dir(data_dir) as directory:
        async with Demo(
            data_dir=directory,
            host=host,
            port=port,
            allow_remote=allow_remote,
            language=language,
            poll_interval_seconds=poll_interval_seconds,
            catalogues=catalogues,
            settings_overrides=settings_overrides,
        ) as demo:
            out(tr("demo-cli-ready", url=Markup(demo.url)))
            if not is_loopback(host):
                out(tr("demo-cli-remote-warning", host=Markup(host)))
            out(tr("demo-cli-stop"))
            if on_ready is not None:
                await on_ready(demo)
            await demo.wait_closed(stop or asyncio.Event())
    out(tr("demo-cli-stopped"))


__all__ = [
    "DEFAULT_PORT",
    "MEMBER",
    "OWNER",
    "Demo",
    "DemoError",
    "check_host",
    "is_loopback",
    "run_demo",
]
