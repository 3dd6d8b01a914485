"""The opening every dashboard button shares: read the press, check who pressed, fetch the
link, and say what went wrong in the presser's language.

- ``link_press``: a press on a link's button (``<prefix><link id>[:<arg>…]``) by someone who
  may act on the link (``gates.owned_link``), with the key to act with; ``open_link`` is the
  same with the link's details fetched (``fetch``).
- ``owner_press``: a press on a button of someone's own list (``<prefix><user id>[:…]``),
  for that user only, with their key.
- ``trouble_text`` / ``tell_trouble``: a provider failure in one short line.

Every refusal is a short alert on the pressed button; the caller only sees ``None``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from telegram import CallbackQuery, Update
from telegram.error import BadRequest

from bot import callbacks
from bot.context import BotContext
from bot.dgs.errors import ArchivedError, AuthError, DGSError, NotFoundError, RateLimitedError
from bot.dgs.models import LinkDetails
from bot.i18n import Translator
from bot.store.models import StoredLink
from bot.telegram_text import CALLBACK_ANSWER_LIMIT, shorten_plain
from handlers import gates

log = logging.getLogger(__name__)

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


async def answer(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Answers a button press once; a press Telegram has given up on is not an error."""
    try:
        await query.answer(
            None if text is None else shorten_plain(text, CALLBACK_ANSWER_LIMIT),
            show_alert=alert,
        )
    except BadRequest as error:
        log.info("could not answer a callback query: %s", error.message)


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


# --- a press on a link's button ----------------------------------------------------------------


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


@dataclass
class Opened(Press):
    """A press whose link was fetched: ``details`` is the link as the provider has it now."""

    details: LinkDetails


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
    api_key = await context.services.accounts.key_for_link(user.id, stored.api_key_fingerprint)
    if api_key is None:
        await answer(query, context.tr("need-connect"), alert=True)
        return None
    return Press(query, user.id, link_id, args, stored, api_key)


async def fetch(context: BotContext, press: Press) -> LinkDetails | None:
    """The pressed link's details, or None once the presser was told the provider's trouble."""
    try:
        return await context.services.links.details(press.api_key, press.stored)
    except DGSError as error:
        await tell_trouble(press.query, context, error)
        return None


async def open_link(
    update: Update, context: BotContext, prefix: str, *, fresh: bool = False
) -> Opened | None:
    """``link_press`` and ``fetch`` in one: what most link buttons open with."""
    press = await link_press(update, context, prefix, fresh=fresh)
    if press is None:
        return None
    details = await fetch(context, press)
    if details is None:
        return None
    return Opened(
        press.query, press.user_id, press.link_id, press.args, press.stored, press.api_key, details
    )


# --- a press on a button of someone's list -----------------------------------------------------


@dataclass
class OwnerPress:
    """A press on a button of the presser's own list (``<prefix><user id>[:<rest>]``)."""

    query: CallbackQuery
    user_id: int
    rest: str
    api_key: str


async def owner_press(update: Update, context: BotContext, prefix: str) -> OwnerPress | None:
    """The press when the list is the presser's and they have a key; else None, once told."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return None
    owner, _, rest = (query.data or "").removeprefix(prefix).partition(":")
    if not owner.isdigit():
        await answer(query, context.tr("card-expired"), alert=True)
        return None
    if int(owner) != user.id:
        await answer(query, context.tr("not-your-link"), alert=True)
        return None
    api_key = await context.services.accounts.api_key_for(user.id)
    if api_key is None:
        await answer(query, context.tr("need-connect"), alert=True)
        return None
    return OwnerPress(query, user.id, rest, api_key)
