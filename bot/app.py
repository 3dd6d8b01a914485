"""The composition root: settings + services → a running python-telegram-bot Application.

Why not PTB's ``post_init``/``run_polling`` for resources: the conversation persistence lives
on the bot's database, and PTB loads persistence in ``Application.initialize()``, before
``post_init`` runs. So the database (and with it every service) is opened first, in one
``async with`` that wraps the application's whole life, and closed last, after PTB's final
persistence write in ``Application.stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from telegram import Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder
from telegram.request import HTTPXRequest

from bot import health
from bot.concurrency import OrderedUpdateProcessor
from bot.config import Settings
from bot.context import CONTEXT_TYPES, BotContext, BotData
from bot.logs import SECRETS
from bot.notify import start_notifier
from bot.services import Services, open_services
from bot.store.datadir import hold_data_dir
from bot.store.persistence import SQLitePersistence
from bot.updates_request import UpdatesRequest, note_key_paste
from handlers.commands import publish_commands

log = logging.getLogger(__name__)

PayLinksApp = Application[Any, BotContext, dict[str, Any], dict[str, Any], BotData, Any]

# Long-poll wait per getUpdates call; short enough that a stop is prompt.
POLL_TIMEOUT_SECONDS = 10

# A provider served for the bot's life (the CLI's sandbox), yielding its API base URL. The bot
# enters it once it holds its data folder, as the sandbox keeps its database there; the tools
# themselves (bot/devtools) stay out of the runtime's imports.
ProviderServer = Callable[[Settings], contextlib.AbstractAsyncContextManager[str]]


def file_base_url(base_url: str) -> str:
    """Bot API file downloads live beside the methods: ``…/bot`` → ``…/file/bot``."""
    if base_url.endswith("/bot"):
        return base_url[: -len("/bot")] + "/file/bot"
    return base_url.rstrip("/") + "/file/bot"


def reply_limiter() -> AIORateLimiter:
    """PTB's limiter with Telegram's per-group limit (20 a minute) and retries on RetryAfter,
    but no overall cap: replies to people who just wrote are not a broadcast, and a 30/s cap
    made a market-day burst of 400 replies wait 13 s (benchmarks/load.py). Alerts, which are a
    broadcast, are paced by the outbox sender itself (bot/notify/sender.py)."""
    return AIORateLimiter(overall_max_rate=0, max_retries=3)


def build_application(settings: Settings, services: Services) -> PayLinksApp:
    """An Application wired to ``services``, with every handler registered."""
    from handlers import register  # handlers import bot; bot imports handlers only here

    updates_request = UpdatesRequest(read_timeout=POLL_TIMEOUT_SECONDS + 10)

    base_url = settings.telegram_api_base_url
    builder = ApplicationBuilder()
    if settings.webhook_url is not None:
        builder = builder.updater(None)  # the webhook (bot/webhook.py) fills the update queue
    app: PayLinksApp = (
        builder.token(settings.token())
        .base_url(base_url)
        .base_file_url(file_base_url(base_url))
        .context_types(CONTEXT_TYPES)
        .concurrent_updates(OrderedUpdateProcessor(settings.max_concurrent_updates))
        .persistence(SQLitePersistence(services.db))
        .rate_limiter(reply_limiter())
        .request(HTTPXRequest(connection_pool_size=64, read_timeout=15, write_timeout=30))
        .get_updates_request(updates_request)
        .build()
    )
    app.bot_data.services = services
    register(app)
    # Texts sent while a key is awaited are secrets before PTB logs them (bot/updates_request).
    updates_request.awaits_key = _awaits_key(app)
    return app


def _awaits_key(app: PayLinksApp) -> Callable[[int], bool]:
    from handlers.connect import awaits_key

    return lambda user_id: awaits_key(app.user_data.get(user_id))


@contextlib.asynccontextmanager
async def _receiving_updates(app: PayLinksApp, settings: Settings) -> AsyncIterator[None]:
    """Long polling (the default), or the webhook when ``WEBHOOK_URL`` is set."""
    if settings.webhook_url is not None:
        from bot.webhook import serving_webhook  # Starlette and uvicorn load in this mode only

        awaits = _awaits_key(app)

        def note(update: object) -> None:
            note_key_paste(update, awaits)

        if settings.replicated:  # the webhook on PostgreSQL: N replicas share an inbox
            from bot.replicas import serving_replica

            async with (
                serving_replica(app, note) as replica,
                serving_webhook(app, settings, note, replica.take),
            ):
                yield
            return
        async with serving_webhook(app, settings, note):
            yield
        return
    # Pending updates are kept: messages sent while the bot was down get answered.
    await app.updater.start_polling(  # type: ignore[union-attr]
        timeout=POLL_TIMEOUT_SECONDS,
        allowed_updates=Update.ALL_TYPES,
        drop_pending_updates=False,
    )
    yield
    await app.updater.stop()  # type: ignore[union-attr]


@dataclass
class BotRun:
    """A bot run in this process: set ``stop`` to end it; ``app`` once it has started."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    app: PayLinksApp | None = None


@contextlib.asynccontextmanager
async def _held_data_dir(settings: Settings) -> AsyncIterator[None]:
    with hold_data_dir(settings.bot_data_dir):
        yield


@contextlib.asynccontextmanager
async def _provider(
    settings: Settings, provider: ProviderServer | None
) -> AsyncIterator[str | None]:
    if provider is None:
        yield None  # the bot talks to DGS_API_BASE_URL
        return
    async with provider(settings) as api_base_url:
        yield api_base_url


async def run_bot(
    settings: Settings,
    *,
    run: BotRun | None = None,
    provider: ProviderServer | None = None,
    auto_connect: bool = False,
    dgs_transport: httpx.AsyncBaseTransport | None = None,
    on_started: Callable[[PayLinksApp], Awaitable[None]] | None = None,
    clock: Callable[[], float] | None = None,
) -> None:
    """Run the bot (long polling, or a webhook) until ``run.stop`` is set or SIGTERM/SIGINT.

    ``provider`` serves the provider the bot talks to (the CLI's ``--sandbox``) and points the
    bot at it; ``auto_connect`` gives every user a sandbox key of their own on first sight;
    ``clock``: the wall clock of the reminders and daily totals (tests set the day's time).
    """
    run = run or BotRun()
    async with (
        # First: a second bot on this folder must stop before it touches anything in it.
        _held_data_dir(settings),
        _provider(settings, provider) as dgs_base_url,
        open_services(
            settings,
            dgs_base_url=dgs_base_url,
            sandbox_mode=auto_connect,
            dgs_transport=dgs_transport,
        ) as services,
    ):
        await services.accounts.log_lost_operator_links()
        SECRETS.add(*await services.repo.stored_api_keys())  # keys of any shape: never logged
        app = build_application(settings, services)
        async with app:  # initialize (loads persistence) … shutdown
            await app.start()
            start_notifier(app, clock=clock)  # payment alerts: the poller and the outbox sender
            await publish_commands(app.bot, services.catalogues, settings.bot_default_language)
            _schedule_heartbeat(app, settings)
            # What start-up made lives as long as the bot. Frozen, it is out of the garbage
            # collector's walk: a full collection in a burst of updates cost 55 ms, now 6 ms.
            gc.freeze()
            async with _receiving_updates(app, settings):
                run.app = app
                if on_started is not None:
                    await on_started(app)
                run.started.set()
                log.info("bot @%s is running", app.bot.username)
                with _stop_on_signals(run.stop):
                    await run.stop.wait()
                log.info("stopping: finishing the updates in hand")
                # PTB waits for the jobs running now, then shuts APScheduler down, which
                # cancels any job started in between (logged with a traceback; an outbox send
                # cut short). Paused, the scheduler starts no more jobs; running ones finish.
                assert app.job_queue is not None
                app.job_queue.scheduler.pause()
            await app.stop()  # processes what was fetched, then writes persistence
            gc.unfreeze()  # a process that runs the bot again (the tests) starts afresh


def _schedule_heartbeat(app: PayLinksApp, settings: Settings) -> None:
    async def heartbeat(_: object) -> None:
        health.beat(settings.bot_data_dir)

    assert app.job_queue is not None
    health.beat(settings.bot_data_dir)
    app.job_queue.run_repeating(heartbeat, interval=health.HEARTBEAT_SECONDS, name="heartbeat")


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Any:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            # Not the main thread (tests run the bot in-process) or not a Unix loop.
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
