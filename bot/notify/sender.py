"""The sender: drains the outbox through the bot, and handles what Telegram answers.

Sends go through ``app.bot``, whose AIORateLimiter keeps to Telegram's limits and already
retries a RetryAfter (waiting as told). Each chat gets its rows in order, one message at a
time (``Repo.claim_due``); alert rows that piled up for one chat go out as one message.
A row is marked sent only after Telegram accepted the message.

- RetryAfter the limiter gave up on: the rows wait for the time Telegram asked.
- Forbidden: the user blocked the bot. They are marked inactive (their links stop being
  polled until they write again) and their queued rows are dropped.
- ChatMigrated: the chat id is moved everywhere it is stored, and the message resent there.
- A timeout waiting for the answer: Telegram may have delivered the message (sends are not
  idempotent), so it is not sent again; the row is marked failed and logged. (A timeout
  before the request left, connecting or waiting for a pooled connection, is retried.)
- Other network errors (no answer that says it was processed): retried with backoff, a few
  times, then failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.chat_migration import move_chat
from bot.dgs.pacing import KeyPacer
from bot.i18n import Translator
from bot.notify.messages import (
    KIND_GROUP_PAYMENT,
    MERGEABLE_KINDS,
    TELEGRAM_TEXT_LIMIT,
    Button,
    Rendered,
    merge,
    render_row,
)
from bot.notify.running import Running, always
from bot.store.models import OutboxRow
from bot.users import telegram_language

if TYPE_CHECKING:
    from telegram.ext import Application

    from bot.services import Services

log = logging.getLogger(__name__)


@dataclass
class SenderConfig:
    batch: int = 30  # chats served per round
    merge_limit: int = 5  # alert rows of one chat merged into one message
    send_timeout: float = 10.0  # seconds to wait for Telegram's answer to one send
    max_attempts: int = 5  # for errors that prove the message was not delivered
    retry_base: float = 5.0  # seconds; doubles per attempt
    # Alerts are a broadcast: Telegram asks bots to stay under ~30 messages a second to
    # different chats. Replies to users are not paced (bot/app.py), so alerts pace themselves.
    messages_per_second: float = 25.0


# Timeouts that prove the request never reached Telegram (python-telegram-bot keeps httpx's
# exception as the cause of its TimedOut).
_NOT_SENT = (httpx.PoolTimeout, httpx.ConnectTimeout)


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def keyboard(rendered: Rendered) -> InlineKeyboardMarkup | None:
    if not rendered.buttons:
        return None
    return InlineKeyboardMarkup([[_button(button) for button in row] for row in rendered.buttons])


def _button(button: Button) -> InlineKeyboardButton:
    if button.url is not None:
        return InlineKeyboardButton(button.text, url=button.url)
    if button.inline_query is not None:
        return InlineKeyboardButton(button.text, switch_inline_query=button.inline_query)
    return InlineKeyboardButton(button.text, callback_data=button.data)


class Sender:
    """Sends outbox rows; ``drain`` is the sender job."""

    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        services: Services,
        config: SenderConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._app = app
        self._services = services
        self.config = config or SenderConfig()
        self.clock = clock
        self._draining = False
        self.sent = 0
        self.rate = self.config.messages_per_second
        self._pacer = KeyPacer(self.rate, burst=5)

    def share_rate(self, replicas: int) -> None:
        """``replicas`` processes send for this bot (``bot/replicas.py``): this one takes its
        share of Telegram's per-bot rate."""
        rate = self.config.messages_per_second / max(1, replicas)
        if rate != self.rate:
            self.rate = rate
            self._pacer = KeyPacer(rate, burst=5)

    async def drain(self, running: Running = always) -> int:
        """Send every due row; returns the messages sent. A second call while one runs
        returns at once."""
        if self._draining:
            return 0
        self._draining = True
        sent = 0
        try:
            while running():
                rows = await self._services.repo.claim_due(self.clock(), self.config.batch)
                if not rows:
                    break
                results = await asyncio.gather(*(self._deliver(row) for row in rows))
                sent += sum(results)
        finally:
            self._draining = False
        return sent

    async def _deliver(self, first: OutboxRow) -> int:
        """One message for ``first`` (and the chat's next alerts); returns 1 once sent."""
        repo = self._services.repo
        rows = [first]
        try:
            if first.kind in MERGEABLE_KINDS and self.config.merge_limit > 1:
                rows += await repo.claim_more(
                    first.chat_id, first.kind, self.clock(), self.config.merge_limit - 1
                )
            tr = await self._translator(first)
            named = len(rows) > 1
            # "Hide givers' names" holds for what is sent after it was set, even a line queued
            # before: the group's setting is read at send time.
            hide = first.kind == KIND_GROUP_PAYMENT and await self._hides_names(first.chat_id)
            parts = [
                render_row(
                    row.kind,
                    {**row.payload, "anonymous": True} if hide else row.payload,
                    tr,
                    named=named,
                )
                for row in rows
            ]
            rows, message = await self._fit(rows, parts)
        except Exception as exc:
            # A row we cannot render would fail the same way forever.
            log.exception("outbox row %s cannot be rendered", first.id)
            await self._finish_failed(rows, f"render: {exc!r}")
            return 0
        return await self._send(rows, message)

    async def _hides_names(self, chat_id: int) -> bool:
        group = await self._services.groups.get(chat_id)
        return group is not None and group.anonymous_totals

    async def _fit(
        self, rows: list[OutboxRow], parts: list[Rendered]
    ) -> tuple[list[OutboxRow], Rendered]:
        """As many rows as fit in one message; the others go back to wait their turn."""
        kept = 1
        while kept < len(parts) and len(merge(parts[: kept + 1]).text) <= TELEGRAM_TEXT_LIMIT:
            kept += 1
        now = self.clock()
        for row in rows[kept:]:
            await self._services.repo.release(row.id, now)
        return rows[:kept], merge(parts[:kept])

    async def _translator(self, row: OutboxRow) -> Translator:
        services = self._services
        language: str | None = None
        if row.chat_id < 0:
            group = await services.repo.get_group(row.chat_id)
            language = group.language if group is not None else None
        elif row.user_id is not None:
            user = await services.repo.get_user(row.user_id)
            language = user.language if user is not None else None
            if language is None:
                # Never chose one: the language of their Telegram app, as in their chats.
                language = telegram_language(self._app.user_data.get(row.user_id))
        return services.catalogues.translator(language or services.settings.bot_default_language)

    async def _send(self, rows: Sequence[OutboxRow], message: Rendered) -> int:
        repo = self._services.repo
        cfg = self.config
        chat_id = rows[0].chat_id
        markup = keyboard(message)
        for _ in range(3):  # a chat migrates at most once; allow a second move, then give up
            await asyncio.sleep(self._pacer.reserve("alerts"))
            try:
                await self._app.bot.send_message(
                    chat_id,
                    message.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    read_timeout=cfg.send_timeout,
                    write_timeout=cfg.send_timeout,
                    connect_timeout=cfg.send_timeout,
                    pool_timeout=cfg.send_timeout,
                )
            except ChatMigrated as exc:
                new_chat_id = exc.new_chat_id
                log.info("chat %s moved to %s: moving it and sending there", chat_id, new_chat_id)
                await move_chat(self._app, repo, chat_id, new_chat_id)
                chat_id = new_chat_id
                continue
            except RetryAfter as exc:
                wait = _seconds(exc.retry_after)
                log.info("Telegram flood limit: chat %s waits %.0f s", chat_id, wait)
                await self._release(rows, self.clock() + wait, str(exc))
                return 0
            except Forbidden as exc:
                await self._chat_gone(chat_id, rows, exc)
                return 0
            except TimedOut as exc:
                if isinstance(exc.__cause__, _NOT_SENT):
                    await self._retry_later(rows, exc)  # it never left: safe to send again
                    return 0
                # The message may have reached the chat: sending it again could say it twice.
                log.warning(
                    "sending outbox row(s) %s to chat %s timed out; not resent, as Telegram "
                    "may have delivered it",
                    ", ".join(str(row.id) for row in rows),
                    chat_id,
                )
                await self._finish_failed(rows, f"uncertain: timed out ({exc})")
                return 0
            except BadRequest as exc:
                log.error("Telegram refused outbox row(s) for chat %s: %s", chat_id, exc)
                await self._finish_failed(rows, f"bad request: {exc}")
                return 0
            except NetworkError as exc:
                await self._retry_later(rows, exc)
                return 0
            except TelegramError as exc:
                log.error("Telegram error for chat %s: %s", chat_id, exc)
                await self._finish_failed(rows, f"telegram: {exc}")
                return 0
            for row in rows:
                await repo.mark_sent(row.id)
            self.sent += 1
            return 1
        await self._finish_failed(rows, "the chat kept migrating")
        return 0

    async def _chat_gone(self, chat_id: int, rows: Sequence[OutboxRow], exc: Forbidden) -> None:
        """The bot may not write here any more: stop writing and stop watching for it."""
        services = self._services
        repo = services.repo
        if chat_id > 0:
            # A private chat's id is the user's id: they blocked the bot. Their links stop
            # being polled until they write again (the user gate makes them active again).
            await repo.mark_inactive(chat_id)
            services.users.forget(chat_id)
            log.info("user %s blocked the bot: alerts paused until they write again", chat_id)
        else:
            await repo.deactivate_group(chat_id)
            log.info("the bot may not write in group %s any more", chat_id)
        await self._finish_failed(rows, f"forbidden: {exc}")
        dropped = await repo.drop_for_chat(chat_id)
        if dropped:
            log.info("dropped %d queued message(s) for chat %s", dropped, chat_id)

    async def _retry_later(self, rows: Sequence[OutboxRow], exc: NetworkError) -> None:
        cfg = self.config
        attempts = max(row.attempts for row in rows)
        if attempts >= cfg.max_attempts:
            log.error("giving up on outbox row(s) for chat %s: %s", rows[0].chat_id, exc)
            await self._finish_failed(rows, f"network: {exc}")
            return
        delay = cfg.retry_base * 2 ** (attempts - 1)
        log.info(
            "Telegram unreachable (%s); chat %s retries in %.0f s", exc, rows[0].chat_id, delay
        )
        await self._release(rows, self.clock() + delay, f"network: {exc}")

    async def _release(self, rows: Sequence[OutboxRow], not_before: float, error: str) -> None:
        for row in rows:
            await self._services.repo.release(row.id, not_before, error)

    async def _finish_failed(self, rows: Sequence[OutboxRow], error: str) -> None:
        for row in rows:
            await self._services.repo.mark_failed(row.id, error)
