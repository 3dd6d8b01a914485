"""Cross-cutting gates, applied by registration (``handlers/__init__.py``), not per handler.

- ``track_user`` runs first for every update: records the user (re-activating one who had
  blocked the bot) and picks the language this update is answered in.
"""

from __future__ import annotations

from telegram import Update

from bot.context import BotContext


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
