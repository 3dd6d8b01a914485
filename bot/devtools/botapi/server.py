"""A local Telegram Bot API, served over real HTTP: the demo's Telegram and the tests' fake.

The bot talks to it through python-telegram-bot's own HTTP layer (``base_url`` and
``base_file_url``), so requests are encoded, sent and parsed exactly as with Telegram. The other
side plays the people (``api.send_text``, ``api.press`` ...): a test, or the demo's web chat.
What the bot did is read back with ``api.sent_to``, ``api.history``, ``api.changes_since`` and
the ``wait_for_*`` methods. Telegram's cheap validations (HTML entities, text and caption length,
callback_data size, "message is not modified") are applied so that callers catch what the real
server would reject; faults are injected at the HTTP boundary with ``api.inject``.

Its three roles are three modules over one state (``state.py``): the Bot API methods
(``methods.py``, ``messages.py``), the people (``people.py``), the test's view
(``inspection.py``).
"""

from __future__ import annotations

from bot.asgi_server import BackgroundServer, StartStop
from bot.devtools.botapi.inspection import Inspection
from bot.devtools.botapi.methods import BotApiMethods
from bot.devtools.botapi.people import People


class LocalBotApi(BotApiMethods, People, Inspection, StartStop):
    """``async with LocalBotApi() as api:`` serves the Bot API at ``api.base_url``."""

    # Set by start() or attach(); the state itself is BotApiState's (state.py).
    _server: BackgroundServer | None = None
    _url: str | None = None

    # Lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host:port`` (0: any free port) inside the current event loop."""
        self._server = BackgroundServer(self.app, host=host, port=port)
        await self._server.start()
        self._url = self._server.url

    def attach(self, url: str) -> None:
        """``self.app`` is served by someone else (mounted in a bigger app) at ``url``."""
        self._url = url.rstrip("/")

    async def stop(self) -> None:
        # Long polls and delayed (Timeout) answers end now instead of holding up the shutdown.
        self._closing.set()
        self._notify()
        await self._stop_delivery()
        if self._server is not None:
            await self._server.stop()
            self._server = None
        self._url = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("LocalBotApi is not running; use `async with LocalBotApi()`")
        return self._url

    @property
    def base_url(self) -> str:
        """For PTB's ``base_url``: PTB appends the token and the method."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"
