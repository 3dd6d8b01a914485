"""``/links`` and the link card: the list, the card with its stats, and the card's quick actions.

Callback data is a short prefix, the provider's link id and short arguments, so it stays far
below Telegram's 64 bytes whatever the title, and a button keeps working after a restart::

    dl:<user>:<view>          a page of <user>'s list       lk:<id>[:<view>]    the card
    dq:<id>                   resend the QR card             lx:<id>[:<view>]    extend expiry
    lr:<id>[:<view>]          reopen uses                    lm:<id>[:<view>:<0|1>]  (un)mute

A *view* says where on the list the card was opened from: ``a2`` is Active, page 3 (pages
count from 0), ``A0`` is All, page 1. A card pressed without a view (on a QR card or an alert)
is sent as a new message, so the message pressed stays as it was; with a view, navigation
edits the message in place. Every press on a link goes through ``gates.owned_link``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import callbacks
from bot.context import BotContext
from bot.dashboard import LinkLister, card_text, list_label, status_label
from bot.dates import format_when
from bot.dgs.errors import (
    ArchivedError,
    AuthError,
    DGSError,
    NotFoundError,
    RateLimitedError,
)
from bot.dgs.models import KIGALI, Link, LinkDetails, LinkStatus, LinkUpdate
from bot.i18n import Translator
from bot.links import LinkDraft, update_for
from bot.store.models import StoredLink
from bot.telegram_text import CALLBACK_ANSWER_LIMIT, MESSAGE_LIMIT, shorten, shorten_plain
from handlers import gates, start
from handlers.cards import send_qr_card
from handlers.common import require_api_key
from handlers.private_reply import in_group, send_privately, send_to_asker

log = logging.getLogger(__name__)

LIST: Final = "dl:"
QR: Final = "dq:"
# Buttons of other dashboard modules, named here so the card can show them.
EDIT: Final = "de:"
ARCHIVE: Final = "da:"
CHART: Final = "dg:"
CHARGES_CSV: Final = "dv:"
EXPORT: Final = "dx:"

PAGE_SIZE = 8
EXTEND_BY = timedelta(days=7)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

_VIEW_RE = re.compile(r"([aA])(\d{1,4})")


@dataclass(frozen=True)
class View:
    """Which list the user came from: Active or All, and the page (from 0)."""

    all: bool = False
    page: int = 0

    @property
    def code(self) -> str:
        return f"{'A' if self.all else 'a'}{self.page}"

    @classmethod
    def parse(cls, text: str | None) -> View | None:
        match = _VIEW_RE.fullmatch(text or "")
        if match is None:
            return None
        return cls(all=match[1] == "A", page=int(match[2]))


def data(prefix: str, link_id: str, *args: str) -> str:
    """``<prefix><link id>[:<arg>…]``, checked against Telegram's 64 bytes."""
    return callbacks.data(prefix, ":".join([link_id, *args]))


def parse_data(prefix: str, raw: str | None) -> tuple[str, list[str]]:
    """(link id, arguments) of callback data made by ``data``."""
    link_id, *args = (raw or "").removeprefix(prefix).split(":")
    return link_id, args


# --- shared plumbing -------------------------------------------------------------------------


def lister(context: BotContext) -> LinkLister:
    """The application's ``LinkLister`` (it only lives in memory)."""
    return context.services.lister


async def answer(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Answers a button press once; a press Telegram has given up on is not an error."""
    try:
        await query.answer(
            None if text is None else shorten_plain(text, CALLBACK_ANSWER_LIMIT),
            show_alert=alert,
        )
    except BadRequest as error:
        log.info("could not answer a callback query: %s", error.message)


async def link_api_key(context: BotContext, user_id: int, stored: StoredLink) -> str | None:
    """The key to act on the link with: the presser's own when it is the link's key, else a
    stored key of the link's account (the owner changed keys; later, a group admin)."""
    services = context.services
    own = await services.accounts.api_key_for(user_id)
    if own is not None and services.repo.key_fingerprint(own) == stored.api_key_fingerprint:
        return own
    other = await services.repo.api_key_for_fingerprint(stored.api_key_fingerprint)
    return other or own


@dataclass
class Press:
    """A press on a link's button that passed the ownership gate."""

    query: CallbackQuery
    user_id: int
    link_id: str
    args: list[str]
    stored: StoredLink
    api_key: str

    @property
    def view(self) -> View | None:
        return View.parse(self.args[0]) if self.args else None


async def link_press(
    update: Update, context: BotContext, prefix: str, *, fresh: bool = False
) -> Press | None:
    """The press, or None once the presser was told why not (not theirs, no key).

    ``fresh``: the press changes the link, so a group admin's status is asked now."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return None
    link_id, args = parse_data(prefix, query.data)
    stored = await gates.owned_link(update, context, link_id, fresh=fresh)
    if stored is None:
        return None
    api_key = await link_api_key(context, user.id, stored)
    if api_key is None:
        await answer(query, context.tr("need-connect"), alert=True)
        return None
    return Press(query, user.id, link_id, args, stored, api_key)


def trouble_text(error: DGSError, tr: Translator) -> str:
    """What a provider failure means for the user, in one short line."""
    if isinstance(error, NotFoundError):
        return tr("card-gone")
    if isinstance(error, AuthError):
        return tr("form-key-refused")
    if isinstance(error, ArchivedError):
        return tr("edit-archived")
    if isinstance(error, RateLimitedError):
        return tr("dash-busy")
    return tr("dash-provider-down")


async def tell_trouble(query: CallbackQuery, context: BotContext, error: DGSError) -> None:
    log.info("dashboard: provider call failed: %s", error)
    await answer(query, trouble_text(error, context.tr), alert=True)


def html_sender(
    context: BotContext, text: str, markup: InlineKeyboardMarkup | None
) -> Callable[[int], Awaitable[object]]:
    """Sends ``text`` (HTML, no preview) with ``markup`` to the chat it is given."""

    async def send(chat_id: int) -> None:
        await context.bot.send_message(
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            link_preview_options=NO_PREVIEW,
        )

    return send


async def put(
    context: BotContext,
    query: CallbackQuery,
    text: str,
    markup: InlineKeyboardMarkup | None,
    *,
    in_place: bool,
) -> bool:
    """Shows ``text`` by editing the pressed message, or in a new message; pressed in a
    group, in a new message to the presser in private (cards and lists name payers).

    Returns False when the edit changed nothing (the message already showed it).
    """
    text = shorten(text, MESSAGE_LIMIT)
    message = query.message

    send = html_sender(context, text, markup)

    if message is not None and in_group(message.chat):
        await send_privately(
            context,
            chat=message.chat,
            user=query.from_user,
            send=send,
            reply_to=message.message_id,
        )
        return True
    if in_place and isinstance(message, Message) and message.text is not None:
        try:
            await query.edit_message_text(
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=NO_PREVIEW,
            )
        except BadRequest as error:
            if "not modified" in error.message.lower():
                return False
            log.info("could not edit the dashboard message, sending anew: %s", error.message)
        else:
            return True
    await send(message.chat.id if message is not None else query.from_user.id)
    return True


# --- the list --------------------------------------------------------------------------------


def list_view(
    links: list[Link], view: View, owner_id: int, tr: Translator
) -> tuple[str, InlineKeyboardMarkup]:
    """The text and buttons of one page of the list."""
    shown = links if view.all else [link for link in links if link.status == LinkStatus.ACTIVE]
    pages = max(1, math.ceil(len(shown) / PAGE_SIZE))
    page = min(view.page, pages - 1)
    view = View(view.all, page)
    rows: list[list[InlineKeyboardButton]] = []
    if not links:
        text = tr("dash-empty")
        rows.append([InlineKeyboardButton(tr("button-new-link"), callback_data=start.NEW_LINK)])
        return text, InlineKeyboardMarkup(rows)
    if not shown:
        text = tr.plural("dash-no-active", len(links))
    else:
        heading = "dash-heading-all" if view.all else "dash-heading-active"
        lines = [tr.plural(heading, len(shown))]
        if pages > 1:
            lines.append(tr("dash-page", page=page + 1, pages=pages))
        lines.append(tr("dash-hint"))
        text = "\n".join(lines)
    for link in shown[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]:
        label = list_label(link, tr)
        rows.append(
            [
                InlineKeyboardButton(
                    label, callback_data=data(callbacks.LINK_CARD, link.id, view.code)
                )
            ]
        )
    owner = str(owner_id)
    nav = []
    if page > 0:
        target = View(view.all, page - 1).code
        nav.append(InlineKeyboardButton(tr("dash-prev"), callback_data=f"{LIST}{owner}:{target}"))
    if page < pages - 1:
        target = View(view.all, page + 1).code
        nav.append(InlineKeyboardButton(tr("dash-next"), callback_data=f"{LIST}{owner}:{target}"))
    if nav:
        rows.append(nav)
    marks = ("✓ ", "") if not view.all else ("", "✓ ")
    rows.append(
        [
            InlineKeyboardButton(
                marks[0] + tr("dash-filter-active"), callback_data=f"{LIST}{owner}:a0"
            ),
            InlineKeyboardButton(
                marks[1] + tr("dash-filter-all"), callback_data=f"{LIST}{owner}:A0"
            ),
        ]
    )
    rows.append([InlineKeyboardButton(tr("dash-export"), callback_data=f"{EXPORT}{owner}")])
    return text, InlineKeyboardMarkup(rows)


async def links_command(update: Update, context: BotContext) -> None:
    """``/links`` (and **My links** on /start): page 1 of the active links, in a new message
    (in private when asked in a group)."""
    user = update.effective_user
    chat = update.effective_chat
    query = update.callback_query
    if user is None or chat is None:
        return
    api_key = await require_api_key(update, context)
    if api_key is None:
        return
    tr = context.tr
    try:
        links = await lister(context).links(api_key, user_id=user.id, fresh=True)
    except DGSError as error:
        if query is not None:
            await tell_trouble(query, context, error)
        else:
            await context.bot.send_message(chat.id, trouble_text(error, tr))
        return
    if query is not None:
        await answer(query)
    text, markup = list_view(links, View(), user.id, tr)

    send = html_sender(context, text, markup)

    await send_to_asker(update, context, send)


async def list_page(update: Update, context: BotContext) -> None:
    """**‹ Prev**, **Next ›**, **Active**, **All**, **Back to list**: the list, in place."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    owner, _, code = (query.data or "").removeprefix(LIST).partition(":")
    view = View.parse(code)
    if not owner.isdigit() or view is None:
        await answer(query, context.tr("card-expired"), alert=True)
        return
    if int(owner) != user.id:
        await answer(query, context.tr("not-your-link"), alert=True)
        return
    api_key = await context.services.accounts.api_key_for(user.id)
    if api_key is None:
        await answer(query, context.tr("need-connect"), alert=True)
        return
    try:
        links = await lister(context).links(api_key, user_id=user.id)
    except DGSError as error:
        await tell_trouble(query, context, error)
        return
    text, markup = list_view(links, view, user.id, context.tr)
    await put(context, query, text, markup, in_place=True)
    await answer(query)


# --- the card --------------------------------------------------------------------------------


def card_keyboard(
    details: LinkDetails, *, muted: bool, view: View, user_id: int, tr: Translator
) -> InlineKeyboardMarkup:
    link = details.link
    back = InlineKeyboardButton(tr("card-back"), callback_data=f"{LIST}{user_id}:{view.code}")
    duplicate = InlineKeyboardButton(
        tr("card-duplicate"), callback_data=callbacks.data(callbacks.DUPLICATE, link.id)
    )
    if link.status == LinkStatus.ARCHIVED:
        return InlineKeyboardMarkup([[duplicate], [back]])
    v = view.code
    rows = [
        [
            InlineKeyboardButton(
                tr("card-refresh"), callback_data=data(callbacks.LINK_CARD, link.id, v)
            ),
            InlineKeyboardButton(tr("card-qr"), callback_data=data(QR, link.id)),
        ],
        [
            InlineKeyboardButton(
                tr("button-share"), switch_inline_query=link.slug or link.title[:64]
            ),
            InlineKeyboardButton(tr("card-edit"), callback_data=data(EDIT, link.id, v)),
        ],
        [
            InlineKeyboardButton(tr("card-chart"), callback_data=data(CHART, link.id)),
            InlineKeyboardButton(tr("card-csv"), callback_data=data(CHARGES_CSV, link.id)),
        ],
    ]
    if link.status == LinkStatus.EXPIRED:
        rows.append(
            [
                InlineKeyboardButton(
                    tr("card-extend"), callback_data=data(callbacks.EXTEND, link.id, v)
                )
            ]
        )
    if link.status == LinkStatus.COMPLETED:
        label = tr.plural("card-reopen", reopen_step(link))
        rows.append(
            [InlineKeyboardButton(label, callback_data=data(callbacks.REOPEN, link.id, v))]
        )
    mute = (
        InlineKeyboardButton(
            tr("card-unmute"), callback_data=data(callbacks.MUTE, link.id, v, "0")
        )
        if muted
        else InlineKeyboardButton(
            tr("card-mute"), callback_data=data(callbacks.MUTE, link.id, v, "1")
        )
    )
    rows.append([mute, duplicate])
    rows.append(
        [InlineKeyboardButton(tr("card-archive"), callback_data=data(ARCHIVE, link.id, v)), back]
    )
    return InlineKeyboardMarkup(rows)


async def show_card(
    context: BotContext,
    press: Press,
    details: LinkDetails,
    *,
    notice: str | None = None,
    in_place: bool | None = None,
    view: View | None = None,
) -> bool:
    """The card of ``details``; in place when the press came from the dashboard."""
    press.stored = await sync_store(context, press.stored, press.api_key, details.link)
    text, markup = card_parts(
        context,
        details,
        stored=press.stored,
        user_id=press.user_id,
        view=view or press.view,
        notice=notice,
    )
    where = press.view is not None if in_place is None else in_place
    return await put(context, press.query, text, markup, in_place=where)


def card_parts(
    context: BotContext,
    details: LinkDetails,
    *,
    stored: StoredLink,
    user_id: int,
    view: View | None,
    notice: str | None = None,
) -> tuple[str, InlineKeyboardMarkup]:
    """The card's text and buttons."""
    tr = context.tr
    text = card_text(details, tr, muted=stored.muted, notice=notice)
    markup = card_keyboard(
        details, muted=stored.muted, view=view or View(), user_id=user_id, tr=tr
    )
    return text, markup


async def sync_store(
    context: BotContext, stored: StoredLink, api_key: str, link: Link
) -> StoredLink:
    """Keeps the bot's record of the link in step with what the provider just said."""
    if (stored.title, stored.slug, stored.url, stored.currency, stored.status) == (
        link.title,
        link.slug,
        link.url,
        link.currency,
        link.status,
    ):
        return stored
    return await context.services.links.remember(
        link, api_key=api_key, owner_user_id=stored.owner_user_id
    )


async def card_button(update: Update, context: BotContext) -> None:
    """A link on the list, **Details** on a QR card or an alert, **Refresh**: the card."""
    press = await link_press(update, context, callbacks.LINK_CARD)
    if press is None:
        return
    try:
        details = await context.services.dgs.get_link(press.api_key, press.link_id)
    except DGSError as error:
        await tell_trouble(press.query, context, error)
        return
    changed = await show_card(context, press, details)
    await answer(press.query, None if changed else context.tr("card-up-to-date"))


async def qr_button(update: Update, context: BotContext) -> None:
    """**QR code**: the link's QR card again, as a new photo."""
    press = await link_press(update, context, QR)
    if press is None:
        return
    try:
        details = await context.services.dgs.get_link(press.api_key, press.link_id)
    except DGSError as error:
        await tell_trouble(press.query, context, error)
        return
    if details.link.status == LinkStatus.ARCHIVED:
        await answer(press.query, context.tr("edit-archived"), alert=True)
        return
    chat_id = press.query.message.chat.id if press.query.message else press.user_id
    await answer(press.query)
    await send_qr_card(context, chat_id, details.link)


# --- quick actions ---------------------------------------------------------------------------


def reopen_step(link: Link) -> int:
    """How many more payments **Reopen** allows: as many again as the link allowed."""
    return max(1, link.max_uses or 1)


async def _change(
    context: BotContext,
    press: Press,
    wanted_status: str,
    change: Callable[[Link], tuple[str, LinkUpdate]],
) -> None:
    """Shared by Extend and Reopen: act only while the link still needs it, so a double tap
    or an old button does not extend twice."""
    tr = context.tr
    dgs = context.services.dgs
    try:
        details = await dgs.get_link(press.api_key, press.link_id)
        link = details.link
        if link.status != wanted_status:
            await show_card(context, press, details)
            archived = link.status == LinkStatus.ARCHIVED
            text = (
                tr("edit-archived")
                if archived
                else tr("card-no-need", status=status_label(link.status, tr))
            )
            await answer(press.query, text, alert=archived)
            return
        notice, body = change(link)
        changed = await dgs.update_link(press.api_key, press.link_id, body)
        lister(context).forget(press.api_key)
        # A PATCH does not change the stats: those of the get call above still hold.
        details = details.model_copy(update={"link": changed})
    except DGSError as error:
        await tell_trouble(press.query, context, error)
        return
    await show_card(context, press, details, notice=notice)
    await answer(press.query)


async def extend(update: Update, context: BotContext) -> None:
    """**Extend expiry**: an expired link takes payments for 7 more days."""
    press = await link_press(update, context, callbacks.EXTEND, fresh=True)
    if press is None:
        return
    tr = context.tr

    def change(link: Link) -> tuple[str, LinkUpdate]:
        now = datetime.now(KIGALI)
        new_expiry = max(link.expires_at or now, now) + EXTEND_BY
        draft = LinkDraft.for_edit(link)
        draft.expires_at = new_expiry
        notice = tr("card-extended", when=format_when(new_expiry, tr.language))
        return notice, update_for("expires_at", draft, now=now)

    await _change(context, press, LinkStatus.EXPIRED, change)


async def reopen(update: Update, context: BotContext) -> None:
    """**Reopen uses**: a completed link takes as many payments again."""
    press = await link_press(update, context, callbacks.REOPEN, fresh=True)
    if press is None:
        return
    tr = context.tr

    def change(link: Link) -> tuple[str, LinkUpdate]:
        step = reopen_step(link)
        draft = LinkDraft.for_edit(link)
        draft.max_uses = max(link.use_count, link.max_uses or 0) + step
        return tr.plural("card-reopened", step), update_for("max_uses", draft)

    await _change(context, press, LinkStatus.COMPLETED, change)


async def mute(update: Update, context: BotContext) -> None:
    """**Mute alerts** / **Unmute**: only this bot's alerts for the link; the link is untouched.

    ``lm:<id>`` (an alert's button) mutes; the card's buttons say which way.
    """
    press = await link_press(update, context, callbacks.MUTE, fresh=True)
    if press is None:
        return
    tr = context.tr
    muted = press.args[1:2] != ["0"]
    await context.services.repo.set_muted(press.link_id, muted)
    note = tr("card-muted") if muted else tr("card-unmuted")
    if press.view is None:
        await answer(press.query, note)
        return
    press.stored = await context.services.repo.get_link(press.link_id) or press.stored
    try:
        details = await context.services.dgs.get_link(press.api_key, press.link_id)
    except DGSError as error:
        await tell_trouble(press.query, context, error)
        return
    await show_card(context, press, details)
    await answer(press.query, note)


# --- registration ----------------------------------------------------------------------------


def _pattern(prefix: str) -> str:
    return f"^{re.escape(prefix)}"


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("links", links_command))
    app.add_handler(CallbackQueryHandler(links_command, pattern=f"^{re.escape(start.MY_LINKS)}$"))
    app.add_handler(CallbackQueryHandler(list_page, pattern=_pattern(LIST)))
    app.add_handler(CallbackQueryHandler(card_button, pattern=_pattern(callbacks.LINK_CARD)))
    app.add_handler(CallbackQueryHandler(qr_button, pattern=_pattern(QR)))
    app.add_handler(CallbackQueryHandler(extend, pattern=_pattern(callbacks.EXTEND)))
    app.add_handler(CallbackQueryHandler(reopen, pattern=_pattern(callbacks.REOPEN)))
    app.add_handler(CallbackQueryHandler(mute, pattern=_pattern(callbacks.MUTE)))
