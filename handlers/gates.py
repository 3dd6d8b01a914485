"""Cross-cutting gates, applied by registration (``handlers/__init__.py``), not per handler.

- ``track_user`` runs first for every update: records the user (re-activating one who had
  blocked the bot) and picks the language this update is answered in.
- ``owned_link`` is asked by every button that acts on a link: is the presser allowed? (A
  cashier: only the links they made, only while they are one; ``bot/staff.py``.)
- ``admins_only`` wraps, at registration, every command and button that changes something in
  a group: only the group's administrators pass; anonymous admins are asked to act as
  themselves.

Admin status: an action (create, edit, archive, a group setting) asks getChatMember at that
moment (``fresh``), so an admin demoted or kicked a minute ago cannot finish one; only reads
(opening a card, a menu, a form) may use an answer up to 5 minutes old.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, TypeVar

from telegram import CallbackQuery, ChatMember, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError

from bot.context import BotContext
from bot.store.models import Group, StoredLink
from bot.users import remember_telegram_language
from handlers.staff import cashier_gate


async def track_user(update: object, context: BotContext) -> None:
    """Remember the sender and choose this update's language; stops only what a cashier may
    not do (``handlers/staff.cashier_gate``)."""
    if not isinstance(update, Update):
        return
    user = update.effective_user
    chat = update.effective_chat
    users = context.services.users
    row = await users.seen(user.id) if user is not None and not user.is_bot else None
    context.language = users.language_of(row, user.language_code if user else None)
    if row is not None and user is not None and context.user_data is not None:
        # For the alerts, which are sent outside any update.
        remember_telegram_language(context.user_data, user.language_code)
    if chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
        # In a group the group's language wins: everyone there reads the same messages.
        group = await _known_group(context, chat.id, chat.title or "", user.id if user else None)
        if group.language:
            context.language = group.language
    # What no cashier may do (archive, export, connect, settings, invite) stops here, in the
    # cashier's language; the rest of the update's handlers never see it.
    await cashier_gate(update, context)


async def _known_group(
    context: BotContext, chat_id: int, title: str, user_id: int | None
) -> Group:
    """The group's row, made on first sight (a group that added us before we kept groups)."""
    groups = context.services.groups
    group = await groups.get(chat_id)
    if group is None:
        group = await groups.remember(chat_id, title, added_by=user_id)
    return group


async def persist_now(update: object, context: BotContext) -> None:
    """Writes the persistence (form steps, user and chat data) right after each update.

    PTB marks an update's user and chat for writing only after its last handler group, so
    this one marks them itself: what the update changed is on disk before its turn is over.
    Only data that changed is written, in a transaction shared with the other updates that
    finish meanwhile (bot/store/persistence.py, bot/store/group_commit.py); the sender's
    row, when this update made it, goes in the same one.
    """
    app = context.application
    user = None
    if isinstance(update, Update):
        chat, user = update.effective_chat, update.effective_user
        app.mark_data_for_update_persistence(
            chat_ids=chat.id if chat else None, user_ids=user.id if user else None
        )
    await app.update_persistence()
    if user is not None:
        # A newcomer's row (track_user) is written beside their data, not before the answer.
        await context.services.users.settle(user.id)


# --- who may press a link's buttons ----------------------------------------------------------


async def owned_link(
    update: Update, context: BotContext, link_id: str, *, fresh: bool = False
) -> StoredLink | None:
    """The stored link when the person pressing may act on it; else None, after a short alert.

    Every button that acts on a link (dashboard, alerts) asks here. A link the bot has no
    record of (its database is newer than the button) is looked up with the presser's key:
    when the provider shows it to them, it is theirs and is recorded now.
    """
    query = update.callback_query
    user = update.effective_user
    if user is None:
        return None
    finder = context.services.finder
    staff = context.services.staff
    stored = await finder.stored(link_id) if link_id else None
    if stored is None and await staff.shop_of(user.id) is None:
        # Never for a cashier: a link the bot has not recorded is the owner's, not theirs.
        stored = await finder.learn(user.id, link_id)
    if stored is None:
        await _refuse(query, context.tr("card-expired"))
        return None
    if await may_act_on(context, user.id, stored, fresh=fresh):
        return stored
    removed = (
        await staff.standing(user.id, stored) is False and await staff.shop_of(user.id) is None
    )
    await _refuse(query, context.tr("staff-removed-press" if removed else refusal_for(stored)))
    return None


def refusal_for(stored: StoredLink) -> str:
    """The refusal's message key: a group's link says why in group terms (the presser may
    have been its admin a moment ago)."""
    return "group-admins-only" if stored.group_chat_id is not None else "not-your-link"


async def may_act_on(
    context: BotContext, user_id: int, stored: StoredLink, *, fresh: bool = False
) -> bool:
    """The owner (unless the link is on the operator's key and they left DGS_ALLOWED_USERS);
    anyone holding the key the link belongs to (the operator's shared key: they reach the link
    through /links anyway); or an administrator of the link's group (asked afresh when
    ``fresh``: the caller is about to change the link). A cashier, on a link of their shop's
    key: only the ones they made, only while they are one (``bot/staff.py``)."""
    standing = await context.services.staff.standing(user_id, stored)
    if standing is not None:
        return standing
    accounts = context.services.accounts
    if stored.owner_user_id == user_id and not accounts.lost_operator_key(
        user_id, stored.api_key_fingerprint
    ):
        return True
    if await accounts.holds_key(user_id, stored.api_key_fingerprint):
        return True
    return await is_link_group_admin(context, user_id, stored, fresh=fresh)


async def is_link_group_admin(
    context: BotContext, user_id: int, stored: StoredLink, *, fresh: bool = False
) -> bool:
    """Whether the user administers the group the link belongs to."""
    if stored.group_chat_id is None:
        return False
    return await is_chat_admin(context, stored.group_chat_id, user_id, fresh=fresh)


async def _refuse(query: CallbackQuery | None, text: str) -> None:
    if query is None:
        return
    # BadRequest: Telegram gave up on this press already; there is nobody to tell.
    with contextlib.suppress(BadRequest):
        await query.answer(text, show_alert=True)


# --- who may change things in a group --------------------------------------------------------

_ADMIN_STATUSES = (ChatMember.OWNER, ChatMember.ADMINISTRATOR)
_R = TypeVar("_R")


async def is_chat_admin(
    context: BotContext, chat_id: int, user_id: int, *, fresh: bool = False
) -> bool:
    """Whether the user administers the group: getChatMember now when ``fresh`` (the moment
    of an action), else an answer up to 5 minutes old will do (showing a menu)."""
    groups = context.services.groups
    cached = None if fresh else groups.cached_admin(chat_id, user_id)
    if cached is not None:
        return cached
    try:
        member = await context.bot.get_chat_member(chat_id, user_id)
    except TelegramError:
        return False  # not a member any more, or the bot was removed: not an admin here
    is_admin = member.status in _ADMIN_STATUSES
    groups.remember_admin(chat_id, user_id, is_admin)
    return is_admin


async def group_admin(update: Update, context: BotContext, *, fresh: bool = True) -> bool:
    """In a group, True only for an administrator acting as themselves; anyone else gets a
    one-line answer (an alert for a button). Private chats always pass."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None or chat.type == ChatType.PRIVATE:
        return True
    message = update.effective_message
    query = update.callback_query
    tr = context.tr
    if query is None and message is not None and message.sender_chat is not None:
        # An anonymous admin posts as the group: we cannot tell whose key to use.
        await message.reply_text(tr("group-anonymous-admin"))
        return False
    if user is not None and await is_chat_admin(context, chat.id, user.id, fresh=fresh):
        return True
    if query is not None:
        await _refuse(query, tr("group-admins-only"))
    elif message is not None:
        await message.reply_text(tr("group-admins-only"))
    return False


def admins_only(
    callback: Callable[[Update, BotContext], Coroutine[Any, Any, _R]],
    *,
    fresh: bool = True,
) -> Callable[[Update, BotContext], Coroutine[Any, Any, _R | None]]:
    """Registration-time gate: in groups, only administrators reach ``callback``. Asked
    afresh by default (what it wraps changes something); ``fresh=False`` for a mere menu."""

    @wraps(callback)
    async def gated(update: Update, context: BotContext) -> _R | None:
        if not await group_admin(update, context, fresh=fresh):
            return None
        return await callback(update, context)

    return gated
