"""Webhook mode: Telegram posts each update to this endpoint instead of the bot's long poll.

The pattern of python-telegram-bot's custom-webhook example (customwebhookbot/starlettebot.py):
the Application is built with ``updater(None)`` and started by ``bot/app.py`` as in polling
mode (job queue, notifier, heartbeat); this Starlette app, served by uvicorn in the same event
loop, checks each post and puts the update on the application's queue, where the same ordered
processor takes it. Only ``bot/app.py`` imports this module, and only in webhook mode, so
polling never loads Starlette or uvicorn.

Each post is answered once it is queued, before it is handled, as PTB's own webhook does: a
Telegram that waited for the handler would hold a connection per update in hand. A post without
the secret header (401), with a body that is not an update (400), on another path (404) or
method (405) queues nothing.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.error import BadRequest

from bot import health
from bot.asgi_server import BackgroundServer
from bot.config import HEALTH_PATH, Settings, SettingsError

if TYPE_CHECKING:
    from telegram.ext import Application

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


# Replica mode (bot/replicas.py): keeps an update in the database's inbox instead of the queue.
Inbox = Callable[[dict[str, Any], Update], Awaitable[bool]]


def webhook_app(
    app: Application[Any, Any, Any, Any, Any, Any],
    settings: Settings,
    note: Callable[[object], None],
    inbox: Inbox | None = None,
) -> Starlette:
    """The ASGI app: ``POST <WEBHOOK_URL's path>`` for updates, ``GET /healthz``.

    ``note`` sees each update's JSON before PTB does (PTB logs every update it takes from the
    queue at DEBUG): a key pasted after /connect is registered as a secret first. With
    ``inbox`` (replicas) the update is kept there, once per ``update_id``, for whichever
    replica is free; it is answered 200 once it is stored.
    """
    assert settings.webhook_secret is not None  # the settings require it with WEBHOOK_URL
    # Starlette decodes header values as latin-1; compared as bytes, in constant time.
    secret = settings.webhook_secret.get_secret_value().encode("latin-1")

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode("latin-1")
        if not hmac.compare_digest(given, secret):
            log.warning("webhook: a post without the right secret header was refused")
            return Response(status_code=401)
        try:
            data = json.loads(await request.body())
        except ValueError:  # not JSON, or not UTF-8
            return _bad_request("not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return _bad_request("not an update")
        note(data)
        try:
            update = Update.de_json(data, app.bot)
        except Exception:  # noqa: BLE001 - PTB raises what the malformed field leads to
            return _bad_request("not an update")
        if inbox is not None:
            await inbox(data, update)  # a repeat of an update already kept is dropped
        else:
            await app.update_queue.put(update)
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        # The loop answers this; the heartbeat says the job queue (notifier, alerts) runs too.
        alive = app.running and health.is_alive(settings.bot_data_dir)
        return PlainTextResponse("ok" if alive else "stopped", status_code=200 if alive else 503)

    return Starlette(
        routes=[
            Route(settings.webhook_path, receive, methods=["POST"]),
            Route(HEALTH_PATH, healthz, methods=["GET"]),
        ]
    )


def _bad_request(reason: str) -> Response:
    log.warning("webhook: a post was refused: %s", reason)
    return Response(status_code=400)


async def set_webhook(app: Application[Any, Any, Any, Any, Any, Any], settings: Settings) -> None:
    """Point Telegram at ``WEBHOOK_URL``; updates sent while no bot ran are kept."""
    assert settings.webhook_url is not None
    assert settings.webhook_secret is not None
    try:
        await app.bot.set_webhook(
            url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value(),
            max_connections=settings.webhook_max_connections,
            allowed_updates=Update.ALL_TYPES,
            drop_pending_updates=False,
        )
    except BadRequest as exc:  # the URL or the secret, as Telegram says (never the secret)
        raise SettingsError(f"Telegram refused WEBHOOK_URL: {exc.message}") from None


@contextlib.asynccontextmanager
async def serving_webhook(
    app: Application[Any, Any, Any, Any, Any, Any],
    settings: Settings,
    note: Callable[[object], None],
    inbox: Inbox | None = None,
) -> AsyncIterator[None]:
    """Serve the endpoint, then set the webhook (Telegram's first post finds it listening);
    on leaving, stop accepting updates. The application must be running already."""
    server = BackgroundServer(
        webhook_app(app, settings, note, inbox),
        host=settings.webhook_listen,
        port=settings.webhook_port,
    )
    async with server:
        await set_webhook(app, settings)
        log.info("webhook: listening on %s:%s", settings.webhook_listen, server.port)
        yield
    # No deleteWebhook: another replica may be serving the same URL (a deploy, or N replicas),
    # and updates sent while none answers wait at Telegram, which posts them again later.
