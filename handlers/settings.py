"""``/notifications``: which alerts a vendor gets: all events, payments only, or none.

/notifications ──► the choice, the current one ticked ──(a button)──► stored, message updated
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import CommandHandler, filters

from bot.callbacks import NOTIFY
from bot.context import BotContext
from bot.i18n import Translator
from bot.store.daily import DailySetting
from bot.store.models import NotifyLevel
from handlers.reminders import daily_button

CHOOSE_PATTERN = f"^{NOTIFY}({'|'.join(level.value for level in NotifyLevel)})$"


def _prompt(
    tr: Translator, current: NotifyLevel, daily: DailySetting
) -> tuple[str, InlineKeyboardMarkup]:
    rows = [
        [
            InlineKeyboardButton(
                ("✅ " if level is current else "") + tr(f"notify-level-{level.value}"),
                callback_data=f"{NOTIFY}{level.value}",
            )
        ]
        for level in NotifyLevel
    ]
    rows.append([daily_button(tr, daily)])  # issue 17: the daily totals' time and switch
    text = tr("notify-prompt", level=tr(f"notify-level-{current.value}"))
    return text, InlineKeyboardMarkup(rows)


async def notifications(update: Update, context: BotContext) -> None:
    """Shows what alerts the user gets now and the three choices."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    row = await context.services.users.seen(user.id)
    daily = await context.services.reminders.daily(user.id)
    text, keyboard = _prompt(context.tr, row.notify_level, daily)
    await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)


async def choose_level(update: Update, context: BotContext) -> None:
    """Stores the pressed choice for the presser and shows it ticked."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    level = NotifyLevel((query.data or "").removeprefix(NOTIFY))
    services = context.services
    tr = context.tr
    current = (await services.users.seen(user.id)).notify_level
    if level is not current:
        await services.users.set_notify_level(user.id, level)
    await query.answer(tr("notify-saved", level=tr(f"notify-level-{level.value}")))
    if level is not current:
        daily = await services.reminders.daily(user.id)
        text, keyboard = _prompt(tr, level, daily)
        await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)


def notifications_command() -> CommandHandler[BotContext, None]:
    """``/notifications`` in a private chat (the choice is personal)."""
    return CommandHandler("notifications", notifications, filters.ChatType.PRIVATE)
