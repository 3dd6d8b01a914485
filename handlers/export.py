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
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from babel.numbers import format_decimal
from telegram import Message, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import charts
from bot.context import BotContext
from bot.dashboard import collected_total, known_charges
from bot.dgs.errors import DGSError
from bot.dgs.models import KIGALI, Charge, Link, LinkDetails
from bot.export import charges_csv, links_csv
from bot.i18n import Translator
from bot.money import babel_locale, format_amount
from bot.store.models import StoredLink
from bot.telegram_text import CAPTION_LIMIT, shorten, shorten_plain
from handlers.common import require_api_key
from handlers.links import (
    CHARGES_CSV,
    CHART,
    EXPORT,
    answer,
    link_press,
    lister,
    tell_trouble,
    trouble_text,
)
from handlers.private_reply import send_privately, send_to_asker

log = logging.getLogger(__name__)

# Stale links are one get call each; a few at a time (the client paces each key anyway).
PARALLEL_GETS: Final = 4
# The progress line is edited at most this often (Telegram limits edits per chat).
PROGRESS_EVERY_SECONDS: Final = 2.0
# Exports running at once across everybody; more wait their turn behind "Preparing…".
EXPORTS_AT_ONCE: Final = 8


class _StoppingError(Exception):
    """The bot is stopping: the export gives up rather than hold the stop for minutes."""


def fresh_snapshot(stored: StoredLink | None, link: Link) -> LinkDetails | None:
    """The stored details of ``link`` if they can stand for a get call now."""
    if stored is None or stored.snapshot is None:
        return None
    seen = stored.snapshot.link
    if (seen.status, seen.use_count) != (link.status, link.use_count):
        return None  # the list shows a change the poller has not stored yet
    if stored.snapshot.stats.pending_charges:
        return None  # a pending charge may have settled since (use_count does not say)
    return LinkDetails(link=link, stats=stored.snapshot.stats)


class _Progress:
    """The one message that says how far the export is, edited in place, throttled."""

    def __init__(self, context: BotContext, message: Message, tr: Translator) -> None:
        self._context = context
        self._message = message
        self._tr = tr
        self._shown_at = time.monotonic()
        self._editing = asyncio.Lock()  # never two edits of one message at once
        self.done = 0
        self.total = 0

    def _number(self, value: int) -> str:
        text: str = format_decimal(value, locale=babel_locale(self._tr.language))
        return text

    async def show(self) -> None:
        """The count so far, unless the line was edited less than 2 s ago."""
        if self._editing.locked() or time.monotonic() - self._shown_at < PROGRESS_EVERY_SECONDS:
            return
        text = self._tr.plural(
            "export-progress",
            self.total,
            done=self._number(self.done),
            total=self._number(self.total),
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


async def _all_details(
    context: BotContext, api_key: str, user_id: int, links: Sequence[Link], progress: _Progress
) -> list[LinkDetails]:
    """Every link's details: the fresh stored ones, and a get call for the rest.

    The first failure stops the others and is raised."""
    stored = {row.link_id: row for row in await context.services.repo.links_of_user(user_id)}
    found: dict[str, LinkDetails] = {}
    stale: list[Link] = []
    for link in links:
        details = fresh_snapshot(stored.get(link.id), link)
        if details is None:
            stale.append(link)
        else:
            found[link.id] = details
    progress.total, progress.done = len(links), len(found)
    log.debug("export for user %s: %d stored, %d to fetch", user_id, len(found), len(stale))
    await progress.show()
    gate = asyncio.Semaphore(PARALLEL_GETS)
    dgs = context.services.dgs
    application = context.application

    async def one(link: Link) -> None:
        async with gate:
            if not application.running:
                raise _StoppingError
            found[link.id] = await dgs.get_link(api_key, link.id)
        progress.done += 1
        await progress.show()

    try:
        async with asyncio.TaskGroup() as group:
            for link in stale:
                group.create_task(one(link))
    except* DGSError as failures:
        raise failures.exceptions[0] from None
    except* _StoppingError:
        raise _StoppingError from None
    return [found[link.id] for link in links]


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
        links = await lister(context).links(api_key, user_id=user_id, fresh=True)
        if not links:
            await progress.finish(tr("dash-empty"))
            return
        details = await _all_details(context, api_key, user_id, links, progress)
    except DGSError as error:
        log.info("export for user %s failed: %s", user_id, error)
        await progress.finish(trouble_text(error, tr))
        return
    except _StoppingError:
        await progress.finish(tr("export-stopped"))
        return
    today = datetime.now(KIGALI).date().isoformat()
    await context.bot.send_document(
        chat_id,
        links_csv(details),
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
        query = update.callback_query
        user = update.effective_user
        if query is None or user is None:
            return
        owner = (query.data or "").removeprefix(EXPORT)
        if owner != str(user.id):
            await answer(query, context.tr("not-your-link"), alert=True)
            return
        api_key = await context.services.accounts.api_key_for(user.id)
        if api_key is None:
            await answer(query, context.tr("need-connect"), alert=True)
            return
        chat = query.message.chat if query.message is not None else None

        async def deliver(send: Any) -> None:
            if chat is None:
                await send(user.id)
            else:
                await send_privately(context, chat=chat, user=user, send=send)

        if not await exports.begin(update, context, user.id, api_key, deliver):
            await answer(query, context.tr("export-running"), alert=True)
            return
        await answer(query, context.tr("export-preparing"))

    return export_button


async def _link_charges(
    context: BotContext, api_key: str, link_id: str
) -> tuple[Link, list[Charge]]:
    details = await context.services.dgs.get_link(api_key, link_id)
    seen = await context.services.repo.charges_of(link_id)
    return details.link, known_charges(details.recent_charges, seen)


async def charges_button(update: Update, context: BotContext) -> None:
    """**CSV** on the card: the link's charges, newest first."""
    press = await link_press(update, context, CHARGES_CSV)
    if press is None:
        return
    tr = context.tr
    try:
        link, charges = await _link_charges(context, press.api_key, press.link_id)
    except DGSError as error:
        await tell_trouble(press.query, context, error)
        return
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
            charges_csv(charges),
            filename=f"charges-{link.slug or link.id}.csv",
            caption=shorten(caption, CAPTION_LIMIT),
            parse_mode=ParseMode.HTML,
        )

    # Payers' names and phones: pressed in a group, the file goes to the presser in private.
    await send_to_asker(update, context, send)


async def chart_button(update: Update, context: BotContext) -> None:
    """**Chart** on the card: money collected over time, as a picture."""
    press = await link_press(update, context, CHART)
    if press is None:
        return
    tr = context.tr
    try:
        link, charges = await _link_charges(context, press.api_key, press.link_id)
    except DGSError as error:
        await tell_trouble(press.query, context, error)
        return
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
