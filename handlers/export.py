"""Files from the dashboard: ``/export`` (and **Export** on the list), a link's charges as CSV,
and its chart of money collected over time.

    dx:<user>   export <user>'s links       dv:<id>   the link's charges (CSV)
    dg:<id>     the link's chart (PNG)

An export of every link runs outside the chat's ordered queue (``bot/concurrency.py``): the
handler sends one progress line and returns, and a task PTB tracks does the work, so the
person's next command (``/help``) is answered at once. One export per person at a time; a
second press says it is already running. The poller's stored snapshots give each link's
stats; only links whose snapshot is missing, out of step with the list (another status or use
count: the notifier's sweep keeps them in step every poll interval) or waiting on a pending
charge are fetched, a few at a time. The progress line is
edited in place at most every ``PROGRESS_EVERY_SECONDS``.

Asked in a group, the file goes to the person in private (``handlers/private_reply.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any, Final

from babel.numbers import format_decimal
from telegram import Message, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import charts
from bot.context import BotContext
from bot.dashboard import StoppingError, collected_total
from bot.dgs.errors import DGSError
from bot.dgs.models import KIGALI, Charge
from bot.dgs.pacing import mark_background
from bot.export import CHARGE_COLUMNS, LINK_COLUMNS, charges_csv, links_csv
from bot.i18n import Translator
from bot.money import babel_locale, format_amount
from bot.telegram_text import CAPTION_LIMIT, shorten, shorten_plain
from handlers.common import require_api_key
from handlers.link_card import CHARGES_CSV, CHART, EXPORT
from handlers.press import Opened, answer, open_link, owner_press, trouble_text
from handlers.private_reply import send_privately, send_to_asker

log = logging.getLogger(__name__)

# The progress line is edited at most this often (Telegram limits edits per chat).
PROGRESS_EVERY_SECONDS: Final = 2.0
# Exports running at once across everybody; more wait their turn behind "Preparing…".
EXPORTS_AT_ONCE: Final = 8


class _Progress:
    """The one message that says how far the export is, edited in place, throttled."""

    def __init__(self, context: BotContext, message: Message, tr: Translator) -> None:
        self._context = context
        self._message = message
        self._tr = tr
        self._shown_at = time.monotonic()
        self._editing = asyncio.Lock()  # never two edits of one message at once

    def _number(self, value: int) -> str:
        text: str = format_decimal(value, locale=babel_locale(self._tr.language))
        return text

    async def show(self, done: int, total: int) -> None:
        """The count so far, unless the line was edited less than 2 s ago."""
        if self._editing.locked() or time.monotonic() - self._shown_at < PROGRESS_EVERY_SECONDS:
            return
        text = self._tr.plural(
            "export-progress", total, done=self._number(done), total=self._number(total)
        )
        await self._edit(text)

    async def finish(self, text: str) -> None:
        await self._edit(text)

    async def _edit(self, text: str) -> None:
        async with self._editing:
            try:
                await self._context.bot.edit_message_text(
                    text, chat_id=self._message.chat_id, message_id=self._message.message_id
                )
            except TelegramError as error:
                log.info("could not edit the export's progress line: %s", error)
            finally:
                self._shown_at = time.monotonic()


def csv_headers(columns: tuple[str, ...], tr: Translator) -> list[str]:
    """A CSV's header row in the vendor's language (``csv-<column>``)."""
    return [tr.plain(f"csv-{column}") for column in columns]


async def _export(
    context: BotContext, tr: Translator, user_id: int, api_key: str, message: Message
) -> None:
    """Sends the CSV of every link of the user with its stats (or says why not)."""
    chat_id = message.chat_id
    progress = _Progress(context, message, tr)
    try:
        await context.bot.send_chat_action(chat_id, ChatAction.UPLOAD_DOCUMENT)
    except TelegramError:
        log.debug("chat action refused in %s", chat_id)
    try:
        lister = context.services.lister
        links = await lister.links(api_key, user_id=user_id, fresh=True)
        if not links:
            await progress.finish(tr("dash-empty"))
            return
        running = context.application
        details = await lister.details(
            api_key, user_id, links, progress=progress.show, running=lambda: running.running
        )
    except DGSError as error:
        log.info("export for user %s failed: %s", user_id, error)
        await progress.finish(trouble_text(error, tr))
        return
    except StoppingError:
        await progress.finish(tr("export-stopped"))
        return
    today = datetime.now(KIGALI).date().isoformat()
    await context.bot.send_document(
        chat_id,
        links_csv(details, csv_headers(LINK_COLUMNS, tr)),
        filename=f"paylinks-links-{today}.csv",
        caption=tr.plural("export-links-caption", len(details)),
    )
    await progress.finish(tr.plural("export-done", len(details)))


class Exports:
    """The exports running now: at most one per person, ``EXPORTS_AT_ONCE`` in all.

    ``running`` holds only the people whose export is under way, so it is as large as the
    exports at this moment, never as the people who ever exported."""

    def __init__(self) -> None:
        self.running: set[int] = set()
        self._slots: asyncio.Semaphore | None = None

    def _gate(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(EXPORTS_AT_ONCE)
        return self._slots

    async def begin(
        self,
        update: Update,
        context: BotContext,
        user_id: int,
        api_key: str,
        deliver: Any,
    ) -> bool:
        """Claims the person's export, then ``deliver(send)`` (``send_to_asker`` or
        ``send_privately``) sends its progress line where it belongs and starts the task.
        False when theirs is already running (the caller says so)."""
        if user_id in self.running:
            return False
        self.running.add(user_id)  # before any await: a press in another chat sees it
        tr = context.tr
        started = False

        async def send(chat_id: int) -> None:
            nonlocal started
            message = await context.bot.send_message(chat_id, tr("export-preparing"))
            context.application.create_task(
                self._run(context, tr, user_id, api_key, message), update=update
            )
            started = True

        try:
            await deliver(send)
        finally:
            if not started:
                self.running.discard(user_id)
        return True

    async def _run(
        self, context: BotContext, tr: Translator, user_id: int, api_key: str, message: Message
    ) -> None:
        mark_background()  # issue 15: the export's provider calls go after people's
        try:
            async with self._gate():
                await _export(context, tr, user_id, api_key, message)
        finally:
            self.running.discard(user_id)


def make_export_command(exports: Exports) -> Any:
    async def export_command(update: Update, context: BotContext) -> None:
        """``/export``: the CSV of the user's links, in private."""
        user, chat = update.effective_user, update.effective_chat
        message = update.effective_message
        if user is None or chat is None or message is None:
            return
        api_key = await require_api_key(update, context)
        if api_key is None:
            return

        async def deliver(send: Any) -> None:
            await send_to_asker(update, context, send)

        if not await exports.begin(update, context, user.id, api_key, deliver):
            await message.reply_text(context.tr("export-running"))

    return export_command


def make_export_button(exports: Exports) -> Any:
    async def export_button(update: Update, context: BotContext) -> None:
        """**Export** on the list: the same CSV, for the list's owner only."""
        press = await owner_press(update, context, EXPORT)
        user = update.effective_user
        if press is None or user is None:
            return
        query = press.query
        chat = query.message.chat if query.message is not None else None

        async def deliver(send: Any) -> None:
            if chat is None:
                await send(user.id)
            else:
                await send_privately(context, chat=chat, user=user, send=send)

        if not await exports.begin(update, context, user.id, press.api_key, deliver):
            await answer(query, context.tr("export-running"), alert=True)
            return
        await answer(query, context.tr("export-preparing"))

    return export_button


async def _charges_press(
    update: Update, context: BotContext, prefix: str
) -> tuple[Opened, list[Charge]] | None:
    """The press on CSV or Chart and every charge known of its link."""
    press = await open_link(update, context, prefix)
    if press is None:
        return None
    return press, await context.services.lister.charges(press.details)


async def charges_button(update: Update, context: BotContext) -> None:
    """**CSV** on the card: the link's charges, newest first."""
    pressed = await _charges_press(update, context, CHARGES_CSV)
    if pressed is None:
        return
    press, charges = pressed
    link = press.details.link
    tr = context.tr
    if not charges:
        await answer(press.query, tr("export-no-charges"), alert=True)
        return
    await answer(press.query)
    caption = tr.plural(
        "export-charges-caption", len(charges), title=shorten_plain(link.title, 100)
    )

    async def send(chat_id: int) -> None:
        await context.bot.send_document(
            chat_id,
            charges_csv(charges, csv_headers(CHARGE_COLUMNS, tr)),
            filename=f"charges-{link.slug or link.id}.csv",
            caption=shorten(caption, CAPTION_LIMIT),
            parse_mode=ParseMode.HTML,
        )

    # Payers' names and phones: pressed in a group, the file goes to the presser in private.
    await send_to_asker(update, context, send)


async def chart_button(update: Update, context: BotContext) -> None:
    """**Chart** on the card: money collected over time, as a picture."""
    pressed = await _charges_press(update, context, CHART)
    if pressed is None:
        return
    press, charges = pressed
    link = press.details.link
    tr = context.tr
    points = charts.cumulative(charges)
    if not points:
        await answer(press.query, tr("chart-nothing"), alert=True)
        return
    await answer(press.query)
    total = format_amount(collected_total(charges), link.currency, tr.language)
    subtitle = tr.plural("chart-subtitle", len(points), total=total)
    png = await charts.render_collected_chart_async(
        points,
        currency=link.currency,
        language=tr.language,
        title=link.title,
        subtitle=subtitle,
        start=link.created_at,
        now=datetime.now(KIGALI),
    )
    caption = tr("chart-caption", title=shorten_plain(link.title, 100), total=total)

    async def send(chat_id: int) -> None:
        await context.bot.send_photo(
            chat_id, png, caption=shorten(caption, CAPTION_LIMIT), parse_mode=ParseMode.HTML
        )

    # Pressed in a group: to the presser in private (issue 12, point 8).
    await send_to_asker(update, context, send)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    exports = Exports()
    app.add_handler(CommandHandler("export", make_export_command(exports)))
    app.add_handler(CallbackQueryHandler(make_export_button(exports), pattern=f"^{EXPORT}"))
    app.add_handler(CallbackQueryHandler(charges_button, pattern=f"^{CHARGES_CSV}"))
    app.add_handler(CallbackQueryHandler(chart_button, pattern=f"^{CHART}"))
