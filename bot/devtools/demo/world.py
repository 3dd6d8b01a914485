"""The demo's world in one process: a local Telegram, the sandbox provider and the real bot.

Everything is served by one HTTP server on one port, so the page, the payer pages and the Bot API
share an origin (one port to publish from a container):

- ``/bot<token>/…``, ``/file/bot<token>/…``: the local Bot API (``bot.devtools.botapi``),
- ``/generation/…``: the sandbox provider (its API and its payer pages),
- everything else: the web chat (``bot.devtools.demo.web``).

The bot is the unmodified one from ``bot.app.run_bot``, pointed at both over HTTP, with every
user connected to the sandbox (``auto_connect``) and ``demo_mode`` on so that its cards may carry
**Open** buttons to the local payer pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.app import BotRun, run_bot
from bot.asgi_server import BackgroundServer, StartStop
from bot.config import Settings, load_settings
from bot.devtools.botapi import BOT_ID, ChatGroup, ChatUser, LocalBotApi
from bot.devtools.sandbox.app import SandboxApp, create_app
from bot.devtools.sandbox.protocol import API_PREFIX
from bot.i18n import Catalogues, Markup, Translator

log = logging.getLogger(__name__)

DEFAULT_PORT = 8080
DEMO_POLL_INTERVAL_SECONDS = 2.0
# Not a secret: the local Bot API accepts only this token, and it never leaves the machine.
DEMO_TOKEN = f"{BOT_ID}:DEMO-local-bot-api-token-not-a-secret"
DEMO_BOT_USERNAME = "PayLinksDemoBot"
DEMO_BOT_NAME = "PayLinks"
DEMO_GROUP_ID = -4_000_000_001
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})
# The local Bot API's request log and event list, bounded: the demo may run for days.
KEEP_RECORDS = 2000


@dataclass(frozen=True)
class Person:
    """A demo person; ``group_status`` is their status in the demo group."""

    id: int
    first_name: str
    username: str
    group_status: str


OWNER = Person(7001, "Aline", "aline_demo", "creator")
MEMBER = Person(7002, "Jean", "jean_demo", "member")
PEOPLE: tuple[Person, ...] = (OWNER, MEMBER)


class DemoError(Exception):
    """The demo cannot start as asked; ``key`` and ``params`` name the catalogue message."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def text(self, tr: Translator) -> str:
        return tr(self.key, **self.params)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the demo on this machine."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, allow_remote: bool) -> None:
    """Refuse any address but loopback unless ``allow_remote``: the demo has no login."""
    if not allow_remote and not is_loopback(host):
        raise DemoError("demo-cli-remote-refused", host=Markup(host))


def internal_origin(host: str, port: int) -> str:
    """Where the bot reaches the server: loopback when it listens on every interface."""
    name = host.strip().strip("[]")
    if name in ("", "0.0.0.0", "localhost") or name in LOOPBACK_NAMES:  # noqa: S104
        return f"http://127.0.0.1:{port}"
    if name == "::":
        return f"http://[::1]:{port}"
    return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"


def check_port_free(host: str, port: int) -> None:
    """uvicorn exits the process when it cannot bind; find out first and say it in one line."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError:
            raise DemoError("demo-cli-port-busy", port=port) from None


class _Dispatch:
    """One origin for the three apps, routed by path prefix."""

    def __init__(self, botapi: ASGIApp, sandbox: ASGIApp, web: ASGIApp) -> None:
        self._botapi = botapi
        self._sandbox = sandbox
        self._web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if path.startswith(("/bot", "/file/bot")):
            await self._botapi(scope, receive, send)
        elif path.startswith("/generation/"):
            await self._sandbox(scope, receive, send)
        else:
            await self._web(scope, receive, send)


class _LoopbackHostOnly:
    """400 to requests naming another host: a page elsewhere that rebinds its own name to
    127.0.0.1 (DNS rebinding) must not drive the demo from the victim's browser."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host", "")
            try:
                name = urlsplit(f"//{host}").hostname or ""
            except ValueError:
                name = ""
            if not is_loopback(name):
                await PlainTextResponse("Invalid host header", status_code=400)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


class Demo(StartStop):
    """``async with Demo(...) as demo: demo.url`` runs the whole demo until the block ends."""

    def __init__(
        self,
        *,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        allow_remote: bool = False,
        language: str = "en",
        poll_interval_seconds: float = DEMO_POLL_INTERVAL_SECONDS,
        catalogues: Catalogues | None = None,
        settings_overrides: dict[str, Any] | None = None,
    ) -> None:
        check_host(host, allow_remote=allow_remote)
        self.host = host
        self.allow_remote = allow_remote
        self.data_dir = data_dir
        self.language = language
        self.catalogues = catalogues or Catalogues.load()
        self.poll_interval_seconds = poll_interval_seconds
        self._settings_overrides = dict(settings_overrides or {})
        self._requested_port = port
        tr = self.catalogues.translator(language)
        self.api = LocalBotApi(
            token=DEMO_TOKEN,
            bot_username=DEMO_BOT_USERNAME,
            bot_first_name=DEMO_BOT_NAME,
            keep_records=KEEP_RECORDS,
        )
        self.people: dict[int, ChatUser] = {}
        for person in PEOPLE:
            self.people[person.id] = self.api.user(
                person.id, person.first_name, language, person.username
            )
        self.group: ChatGroup = self.api.group(
            DEMO_GROUP_ID,
            tr("demo-group-title"),
            {self.people[p.id]: p.group_status for p in PEOPLE},
        )
        self.sandbox: SandboxApp | None = None
        self.settings: Settings | None = None
        self.run: BotRun | None = None
        self._server: BackgroundServer | None = None
        self._bot_task: asyncio.Task[None] | None = None
        self.port = port

    # Addresses ------------------------------------------------------------------------------

    @property
    def internal_url(self) -> str:
        """The origin the bot and the sandbox's links use."""
        return internal_origin(self.host, self.port)

    @property
    def url(self) -> str:
        """The address to open in a browser."""
        return self.internal_url

    # People ---------------------------------------------------------------------------------

    def person(self, user_id: int, language: str | None = None) -> ChatUser:
        """A demo person, their Telegram ``language_code`` following the page's language."""
        user = self.people.get(user_id)
        if user is None:
            raise KeyError(user_id)
        if language and user.language_code != language:
            user = self.api.user(
                user.id, user.first_name, language, user.username, started=user.id in self.people
            )
            self.api.set_member_status(self.group, user, self.group.status_of(user))
            self.people[user.id] = user
        return user

    # Lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        check_port_free(self.host, self._requested_port)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        from bot.devtools.demo.web import create_web_app

        self.sandbox = create_app(db_path=str(self.data_dir / "sandbox.sqlite3"), test_mode=False)
        app: ASGIApp = _Dispatch(self.api.app, self.sandbox, create_web_app(self))
        if not self.allow_remote:
            app = _LoopbackHostOnly(app)
        self._server = BackgroundServer(app, host=self.host, port=self._requested_port)
        try:
            await self._server.start()
        except BaseException:
            self.sandbox.sandbox.store.close()
            raise
        self.port = self._server.port
        self.api.attach(self.internal_url)
        self.settings = load_settings(
            **{
                "_env_file": None,
                "telegram_bot_token": DEMO_TOKEN,
                "telegram_api_base_url": self.api.base_url,
                "dgs_api_base_url": self.internal_url + API_PREFIX,
                "dgs_api_key": None,
                "dgs_allowed_users": frozenset(),
                "bot_encryption_key": None,
                "bot_data_dir": self.data_dir / "bot",
                "poll_interval_seconds": self.poll_interval_seconds,
                "demo_mode": True,
                **self._settings_overrides,
            }
        )
        # Added before the bot starts: its first getUpdates brings the join, as after a restart.
        await self.api.add_bot_to_group(self.people[OWNER.id], self.group)
        self.run = BotRun()
        self._bot_task = asyncio.create_task(
            run_bot(self.settings, run=self.run, auto_connect=True)
        )
        started = asyncio.create_task(self.run.started.wait())
        done, _ = await asyncio.wait(
            {self._bot_task, started}, timeout=60, return_when=asyncio.FIRST_COMPLETED
        )
        if started in done:
            return
        started.cancel()
        failed = self._bot_task if self._bot_task in done else None
        if failed is not None:
            self._bot_task = None
        await self.stop()
        if failed is not None:
            failed.result()  # the bot's own error, for the caller to report
        raise DemoError("demo-cli-bot-failed")

    async def wait_closed(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set or the bot ends (SIGINT/SIGTERM reach the bot's own handler)."""
        if self._bot_task is None:
            return
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({self._bot_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper

    async def stop(self) -> None:
        if self._bot_task is not None:
            if self.run is not None:
                self.run.stop.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._bot_task), timeout=30)
            except TimeoutError:
                self._bot_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._bot_task
            except Exception:  # the bot's own failure; it was logged by run_bot's caller
                log.exception("the demo's bot stopped with an error")
            self._bot_task = None
        await self.api.stop()  # ends long polls still open
        if self.sandbox is not None:
            self.sandbox.sandbox.shutdown()
        if self._server is not None:
            await self._server.stop()
            self._server = None
        if self.sandbox is not None:
            self.sandbox.sandbox.store.close()
            self.sandbox = None


ReadyCallback = Callable[[Demo], Awaitable[None]]
