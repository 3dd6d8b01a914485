"""Cross-cutting gates, applied by registration (``handlers/__init__.py``), not per handler.

- ``track_user`` runs first for every update: records the user (re-activating one who had
  blocked the bot) and picks the language this update is answered in.
- ``owned_link`` is asked by every button that acts on a link: is the presser allowed?
"""

from __future__ import annotations

import contextlib

from telegram import CallbackQuery, Update
from telegram.error import BadRequest

from bot.context import BotContext
from bot.dgs.errors import DGSError
from bot.store.models import StoredLink
from bot.store.secrets import key_fingerprint


async def track_user(update: object, context: BotContext) -> None:
    """Remember the sender and choose this update's language; never stops the update."""
    if not isinstance(update, Update):
        return
    user = update.effective_user
    users = context.services.users
    if user is None or user.is_bot:
        context.language = users.language_of(None, None)
        return
    row = await users.seen(user.id)
    context.language = users.language_of(row, user.language_code)


async def persist_now(update: object, context: BotContext) -> None:
    """Writes the persistence (form steps, user data) right after each update."""
    await context.application.update_persistence()


# --- who may press a link's buttons ----------------------------------------------------------


async def owned_link(update: Update, context: BotContext, link_id: str) -> StoredLink | None:
    """The stored link when the person pressing may act on it; else None, after a short alert.

    Every button that acts on a link (dashboard, alerts) asks here. A link the bot has no
    record of (its database is newer than the button) is looked up with the presser's key:
    when the provider shows it to them, it is theirs and is recorded now.
    """
    query = update.callback_query
    user = update.effective_user
    if user is None:
        return None
    stored = await context.services.repo.get_link(link_id) if link_id else None
    if stored is None:
        stored = await _learn_link(context, user.id, link_id)
        if stored is None:
            await _refuse(query, context.tr("card-expired"))
            return None
    if await may_act_on(context, user.id, stored):
        return stored
    await _refuse(query, context.tr("not-your-link"))
    return None


async def may_act_on(context: BotContext, user_id: int, stored: StoredLink) -> bool:
    """The owner; anyone holding the key the link belongs to (the operator's shared key: they
    reach the link through /links anyway); or an administrator of the link's group."""
    if stored.owner_user_id == user_id:
        return True
    api_key = await context.services.accounts.api_key_for(user_id)
    if api_key is not None and key_fingerprint(api_key) == stored.api_key_fingerprint:
        return True
    return await is_link_group_admin(context, user_id, stored)


async def is_link_group_admin(context: BotContext, user_id: int, stored: StoredLink) -> bool:
    """Whether the user administers the group the link belongs to: the one place the groups
    issue fills in. Until then, no group rights."""
    return False


async def _learn_link(context: BotContext, user_id: int, link_id: str) -> StoredLink | None:
    services = context.services
    api_key = await services.accounts.api_key_for(user_id)
    if api_key is None or not link_id:
        return None
    try:
        details = await services.dgs.get_link(api_key, link_id)
    except (DGSError, ValueError):
        return None
    return await services.links.remember(
        details.link, api_key=api_key, owner_user_id=user_id, chat_id=user_id
    )


async def _refuse(query: CallbackQuery | None, text: str) -> None:
    if query is None:
        return
    # BadRequest: Telegram gave up on this press already; there is nobody to tell.
    with contextlib.suppress(BadRequest):
        await query.answer(text, show_alert=True)
